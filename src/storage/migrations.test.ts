import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { storageBackends } from '../../test/helpers/storage.ts'
import { isGatewayError } from '../errors/index.ts'
import {
  createStorage,
  migrationChecksum,
  MIGRATIONS,
  openStorage,
  planMigrations,
  type Migration,
} from './index.ts'

const V1 = MIGRATIONS[0] as Migration
const FUTURE: Migration = {
  version: 2,
  name: 'from a newer litgate',
  statements: ['CREATE TABLE future_thing (x int)'],
}
const code = (c: string) => (err: unknown) => isGatewayError(err) && err.code === c

describe('planMigrations (pure)', () => {
  const row = (m: Migration) => ({ version: m.version, name: m.name, checksum: migrationChecksum(m) })

  test('an empty database has every migration pending; an up-to-date one none', () => {
    assert.deepEqual(planMigrations([], MIGRATIONS), { pending: MIGRATIONS, current: 0 })
    assert.deepEqual(planMigrations([row(V1)], [V1]), { pending: [], current: 1 })
    assert.deepEqual(planMigrations([row(V1)], [V1, FUTURE]), { pending: [FUTURE], current: 1 })
  })

  test('a version the code does not know refuses with STORAGE_SCHEMA_TOO_NEW', () => {
    assert.throws(() => planMigrations([row(V1), row(FUTURE)], [V1]), code('STORAGE_SCHEMA_TOO_NEW'))
  })

  test('a changed checksum or name of an applied migration refuses with STORAGE_MIGRATION_MISMATCH', () => {
    const edited = { ...V1, statements: [...V1.statements, 'SELECT 1'] }
    assert.notEqual(migrationChecksum(edited), migrationChecksum(V1))
    assert.throws(() => planMigrations([row(edited)], [V1]), code('STORAGE_MIGRATION_MISMATCH'))
    assert.throws(
      () => planMigrations([{ ...row(V1), name: 'renamed' }], [V1]),
      code('STORAGE_MIGRATION_MISMATCH'),
    )
    assert.throws(
      () => planMigrations([row(FUTURE)], [V1, FUTURE]),
      code('STORAGE_MIGRATION_MISMATCH'),
      'hole',
    )
  })
})

for (const backend of storageBackends()) {
  describe(`migrations (${backend.name})`, () => {
    after(() => backend.close())

    test(`${backend.name}: an empty database migrates to the newest version; a second run applies nothing`, async () => {
      const options = await backend.fresh()
      const { storage, migration } = await openStorage(options)
      backend.track(storage)
      const latest = MIGRATIONS.length
      assert.deepEqual(migration, {
        from: 0,
        to: latest,
        applied: MIGRATIONS.map((m) => ({ version: m.version, name: m.name })),
      })
      assert.equal(await storage.schemaVersion(), latest)
      assert.deepEqual(await storage.migrate(), { from: latest, to: latest, applied: [] })
    })

    test(`${backend.name}: a database migrated by newer code refuses to start (STORAGE_SCHEMA_TOO_NEW)`, async () => {
      const options = await backend.fresh({ onDisk: true })
      const future = { ...FUTURE, version: MIGRATIONS.length + 1 }
      const newer = backend.track(await createStorage(options, {}, [...MIGRATIONS, future]))
      assert.equal((await newer.migrate()).to, future.version)
      await newer.close()
      await assert.rejects(openStorage(options), (err: unknown) => {
        assert.ok(code('STORAGE_SCHEMA_TOO_NEW')(err), String(err))
        assert.match(
          (err as Error).message,
          new RegExp(`version ${future.version}, this litgate knows up to ${MIGRATIONS.length}`),
        )
        return true
      })
    })

    test(`${backend.name}: an applied migration edited since refuses to start (STORAGE_MIGRATION_MISMATCH)`, async () => {
      const options = await backend.fresh({ onDisk: true })
      const edited: Migration = { ...V1, statements: V1.statements.slice(0, -1) }
      const old = backend.track(await createStorage(options, {}, [edited]))
      await old.migrate()
      await old.close()
      await assert.rejects(openStorage(options), code('STORAGE_MIGRATION_MISMATCH'))
    })

    test(`${backend.name}: a failing migration rolls the whole run back (STORAGE_MIGRATION_FAILED)`, async () => {
      const options = await backend.fresh()
      const broken: Migration = {
        version: 2,
        name: 'broken',
        statements: ['CREATE TABLE ok_one (x int)', 'NOT SQL'],
      }
      const storage = backend.track(await createStorage(options, {}, [V1, broken]))
      await assert.rejects(storage.migrate(), (err: unknown) => {
        assert.ok(code('STORAGE_MIGRATION_FAILED')(err), String(err))
        assert.match((err as Error).message, /migration 2 \(broken\) statement 2 failed/)
        return true
      })
      assert.equal(await storage.schemaVersion(), 0, 'v1 rolled back with it')
    })

    test(`${backend.name}: concurrent migrations of one database apply each version once`, async () => {
      const options = await backend.fresh({ onDisk: backend.name === 'pglite' })
      if (backend.name === 'pglite') {
        // One process per PGlite directory: concurrency here is two migrate() calls on one handle.
        const storage = backend.track(await createStorage(options))
        const [a, b] = await Promise.all([storage.migrate(), storage.migrate()])
        assert.deepEqual([a.applied.length, b.applied.length].sort(), [0, MIGRATIONS.length])
        return
      }
      const [a, b] = await Promise.all([createStorage(options), createStorage(options)])
      backend.track(a)
      backend.track(b)
      const [ra, rb] = await Promise.all([a.migrate(), b.migrate()])
      assert.deepEqual([ra.applied.length, rb.applied.length].sort(), [0, MIGRATIONS.length])
      assert.equal(await a.schemaVersion(), MIGRATIONS.length)
    })
  })
}

describe('connection failures', () => {
  test('an unreachable PostgreSQL is STORAGE_UNAVAILABLE naming host:port/db, never the password', async () => {
    const url = 'postgres://litgate:hunter2-secret@127.0.0.1:1/nodb'
    await assert.rejects(
      createStorage({ backend: 'postgres', url, connectTimeoutMs: 2000 }),
      (err: unknown) => {
        assert.ok(code('STORAGE_UNAVAILABLE')(err), String(err))
        assert.match((err as Error).message, /127\.0\.0\.1:1\/nodb/)
        assert.doesNotMatch((err as Error).message, /hunter2/)
        return true
      },
    )
  })

  test('a non-postgres URL or a bad schema name is STORAGE_CONFIG_INVALID', async () => {
    await assert.rejects(
      createStorage({ backend: 'postgres', url: 'mysql://x@h/db' }),
      code('STORAGE_CONFIG_INVALID'),
    )
    await assert.rejects(
      createStorage({ backend: 'postgres', url: 'postgres://h/db', schema: 'x; DROP' }),
      code('STORAGE_CONFIG_INVALID'),
    )
  })
})
