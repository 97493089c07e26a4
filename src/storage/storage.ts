import { PGlite } from '@electric-sql/pglite'
import { Kysely, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import { GatewayError } from '../errors/index.ts'
import {
  readSchemaVersion,
  runMigrations,
  MIGRATIONS,
  type Migration,
  type MigrationReport,
} from './migrations.ts'
import { lockDataDir } from './data-dir-lock.ts'
import { PGliteDialect } from './pglite-dialect.ts'
import { createRepositories, type Repositories } from './repositories.ts'
import type { Tables } from './tables.ts'

/** Where the data lives: PostgreSQL (shared by every gateway instance) or embedded PGlite. */
export type StorageOptions =
  | {
      readonly backend: 'postgres'
      /** postgres://user:password@host:port/db — never logged; errors name host, port and database only. */
      readonly url: string
      /** Schema to work in (search_path); default the role's default (`public`). */
      readonly schema?: string
      /** Pool size (default 10). */
      readonly maxConnections?: number
      /** Connect timeout per connection (default 5000 ms). */
      readonly connectTimeoutMs?: number
    }
  | {
      readonly backend: 'pglite'
      /** Data directory (created when missing); null = in memory (tests). One process per directory. */
      readonly dataDir: string | null
    }

export interface StorageDeps {
  /** Errors of idle pooled connections (PostgreSQL restarts): reported, never thrown into nowhere. */
  readonly onIdleError?: (err: Error) => void
}

/** The storage subsystem's one handle: typed repositories, transactions, migrations, close. */
export interface Storage extends Repositories {
  readonly backend: 'postgres' | 'pglite'
  /**
   * Runs `fn` in one database transaction with repositories bound to it: everything it writes (effects
   * and the monitor's cursor) commits together or not at all. On PGlite transactions run one at a time.
   * Never use the outer Storage inside `fn` (on PGlite that waits for `fn` itself: a deadlock).
   */
  transaction<T>(fn: (repos: Repositories) => Promise<T>): Promise<T>
  /** Applies pending migrations (see runMigrations); refuses a newer or altered schema. */
  migrate(): Promise<MigrationReport>
  /** The database's schema version (0 = never migrated). */
  schemaVersion(): Promise<number>
  /** One round trip (`SELECT 1`), for readiness: STORAGE_UNAVAILABLE when the database does not answer. */
  ping(): Promise<void>
  /** Closes the pool or the PGlite instance. Idempotent. */
  close(): Promise<void>
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/** host:port/database of a PostgreSQL URL, never its credentials (for messages). */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.hostname}:${u.port === '' ? '5432' : u.port}${u.pathname === '' ? '' : u.pathname}`
  } catch {
    return '(unparseable URL)'
  }
}

function unavailable(target: string, err: unknown): GatewayError {
  const code = (err as { code?: string }).code
  const message = (err as Error).message
  return new GatewayError(
    'STORAGE_UNAVAILABLE',
    `cannot open the database (${target}): ${code === undefined ? '' : `${code} `}${message}`,
    { cause: err },
  )
}

/**
 * Connects (PostgreSQL pool or PGlite instance) and checks the database answers; does not migrate.
 * Connection failures → STORAGE_UNAVAILABLE (the message names host:port/db, never the password).
 */
export async function createStorage(
  options: StorageOptions,
  deps: StorageDeps = {},
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<Storage> {
  let db: Kysely<Tables>
  let release: () => Promise<void>
  let target: string
  if (options.backend === 'postgres') {
    target = describePostgresUrl(options.url)
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
      throw new GatewayError(
        'STORAGE_CONFIG_INVALID',
        `storage schema ${JSON.stringify(options.schema)} is not a plain lowercase identifier`,
      )
    }
    let url: URL
    try {
      url = new URL(options.url)
    } catch {
      throw new GatewayError(
        'STORAGE_CONFIG_INVALID',
        'storage url is not a URL (postgres://user:password@host:port/db)',
      )
    }
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
      throw new GatewayError(
        'STORAGE_CONFIG_INVALID',
        `storage url scheme ${JSON.stringify(url.protocol)} is not postgres:`,
      )
    }
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      ...(options.schema === undefined ? {} : { options: `-c search_path=${options.schema}` }),
    })
    pool.on('error', (err) => deps.onIdleError?.(err))
    db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) })
    release = () => db.destroy()
  } else {
    target = options.dataDir === null ? 'PGlite in memory' : `PGlite ${options.dataDir}`
    const unlock = options.dataDir === null ? async () => {} : await lockDataDir(options.dataDir)
    let pglite: PGlite
    try {
      // int8 as a decimal string, as pg answers it: block numbers and chain ids never go through a float.
      pglite = new PGlite(options.dataDir ?? undefined, { parsers: { 20: (v: string) => v } })
      await pglite.waitReady
    } catch (err) {
      await unlock()
      throw unavailable(target, err)
    }
    db = new Kysely<Tables>({ dialect: new PGliteDialect(pglite) })
    release = async () => {
      await db.destroy()
      await pglite.close()
      await unlock()
    }
  }
  try {
    await sql`SELECT 1`.execute(db)
  } catch (err) {
    await release().catch(() => {})
    throw unavailable(target, err)
  }
  let closing: Promise<void> | undefined
  return {
    backend: options.backend,
    ...createRepositories(db),
    transaction: (fn) => db.transaction().execute((trx) => fn(createRepositories(trx))),
    migrate: () => runMigrations(db, migrations),
    schemaVersion: () => readSchemaVersion(db),
    ping: async () => {
      if (closing !== undefined) throw new GatewayError('STORAGE_UNAVAILABLE', `storage closed (${target})`)
      try {
        await sql`SELECT 1`.execute(db)
      } catch (err) {
        throw unavailable(target, err)
      }
    },
    close: () => (closing ??= release()),
  }
}

/**
 * The start-time helper: connect, migrate to the newest schema, answer the handle and what was applied.
 * Refuses (and closes again) on a schema newer than this code (STORAGE_SCHEMA_TOO_NEW) or an applied
 * migration that differs from the shipped one (STORAGE_MIGRATION_MISMATCH).
 */
export async function openStorage(
  options: StorageOptions,
  deps: StorageDeps = {},
): Promise<{ readonly storage: Storage; readonly migration: MigrationReport }> {
  const storage = await createStorage(options, deps)
  try {
    return { storage, migration: await storage.migrate() }
  } catch (err) {
    await storage.close()
    throw err
  }
}
