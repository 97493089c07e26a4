import { test } from 'node:test'
import assert from 'node:assert/strict'
import { configSchema } from '../config/index.ts'
import { isGatewayError } from '../errors/index.ts'
import { restartBoundChanges } from '../lifecycle/index.ts'
import { storageOptionsFromConfig } from './index.ts'

const BASE = {
  version: 1,
  listeners: [{ name: 'm', port: 8080 }],
  upstreams: [{ id: 'u', backends: [{ url: 'http://127.0.0.1:1' }] }],
  routes: [{ id: 'r', match: {}, upstream: 'u' }],
}
const storageOf = (storage?: unknown) =>
  configSchema.parse({ ...BASE, ...(storage === undefined ? {} : { storage }) }).storage
const invalid = (pattern: RegExp) => (err: unknown) =>
  isGatewayError(err) && err.code === 'STORAGE_CONFIG_INVALID' && pattern.test(err.message)

test('no storage section: embedded PGlite in litgate-data', async () => {
  assert.deepEqual(await storageOptionsFromConfig(storageOf(), { env: {} }), {
    backend: 'pglite',
    dataDir: 'litgate-data',
  })
})

test('url from an environment variable or a file (trimmed) selects PostgreSQL with the pool settings', async () => {
  const url = 'postgres://u:p@db.internal:5433/litgate'
  assert.deepEqual(
    await storageOptionsFromConfig(storageOf({ url: { fromEnv: 'DB' }, schema: 'gw', maxConnections: 3 }), {
      env: { DB: url },
    }),
    { backend: 'postgres', url, maxConnections: 3, connectTimeoutMs: 5000, schema: 'gw' },
  )
  const fromFile = await storageOptionsFromConfig(storageOf({ url: { file: '/run/secrets/db' } }), {
    env: {},
    readFile: async (path) => (path === '/run/secrets/db' ? `${url}\n` : ''),
  })
  assert.equal(fromFile.backend === 'postgres' && fromFile.url, url)
})

test('an unset variable or unreadable file is STORAGE_CONFIG_INVALID naming it, never a value', async () => {
  await assert.rejects(
    storageOptionsFromConfig(storageOf({ url: { fromEnv: 'NOPE' } }), { env: { NOPE: ' ' } }),
    invalid(/environment variable NOPE is unset or empty/),
  )
  await assert.rejects(
    storageOptionsFromConfig(storageOf({ url: { file: '/nonexistent/db-url' } }), { env: {} }),
    invalid(/cannot read file \/nonexistent\/db-url \(ENOENT\)/),
  )
})

test('the schema refuses an inline URL and a bad schema name', () => {
  assert.throws(() => storageOf({ url: 'postgres://u:p@h/db' }))
  assert.throws(() => storageOf({ url: { fromEnv: 'DB' }, schema: 'Robert"; DROP' }))
})

test('a reload that changes any storage field is restart-bound, each change named', () => {
  const running = configSchema.parse({ ...BASE, storage: { url: { fromEnv: 'DB' } } })
  const cases: Array<[unknown, string]> = [
    [{ url: { fromEnv: 'OTHER_DB' } }, 'storage.url'],
    [{ url: { file: '/run/db' } }, 'storage.url'],
    [{}, 'storage.url'],
    [{ url: { fromEnv: 'DB' }, dataDir: 'elsewhere' }, 'storage.dataDir'],
    [{ url: { fromEnv: 'DB' }, schema: 'gw' }, 'storage.schema'],
    [{ url: { fromEnv: 'DB' }, maxConnections: 3 }, 'storage.maxConnections'],
    [{ url: { fromEnv: 'DB' }, connectTimeoutMs: 900 }, 'storage.connectTimeoutMs'],
  ]
  for (const [storage, field] of cases) {
    const next = configSchema.parse({ ...BASE, storage })
    assert.ok(
      restartBoundChanges(running, next).some((c) => c.field === field),
      `${JSON.stringify(storage)} changes ${field}`,
    )
  }
  assert.deepEqual(
    restartBoundChanges(running, configSchema.parse({ ...BASE, storage: { url: { fromEnv: 'DB' } } })),
    [],
  )
})
