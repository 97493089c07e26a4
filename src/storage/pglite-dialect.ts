import type { PGlite } from '@electric-sql/pglite'
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely'

/**
 * A kysely dialect over one PGlite instance. PGlite is a single PostgreSQL backend: one session, so one
 * connection. The driver hands that connection to one holder at a time (a FIFO of waiters): a kysely
 * transaction holds it from BEGIN to COMMIT/ROLLBACK, so another caller's statements can never land
 * inside it. A caller that runs a query on the root instance from inside its own transaction waits
 * forever — repositories are bound to the transaction they run in (see storage.ts).
 * The SQL is PostgreSQL's, so kysely's Postgres adapter, compiler and introspector are reused.
 */
export class PGliteDialect implements Dialect {
  readonly #pglite: PGlite

  constructor(pglite: PGlite) {
    this.#pglite = pglite
  }

  createAdapter(): DialectAdapter {
    return new PostgresAdapter()
  }

  createDriver(): Driver {
    return new PGliteDriver(this.#pglite)
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler()
  }

  // Kysely<any>: the introspector is schema-agnostic (kysely's own dialects take the same).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new PostgresIntrospector(db)
  }
}

class PGliteConnection implements DatabaseConnection {
  readonly #pglite: PGlite

  constructor(pglite: PGlite) {
    this.#pglite = pglite
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.#pglite.query<R>(compiled.sql, [...compiled.parameters])
    const isWrite = result.command === 'INSERT' || result.command === 'UPDATE' || result.command === 'DELETE'
    return {
      rows: result.rows,
      ...(isWrite && result.affectedRows !== undefined
        ? { numAffectedRows: BigInt(result.affectedRows) }
        : {}),
    }
  }

  /** Runs a statement and answers its command tag (COMMIT of an aborted transaction answers ROLLBACK). */
  async command(sql: string): Promise<string | undefined> {
    return (await this.#pglite.query(sql)).command
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('PGlite dialect: streaming queries are not supported')
  }
}

/** Hands out the one connection in turn; released holders wake the next waiter. */
class PGliteDriver implements Driver {
  readonly #connection: PGliteConnection
  #isHeld = false
  readonly #waiters: Array<() => void> = []

  constructor(pglite: PGlite) {
    this.#connection = new PGliteConnection(pglite)
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#isHeld) await new Promise<void>((resolve) => this.#waiters.push(resolve))
    this.#isHeld = true
    return this.#connection
  }

  async releaseConnection(): Promise<void> {
    const next = this.#waiters.shift()
    // Ownership passes straight to the next waiter (isHeld stays true), so no one can overtake it.
    if (next === undefined) this.#isHeld = false
    else next()
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    let sql = 'begin'
    if (settings.isolationLevel !== undefined || settings.accessMode !== undefined) {
      sql = 'start transaction'
      if (settings.isolationLevel !== undefined) sql += ` isolation level ${settings.isolationLevel}`
      if (settings.accessMode !== undefined) sql += ` ${settings.accessMode}`
    }
    await connection.executeQuery(CompiledQuery.raw(sql))
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    // PostgreSQL completes COMMIT of a transaction an earlier error aborted with a ROLLBACK tag: that
    // is a failure the caller must see, not a silent loss of its writes (kysely's pg driver does the same).
    const tag = await (connection as PGliteConnection).command('commit')
    if (tag === 'ROLLBACK') throw new Error('transaction was aborted by an earlier error and rolled back')
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'))
  }

  /** The PGlite instance belongs to whoever created it (storage.ts closes it). */
  async destroy(): Promise<void> {}
}
