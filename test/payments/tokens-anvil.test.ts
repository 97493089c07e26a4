// Access tokens end to end through a spawned `litgate run` on a real anvil, on every storage backend
// (PGlite in a data directory always; PostgreSQL when DATABASE_URL is set): pay with EIP-3009, wait until
// active, GET {base}/nonce → sign an EIP-4361 message with the buyer's account → POST {base}/token → the
// paid route answers 200 with x-litgate-subscription / x-litgate-plan upstream and no Authorization (kept on
// a passAuthorization route); refresh rotation; reuse of a spent refresh token revokes the family (the
// access token answers 401 within 1 s); a bad token 401; no token 402; JWKS. With PostgreSQL: two
// instances, the revocation carried to the other one within 1 s through Redis pub/sub, and through the
// database poll alone without Redis.
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { after, before, describe, test } from 'node:test'
import { type Account, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createSiweMessage } from 'viem/siwe'
import { spawnLitgate, type LitgateProcess } from '../e2e/support.ts'
import type { AnvilInstance } from '../helpers/anvil.ts'
import {
  ACCOUNTS,
  buyerSide,
  freshStorage,
  PRICE,
  startPaidChain,
  stop,
  subscription,
  subscriptionOf,
  waitForLog,
  type GatewayStorage,
  type PaidChain,
  type SubscriptionView,
} from '../helpers/paid-chain.ts'
import { connectRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.ts'
import { storageBackends } from '../helpers/storage.ts'
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts'

const { buyer, relayer } = ACCOUNTS
const SIGNER_KEY = `0x${randomBytes(32).toString('hex')}` as Hex
const SIGNER = privateKeyToAccount(SIGNER_KEY)
const CONFIRMATIONS = 2

let chain: PaidChain
let node: AnvilInstance
let deploymentsDir: string
let backend: TestUpstream
let planId = 0

const wallet = (who: Account) => chain.wallet(who)
const usdc = () => chain.usdc()
const { requestQuote, payByAuthorization } = buyerSide(() => chain)

interface Opts {
  rpcUrl?: string
  price?: bigint
  /** Extra YAML under paidAccess.tokens (indented 4). */
  tokensExtra?: string
}

function configYaml(storage: GatewayStorage, opts: Opts = {}): string {
  return `version: 1
listeners: [{ name: main, host: 127.0.0.1, port: 0 }]
admin: { enabled: true, port: 0 }
upstreams: [{ id: app, backends: [{ url: "${backend.url}" }] }]
routes:
  - { id: paid, match: { path: { prefix: /api } }, upstream: app, access: [pro] }
  - { id: passing, match: { path: { prefix: /pass } }, upstream: app, access: [pro], passAuthorization: true }
  - { id: open, match: {}, upstream: app }
storage: ${storage.yaml()}
paidAccess:
  chain: { preset: anvil, rpc: [{ name: anvil, http: "${opts.rpcUrl ?? node.url}" }] }
  contract: { deploymentsDir: ${JSON.stringify(deploymentsDir)} }
  quoteSigner: { fromEnv: LITGATE_TEST_QUOTE_KEY }
  monitor: { confirmation: { latest: ${CONFIRMATIONS} }, pollIntervalMs: 100 }
  plans:
    - name: pro
      planId: ${planId}
      displayName: Pro
      prices: { "${usdc()}": "${(opts.price ?? PRICE).toString()}" }
      qos: { requestsPerSecond: 10, burst: 20 }
  tokens:
    signingKeys: [{ kid: k1, privateKey: { fromEnv: LITGATE_TEST_TOKEN_KEY } }]
${opts.tokensExtra ?? ''}`
}

const TOKEN_KEY = generateKeyPairSync('ed25519')
  .privateKey.export({ format: 'pem', type: 'pkcs8' })
  .toString()
const ENV = {
  LITGATE_TEST_QUOTE_KEY: SIGNER_KEY,
  LITGATE_TEST_TOKEN_KEY: TOKEN_KEY,
  LITGATE_TEST_REDIS_URL: REDIS_URL,
  // Fast reconnection for the degraded-mode case; the defaults are for real providers.
  LITGATE_CHAIN_RPC_TIMEOUT_MS: '1000',
  LITGATE_CHAIN_PROBE_INTERVAL_MS: '250',
}

async function spawn(storage: GatewayStorage, opts: Opts = {}) {
  return spawnLitgate(configYaml(storage, opts), { env: ENV })
}

/** Mines the blocks the policy needs, then waits until the admin listener says active. */
async function waitActive(gw: LitgateProcess, id: Hex): Promise<void> {
  for (let i = 0; i < CONFIRMATIONS; i++) await node.rpc('evm_mine')
  const t0 = performance.now()
  while (performance.now() - t0 < 15_000) {
    const s = await subscription(gw, id)
    if (s.status === 200 && s.body.state === 'active') return
    await new Promise((r) => setTimeout(r, 25))
  }
  assert.fail(`subscription ${id} not active within 15 s`)
}

before(async () => {
  chain = await startPaidChain({
    quoteSigner: SIGNER.address,
    fund: { to: buyer.address, amount: 100n * PRICE },
  })
  ;({ node, deploymentsDir, planId } = chain)
  backend = await startUpstream()
})

after(async () => {
  await backend?.close()
  await chain?.close()
})

interface TokenAnswer {
  accessToken: string
  tokenType: string
  expiresIn: number
  refreshToken: string
  refreshExpiresIn: number
  subscriptionId: Hex
  plan: string
  expiresAt: string
}

async function post(gw: LitgateProcess, path: string, body: unknown) {
  const res = await fetch(`${gw.url}/litgate/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> }
}

/** GET nonce → EIP-4361 message for `id` signed by `who` → POST token. */
async function signIn(gw: LitgateProcess, who: Account, id: Hex) {
  const nonceRes = await fetch(`${gw.url}/litgate/v1/nonce`)
  assert.equal(nonceRes.status, 200)
  assert.equal(nonceRes.headers.get('cache-control'), 'no-store')
  const { nonce, expiresAt } = (await nonceRes.json()) as { nonce: string; expiresAt: string }
  assert.match(nonce, /^[A-Za-z0-9]{16,}$/)
  assert.ok(Date.parse(expiresAt) > Date.now())
  const url = new URL(gw.url)
  const message = createSiweMessage({
    domain: url.host,
    address: who.address,
    uri: gw.url,
    version: '1',
    chainId: chain.deployment.chainId,
    nonce,
    issuedAt: new Date(),
    resources: [`urn:litgate:subscription:${id}`],
  })
  const signature = await wallet(who).signMessage({ account: who, message })
  return post(gw, '/token', { message, signature })
}

async function paidGet(gw: LitgateProcess, path: string, token?: string) {
  const res = await fetch(`${gw.url}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, text }
}

/** Polls until the paid route refuses `token` with 401; answers the milliseconds it took. */
async function refusedWithin(gw: LitgateProcess, token: string, limitMs: number): Promise<number> {
  const t0 = performance.now()
  for (;;) {
    const r = await paidGet(gw, '/api/data', token)
    if (r.status === 401) return Math.round(performance.now() - t0)
    assert.equal(r.status, 200, r.text)
    if (performance.now() - t0 > limitMs) assert.fail(`still admitted ${limitMs} ms after the revocation`)
    await new Promise((res) => setTimeout(res, 20))
  }
}

async function buySubscription(gw: LitgateProcess): Promise<Hex> {
  const answer = await requestQuote(gw, buyer.address)
  const id = subscriptionOf(await payByAuthorization(answer, buyer))
  await waitActive(gw, id)
  return id
}

for (const db of storageBackends()) {
  describe(`access tokens through litgate run (${db.name})`, () => {
    let storage: GatewayStorage
    before(async () => {
      storage = await freshStorage(db)
    })
    after(async () => {
      await storage?.cleanup()
    })

    test('nonce → SIWE → token → paid route 200 with subscription headers; refresh; reuse revokes within 1 s; 401/402', async (t) => {
      const gw = await spawn(storage)
      try {
        await waitForLog(gw, 'paid access ready: quotes and 402 challenges served')
        // No credential: the challenge. A bad token: 401 with the Bearer challenge.
        assert.equal((await paidGet(gw, '/api/data')).status, 402)
        const bad = await paidGet(gw, '/api/data', 'not.a.token')
        assert.equal(bad.status, 401)
        assert.equal((JSON.parse(bad.text) as { code: string }).code, 'TOKEN_INVALID')
        assert.match(
          bad.headers.get('www-authenticate') ?? '',
          /^Bearer realm="litgate", error="invalid_token"/,
        )

        const jwks = (await (await fetch(`${gw.url}/.well-known/jwks.json`)).json()) as {
          keys: Array<{ kid: string; alg: string; use: string; kty: string; d?: string }>
        }
        assert.deepEqual(
          jwks.keys.map((k) => [k.kid, k.alg, k.use, k.kty, k.d]),
          [['k1', 'EdDSA', 'sig', 'OKP', undefined]],
        )

        const id = await buySubscription(gw)
        // A stranger cannot get a token for it.
        const forbidden = await signIn(gw, relayer, id)
        assert.equal(forbidden.status, 403)
        assert.equal(forbidden.body['code'], 'TOKEN_SUBSCRIPTION_FORBIDDEN')

        const t0 = performance.now()
        const issued = await signIn(gw, buyer, id)
        t.diagnostic(`nonce + sign + POST token: ${Math.round(performance.now() - t0)} ms`)
        assert.equal(issued.status, 200, JSON.stringify(issued.body))
        assert.equal(issued.headers.get('cache-control'), 'no-store')
        const pair = issued.body as unknown as TokenAnswer
        assert.equal(pair.tokenType, 'Bearer')
        assert.equal(pair.subscriptionId, id.toLowerCase())
        assert.equal(pair.plan, 'pro')
        assert.ok(pair.expiresIn > 0 && pair.expiresIn <= 600)

        // The subscription, on the client listener, for the holder of a token for it.
        const own = await fetch(`${gw.url}/litgate/v1/subscriptions/${id}`, {
          headers: { authorization: `Bearer ${pair.accessToken}` },
        })
        assert.equal(own.status, 200)
        assert.equal(((await own.json()) as SubscriptionView).state, 'active')
        const anonymous = await fetch(`${gw.url}/litgate/v1/subscriptions/${id}`)
        assert.equal(anonymous.status, 401)
        assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="litgate"')
        await anonymous.arrayBuffer()
        const other = await fetch(`${gw.url}/litgate/v1/subscriptions/0x${'00'.repeat(31)}01`, {
          headers: { authorization: `Bearer ${pair.accessToken}` },
        })
        assert.equal(other.status, 403)
        await other.arrayBuffer()

        const before = backend.received.length
        const ok = await paidGet(gw, '/api/data', pair.accessToken)
        assert.equal(ok.status, 200, ok.text)
        const seen = backend.received.slice(before).find((r) => r.url === '/api/data')
        assert.ok(seen, 'proxied')
        assert.equal(seen.headers['x-litgate-subscription'], id.toLowerCase())
        assert.equal(seen.headers['x-litgate-plan'], 'pro')
        assert.equal(seen.headers['authorization'], undefined, 'the Authorization is stripped')
        // A client cannot forge the subscription headers.
        const spoof = await fetch(`${gw.url}/api/spoof`, {
          headers: { authorization: `Bearer ${pair.accessToken}`, 'x-litgate-plan': 'enterprise' },
        })
        assert.equal(spoof.status, 200)
        await spoof.arrayBuffer()
        const spoofed = backend.received.slice(before).find((r) => r.url === '/api/spoof')
        assert.equal(spoofed?.headers['x-litgate-plan'], 'pro')
        const passing = await paidGet(gw, '/pass/x', pair.accessToken)
        assert.equal(passing.status, 200)
        const passed = backend.received.slice(before).find((r) => r.url === '/pass/x')
        assert.ok(
          passed?.headers['authorization'] === `Bearer ${pair.accessToken}`,
          'passAuthorization keeps it',
        )

        // Refresh rotation: a new pair; the first refresh token is spent.
        const refreshed = await post(gw, '/token/refresh', { refreshToken: pair.refreshToken })
        assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body))
        const second = refreshed.body as unknown as TokenAnswer
        assert.notEqual(second.refreshToken, pair.refreshToken)
        assert.equal((await paidGet(gw, '/api/data', second.accessToken)).status, 200)

        // Reuse of the spent refresh token: the family is revoked; both access tokens die within 1 s.
        const reused = await post(gw, '/token/refresh', { refreshToken: pair.refreshToken })
        assert.equal(reused.status, 401)
        assert.equal(reused.body['code'], 'TOKEN_REFRESH_REUSED')
        const ms = await refusedWithin(gw, second.accessToken, 1_000)
        t.diagnostic(`refresh reuse → access token refused after ${ms} ms`)
        assert.equal((await paidGet(gw, '/api/data', pair.accessToken)).status, 401)
        const dead = await post(gw, '/token/refresh', { refreshToken: second.refreshToken })
        assert.equal(dead.status, 401)
        assert.equal(dead.body['code'], 'TOKEN_REFRESH_INVALID')

        // A new sign-in works again (a new family).
        const again = await signIn(gw, buyer, id)
        assert.equal(again.status, 200)
        assert.equal(
          (await paidGet(gw, '/api/data', (again.body as unknown as TokenAnswer).accessToken)).status,
          200,
        )
        // The operator revokes every token of the subscription on the admin listener.
        const revoke = await fetch(`${gw.adminUrl}/litgate/v1/revocations/subscription/${id}`, {
          method: 'POST',
        })
        assert.equal(revoke.status, 200)
        const revoked = ((await revoke.json()) as { revoked: string[] }).revoked
        assert.ok(revoked.length >= 1, 'the live family is revoked')
        const opMs = await refusedWithin(gw, (again.body as unknown as TokenAnswer).accessToken, 1_000)
        t.diagnostic(`operator revocation → access token refused after ${opMs} ms`)
        const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text()
        assert.match(metrics, /litgate_tokens_issued_total\{kind="token"\} [1-9]/)
        assert.match(metrics, /litgate_token_revocations_total\{source="refresh-reuse"\} 1/)
        assert.match(metrics, /litgate_token_cache_lookups_total\{result="hit"\} [1-9]/)
        await stop(gw)
      } finally {
        await gw.cleanup()
      }
    })

    if (db.name === 'postgres') {
      test('two instances on one database: a revocation on one reaches the other through Redis within 1 s', async (t) => {
        const redis = await connectRedis()
        await redis.quit()
        const channel = uniquePrefix('revocations').slice(0, -1)
        // The database poll is slowed to a minute: only the Redis fan-out can make it within 1 s.
        const extra = `    revocations: { channel: "${channel}", pollIntervalMs: 60000, redis: { url: { fromEnv: LITGATE_TEST_REDIS_URL } } }\n`
        const a = await spawn(storage, { tokensExtra: extra })
        const b = await spawn(storage, { tokensExtra: extra })
        try {
          await waitForLog(a, 'paid access ready: quotes and 402 challenges served')
          await waitForLog(b, 'paid access ready: quotes and 402 challenges served')
          const id = await buySubscription(a)
          await waitActive(b, id)
          const issued = await signIn(a, buyer, id)
          assert.equal(issued.status, 200, JSON.stringify(issued.body))
          const pair = issued.body as unknown as TokenAnswer
          assert.equal((await paidGet(b, '/api/data', pair.accessToken)).status, 200, 'B admits A’s token')
          const refreshed = await post(a, '/token/refresh', { refreshToken: pair.refreshToken })
          assert.equal(refreshed.status, 200)
          // Reuse presented to B: B revokes; A learns it through Redis.
          const second = refreshed.body as unknown as TokenAnswer
          assert.equal((await paidGet(a, '/api/data', second.accessToken)).status, 200)
          const reused = await post(b, '/token/refresh', { refreshToken: pair.refreshToken })
          assert.equal(reused.body['code'], 'TOKEN_REFRESH_REUSED')
          const ms = await refusedWithin(a, second.accessToken, 1_000)
          t.diagnostic(`revoked on B → refused on A after ${ms} ms`)
          await stop(a)
          await stop(b)
        } finally {
          await a.cleanup()
          await b.cleanup()
        }
      })

      test('without Redis: the database poll carries a revocation to the other instance within 1 s', async (t) => {
        // No Redis anywhere in the config: only the database poll (every 250 ms) can carry it.
        const extra = `    revocations: { pollIntervalMs: 250 }\n`
        const a = await spawn(storage, { tokensExtra: extra })
        const b = await spawn(storage, { tokensExtra: extra })
        try {
          await waitForLog(a, 'paid access ready: quotes and 402 challenges served')
          await waitForLog(b, 'paid access ready: quotes and 402 challenges served')
          const id = await buySubscription(a)
          await waitActive(b, id)
          const issued = await signIn(a, buyer, id)
          assert.equal(issued.status, 200, JSON.stringify(issued.body))
          const pair = issued.body as unknown as TokenAnswer
          assert.equal((await paidGet(b, '/api/data', pair.accessToken)).status, 200, 'B admits A’s token')
          const refreshed = await post(a, '/token/refresh', { refreshToken: pair.refreshToken })
          assert.equal(refreshed.status, 200)
          // Reuse presented to B: B revokes; A learns it through Redis.
          const second = refreshed.body as unknown as TokenAnswer
          assert.equal((await paidGet(a, '/api/data', second.accessToken)).status, 200)
          const reused = await post(b, '/token/refresh', { refreshToken: pair.refreshToken })
          assert.equal(reused.body['code'], 'TOKEN_REFRESH_REUSED')
          const ms = await refusedWithin(a, second.accessToken, 1_000)
          t.diagnostic(`revoked on B → refused on A (database poll) after ${ms} ms`)
          await stop(a)
          await stop(b)
        } finally {
          await a.cleanup()
          await b.cleanup()
        }
      })
    }
  })
}
