// The storage backends a test file runs its suites on: PGlite in memory always, PostgreSQL too when
// DATABASE_URL is set. Each fresh() database is isolated (a new PGlite instance, or a freshly created
// schema on PostgreSQL), so test files run concurrently on one server. When DATABASE_URL is set but the
// server is unreachable, fresh() throws: the suite FAILS, it never skips.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { openStorage, type Storage, type StorageOptions } from '../../src/storage/index.ts'

export interface StorageBackend {
  readonly name: 'pglite' | 'postgres'
  /** Options of a new, empty database (never migrated). */
  fresh(options?: { readonly onDisk?: boolean }): Promise<StorageOptions>
  /** openStorage on a fresh database; closed by close(). */
  open(): Promise<Storage>
  /** Tracks a storage this file opened itself, so close() closes it. */
  track(storage: Storage): Storage
  /**
   * Runs one raw SQL statement on the database of `options`, outside the storage subsystem (tests of
   * what the database itself enforces). PGlite: only for an on-disk database whose storage is closed.
   */
  raw(options: StorageOptions, statement: string): Promise<void>
  /** Closes every storage opened, drops every schema and data directory created. */
  close(): Promise<void>
}

export function storageBackends(env: Record<string, string | undefined> = process.env): StorageBackend[] {
  const url = env['DATABASE_URL']
  const out = [pgliteBackend()]
  if (url !== undefined && url !== '') out.push(postgresBackend(url))
  return out
}

function tracker() {
  const opened: Storage[] = []
  return {
    opened,
    track(storage: Storage): Storage {
      opened.push(storage)
      return storage
    },
    async closeAll(): Promise<void> {
      await Promise.all(opened.splice(0).map((s) => s.close()))
    },
  }
}

function pgliteBackend(): StorageBackend {
  const t = tracker()
  const dirs: string[] = []
  const backend: StorageBackend = {
    name: 'pglite',
    async fresh(options) {
      if (options?.onDisk !== true) return { backend: 'pglite', dataDir: null }
      const dir = await mkdtemp(join(tmpdir(), 'litgate-pglite-'))
      dirs.push(dir)
      return { backend: 'pglite', dataDir: join(dir, 'data') }
    },
    async open() {
      const { storage } = await openStorage(await backend.fresh())
      return t.track(storage)
    },
    track: t.track,
    async raw(options, statement) {
      if (options.backend !== 'pglite' || options.dataDir === null)
        throw new Error('raw needs an on-disk PGlite')
      const db = new PGlite(options.dataDir)
      try {
        await db.query(statement)
      } finally {
        await db.close()
      }
    },
    async close() {
      await t.closeAll()
      await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
    },
  }
  return backend
}

function postgresBackend(url: string): StorageBackend {
  const t = tracker()
  const schemas: string[] = []
  const admin = async <T>(fn: (client: pg.Client) => Promise<T>, schema?: string): Promise<T> => {
    const client = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: 5000,
      ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
    })
    await client.connect()
    try {
      return await fn(client)
    } finally {
      await client.end()
    }
  }
  const backend: StorageBackend = {
    name: 'postgres',
    async fresh() {
      const schema = `lgt_${process.pid}_${randomBytes(6).toString('hex')}`
      await admin((c) => c.query(`CREATE SCHEMA ${schema}`))
      schemas.push(schema)
      return { backend: 'postgres', url, schema, maxConnections: 4 }
    },
    async open() {
      const { storage } = await openStorage(await backend.fresh())
      return t.track(storage)
    },
    track: t.track,
    async raw(options, statement) {
      if (options.backend !== 'postgres') throw new Error('raw: not a PostgreSQL database')
      await admin((c) => c.query(statement), options.schema)
    },
    async close() {
      await t.closeAll()
      const drop = schemas.splice(0)
      if (drop.length > 0) await admin((c) => c.query(`DROP SCHEMA ${drop.join(', ')} CASCADE`))
    },
  }
  return backend
}
