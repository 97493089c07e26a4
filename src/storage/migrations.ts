import { createHash } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import { GatewayError, isGatewayError } from '../errors/index.ts'
import type { Tables } from './tables.ts'

/** One forward-only schema step. `statements` run in order inside the migration's transaction. */
export interface Migration {
  readonly version: number
  readonly name: string
  readonly statements: readonly string[]
}

const HEX32 = `'^0x[0-9a-f]{64}$'`
const ADDRESS = `'^0x[0-9a-f]{40}$'`
const UINT256 = (col: string): string =>
  `${col} numeric(78, 0) NOT NULL CHECK (${col} >= 0 AND ${col} < 115792089237316195423570985008687907853269984665640564039457584007913129639936)`

/**
 * Schema v1. Byte strings are lowercase 0x-hex text (checked here, so a mixed-case address can never
 * make a second row for the same account); token amounts are numeric(78,0) (any uint256), never float.
 */
const V1: Migration = {
  version: 1,
  name: 'initial schema: quotes, payments, subscriptions, audit log, monitor cursor, processed blocks',
  statements: [
    `CREATE TABLE quotes (
      id text PRIMARY KEY CHECK (id ~ ${HEX32}),
      payer text NOT NULL CHECK (payer ~ ${ADDRESS}),
      beneficiary text NOT NULL CHECK (beneficiary ~ ${ADDRESS}),
      subscription_id text NOT NULL CHECK (subscription_id ~ ${HEX32}),
      token text NOT NULL CHECK (token ~ ${ADDRESS}),
      ${UINT256('amount')},
      plan_id integer NOT NULL CHECK (plan_id BETWEEN 0 AND 65535),
      periods bigint NOT NULL CHECK (periods BETWEEN 1 AND 4294967295),
      valid_until bigint NOT NULL CHECK (valid_until >= 0),
      digest text NOT NULL UNIQUE CHECK (digest ~ ${HEX32}),
      signature text NOT NULL CHECK (signature ~ '^0x[0-9a-f]{130}$'),
      created_at timestamptz NOT NULL DEFAULT now(),
      state text NOT NULL CHECK (state IN ('open', 'paid', 'expired'))
    )`,
    `CREATE INDEX quotes_payer_state ON quotes (payer, state)`,
    `CREATE INDEX quotes_state_valid_until ON quotes (state, valid_until)`,
    `CREATE TABLE payments (
      chain_id bigint NOT NULL CHECK (chain_id > 0),
      tx_hash text NOT NULL CHECK (tx_hash ~ ${HEX32}),
      log_index integer NOT NULL CHECK (log_index >= 0),
      digest text NOT NULL CHECK (digest ~ ${HEX32}),
      subscription_id text NOT NULL CHECK (subscription_id ~ ${HEX32}),
      payer text NOT NULL CHECK (payer ~ ${ADDRESS}),
      beneficiary text NOT NULL CHECK (beneficiary ~ ${ADDRESS}),
      token text NOT NULL CHECK (token ~ ${ADDRESS}),
      ${UINT256('amount')},
      plan_id integer NOT NULL CHECK (plan_id BETWEEN 0 AND 65535),
      period_start bigint NOT NULL CHECK (period_start >= 0),
      period_end bigint NOT NULL CHECK (period_end >= 0),
      block_number bigint NOT NULL CHECK (block_number >= 0),
      block_hash text NOT NULL CHECK (block_hash ~ ${HEX32}),
      state text NOT NULL CHECK (state IN ('seen', 'confirmed', 'final', 'reorged')),
      is_underpaid boolean NOT NULL DEFAULT false,
      is_unknown_quote boolean NOT NULL DEFAULT false,
      is_wrong_payer boolean NOT NULL DEFAULT false,
      activated_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (chain_id, tx_hash, log_index)
    )`,
    `CREATE INDEX payments_digest ON payments (digest)`,
    `CREATE INDEX payments_subscription ON payments (subscription_id)`,
    `CREATE INDEX payments_block ON payments (block_number)`,
    `CREATE INDEX payments_flagged ON payments (created_at)
      WHERE is_underpaid OR is_unknown_quote OR is_wrong_payer`,
    `CREATE TABLE subscriptions (
      id text PRIMARY KEY CHECK (id ~ ${HEX32}),
      owner text NOT NULL CHECK (owner ~ ${ADDRESS}),
      beneficiary text NOT NULL CHECK (beneficiary ~ ${ADDRESS}),
      plan_id integer NOT NULL CHECK (plan_id BETWEEN 0 AND 65535),
      token text NOT NULL CHECK (token ~ ${ADDRESS}),
      start_at bigint NOT NULL CHECK (start_at >= 0),
      end_at bigint NOT NULL CHECK (end_at >= start_at),
      state text NOT NULL CHECK (state IN ('pending', 'active', 'expired', 'revoked', 'cancelled')),
      version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE INDEX subscriptions_state_end ON subscriptions (state, end_at)`,
    `CREATE INDEX subscriptions_beneficiary ON subscriptions (beneficiary)`,
    `CREATE TABLE audit_log (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      entity text NOT NULL CHECK (entity IN ('subscription', 'payment')),
      entity_id text NOT NULL CHECK (length(entity_id) BETWEEN 1 AND 200),
      from_state text,
      to_state text NOT NULL,
      cause text NOT NULL CHECK (length(cause) BETWEEN 1 AND 200),
      detail jsonb NOT NULL DEFAULT '{}'::jsonb,
      chain_time bigint,
      at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, id)`,
    // Append-only, enforced by the database itself: no role that can connect may rewrite history.
    `CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'P0001';
      END
    $$`,
    `CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
      FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()`,
    `CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
      FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()`,
    `CREATE TABLE monitor_cursor (
      name text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
      block_number bigint NOT NULL CHECK (block_number >= 0),
      block_hash text NOT NULL CHECK (block_hash ~ ${HEX32}),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE TABLE processed_blocks (
      number bigint PRIMARY KEY CHECK (number >= 0),
      hash text NOT NULL CHECK (hash ~ ${HEX32}),
      parent_hash text NOT NULL CHECK (parent_hash ~ ${HEX32}),
      timestamp bigint NOT NULL CHECK (timestamp >= 0)
    )`,
  ],
}

/**
 * Schema v2: what the payment monitor's store and the subscription ledger need beyond v1.
 * - `monitor_state` / `monitor_blocks` / `monitor_records`: the monitor's versioned state per chain
 *   (v1's `monitor_cursor` and `processed_blocks` have no chain id and no version to compare-and-set).
 * - `monitor_effects`: every effect applied, unique by its key (which holds the block hash), append-only.
 * - `payment_activations`: the activation claim once per *inclusion* (chain, tx, log, block hash), so a
 *   payment a reorg removed and the chain re-included can activate again; v1's `activated_at` stays the
 *   first activation's time.
 * - `subscriptions`: the ledger's extra facts (chain Status, the newest fact's block, chain time of the
 *   last change, and the remembered payments / prior bounds / operator hold as JSON).
 */
const V2: Migration = {
  version: 2,
  name: 'monitor state per chain, append-only monitor effects, activations per inclusion, subscription ledger facts',
  statements: [
    `CREATE TABLE monitor_state (
      chain_id bigint PRIMARY KEY CHECK (chain_id > 0),
      version bigint NOT NULL DEFAULT 0 CHECK (version >= 0),
      cursor_number bigint CHECK (cursor_number >= 0),
      cursor_hash text CHECK (cursor_hash ~ ${HEX32}),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK ((cursor_number IS NULL) = (cursor_hash IS NULL))
    )`,
    `CREATE TABLE monitor_blocks (
      chain_id bigint NOT NULL CHECK (chain_id > 0),
      number bigint NOT NULL CHECK (number >= 0),
      hash text NOT NULL CHECK (hash ~ ${HEX32}),
      parent_hash text NOT NULL CHECK (parent_hash ~ ${HEX32}),
      timestamp bigint NOT NULL CHECK (timestamp >= 0),
      PRIMARY KEY (chain_id, number)
    )`,
    `CREATE TABLE monitor_records (
      chain_id bigint NOT NULL CHECK (chain_id > 0),
      key text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
      settled boolean NOT NULL,
      record jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (chain_id, key)
    )`,
    `CREATE INDEX monitor_records_unsettled ON monitor_records (chain_id) WHERE NOT settled`,
    `CREATE TABLE monitor_effects (
      seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
      key text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 300),
      chain_id bigint NOT NULL CHECK (chain_id > 0),
      type text NOT NULL CHECK (length(type) BETWEEN 1 AND 64),
      record_key text NOT NULL,
      block_number bigint NOT NULL CHECK (block_number >= 0),
      block_hash text NOT NULL CHECK (block_hash ~ ${HEX32}),
      chain_time bigint NOT NULL CHECK (chain_time >= 0),
      detail jsonb NOT NULL DEFAULT '{}'::jsonb,
      at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE INDEX monitor_effects_record ON monitor_effects (record_key)`,
    `CREATE FUNCTION monitor_effects_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'monitor_effects is append-only: % refused', TG_OP USING ERRCODE = 'P0001';
      END
    $$`,
    `CREATE TRIGGER monitor_effects_append_only BEFORE UPDATE OR DELETE ON monitor_effects
      FOR EACH ROW EXECUTE FUNCTION monitor_effects_refuse_change()`,
    `CREATE TRIGGER monitor_effects_no_truncate BEFORE TRUNCATE ON monitor_effects
      FOR EACH STATEMENT EXECUTE FUNCTION monitor_effects_refuse_change()`,
    `CREATE TABLE payment_activations (
      chain_id bigint NOT NULL,
      tx_hash text NOT NULL,
      log_index integer NOT NULL,
      block_hash text NOT NULL CHECK (block_hash ~ ${HEX32}),
      at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (chain_id, tx_hash, log_index, block_hash),
      FOREIGN KEY (chain_id, tx_hash, log_index) REFERENCES payments (chain_id, tx_hash, log_index)
    )`,
    `ALTER TABLE subscriptions
      ADD COLUMN chain_status text CHECK (chain_status IN ('live', 'cancelled', 'revoked')),
      ADD COLUMN chain_block bigint CHECK (chain_block >= 0),
      ADD COLUMN updated_at_sec bigint NOT NULL DEFAULT 0 CHECK (updated_at_sec >= 0),
      ADD COLUMN ledger jsonb NOT NULL DEFAULT '{}'::jsonb`,
    `CREATE INDEX subscriptions_updated_at_sec ON subscriptions (updated_at_sec)`,
  ],
}

/**
 * Schema v3: what the database QuoteStore needs so that `GET {basePath}/quote/:id` is answered from the
 * database on any gateway instance.
 * - `quotes.plan`: the plan's name (v1 has only its on-chain id).
 * - `quotes.answer`: the exact JSON answer the quote endpoint served at creation (text, not jsonb: jsonb
 *   would reorder its keys), a JSON object of at most 64 KiB.
 * Both are NULL on rows written before v3 (such a quote is still known to the payment monitor, it just
 * cannot be served again). The v1 columns stay authoritative for the monitor.
 * - `quotes_open_payer`: the per-payer cap counts one payer's open quotes still valid, without scanning the
 *   expired ones kept for the retention period.
 */
const V3: Migration = {
  version: 3,
  name: 'quote plan name and served answer, open quotes by payer and expiry',
  statements: [
    `ALTER TABLE quotes
      ADD COLUMN plan text CHECK (plan ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
      ADD COLUMN answer text CHECK (
        octet_length(answer) <= 65536 AND jsonb_typeof(answer::jsonb) = 'object'
      )`,
    `CREATE INDEX quotes_open_payer ON quotes (payer, valid_until) WHERE state = 'open'`,
  ],
}

/**
 * Schema v4: what the access tokens (src/tokens) need so that any gateway instance can redeem a nonce or a
 * refresh token issued by another.
 * - `token_nonces`: the SIWE nonces of `GET {basePath}/nonce`, single-use (redeeming deletes the row) and
 *   short-lived (`expires_at`, unix ms; expired rows swept).
 * - `token_families`: one row per `POST {basePath}/token` (a "family": every access and refresh token issued
 *   from it). Revoking the family (refresh reuse, operator) revokes all of them; `revoked_at` is what the
 *   edge reads to refuse their access tokens. Kept until `expires_at` (its newest refresh token's expiry).
 * - `refresh_tokens`: SHA-256 of each refresh token (never the token), spent once on rotation.
 */
const V4: Migration = {
  version: 4,
  name: 'access tokens: single-use SIWE nonces, token families with revocation, hashed refresh tokens',
  statements: [
    `CREATE TABLE token_nonces (
      nonce text PRIMARY KEY CHECK (nonce ~ '^[A-Za-z0-9]{16,64}$'),
      expires_at bigint NOT NULL CHECK (expires_at >= 0)
    )`,
    `CREATE INDEX token_nonces_expires ON token_nonces (expires_at)`,
    `CREATE TABLE token_families (
      id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{16,64}$'),
      subscription_id text NOT NULL CHECK (subscription_id ~ ${HEX32}),
      signer text NOT NULL CHECK (signer ~ ${ADDRESS}),
      created_at bigint NOT NULL CHECK (created_at >= 0),
      expires_at bigint NOT NULL CHECK (expires_at >= created_at),
      revoked_at bigint CHECK (revoked_at >= 0),
      revoke_reason text CHECK (length(revoke_reason) BETWEEN 1 AND 64),
      CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
    )`,
    `CREATE INDEX token_families_revoked ON token_families (revoked_at) WHERE revoked_at IS NOT NULL`,
    `CREATE INDEX token_families_subscription ON token_families (subscription_id)`,
    `CREATE INDEX token_families_expires ON token_families (expires_at)`,
    `CREATE TABLE refresh_tokens (
      hash text PRIMARY KEY CHECK (hash ~ '^[0-9a-f]{64}$'),
      family_id text NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
      expires_at bigint NOT NULL CHECK (expires_at >= 0),
      spent_at bigint CHECK (spent_at >= 0)
    )`,
    `CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)`,
  ],
}

/**
 * Schema v5: the admin API's audit (src/admin) in the same append-only `audit_log` as the subscription and
 * payment audit, so one query answers "what happened to X" across operators and the chain.
 * - entity `admin`: one row per admin write (`entity_id` its subject: a subscription id, a token family id,
 *   `config`; `cause` the endpoint; `to_state` `done` or `failed`; `detail` who, request id, before/after).
 * - `audit_log_at`: `GET /audit?since=&until=` pages by time; `audit_log_subject`: by subject across
 *   entities (`audit_log_entity` leads with the entity).
 * - `subscriptions_owner`: `GET /subscriptions?owner=` (v1 indexes the beneficiary, not the owner).
 */
const V5: Migration = {
  version: 5,
  name: 'admin actions in the audit log, audit by time and by subject, subscriptions by owner',
  statements: [
    `ALTER TABLE audit_log DROP CONSTRAINT audit_log_entity_check`,
    `ALTER TABLE audit_log ADD CONSTRAINT audit_log_entity_check
      CHECK (entity IN ('subscription', 'payment', 'admin'))`,
    `CREATE INDEX audit_log_at ON audit_log (at, id)`,
    `CREATE INDEX audit_log_subject ON audit_log (entity_id, id)`,
    `CREATE INDEX subscriptions_owner ON subscriptions (owner)`,
  ],
}

/**
 * v6: per-period QoS usage totals of each subscription (src/qos), flushed from the live store with
 * "greatest" upserts: a repeated or older snapshot never lowers a total (idempotent, any order).
 */
const V6: Migration = {
  version: 6,
  name: 'qos: per-subscription usage totals per plan period',
  statements: [
    `CREATE TABLE subscription_usage (
      subscription_id text NOT NULL CHECK (subscription_id ~ ${HEX32}),
      period_start bigint NOT NULL CHECK (period_start >= 0),
      period_end bigint NOT NULL CHECK (period_end > period_start),
      plan text NOT NULL CHECK (length(plan) BETWEEN 1 AND 64),
      requests bigint NOT NULL CHECK (requests >= 0),
      bytes_in bigint NOT NULL CHECK (bytes_in >= 0),
      bytes_out bigint NOT NULL CHECK (bytes_out >= 0),
      updated_at bigint NOT NULL CHECK (updated_at >= 0),
      PRIMARY KEY (subscription_id, period_start)
    )`,
  ],
}

/** Every migration this litgate knows, in version order (1, 2, …: no gaps). Never edit a shipped one. */
export const MIGRATIONS: readonly Migration[] = Object.freeze([V1, V2, V3, V4, V5, V6])

/** sha256 of a migration's name and statements: an applied migration's row must keep matching it. */
export function migrationChecksum(m: Migration): string {
  const hash = createHash('sha256')
  hash.update(`${m.version}\n${m.name}\n`)
  for (const s of m.statements) hash.update(`${s}\n;\n`)
  return hash.digest('hex')
}

/** What a migration run found and did. */
export interface MigrationReport {
  /** Schema version before the run (0: empty database). */
  readonly from: number
  /** Schema version after the run. */
  readonly to: number
  /** The migrations applied by this run, in order. */
  readonly applied: ReadonlyArray<{ readonly version: number; readonly name: string }>
}

/** An applied migration as the database records it. */
export interface AppliedMigration {
  readonly version: number
  readonly name: string
  readonly checksum: string
}

/**
 * Pure check of the database's migration history against the code's: the pending migrations, or the
 * error that refuses the start. A version the code does not know → STORAGE_SCHEMA_TOO_NEW (a newer
 * litgate migrated this database; running older code on it could corrupt it). A known version whose
 * name or checksum differs, or a hole in the history → STORAGE_MIGRATION_MISMATCH.
 */
export function planMigrations(
  applied: readonly AppliedMigration[],
  known: readonly Migration[],
): { readonly pending: readonly Migration[]; readonly current: number } {
  const latestKnown = known.at(-1)?.version ?? 0
  const sorted = [...applied].sort((a, b) => a.version - b.version)
  const newest = sorted.at(-1)?.version ?? 0
  if (newest > latestKnown) {
    throw new GatewayError(
      'STORAGE_SCHEMA_TOO_NEW',
      `database schema is at version ${newest}, this litgate knows up to ${latestKnown}: upgrade litgate (migrations are forward-only)`,
    )
  }
  for (const [i, row] of sorted.entries()) {
    const m = known[i]
    if (m === undefined || m.version !== row.version) {
      throw new GatewayError(
        'STORAGE_MIGRATION_MISMATCH',
        `database migration history has version ${row.version} where ${m?.version ?? 'none'} was expected`,
      )
    }
    if (row.name !== m.name || row.checksum !== migrationChecksum(m)) {
      throw new GatewayError(
        'STORAGE_MIGRATION_MISMATCH',
        `applied migration ${row.version} (${JSON.stringify(row.name)}) differs from the one this litgate ships (checksum ${row.checksum.slice(0, 12)}… ≠ ${migrationChecksum(m).slice(0, 12)}…)`,
      )
    }
  }
  return { pending: known.slice(sorted.length), current: newest }
}

/** Any 64-bit constant both gateways agree on: concurrent starts on one PostgreSQL migrate one at a time. */
const MIGRATION_LOCK = 0x6c6974676174650n

/**
 * Brings the database to the newest known schema in one transaction, under an advisory lock (two
 * gateways starting together: the second waits, then finds nothing pending). All or nothing: a failing
 * statement rolls back every migration of the run (PostgreSQL DDL is transactional).
 */
export async function runMigrations(
  db: Kysely<Tables>,
  known: readonly Migration[] = MIGRATIONS,
): Promise<MigrationReport> {
  try {
    return await migrateInTransaction(db, known)
  } catch (err) {
    if (isGatewayError(err)) throw err
    // The history table itself could not be created or read (permissions, connection lost mid-run).
    throw new GatewayError('STORAGE_MIGRATION_FAILED', `migration run failed: ${(err as Error).message}`, {
      cause: err,
    })
  }
}

function migrateInTransaction(db: Kysely<Tables>, known: readonly Migration[]): Promise<MigrationReport> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK.toString())}::bigint)`.execute(trx)
    await sql`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY CHECK (version >= 1),
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`.execute(trx)
    const applied = await trx
      .selectFrom('schema_migrations')
      .select(['version', 'name', 'checksum'])
      .execute()
    const { pending, current } = planMigrations(applied, known)
    for (const m of pending) {
      for (const [i, statement] of m.statements.entries()) {
        try {
          await sql.raw(statement).execute(trx)
        } catch (err) {
          throw new GatewayError(
            'STORAGE_MIGRATION_FAILED',
            `migration ${m.version} (${m.name}) statement ${i + 1} failed: ${(err as Error).message}`,
            { cause: err },
          )
        }
      }
      await trx
        .insertInto('schema_migrations')
        .values({ version: m.version, name: m.name, checksum: migrationChecksum(m) })
        .execute()
    }
    return {
      from: current,
      to: pending.at(-1)?.version ?? current,
      applied: pending.map((m) => ({ version: m.version, name: m.name })),
    }
  })
}

/** The schema version the database is at (0 when never migrated), without changing anything. */
export async function readSchemaVersion(db: Kysely<Tables>): Promise<number> {
  const exists = await sql<{
    present: boolean
  }>`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`.execute(db)
  if (exists.rows[0]?.present !== true) return 0
  const row = await db
    .selectFrom('schema_migrations')
    .select((eb) => eb.fn.max('version').as('version'))
    .executeTakeFirst()
  return Number(row?.version ?? 0)
}
