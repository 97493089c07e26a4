// The composed gateway (`litgate run`, paid layer with storage, tokens and a dead chain): every endpoint
// its admin router lists — the built-in ones and those the paid layer registers — refuses a request
// without a token, with a wrong one and with a `read` token where it needs more; the probes stay open.
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { send } from '../helpers/client.ts'
import { deadPort, startUpstream, type TestUpstream } from '../helpers/upstream.ts'
import { spawnLitgate, type LitgateProcess } from '../e2e/support.ts'

const READ = 'r'.repeat(48)
const OPERATE = 'o'.repeat(48)
const SUB = `0x${'ab'.repeat(32)}`

let up: TestUpstream
let gw: LitgateProcess
// The embedded database outside the repository (the default dataDir is relative to the working directory).
const dataDir = mkdtempSync(join(tmpdir(), 'litgate-admin-composed-'))

before(async () => {
  up = await startUpstream()
  const rpc = `http://127.0.0.1:${await deadPort()}`
  gw = await spawnLitgate(
    `version: 1
listeners: [{ name: public, port: 0 }]
admin:
  enabled: true
  port: 0
  tokens:
    - { id: watcher, role: read, secret: { fromEnv: ADMIN_READ_TOKEN } }
    - { id: deploy, role: operate, secret: { fromEnv: ADMIN_OPERATE_TOKEN } }
storage: { dataDir: "${join(dataDir, 'data')}" }
upstreams: [{ id: api, backends: [{ url: "${up.url}" }] }]
routes:
  - { id: paid, match: { path: { prefix: /paid } }, upstream: api, access: [pro] }
  - { id: api, match: {}, upstream: api }
paidAccess:
  chain: { preset: anvil, rpc: [{ name: dead, http: "${rpc}" }] }
  contract: { paymentProcessor: "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0" }
  quoteSigner: { fromEnv: QUOTE_KEY }
  tokens: { signingKeys: [{ kid: k1, privateKey: { fromEnv: TOKEN_KEY } }] }
  plans:
    - name: pro
      planId: 1
      displayName: Pro
      prices: { "0x5FbDB2315678afecb367f032d93F642f64180aa3": "1000000" }
      qos: { requestsPerSecond: 1, burst: 1 }
`,
    {
      env: {
        ADMIN_READ_TOKEN: READ,
        ADMIN_OPERATE_TOKEN: OPERATE,
        QUOTE_KEY: `0x${'ab'.repeat(32)}`,
        TOKEN_KEY: generateKeyPairSync('ed25519')
          .privateKey.export({ format: 'pem', type: 'pkcs8' })
          .toString(),
      },
    },
  )
})

after(async () => {
  // before() may have failed half-way.
  await (gw as LitgateProcess | undefined)?.cleanup()
  await (up as TestUpstream | undefined)?.close()
  rmSync(dataDir, { recursive: true, force: true })
})

/** A concrete request target of a listed endpoint (`:kind/:id` filled in). */
function target(endpoint: string): { method: string; path: string } {
  const [method, pattern] = endpoint.split(' ') as [string, string]
  const path = pattern.replace(':kind/:id', `subscription/${SUB}`).replace(':id', SUB)
  return { method, path }
}

test('every endpoint of the composed admin router refuses missing, wrong and under-privileged tokens', async () => {
  const listed = await send(`${gw.adminUrl}/no-such-endpoint`, {
    headers: { authorization: `Bearer ${READ}` },
  })
  assert.equal(listed.status, 404)
  const endpoints = listed.json<{ endpoints: string[] }>().endpoints
  for (const e of [
    'POST /reload',
    'GET /audit',
    'GET /subscriptions',
    'GET /litgate/v1/subscriptions/:id',
    'POST /litgate/v1/revocations/:kind/:id',
  ])
    assert.ok(endpoints.includes(e), `${e} not listed: ${endpoints.join(', ')}`)
  const open = new Set(['GET /healthz', 'GET /readyz'])
  for (const endpoint of endpoints) {
    const { method, path } = target(endpoint)
    const url = `${gw.adminUrl}${path}`
    const none = await send(url, { method })
    const wrong = await send(url, { method, headers: { authorization: `Bearer ${READ}x` } })
    if (open.has(endpoint)) {
      assert.ok(none.status !== 401 && wrong.status !== 401, `${endpoint} is an open path`)
      continue
    }
    for (const res of [none, wrong]) {
      assert.equal(res.status, 401, `${endpoint}: ${res.body}`)
      assert.equal(res.json<{ code: string }>().code, 'ADMIN_UNAUTHORIZED')
      assert.match(String(res.headers['www-authenticate']), /^Bearer realm="litgate-admin"/)
    }
    const asRead = await send(url, { method, headers: { authorization: `Bearer ${READ}` } })
    if (method === 'POST') {
      assert.equal(asRead.status, 403, `${endpoint} as read: ${asRead.body}`)
      assert.equal(asRead.json<{ code: string }>().code, 'ADMIN_FORBIDDEN')
    } else {
      assert.ok(asRead.status !== 401 && asRead.status !== 403, `${endpoint} as read: ${asRead.status}`)
    }
  }
  // The operator's revocation is served and audited under its token id.
  const revoke = await send(`${gw.adminUrl}/litgate/v1/revocations/subscription/${SUB}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${OPERATE}` },
  })
  assert.equal(revoke.status, 200, revoke.body)
  const audit = await send(`${gw.adminUrl}/audit?subject=${SUB}&entity=admin`, {
    headers: { authorization: `Bearer ${READ}` },
  })
  const entries = audit.json<{ entries: Array<{ cause: string; detail: Record<string, unknown> }> }>().entries
  const entry = entries.find((e) => e.detail['requestId'] === revoke.headers['x-request-id'])
  assert.equal(entry?.cause, 'POST /litgate/v1/revocations/:kind/:id')
  assert.equal(entry?.detail['actor'], 'deploy')
  for (const secret of [READ, OPERATE])
    assert.ok(!JSON.stringify(gw.logs).includes(secret), 'a token was logged')
})
