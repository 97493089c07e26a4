import { sql, type Kysely, type Selectable } from 'kysely'
import type {
  AuditRow,
  BlockRow,
  PaymentRow,
  QuoteRow,
  SubscriptionRow,
  Tables,
  TokenFamilyRow,
} from './tables.ts'

/** 0x-prefixed hex. Written lowercase (the schema refuses anything else; inputs are lowercased here). */
export type Hex = `0x${string}`

export type QuoteState = 'open' | 'paid' | 'expired'
export type PaymentState = 'seen' | 'confirmed' | 'final' | 'reorged'
export type SubscriptionState = 'pending' | 'active' | 'expired' | 'revoked' | 'cancelled'
export type AuditEntity = 'subscription' | 'payment' | 'admin'

/** A signed quote as stored. Token amounts are bigint: never a JS number. */
export interface QuoteRecord {
  readonly id: Hex
  readonly payer: Hex
  readonly beneficiary: Hex
  readonly subscriptionId: Hex
  readonly token: Hex
  readonly amount: bigint
  readonly planId: number
  readonly periods: number
  /** Chain time (unix seconds), as signed. */
  readonly validUntil: bigint
  readonly digest: Hex
  readonly signature: Hex
  readonly createdAt: Date
  readonly state: QuoteState
  /** Schema v3: the plan's name; null on rows written before v3. */
  readonly plan: string | null
  /** Schema v3: the answer served by `GET {basePath}/quote/:id`, JSON text; null on rows written before v3. */
  readonly answer: string | null
}
export type NewQuote = Omit<QuoteRecord, 'state' | 'createdAt' | 'plan' | 'answer'> & {
  readonly state?: QuoteState
  readonly createdAt?: Date
  readonly plan?: string
  readonly answer?: string
}

/** Open quotes still valid (schema v3 `openQuotes`). */
export interface OpenQuotes {
  /** How many, counted up to the `upTo` asked for (a cap check never counts past the cap). */
  readonly count: number
  /** The earliest `validUntil` among them (chain seconds); null when there are none. */
  readonly earliestValidUntil: bigint | null
}

/** A payment's identity on chain: one `PaymentReceived` log. */
export interface PaymentKey {
  readonly chainId: number
  readonly txHash: Hex
  readonly logIndex: number
}

export interface PaymentFlags {
  readonly isUnderpaid: boolean
  readonly isUnknownQuote: boolean
  readonly isWrongPayer: boolean
}

export interface PaymentRecord extends PaymentKey, PaymentFlags {
  readonly digest: Hex
  readonly subscriptionId: Hex
  readonly payer: Hex
  /** `address(0)` when the event carried none (renewal paid by the owner). */
  readonly beneficiary: Hex
  readonly token: Hex
  readonly amount: bigint
  readonly planId: number
  /** The period the event reports (chain seconds). */
  readonly periodStart: number
  readonly periodEnd: number
  readonly blockNumber: bigint
  readonly blockHash: Hex
  readonly state: PaymentState
  /** Set once by claimActivation. */
  readonly activatedAt: Date | null
  readonly createdAt: Date
  readonly updatedAt: Date
}
export type NewPayment = Omit<PaymentRecord, 'activatedAt' | 'createdAt' | 'updatedAt' | keyof PaymentFlags> &
  Partial<PaymentFlags>

export interface SubscriptionRecord {
  /** The EIP-712 digest of the quote that created it. */
  readonly id: Hex
  readonly owner: Hex
  readonly beneficiary: Hex
  readonly planId: number
  readonly token: Hex
  /** Chain seconds. */
  readonly startAt: number
  readonly endAt: number
  readonly state: SubscriptionState
  /** Optimistic-concurrency version: 1 on insert, +1 on every update. */
  readonly version: number
  readonly createdAt: Date
  readonly updatedAt: Date
}
export type NewSubscription = Omit<SubscriptionRecord, 'version' | 'createdAt' | 'updatedAt'>
export type SubscriptionChanges = Partial<
  Pick<SubscriptionRecord, 'beneficiary' | 'planId' | 'token' | 'startAt' | 'endAt' | 'state'>
>

/** Why a transition happened: recorded with it in the audit log. */
export interface Cause {
  /** Short machine-readable reason, e.g. `payment-confirmed`, `reorg`, `reconcile`, `expiry`. */
  readonly cause: string
  /** Anything that explains it (tx hash, block, old values). JSON; never secrets. */
  readonly detail?: Readonly<Record<string, unknown>>
  /** Chain time of the event that caused it, when there is one. */
  readonly chainTime?: number
}

export interface AuditEntry {
  readonly id: bigint
  readonly entity: AuditEntity
  readonly entityId: string
  readonly fromState: string | null
  readonly toState: string
  readonly cause: string
  readonly detail: Record<string, unknown>
  readonly chainTime: number | null
  readonly at: Date
}
export type NewAuditEntry = Omit<AuditEntry, 'id' | 'at' | 'detail' | 'chainTime'> & Cause

export interface BlockRef {
  readonly number: bigint
  readonly hash: Hex
}
export interface ProcessedBlock extends BlockRef {
  readonly parentHash: Hex
  /** Block timestamp, chain seconds. */
  readonly timestamp: number
}

export interface QuoteRepository {
  /** Idempotent: false (nothing written) when a quote with this id or digest exists. */
  insert(quote: NewQuote): Promise<boolean>
  get(id: Hex): Promise<QuoteRecord | undefined>
  getByDigest(digest: Hex): Promise<QuoteRecord | undefined>
  /** Compare-and-set of the state: true when the quote was in `from` and is now `to`. */
  setState(id: Hex, from: QuoteState, to: QuoteState): Promise<boolean>
  /** Open quotes still valid at `now` (chain seconds), optionally of one payer (for the caps). */
  countOpen(now: bigint, payer?: Hex): Promise<number>
  /**
   * Deletes up to `limit` open quotes whose validity ended before `now`; answers how many. Never a paid
   * quote. The QuoteStore passes `now - retention` (docs/storage.md "Quote store").
   */
  sweepExpired(now: bigint, limit: number): Promise<number>
  /**
   * Schema v3: open quotes valid after `now` (`validUntil > now`, the quote store's rule), optionally of one
   * payer: their number (counted up to `upTo` when given) and the earliest expiry among them.
   */
  openQuotes(now: bigint, options?: { readonly payer?: Hex; readonly upTo?: number }): Promise<OpenQuotes>
  /**
   * Serialises the quote caps: a transaction-scoped PostgreSQL advisory lock (keyed by the current schema),
   * held until the transaction ends, so that check-then-insert of two gateway instances sharing the
   * database never overshoots a cap. Only inside `transaction` (throws otherwise).
   */
  lockCaps(): Promise<void>
}

export interface PaymentRepository {
  /** Idempotent on (chain id, tx hash, log index): true and audited (cause) only when newly inserted. */
  record(payment: NewPayment, cause: Cause): Promise<boolean>
  get(key: PaymentKey): Promise<PaymentRecord | undefined>
  /**
   * Moves a payment from one of `from` to `to` (optionally re-pinning its block), audited. False when the
   * payment is missing or in another state (nothing written).
   */
  transition(
    key: PaymentKey,
    change: { readonly from: readonly PaymentState[]; readonly to: PaymentState; readonly block?: BlockRef },
    cause: Cause,
  ): Promise<boolean>
  /**
   * The exactly-once primitive: true for exactly one caller per payment, across transactions and gateway
   * instances (a conditional UPDATE: concurrent claimers block on the row lock, then see it taken). Inside
   * `transaction`, a rollback undoes the claim. False for an unknown payment.
   */
  claimActivation(key: PaymentKey): Promise<boolean>
  /**
   * Schema v2: the activation claim of one *inclusion* of the payment (its block hash): true for exactly
   * one caller per (payment, block hash). A payment a reorg removed and the chain re-included in another
   * block can be claimed again at its new block — `claimActivation` (once per payment for good) cannot.
   * Also sets `activated_at` the first time. False for an unknown payment or a taken claim.
   */
  claimInclusionActivation(key: PaymentKey, blockHash: Hex): Promise<boolean>
  /** Payments in blocks above `blockNumber` not already reorged (what a rewind must re-derive). */
  listAbove(blockNumber: bigint): Promise<PaymentRecord[]>
  listByState(state: PaymentState, limit: number): Promise<PaymentRecord[]>
  /** Underpaid, unknown-quote or wrong-payer payments, newest first (for operators). */
  listFlagged(limit: number): Promise<PaymentRecord[]>
  listBySubscription(subscriptionId: Hex): Promise<PaymentRecord[]>
}

export interface SubscriptionRepository {
  /** Idempotent on id: true and audited (null → state) only when newly inserted. */
  insert(subscription: NewSubscription, cause: Cause): Promise<boolean>
  get(id: Hex): Promise<SubscriptionRecord | undefined>
  /** SELECT … FOR UPDATE: inside `transaction`, other writers of this row wait until it ends. */
  getForUpdate(id: Hex): Promise<SubscriptionRecord | undefined>
  /**
   * Optimistic update: applies `changes` only when the row is still at `expectedVersion`, bumps the
   * version and audits (from → to state, with the cause). Undefined when missing or the version moved on.
   */
  update(
    id: Hex,
    expectedVersion: number,
    changes: SubscriptionChanges,
    cause: Cause,
  ): Promise<SubscriptionRecord | undefined>
  /**
   * Subscriptions in `state`, ordered by (end, id), at most `limit`: optionally only those ending before
   * `endBefore` (expiry sweeps), and after the last record of the previous page (`after`: keyset paging
   * for reconciliation passes over every active subscription).
   */
  listByState(state: SubscriptionState, page: SubscriptionPage): Promise<SubscriptionRecord[]>
  listByBeneficiary(beneficiary: Hex): Promise<SubscriptionRecord[]>
  /** One page by id (ascending) of the rows matching every given filter, ids above `afterId`. */
  search(filter: SubscriptionFilter): Promise<SubscriptionRecord[]>
}

export interface SubscriptionFilter {
  readonly owner?: Hex
  readonly beneficiary?: Hex
  readonly planId?: number
  readonly state?: SubscriptionState
  /** `end_at` (chain seconds) at or after. */
  readonly endFrom?: number
  /** `end_at` (chain seconds) before. */
  readonly endBefore?: number
  readonly afterId?: Hex
  readonly limit: number
}

export interface SubscriptionPage {
  readonly limit: number
  readonly endBefore?: number
  readonly after?: Pick<SubscriptionRecord, 'endAt' | 'id'>
}

export interface AuditRepository {
  /** Appends one entry (the table refuses UPDATE, DELETE and TRUNCATE). */
  append(entry: NewAuditEntry): Promise<void>
  /** Entries of one entity, oldest first. */
  list(entity: AuditEntity, entityId: string): Promise<AuditEntry[]>
  /** The latest `limit` entries, newest first. */
  recent(limit: number): Promise<AuditEntry[]>
  /**
   * One page of entries oldest first (by id): `at` in [since, until), `entityId` equal to `subject`, ids
   * above `afterId` (the previous page's last); at most `limit`.
   */
  search(filter: AuditFilter): Promise<AuditEntry[]>
}

export interface AuditFilter {
  readonly since?: Date
  readonly until?: Date
  readonly subject?: string
  readonly entity?: AuditEntity
  readonly afterId?: bigint
  readonly limit: number
}

export interface CursorRepository {
  get(name: string): Promise<BlockRef | undefined>
  set(name: string, block: BlockRef): Promise<void>
}

export interface BlockRepository {
  /** Idempotent on number: false when a block of that number is recorded already (whatever its hash). */
  record(block: ProcessedBlock): Promise<boolean>
  get(number: bigint): Promise<ProcessedBlock | undefined>
  latest(): Promise<ProcessedBlock | undefined>
  /** Forgets blocks at or above `number` (a reorg rewind); answers how many. */
  deleteFrom(number: bigint): Promise<number>
  /** Forgets blocks below `number` (bounded retention); answers how many. */
  pruneBelow(number: bigint): Promise<number>
}

/** A block the payment monitor processed (schema v2, per chain). Numbers: block numbers fit 2^53. */
export interface MonitorBlock {
  readonly number: number
  readonly hash: Hex
  readonly parentHash: Hex
  readonly timestamp: number
}

export interface MonitorStateRecord {
  readonly version: number
  readonly cursor: { readonly number: number; readonly hash: Hex } | null
}

/** One applied monitor effect (append-only; the database refuses UPDATE, DELETE and TRUNCATE). */
export interface MonitorEffectEntry {
  readonly key: string
  readonly chainId: number
  readonly type: string
  readonly recordKey: string
  readonly blockNumber: number
  readonly blockHash: Hex
  readonly chainTime: number
  readonly detail: Readonly<Record<string, unknown>>
}

/** The payment monitor's persistence (schema v2). Call the writes inside `transaction`. */
export interface MonitorRepository {
  /** Creates the chain's state row when missing, then locks it (SELECT … FOR UPDATE) and returns it. */
  lockState(chainId: number): Promise<MonitorStateRecord>
  readState(chainId: number): Promise<MonitorStateRecord>
  setState(chainId: number, state: MonitorStateRecord): Promise<void>
  listBlocks(chainId: number): Promise<MonitorBlock[]>
  appendBlocks(chainId: number, blocks: readonly MonitorBlock[]): Promise<void>
  deleteBlocksFrom(chainId: number, number: number): Promise<void>
  pruneBlocksBelow(chainId: number, number: number): Promise<void>
  upsertRecord(chainId: number, key: string, settled: boolean, record: Record<string, unknown>): Promise<void>
  listUnsettledRecords(chainId: number): Promise<Record<string, unknown>[]>
  listRecords(chainId: number): Promise<Record<string, unknown>[]>
  /** Idempotent on key: true only when newly inserted. */
  insertEffect(effect: MonitorEffectEntry): Promise<boolean>
  /** Every effect of the chain, in insertion order. */
  listEffects(chainId: number): Promise<MonitorEffectEntry[]>
}

/** A subscription row with the ledger's facts (schema v2 columns). */
export interface LedgerRow {
  readonly id: Hex
  readonly owner: Hex
  readonly beneficiary: Hex
  readonly planId: number
  readonly token: Hex
  readonly startAt: number
  readonly endAt: number
  readonly state: SubscriptionState
  readonly version: number
  readonly chainStatus: 'live' | 'cancelled' | 'revoked' | null
  readonly chainBlock: number | null
  readonly updatedAtSec: number
  /** The ledger's remembered facts (payment digests, prior bounds, operator hold): JSON. */
  readonly facts: Readonly<Record<string, unknown>>
}

/** The subscription ledger's compare-and-set view of the `subscriptions` table. */
export interface LedgerRepository {
  get(id: Hex): Promise<LedgerRow | undefined>
  /**
   * Writes `row` only when the stored version is `expectedVersion` (null: only when no row exists) and
   * appends `audit` in the same transaction. False (nothing written) when another writer won.
   */
  compareAndSet(row: LedgerRow, expectedVersion: number | null, audit: NewAuditEntry): Promise<boolean>
  /** Active and cancelled rows ordered by id, after `afterId`, at most `limit`. */
  listActive(limit: number, afterId?: Hex): Promise<LedgerRow[]>
  /** Rows changed at or after chain time `sinceSec`, newest first, at most `limit`. */
  listChangedSince(sinceSec: number, limit: number): Promise<LedgerRow[]>
}

/** Schema v4: a token family as stored (times in unix ms). */
export interface TokenFamilyRecord {
  readonly id: string
  readonly subscriptionId: Hex
  /** The address that signed the SIWE message (owner or beneficiary). */
  readonly signer: Hex
  readonly createdAtMs: number
  /** The newest refresh token's expiry: the row is swept after it. */
  readonly expiresAtMs: number
  readonly revokedAtMs: number | null
  readonly revokeReason: string | null
}

/** What presenting a refresh token did (`TokenRepository.rotateRefresh`). */
export type RefreshRotation =
  | { readonly kind: 'rotated'; readonly family: TokenFamilyRecord }
  /** The token had been spent already: the whole family is now revoked (in the same transaction). */
  | { readonly kind: 'reused'; readonly familyId: string }
  | { readonly kind: 'revoked'; readonly familyId: string }
  | { readonly kind: 'expired' }
  | { readonly kind: 'unknown' }

/** Schema v4: SIWE nonces, token families and hashed refresh tokens (src/tokens). Times in unix ms. */
export interface TokenRepository {
  /**
   * Stores a fresh nonce valid until `expiresAtMs`, unless `maxOpen` unexpired nonces exist already
   * (false, nothing written). The count and the insert are one statement.
   */
  createNonce(nonce: string, expiresAtMs: number, nowMs: number, maxOpen: number): Promise<boolean>
  /** Redeems a nonce: true exactly once per nonce (the row is deleted), false when unknown or expired. */
  consumeNonce(nonce: string, nowMs: number): Promise<boolean>
  /** Inserts a new family with its first refresh token (by hash), in one transaction. */
  createFamily(
    family: Pick<TokenFamilyRecord, 'id' | 'subscriptionId' | 'signer' | 'createdAtMs' | 'expiresAtMs'>,
    refreshHash: string,
  ): Promise<void>
  /**
   * Spends the refresh token `hash` and stores its successor `next` in one transaction. A token already
   * spent revokes its family (`refresh-reuse`) in that same transaction and answers `reused`.
   */
  rotateRefresh(
    hash: string,
    next: { readonly hash: string; readonly expiresAtMs: number },
    nowMs: number,
  ): Promise<RefreshRotation>
  getFamily(id: string): Promise<TokenFamilyRecord | undefined>
  /** The family of a refresh token (by hash) and whether the token was spent; undefined when unknown. */
  findRefresh(
    hash: string,
  ): Promise<
    | { readonly family: TokenFamilyRecord; readonly isSpent: boolean; readonly expiresAtMs: number }
    | undefined
  >
  /** Revokes one family (false when unknown or revoked already). */
  revokeFamily(id: string, reason: string, nowMs: number): Promise<boolean>
  /** Revokes every unrevoked family of a subscription; answers their ids. */
  revokeSubscription(subscriptionId: Hex, reason: string, nowMs: number): Promise<string[]>
  /** Families revoked at or after `sinceMs` and not yet swept, oldest first (the edge's revocation list). */
  listRevokedSince(sinceMs: number, limit: number): Promise<Array<{ id: string; revokedAtMs: number }>>
  /** Deletes expired nonces and families past their expiry (with their refresh tokens); answers the rows deleted. */
  sweep(nowMs: number, limit: number): Promise<number>
}

/** Everything a subsystem may do with the database: typed, never a raw connection. */
/** One subscription's QoS totals of one plan period (times: chain seconds; `updatedAtMs`: wall clock). */
export interface UsageTotals {
  readonly subscriptionId: Hex
  readonly periodStartSec: number
  readonly periodEndSec: number
  readonly plan: string
  readonly requests: number
  readonly bytesIn: number
  readonly bytesOut: number
  readonly updatedAtMs: number
}

/** QoS usage totals (v6), written by the periodic flush of src/qos. */
export interface UsageRepository {
  /** Upserts each row keeping the greatest of the stored and the given totals: idempotent, order-free. */
  upsertTotals(rows: readonly UsageTotals[]): Promise<void>
  /** A subscription's periods, newest first (at most `limit`). */
  listTotals(subscriptionId: Hex, limit: number): Promise<UsageTotals[]>
}

export interface Repositories {
  readonly quotes: QuoteRepository
  readonly payments: PaymentRepository
  readonly subscriptions: SubscriptionRepository
  readonly audit: AuditRepository
  readonly cursor: CursorRepository
  readonly blocks: BlockRepository
  readonly monitor: MonitorRepository
  readonly ledger: LedgerRepository
  readonly tokens: TokenRepository
  readonly usage: UsageRepository
}

type Db = Kysely<Tables>

const lower = <T extends string>(hex: T): Hex => hex.toLowerCase() as Hex

/**
 * The quote caps' advisory lock: the two-int4 form (class, schema hash), a key space apart from the
 * migrations' one-bigint lock; gateways on other schemas of the same server do not wait for each other.
 */
const QUOTE_CAPS_LOCK = 0x71756f74 // 'quot'

/** Runs `fn` atomically: in the caller's transaction when there is one, else in a new one. */
function atomically<T>(db: Db, fn: (db: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn)
}

/** ON CONFLICT DO NOTHING: whether the row was written (rather than already there). */
function inserted(result: { readonly numInsertedOrUpdatedRows?: bigint | undefined }): boolean {
  return (result.numInsertedOrUpdatedRows ?? 0n) > 0n
}

function toQuote(r: Selectable<QuoteRow>): QuoteRecord {
  return {
    id: r.id as Hex,
    payer: r.payer as Hex,
    beneficiary: r.beneficiary as Hex,
    subscriptionId: r.subscription_id as Hex,
    token: r.token as Hex,
    amount: BigInt(r.amount),
    planId: r.plan_id,
    periods: Number(r.periods),
    validUntil: BigInt(r.valid_until),
    digest: r.digest as Hex,
    signature: r.signature as Hex,
    createdAt: r.created_at,
    state: r.state as QuoteState,
    plan: r.plan,
    answer: r.answer,
  }
}

function toPayment(r: Selectable<PaymentRow>): PaymentRecord {
  return {
    chainId: Number(r.chain_id),
    txHash: r.tx_hash as Hex,
    logIndex: r.log_index,
    digest: r.digest as Hex,
    subscriptionId: r.subscription_id as Hex,
    payer: r.payer as Hex,
    beneficiary: r.beneficiary as Hex,
    token: r.token as Hex,
    amount: BigInt(r.amount),
    planId: r.plan_id,
    periodStart: Number(r.period_start),
    periodEnd: Number(r.period_end),
    blockNumber: BigInt(r.block_number),
    blockHash: r.block_hash as Hex,
    state: r.state as PaymentState,
    isUnderpaid: r.is_underpaid,
    isUnknownQuote: r.is_unknown_quote,
    isWrongPayer: r.is_wrong_payer,
    activatedAt: r.activated_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }
}

function toSubscription(r: Selectable<SubscriptionRow>): SubscriptionRecord {
  return {
    id: r.id as Hex,
    owner: r.owner as Hex,
    beneficiary: r.beneficiary as Hex,
    planId: r.plan_id,
    token: r.token as Hex,
    startAt: Number(r.start_at),
    endAt: Number(r.end_at),
    state: r.state as SubscriptionState,
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }
}

function toAudit(r: Selectable<AuditRow>): AuditEntry {
  return {
    id: BigInt(r.id),
    entity: r.entity as AuditEntity,
    entityId: r.entity_id,
    fromState: r.from_state,
    toState: r.to_state,
    cause: r.cause,
    detail: r.detail,
    chainTime: r.chain_time === null ? null : Number(r.chain_time),
    at: r.at,
  }
}

function toBlock(r: Selectable<BlockRow>): ProcessedBlock {
  return {
    number: BigInt(r.number),
    hash: r.hash as Hex,
    parentHash: r.parent_hash as Hex,
    timestamp: Number(r.timestamp),
  }
}

/** The audit log's id of a payment: `chainId:txHash:logIndex`. */
export function paymentAuditId(key: PaymentKey): string {
  return `${key.chainId}:${lower(key.txHash)}:${key.logIndex}`
}

async function appendAudit(db: Db, entry: NewAuditEntry): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      entity: entry.entity,
      entity_id: entry.entityId,
      from_state: entry.fromState,
      to_state: entry.toState,
      cause: entry.cause,
      detail: { ...entry.detail },
      chain_time: entry.chainTime === undefined ? null : String(entry.chainTime),
    })
    .execute()
}

function quotes(db: Db): QuoteRepository {
  return {
    async insert(q) {
      const result = await db
        .insertInto('quotes')
        .values({
          id: lower(q.id),
          payer: lower(q.payer),
          beneficiary: lower(q.beneficiary),
          subscription_id: lower(q.subscriptionId),
          token: lower(q.token),
          amount: q.amount.toString(),
          plan_id: q.planId,
          periods: String(q.periods),
          valid_until: q.validUntil.toString(),
          digest: lower(q.digest),
          signature: lower(q.signature),
          state: q.state ?? 'open',
          ...(q.createdAt === undefined ? {} : { created_at: q.createdAt }),
          ...(q.plan === undefined ? {} : { plan: q.plan }),
          ...(q.answer === undefined ? {} : { answer: q.answer }),
        })
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst()
      return inserted(result)
    },
    async get(id) {
      const r = await db.selectFrom('quotes').selectAll().where('id', '=', lower(id)).executeTakeFirst()
      return r === undefined ? undefined : toQuote(r)
    },
    async getByDigest(digest) {
      const r = await db
        .selectFrom('quotes')
        .selectAll()
        .where('digest', '=', lower(digest))
        .executeTakeFirst()
      return r === undefined ? undefined : toQuote(r)
    },
    async setState(id, from, to) {
      const r = await db
        .updateTable('quotes')
        .set({ state: to })
        .where('id', '=', lower(id))
        .where('state', '=', from)
        .executeTakeFirst()
      return r.numUpdatedRows > 0n
    },
    async countOpen(now, payer) {
      let q = db
        .selectFrom('quotes')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('state', '=', 'open')
        .where('valid_until', '>=', now.toString())
      if (payer !== undefined) q = q.where('payer', '=', lower(payer))
      const r = await q.executeTakeFirstOrThrow()
      return Number(r.n)
    },
    async sweepExpired(now, limit) {
      const r = await db
        .deleteFrom('quotes')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('quotes')
            .select('id')
            .where('state', '=', 'open')
            .where('valid_until', '<', now.toString())
            .limit(limit),
        )
        .executeTakeFirst()
      return Number(r.numDeletedRows)
    },
    async openQuotes(now, options = {}) {
      const { payer, upTo } = options
      let open = db
        .selectFrom('quotes')
        .select('valid_until')
        .where('state', '=', 'open')
        .where('valid_until', '>', now.toString())
      if (payer !== undefined) open = open.where('payer', '=', lower(payer))
      // Earliest first, so that a count stopped at `upTo` still sees the earliest expiry (an index range scan).
      if (upTo !== undefined) open = open.orderBy('valid_until').limit(upTo)
      const r = await db
        .selectFrom(open.as('o'))
        .select((eb) => [
          eb.fn.countAll<string>().as('n'),
          eb.fn.min<string | null>('o.valid_until').as('at'),
        ])
        .executeTakeFirstOrThrow()
      return { count: Number(r.n), earliestValidUntil: r.at === null ? null : BigInt(r.at) }
    },
    async lockCaps() {
      if (!db.isTransaction) throw new Error('quotes.lockCaps must run inside transaction()')
      await sql`SELECT pg_advisory_xact_lock(${sql.lit(QUOTE_CAPS_LOCK)}, hashtext(current_schema()))`.execute(
        db,
      )
    },
  }
}

function keyFilter(key: PaymentKey) {
  return {
    chain_id: String(key.chainId),
    tx_hash: lower(key.txHash),
    log_index: key.logIndex,
  }
}

function payments(db: Db): PaymentRepository {
  const byKey = (key: PaymentKey) => {
    const k = keyFilter(key)
    return db
      .selectFrom('payments')
      .selectAll()
      .where('chain_id', '=', k.chain_id)
      .where('tx_hash', '=', k.tx_hash)
      .where('log_index', '=', k.log_index)
  }
  return {
    record(p, cause) {
      return atomically(db, async (trx) => {
        const result = await trx
          .insertInto('payments')
          .values({
            ...keyFilter(p),
            digest: lower(p.digest),
            subscription_id: lower(p.subscriptionId),
            payer: lower(p.payer),
            beneficiary: lower(p.beneficiary),
            token: lower(p.token),
            amount: p.amount.toString(),
            plan_id: p.planId,
            period_start: String(p.periodStart),
            period_end: String(p.periodEnd),
            block_number: p.blockNumber.toString(),
            block_hash: lower(p.blockHash),
            state: p.state,
            is_underpaid: p.isUnderpaid ?? false,
            is_unknown_quote: p.isUnknownQuote ?? false,
            is_wrong_payer: p.isWrongPayer ?? false,
            updated_at: new Date(),
          })
          .onConflict((oc) => oc.doNothing())
          .executeTakeFirst()
        if (!inserted(result)) return false
        await appendAudit(trx, {
          entity: 'payment',
          entityId: paymentAuditId(p),
          fromState: null,
          toState: p.state,
          ...cause,
        })
        return true
      })
    },
    async get(key) {
      const r = await byKey(key).executeTakeFirst()
      return r === undefined ? undefined : toPayment(r)
    },
    transition(key, change, cause) {
      return atomically(db, async (trx) => {
        const k = keyFilter(key)
        const before = await trx
          .selectFrom('payments')
          .select('state')
          .where('chain_id', '=', k.chain_id)
          .where('tx_hash', '=', k.tx_hash)
          .where('log_index', '=', k.log_index)
          .forUpdate()
          .executeTakeFirst()
        if (before === undefined || !change.from.includes(before.state as PaymentState)) return false
        await trx
          .updateTable('payments')
          .set({
            state: change.to,
            updated_at: new Date(),
            ...(change.block === undefined
              ? {}
              : { block_number: change.block.number.toString(), block_hash: lower(change.block.hash) }),
          })
          .where('chain_id', '=', k.chain_id)
          .where('tx_hash', '=', k.tx_hash)
          .where('log_index', '=', k.log_index)
          .execute()
        await appendAudit(trx, {
          entity: 'payment',
          entityId: paymentAuditId(key),
          fromState: before.state,
          toState: change.to,
          ...cause,
        })
        return true
      })
    },
    async claimActivation(key) {
      const k = keyFilter(key)
      const rows = await db
        .updateTable('payments')
        .set({ activated_at: new Date() })
        .where('chain_id', '=', k.chain_id)
        .where('tx_hash', '=', k.tx_hash)
        .where('log_index', '=', k.log_index)
        .where('activated_at', 'is', null)
        .returning('log_index')
        .execute()
      return rows.length === 1
    },
    claimInclusionActivation(key, blockHash) {
      return atomically(db, async (trx) => {
        const k = keyFilter(key)
        const exists = await trx
          .selectFrom('payments')
          .select('log_index')
          .where('chain_id', '=', k.chain_id)
          .where('tx_hash', '=', k.tx_hash)
          .where('log_index', '=', k.log_index)
          .executeTakeFirst()
        if (exists === undefined) return false
        const result = await trx
          .insertInto('payment_activations')
          .values({ ...k, block_hash: lower(blockHash) })
          .onConflict((oc) => oc.doNothing())
          .executeTakeFirst()
        if (!inserted(result)) return false
        await trx
          .updateTable('payments')
          .set({ activated_at: new Date() })
          .where('chain_id', '=', k.chain_id)
          .where('tx_hash', '=', k.tx_hash)
          .where('log_index', '=', k.log_index)
          .where('activated_at', 'is', null)
          .execute()
        return true
      })
    },
    async listAbove(blockNumber) {
      const rows = await db
        .selectFrom('payments')
        .selectAll()
        .where('block_number', '>', blockNumber.toString())
        .where('state', '!=', 'reorged')
        .orderBy('block_number')
        .orderBy('log_index')
        .execute()
      return rows.map(toPayment)
    },
    async listByState(state, limit) {
      const rows = await db
        .selectFrom('payments')
        .selectAll()
        .where('state', '=', state)
        .orderBy('block_number')
        .orderBy('log_index')
        .limit(limit)
        .execute()
      return rows.map(toPayment)
    },
    async listFlagged(limit) {
      const rows = await db
        .selectFrom('payments')
        .selectAll()
        .where((eb) =>
          eb.or([
            eb('is_underpaid', '=', true),
            eb('is_unknown_quote', '=', true),
            eb('is_wrong_payer', '=', true),
          ]),
        )
        .orderBy('created_at', 'desc')
        .limit(limit)
        .execute()
      return rows.map(toPayment)
    },
    async listBySubscription(subscriptionId) {
      const rows = await db
        .selectFrom('payments')
        .selectAll()
        .where('subscription_id', '=', lower(subscriptionId))
        .orderBy('block_number')
        .orderBy('log_index')
        .execute()
      return rows.map(toPayment)
    },
  }
}

function subscriptions(db: Db): SubscriptionRepository {
  return {
    insert(s, cause) {
      return atomically(db, async (trx) => {
        const now = new Date()
        const result = await trx
          .insertInto('subscriptions')
          .values({
            id: lower(s.id),
            owner: lower(s.owner),
            beneficiary: lower(s.beneficiary),
            plan_id: s.planId,
            token: lower(s.token),
            start_at: String(s.startAt),
            end_at: String(s.endAt),
            state: s.state,
            version: 1,
            updated_at: now,
          })
          .onConflict((oc) => oc.doNothing())
          .executeTakeFirst()
        if (!inserted(result)) return false
        await appendAudit(trx, {
          entity: 'subscription',
          entityId: lower(s.id),
          fromState: null,
          toState: s.state,
          ...cause,
        })
        return true
      })
    },
    async get(id) {
      const r = await db
        .selectFrom('subscriptions')
        .selectAll()
        .where('id', '=', lower(id))
        .executeTakeFirst()
      return r === undefined ? undefined : toSubscription(r)
    },
    async getForUpdate(id) {
      const r = await db
        .selectFrom('subscriptions')
        .selectAll()
        .where('id', '=', lower(id))
        .forUpdate()
        .executeTakeFirst()
      return r === undefined ? undefined : toSubscription(r)
    },
    update(id, expectedVersion, changes, cause) {
      return atomically(db, async (trx) => {
        const before = await trx
          .selectFrom('subscriptions')
          .select(['state', 'version'])
          .where('id', '=', lower(id))
          .forUpdate()
          .executeTakeFirst()
        if (before === undefined || before.version !== expectedVersion) return undefined
        const r = await trx
          .updateTable('subscriptions')
          .set({
            version: expectedVersion + 1,
            updated_at: new Date(),
            ...(changes.beneficiary === undefined ? {} : { beneficiary: lower(changes.beneficiary) }),
            ...(changes.planId === undefined ? {} : { plan_id: changes.planId }),
            ...(changes.token === undefined ? {} : { token: lower(changes.token) }),
            ...(changes.startAt === undefined ? {} : { start_at: String(changes.startAt) }),
            ...(changes.endAt === undefined ? {} : { end_at: String(changes.endAt) }),
            ...(changes.state === undefined ? {} : { state: changes.state }),
          })
          .where('id', '=', lower(id))
          .where('version', '=', expectedVersion)
          .returningAll()
          .executeTakeFirst()
        if (r === undefined) return undefined
        const { cause: why, detail, chainTime } = cause
        await appendAudit(trx, {
          entity: 'subscription',
          entityId: lower(id),
          fromState: before.state,
          toState: r.state,
          cause: why,
          detail: { ...detail, version: r.version, changes: describeChanges(changes) },
          ...(chainTime === undefined ? {} : { chainTime }),
        })
        return toSubscription(r)
      })
    },
    async listByState(state, page) {
      let q = db.selectFrom('subscriptions').selectAll().where('state', '=', state)
      if (page.endBefore !== undefined) q = q.where('end_at', '<', String(page.endBefore))
      const after = page.after
      if (after !== undefined) {
        q = q.where((eb) =>
          eb.or([
            eb('end_at', '>', String(after.endAt)),
            eb.and([eb('end_at', '=', String(after.endAt)), eb('id', '>', lower(after.id))]),
          ]),
        )
      }
      const rows = await q.orderBy('end_at').orderBy('id').limit(page.limit).execute()
      return rows.map(toSubscription)
    },
    async listByBeneficiary(beneficiary) {
      const rows = await db
        .selectFrom('subscriptions')
        .selectAll()
        .where('beneficiary', '=', lower(beneficiary))
        .orderBy('end_at', 'desc')
        .execute()
      return rows.map(toSubscription)
    },
    async search(filter) {
      let q = db.selectFrom('subscriptions').selectAll()
      if (filter.owner !== undefined) q = q.where('owner', '=', lower(filter.owner))
      if (filter.beneficiary !== undefined) q = q.where('beneficiary', '=', lower(filter.beneficiary))
      if (filter.planId !== undefined) q = q.where('plan_id', '=', filter.planId)
      if (filter.state !== undefined) q = q.where('state', '=', filter.state)
      if (filter.endFrom !== undefined) q = q.where('end_at', '>=', String(filter.endFrom))
      if (filter.endBefore !== undefined) q = q.where('end_at', '<', String(filter.endBefore))
      if (filter.afterId !== undefined) q = q.where('id', '>', lower(filter.afterId))
      const rows = await q.orderBy('id').limit(filter.limit).execute()
      return rows.map(toSubscription)
    },
  }
}

/** The audit's record of what an update changed (JSON: numbers and strings only). */
function describeChanges(changes: SubscriptionChanges): Record<string, string | number> {
  const out: Record<string, string | number> = {}
  for (const [k, v] of Object.entries(changes)) if (v !== undefined) out[k] = v
  return out
}

function audit(db: Db): AuditRepository {
  return {
    append: (entry) => appendAudit(db, entry),
    async list(entity, entityId) {
      const rows = await db
        .selectFrom('audit_log')
        .selectAll()
        .where('entity', '=', entity)
        .where('entity_id', '=', entityId)
        .orderBy('id')
        .execute()
      return rows.map(toAudit)
    },
    async recent(limit) {
      const rows = await db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(limit).execute()
      return rows.map(toAudit)
    },
    async search(filter) {
      let q = db.selectFrom('audit_log').selectAll()
      if (filter.since !== undefined) q = q.where('at', '>=', filter.since)
      if (filter.until !== undefined) q = q.where('at', '<', filter.until)
      if (filter.subject !== undefined) q = q.where('entity_id', '=', filter.subject)
      if (filter.entity !== undefined) q = q.where('entity', '=', filter.entity)
      if (filter.afterId !== undefined) q = q.where('id', '>', filter.afterId.toString())
      const rows = await q.orderBy('id').limit(filter.limit).execute()
      return rows.map(toAudit)
    },
  }
}

function cursor(db: Db): CursorRepository {
  return {
    async get(name) {
      const r = await db.selectFrom('monitor_cursor').selectAll().where('name', '=', name).executeTakeFirst()
      return r === undefined ? undefined : { number: BigInt(r.block_number), hash: r.block_hash as Hex }
    },
    async set(name, block) {
      const values = {
        block_number: block.number.toString(),
        block_hash: lower(block.hash),
        updated_at: new Date(),
      }
      await db
        .insertInto('monitor_cursor')
        .values({ name, ...values })
        .onConflict((oc) => oc.column('name').doUpdateSet(values))
        .execute()
    },
  }
}

function blocks(db: Db): BlockRepository {
  return {
    async record(b) {
      const result = await db
        .insertInto('processed_blocks')
        .values({
          number: b.number.toString(),
          hash: lower(b.hash),
          parent_hash: lower(b.parentHash),
          timestamp: String(b.timestamp),
        })
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst()
      return inserted(result)
    },
    async get(number) {
      const r = await db
        .selectFrom('processed_blocks')
        .selectAll()
        .where('number', '=', number.toString())
        .executeTakeFirst()
      return r === undefined ? undefined : toBlock(r)
    },
    async latest() {
      const r = await db
        .selectFrom('processed_blocks')
        .selectAll()
        .orderBy('number', 'desc')
        .limit(1)
        .executeTakeFirst()
      return r === undefined ? undefined : toBlock(r)
    },
    async deleteFrom(number) {
      const r = await db
        .deleteFrom('processed_blocks')
        .where('number', '>=', number.toString())
        .executeTakeFirst()
      return Number(r.numDeletedRows)
    },
    async pruneBelow(number) {
      const r = await db
        .deleteFrom('processed_blocks')
        .where('number', '<', number.toString())
        .executeTakeFirst()
      return Number(r.numDeletedRows)
    },
  }
}

function toMonitorState(
  r: { version: string; cursor_number: string | null; cursor_hash: string | null } | undefined,
): MonitorStateRecord {
  if (r === undefined) return { version: 0, cursor: null }
  return {
    version: Number(r.version),
    cursor:
      r.cursor_number === null || r.cursor_hash === null
        ? null
        : { number: Number(r.cursor_number), hash: r.cursor_hash as Hex },
  }
}

function monitor(db: Db): MonitorRepository {
  const chain = (id: number): string => String(id)
  const state = (chainId: number) =>
    db
      .selectFrom('monitor_state')
      .select(['version', 'cursor_number', 'cursor_hash'])
      .where('chain_id', '=', chain(chainId))
  return {
    async lockState(chainId) {
      await db
        .insertInto('monitor_state')
        .values({ chain_id: chain(chainId), version: '0' })
        .onConflict((oc) => oc.doNothing())
        .execute()
      return toMonitorState(await state(chainId).forUpdate().executeTakeFirst())
    },
    async readState(chainId) {
      return toMonitorState(await state(chainId).executeTakeFirst())
    },
    async setState(chainId, s) {
      await db
        .updateTable('monitor_state')
        .set({
          version: String(s.version),
          cursor_number: s.cursor === null ? null : String(s.cursor.number),
          cursor_hash: s.cursor === null ? null : lower(s.cursor.hash),
          updated_at: new Date(),
        })
        .where('chain_id', '=', chain(chainId))
        .execute()
    },
    async listBlocks(chainId) {
      const rows = await db
        .selectFrom('monitor_blocks')
        .selectAll()
        .where('chain_id', '=', chain(chainId))
        .orderBy('number')
        .execute()
      return rows.map((r) => ({
        number: Number(r.number),
        hash: r.hash as Hex,
        parentHash: r.parent_hash as Hex,
        timestamp: Number(r.timestamp),
      }))
    },
    async appendBlocks(chainId, blocks) {
      if (blocks.length === 0) return
      await db
        .insertInto('monitor_blocks')
        .values(
          blocks.map((b) => ({
            chain_id: chain(chainId),
            number: String(b.number),
            hash: lower(b.hash),
            parent_hash: lower(b.parentHash),
            timestamp: String(b.timestamp),
          })),
        )
        .execute()
    },
    async deleteBlocksFrom(chainId, number) {
      await db
        .deleteFrom('monitor_blocks')
        .where('chain_id', '=', chain(chainId))
        .where('number', '>=', String(number))
        .execute()
    },
    async pruneBlocksBelow(chainId, number) {
      await db
        .deleteFrom('monitor_blocks')
        .where('chain_id', '=', chain(chainId))
        .where('number', '<', String(number))
        .execute()
    },
    async upsertRecord(chainId, key, settled, record) {
      const now = new Date()
      await db
        .insertInto('monitor_records')
        .values({ chain_id: chain(chainId), key, settled, record, updated_at: now })
        .onConflict((oc) => oc.columns(['chain_id', 'key']).doUpdateSet({ settled, record, updated_at: now }))
        .execute()
    },
    async listUnsettledRecords(chainId) {
      const rows = await db
        .selectFrom('monitor_records')
        .select('record')
        .where('chain_id', '=', chain(chainId))
        .where('settled', '=', false)
        .orderBy('key')
        .execute()
      return rows.map((r) => r.record)
    },
    async listRecords(chainId) {
      const rows = await db
        .selectFrom('monitor_records')
        .select('record')
        .where('chain_id', '=', chain(chainId))
        .orderBy('key')
        .execute()
      return rows.map((r) => r.record)
    },
    async insertEffect(e) {
      const result = await db
        .insertInto('monitor_effects')
        .values({
          key: e.key,
          chain_id: chain(e.chainId),
          type: e.type,
          record_key: e.recordKey,
          block_number: String(e.blockNumber),
          block_hash: lower(e.blockHash),
          chain_time: String(e.chainTime),
          detail: { ...e.detail },
        })
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst()
      return inserted(result)
    },
    async listEffects(chainId) {
      const rows = await db
        .selectFrom('monitor_effects')
        .selectAll()
        .where('chain_id', '=', chain(chainId))
        .orderBy('seq')
        .execute()
      return rows.map((r) => ({
        key: r.key,
        chainId: Number(r.chain_id),
        type: r.type,
        recordKey: r.record_key,
        blockNumber: Number(r.block_number),
        blockHash: r.block_hash as Hex,
        chainTime: Number(r.chain_time),
        detail: r.detail,
      }))
    },
  }
}

function toLedgerRow(r: Selectable<SubscriptionRow>): LedgerRow {
  return {
    id: r.id as Hex,
    owner: r.owner as Hex,
    beneficiary: r.beneficiary as Hex,
    planId: r.plan_id,
    token: r.token as Hex,
    startAt: Number(r.start_at),
    endAt: Number(r.end_at),
    state: r.state as SubscriptionState,
    version: r.version,
    chainStatus: r.chain_status as LedgerRow['chainStatus'],
    chainBlock: r.chain_block === null ? null : Number(r.chain_block),
    updatedAtSec: Number(r.updated_at_sec),
    facts: r.ledger,
  }
}

function ledger(db: Db): LedgerRepository {
  return {
    async get(id) {
      const r = await db
        .selectFrom('subscriptions')
        .selectAll()
        .where('id', '=', lower(id))
        .executeTakeFirst()
      return r === undefined ? undefined : toLedgerRow(r)
    },
    compareAndSet(row, expectedVersion, entry) {
      return atomically(db, async (trx) => {
        const values = {
          owner: lower(row.owner),
          beneficiary: lower(row.beneficiary),
          plan_id: row.planId,
          token: lower(row.token),
          start_at: String(row.startAt),
          end_at: String(row.endAt),
          state: row.state,
          version: row.version,
          chain_status: row.chainStatus,
          chain_block: row.chainBlock === null ? null : String(row.chainBlock),
          updated_at_sec: String(row.updatedAtSec),
          ledger: { ...row.facts },
          updated_at: new Date(),
        }
        let written: boolean
        if (expectedVersion === null) {
          const result = await trx
            .insertInto('subscriptions')
            .values({ id: lower(row.id), ...values })
            .onConflict((oc) => oc.doNothing())
            .executeTakeFirst()
          written = inserted(result)
        } else {
          const result = await trx
            .updateTable('subscriptions')
            .set(values)
            .where('id', '=', lower(row.id))
            .where('version', '=', expectedVersion)
            .executeTakeFirst()
          written = result.numUpdatedRows > 0n
        }
        if (!written) return false
        await appendAudit(trx, entry)
        return true
      })
    },
    async listActive(limit, afterId) {
      let q = db
        .selectFrom('subscriptions')
        .selectAll()
        .where('state', 'in', ['active', 'cancelled'])
        .orderBy('id')
        .limit(limit)
      if (afterId !== undefined) q = q.where('id', '>', lower(afterId))
      return (await q.execute()).map(toLedgerRow)
    },
    async listChangedSince(sinceSec, limit) {
      const rows = await db
        .selectFrom('subscriptions')
        .selectAll()
        .where('updated_at_sec', '>=', String(sinceSec))
        .orderBy('updated_at_sec', 'desc')
        .orderBy('id')
        .limit(limit)
        .execute()
      return rows.map(toLedgerRow)
    },
  }
}

function toFamily(r: Selectable<TokenFamilyRow>): TokenFamilyRecord {
  return {
    id: r.id,
    subscriptionId: r.subscription_id as Hex,
    signer: r.signer as Hex,
    createdAtMs: Number(r.created_at),
    expiresAtMs: Number(r.expires_at),
    revokedAtMs: r.revoked_at === null ? null : Number(r.revoked_at),
    revokeReason: r.revoke_reason,
  }
}

function tokens(db: Db): TokenRepository {
  const revoke = (trx: Db, id: string, reason: string, nowMs: number) =>
    trx
      .updateTable('token_families')
      .set({ revoked_at: String(nowMs), revoke_reason: reason })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst()
  return {
    async createNonce(nonce, expiresAtMs, nowMs, maxOpen) {
      // INSERT … SELECT … WHERE (open count, stopped at the cap) < cap: one statement, no read-then-write gap
      // within a transaction; concurrent inserts may overshoot by the number of racing instances, no more.
      const r = await sql`INSERT INTO token_nonces (nonce, expires_at)
        SELECT ${nonce}, ${String(expiresAtMs)}::bigint
        WHERE (SELECT count(*) FROM (SELECT 1 FROM token_nonces WHERE expires_at > ${String(nowMs)}::bigint
               LIMIT ${maxOpen}) AS open) < ${maxOpen}
        ON CONFLICT DO NOTHING`.execute(db)
      return (r.numAffectedRows ?? 0n) > 0n
    },
    async consumeNonce(nonce, nowMs) {
      const r = await db
        .deleteFrom('token_nonces')
        .where('nonce', '=', nonce)
        .where('expires_at', '>', String(nowMs))
        .executeTakeFirst()
      return r.numDeletedRows > 0n
    },
    async createFamily(family, refreshHash) {
      await atomically(db, async (trx) => {
        await trx
          .insertInto('token_families')
          .values({
            id: family.id,
            subscription_id: lower(family.subscriptionId),
            signer: lower(family.signer),
            created_at: String(family.createdAtMs),
            expires_at: String(family.expiresAtMs),
            revoked_at: null,
            revoke_reason: null,
          })
          .execute()
        await trx
          .insertInto('refresh_tokens')
          .values({
            hash: refreshHash,
            family_id: family.id,
            expires_at: String(family.expiresAtMs),
            spent_at: null,
          })
          .execute()
      })
    },
    rotateRefresh(hash, next, nowMs) {
      return atomically(db, async (trx): Promise<RefreshRotation> => {
        const now = String(nowMs)
        const spent = await trx
          .updateTable('refresh_tokens')
          .set({ spent_at: now })
          .where('hash', '=', hash)
          .where('spent_at', 'is', null)
          .where('expires_at', '>', now)
          .returning('family_id')
          .executeTakeFirst()
        if (spent === undefined) {
          const row = await trx
            .selectFrom('refresh_tokens')
            .select(['family_id', 'spent_at'])
            .where('hash', '=', hash)
            .executeTakeFirst()
          if (row === undefined) return { kind: 'unknown' }
          if (row.spent_at === null) return { kind: 'expired' }
          await revoke(trx, row.family_id, 'refresh-reuse', nowMs)
          return { kind: 'reused', familyId: row.family_id }
        }
        const family = await trx
          .selectFrom('token_families')
          .selectAll()
          .where('id', '=', spent.family_id)
          .forUpdate()
          .executeTakeFirstOrThrow()
        if (family.revoked_at !== null) return { kind: 'revoked', familyId: family.id }
        await trx
          .insertInto('refresh_tokens')
          .values({
            hash: next.hash,
            family_id: family.id,
            expires_at: String(next.expiresAtMs),
            spent_at: null,
          })
          .execute()
        const expiresAt = Math.max(Number(family.expires_at), next.expiresAtMs)
        await trx
          .updateTable('token_families')
          .set({ expires_at: String(expiresAt) })
          .where('id', '=', family.id)
          .execute()
        return { kind: 'rotated', family: toFamily({ ...family, expires_at: String(expiresAt) }) }
      })
    },
    async getFamily(id) {
      const r = await db.selectFrom('token_families').selectAll().where('id', '=', id).executeTakeFirst()
      return r === undefined ? undefined : toFamily(r)
    },
    async findRefresh(hash) {
      const r = await db
        .selectFrom('refresh_tokens as r')
        .innerJoin('token_families as f', 'f.id', 'r.family_id')
        .selectAll('f')
        .select(['r.spent_at as spent_at', 'r.expires_at as token_expires_at'])
        .where('r.hash', '=', hash)
        .executeTakeFirst()
      if (r === undefined) return undefined
      const { spent_at, token_expires_at, ...family } = r
      return { family: toFamily(family), isSpent: spent_at !== null, expiresAtMs: Number(token_expires_at) }
    },
    async revokeFamily(id, reason, nowMs) {
      const r = await revoke(db, id, reason, nowMs)
      return r.numUpdatedRows > 0n
    },
    async revokeSubscription(subscriptionId, reason, nowMs) {
      const rows = await db
        .updateTable('token_families')
        .set({ revoked_at: String(nowMs), revoke_reason: reason })
        .where('subscription_id', '=', lower(subscriptionId))
        .where('revoked_at', 'is', null)
        .returning('id')
        .execute()
      return rows.map((r) => r.id)
    },
    async listRevokedSince(sinceMs, limit) {
      const rows = await db
        .selectFrom('token_families')
        .select(['id', 'revoked_at'])
        .where('revoked_at', '>=', String(sinceMs))
        .orderBy('revoked_at')
        .limit(limit)
        .execute()
      return rows.map((r) => ({ id: r.id, revokedAtMs: Number(r.revoked_at) }))
    },
    async sweep(nowMs, limit) {
      const now = String(nowMs)
      const nonces = await db
        .deleteFrom('token_nonces')
        .where('nonce', 'in', (eb) =>
          eb.selectFrom('token_nonces').select('nonce').where('expires_at', '<=', now).limit(limit),
        )
        .executeTakeFirst()
      const families = await db
        .deleteFrom('token_families')
        .where('id', 'in', (eb) =>
          eb.selectFrom('token_families').select('id').where('expires_at', '<=', now).limit(limit),
        )
        .executeTakeFirst()
      return Number(nonces.numDeletedRows) + Number(families.numDeletedRows)
    },
  }
}

function usage(db: Db): UsageRepository {
  return {
    async upsertTotals(rows) {
      if (rows.length === 0) return
      await db
        .insertInto('subscription_usage')
        .values(
          rows.map((r) => ({
            subscription_id: lower(r.subscriptionId),
            period_start: String(r.periodStartSec),
            period_end: String(r.periodEndSec),
            plan: r.plan,
            requests: String(r.requests),
            bytes_in: String(r.bytesIn),
            bytes_out: String(r.bytesOut),
            updated_at: String(r.updatedAtMs),
          })),
        )
        .onConflict((oc) =>
          oc.columns(['subscription_id', 'period_start']).doUpdateSet({
            requests: sql`GREATEST(subscription_usage.requests, excluded.requests)`,
            bytes_in: sql`GREATEST(subscription_usage.bytes_in, excluded.bytes_in)`,
            bytes_out: sql`GREATEST(subscription_usage.bytes_out, excluded.bytes_out)`,
            updated_at: sql`GREATEST(subscription_usage.updated_at, excluded.updated_at)`,
          }),
        )
        .execute()
    },
    async listTotals(subscriptionId, limit) {
      const rows = await db
        .selectFrom('subscription_usage')
        .selectAll()
        .where('subscription_id', '=', lower(subscriptionId))
        .orderBy('period_start', 'desc')
        .limit(limit)
        .execute()
      return rows.map((r) => ({
        subscriptionId: r.subscription_id as Hex,
        periodStartSec: Number(r.period_start),
        periodEndSec: Number(r.period_end),
        plan: r.plan,
        requests: Number(r.requests),
        bytesIn: Number(r.bytes_in),
        bytesOut: Number(r.bytes_out),
        updatedAtMs: Number(r.updated_at),
      }))
    },
  }
}

/** The repositories bound to one executor (the root instance or a transaction). */
export function createRepositories(db: Db): Repositories {
  return {
    quotes: quotes(db),
    payments: payments(db),
    subscriptions: subscriptions(db),
    audit: audit(db),
    cursor: cursor(db),
    blocks: blocks(db),
    monitor: monitor(db),
    ledger: ledger(db),
    tokens: tokens(db),
    usage: usage(db),
  }
}
