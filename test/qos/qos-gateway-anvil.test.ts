// Per-subscription QoS through a spawned `litgate run` on a real anvil: a subscription bought and signed
// in (access token), then its plan's limits enforced on the paid route: the burst then 429 QUOTA_EXCEEDED
// (rps) with RateLimit-Policy / RateLimit / Retry-After and a problem body naming the policy; requests
// that never reached an upstream (a dead backend) are released and do not count; the daily window
// refuses with Retry-After at the window end; bytes are metered as they flow (error against what the
// client moved) until the period budget refuses (bw). With PostgreSQL: two gateway processes on one
// Redis hammered together stay within burst + rate × elapsed.
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { after, before, describe, test } from 'node:test'
import type { Account, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createSiweMessage } from 'viem/siwe'
import { metric, spawnLitgate, type LitgateProcess } from '../e2e/support.ts'
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
} from '../helpers/paid-chain.ts'
import { connectRedis, deletePrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.ts'
import { storageBackends } from '../helpers/storage.ts'
import { deadPort, startUpstream, type TestUpstream } from '../helpers/upstream.ts'

const { buyer } = ACCOUNTS
const SIGNER_KEY = `0x${randomBytes(32).toString('hex')}` as Hex
const SIGNER = privateKeyToAccount(SIGNER_KEY)
const CONFIRMATIONS = 1

let chain: PaidChain
let backend: TestUpstream
let dead: number
const { requestQuote, payByAuthorization } = buyerSide(() => chain)

const TOKEN_KEY = generateKeyPairSync('ed25519')
  .privateKey.export({ format: 'pem', type: 'pkcs8' })
  .toString()
const ENV = {
  LITGATE_TEST_QUOTE_KEY: SIGNER_KEY,
  LITGATE_TEST_TOKEN_KEY: TOKEN_KEY,
  LITGATE_TEST_REDIS_URL: REDIS_URL,
}

function configYaml(storage: GatewayStorage, qos: string, extra = ''): string {
  return `version: 1
listeners: [{ name: main, host: 127.0.0.1, port: 0 }]
admin: { enabled: true, port: 0 }
upstreams:
  - { id: app, backends: [{ url: "${backend.url}" }] }
  - { id: gone, backends: [{ url: "http://127.0.0.1:${dead}" }] }
routes:
  - { id: paid, match: { path: { prefix: /api } }, upstream: app, access: [pro] }
  - { id: dead, match: { path: { prefix: /dead } }, upstream: gone, access: [pro] }
storage: ${storage.yaml()}
${extra}
paidAccess:
  chain: { preset: anvil, rpc: [{ name: anvil, http: "${chain.node.url}" }] }
  contract: { deploymentsDir: ${JSON.stringify(chain.deploymentsDir)} }
  quoteSigner: { fromEnv: LITGATE_TEST_QUOTE_KEY }
  monitor: { confirmation: { latest: ${CONFIRMATIONS} }, pollIntervalMs: 100 }
  plans:
    - name: pro
      planId: ${chain.planId}
      displayName: Pro
      prices: { "${chain.usdc()}": "${PRICE.toString()}" }
      qos: ${qos}
  tokens:
    signingKeys: [{ kid: k1, privateKey: { fromEnv: LITGATE_TEST_TOKEN_KEY } }]
`
}

before(async () => {
  chain = await startPaidChain({
    quoteSigner: SIGNER.address,
    fund: { to: buyer.address, amount: 100n * PRICE },
  })
  // /api/size/<n>: a body of n bytes (after reading the request body whole).
  backend = await startUpstream((req, res) => {
    req.resume()
    req.once('end', () => {
      const n = Number(/^\/api\/size\/(\d+)/.exec(req.url ?? '')?.[1] ?? 2)
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n })
      res.end(Buffer.alloc(n, 0x61))
    })
  })
  dead = await deadPort()
})

after(async () => {
  await backend?.close()
  await chain?.close()
})

async function waitActive(gw: LitgateProcess, id: Hex): Promise<void> {
  for (let i = 0; i < CONFIRMATIONS; i++) await chain.node.rpc('evm_mine')
  const t0 = performance.now()
  while (performance.now() - t0 < 15_000) {
    const s = await subscription(gw, id)
    if (s.status === 200 && s.body.state === 'active') return
    await new Promise((r) => setTimeout(r, 25))
  }
  assert.fail(`subscription ${id} not active within 15 s`)
}

/** Buys a subscription on `gw`, signs in: the access token. */
async function subscribe(
  gw: LitgateProcess,
  others: LitgateProcess[] = [],
): Promise<{ id: Hex; token: string }> {
  const answer = await requestQuote(gw, buyer.address)
  const id = subscriptionOf(await payByAuthorization(answer, buyer))
  await waitActive(gw, id)
  for (const o of others) await waitActive(o, id)
  const nonce = ((await (await fetch(`${gw.url}/litgate/v1/nonce`)).json()) as { nonce: string }).nonce
  const url = new URL(gw.url)
  const message = createSiweMessage({
    domain: url.host,
    address: buyer.address,
    uri: gw.url,
    version: '1',
    chainId: chain.deployment.chainId,
    nonce,
    issuedAt: new Date(),
    resources: [`urn:litgate:subscription:${id}`],
  })
  const signature = await chain.wallet(buyer as Account).signMessage({ account: buyer, message })
  const res = await fetch(`${gw.url}/litgate/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message, signature }),
  })
  const body = (await res.json()) as { accessToken: string }
  assert.equal(res.status, 200, JSON.stringify(body))
  return { id, token: body.accessToken }
}

async function call(gw: LitgateProcess, path: string, token: string, body?: Buffer) {
  const res = await fetch(`${gw.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body }),
  })
  const bytes = Buffer.from(await res.arrayBuffer())
  return { status: res.status, headers: res.headers, bytes, text: () => bytes.toString('utf8') }
}

interface UsageBody {
  windows: { policy: string; used?: number; limit?: number | null; resetSeconds?: number }[]
  period: { requests: number; bytesIn: number; bytesOut: number }
}

async function usage(origin: string, id: string, token?: string) {
  const res = await fetch(`${origin}/litgate/v1/usage/${id}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  })
  return { status: res.status, body: (await res.json()) as UsageBody }
}

async function scrape(gw: LitgateProcess): Promise<string> {
  return (await fetch(`${gw.adminUrl}/metrics`)).text()
}

const pglite = storageBackends().find((b) => b.name === 'pglite')
assert.ok(pglite)

describe('QoS on a paid route (litgate run, memory store)', () => {
  test('burst then 429 rps; a dead backend releases; the daily window refuses until its end', async () => {
    const storage = await freshStorage(pglite)
    const gw = await spawnLitgate(
      configYaml(storage, '{ requestsPerSecond: 1, burst: 3, requestsPerDay: 6 }'),
      {
        env: ENV,
      },
    )
    try {
      await waitForLog(gw, 'paid access ready: quotes and 402 challenges served')
      const { id, token } = await subscribe(gw)
      const policy = '"rps";q=1;w=1, "daily";q=6;w=86400'
      const first = await call(gw, '/api/a', token)
      assert.equal(first.status, 200, first.text())
      assert.equal(first.headers.get('ratelimit-policy'), policy)
      assert.match(first.headers.get('ratelimit') ?? '', /^"rps";r=2;t=\d+, "daily";r=5;t=\d+$/)
      assert.equal((await call(gw, '/api/b', token)).status, 200)
      assert.equal((await call(gw, '/api/c', token)).status, 200)
      const limited = await call(gw, '/api/d', token)
      assert.equal(limited.status, 429)
      assert.equal(limited.headers.get('content-type'), 'application/problem+json')
      assert.equal(limited.headers.get('ratelimit-policy'), policy)
      assert.match(limited.headers.get('ratelimit') ?? '', /^"rps";r=0;t=\d+, "daily";r=3;t=\d+$/)
      assert.equal(limited.headers.get('retry-after'), '1')
      const problem = JSON.parse(limited.text()) as Record<string, unknown>
      assert.equal(problem['type'], 'https://litgate.dev/errors#quota-exceeded')
      assert.equal(problem['code'], 'QUOTA_EXCEEDED')
      assert.deepEqual(problem['violated-policies'], ['rps'])

      // Requests that never reach an upstream (nothing listens on the backend) are released: not counted.
      let reached = 3
      let released = 0
      let daily: Awaited<ReturnType<typeof call>> | undefined
      const started = performance.now()
      while (performance.now() - started < 20_000) {
        const path = released < 2 ? '/dead/x' : '/api/e'
        const r = await call(gw, path, token)
        if (r.status === 429) {
          const violated = (JSON.parse(r.text()) as { 'violated-policies': string[] })['violated-policies']
          if (violated.includes('daily')) {
            daily = r
            break
          }
          await new Promise((res) => setTimeout(res, Number(r.headers.get('retry-after')) * 1000))
          continue
        }
        if (path === '/dead/x') {
          assert.ok(r.status === 502 || r.status === 503, `${r.status}`)
          released++
        } else {
          assert.equal(r.status, 200)
          reached++
        }
      }
      assert.ok(daily, 'the daily limit refused within 20 s')
      assert.equal(released, 2)
      assert.equal(reached, 6, 'exactly requestsPerDay requests reached the upstream')
      // Retry-After is the end of the day window: the subscription started moments ago.
      const wait = Number(daily.headers.get('retry-after'))
      assert.ok(wait > 86_400 - 120 && wait <= 86_400, `${wait}`)
      const m = await scrape(gw)
      assert.equal(metric(m, 'litgate_qos_settled_total', { kind: 'released' }), 2)
      assert.equal(metric(m, 'litgate_qos_settled_total', { kind: 'counted' }), 6)
      assert.ok((metric(m, 'litgate_qos_limited_total', { policy: 'daily' }) ?? 0) >= 1)

      // The usage API: the owner's token on the client listener, operators on the admin listener.
      const own = await usage(gw.url, id, token)
      assert.equal(own.status, 200)
      const daily6 = own.body.windows.find((w) => w.policy === 'daily')
      assert.deepEqual([daily6?.used, daily6?.limit], [6, 6])
      assert.ok((daily6?.resetSeconds ?? 0) > 86_400 - 120)
      assert.equal(own.body.period.requests, 6)
      const operator = await usage(gw.adminUrl, id)
      assert.equal(operator.status, 200)
      const view = (b: UsageBody) => b.windows.map((w) => [w.policy, w.used, w.limit])
      assert.deepEqual(view(operator.body), view(own.body))
      assert.equal((await usage(gw.url, id)).status, 401)
      assert.equal((await usage(gw.url, `0x${'00'.repeat(31)}01`, token)).status, 403)
    } finally {
      await stop(gw)
      await storage.cleanup()
    }
  })

  test('bytes are metered as they flow (within 1 % of what the client moved) until the period budget refuses (bw)', async (t) => {
    const storage = await freshStorage(pglite)
    const budget = 1_000_000
    const gw = await spawnLitgate(
      configYaml(storage, `{ requestsPerSecond: 1000, burst: 1000, bytesPerPeriod: ${budget} }`),
      { env: ENV },
    )
    try {
      await waitForLog(gw, 'paid access ready: quotes and 402 challenges served')
      const { id, token } = await subscribe(gw)
      let sent = 0
      let received = 0
      let refused: Awaited<ReturnType<typeof call>> | undefined
      for (let i = 0; i < 200; i++) {
        const body = randomBytes(1000 + ((i * 7919) % 20_000))
        const size = 5000 + ((i * 104_729) % 60_000)
        const r = await call(gw, `/api/size/${size}`, token, body)
        if (r.status === 429) {
          refused = r
          break
        }
        assert.equal(r.status, 200)
        assert.equal(r.bytes.length, size)
        sent += body.length
        received += r.bytes.length
      }
      assert.ok(refused, 'the byte budget refused')
      assert.deepEqual(
        (JSON.parse(refused.text()) as { 'violated-policies': string[] })['violated-policies'],
        ['bw'],
      )
      assert.match(
        refused.headers.get('ratelimit-policy') ?? '',
        /"bw";q=1000000;qu="content-bytes";w=2592000/,
      )
      // Admitted while the budget was not exhausted: the total passed it by at most the last exchange.
      assert.ok(sent + received >= budget && sent + received < budget + 90_000, `${sent + received}`)
      const m = await scrape(gw)
      const metIn = metric(m, 'litgate_qos_metered_bytes_total', { direction: 'in' }) ?? 0
      const metOut = metric(m, 'litgate_qos_metered_bytes_total', { direction: 'out' }) ?? 0
      const error = Math.abs(metIn + metOut - (sent + received)) / (sent + received)
      t.diagnostic(
        `client moved ${sent} in + ${received} out; metered ${metIn} + ${metOut}; error ${(error * 100).toFixed(3)} %`,
      )
      assert.ok(error < 0.01, `metering error ${error}`)
      assert.equal(metIn, sent)
      assert.equal(metOut, received)
      const u = await usage(gw.url, id, token)
      assert.deepEqual([u.body.period.bytesIn, u.body.period.bytesOut], [sent, received])
      assert.equal(u.body.windows.find((w) => w.policy === 'bw')?.used, sent + received)
    } finally {
      await stop(gw)
      await storage.cleanup()
    }
  })
})

const postgres = storageBackends().find((b) => b.name === 'postgres')
describe('QoS shared by two gateway processes (PostgreSQL + Redis)', () => {
  test(
    'two instances hammered together admit at most burst + rate × elapsed',
    { skip: postgres === undefined ? 'DATABASE_URL not set' : false },
    async (t) => {
      const storage = await freshStorage(postgres as NonNullable<typeof postgres>)
      const prefix = uniquePrefix('qos-gw')
      const redis = `rateLimit:\n  store: redis\n  redis: { url: { fromEnv: LITGATE_TEST_REDIS_URL }, keyPrefix: "${prefix}", commandTimeoutMs: 2000, onError: deny }`
      const qos = '{ requestsPerSecond: 20, burst: 10 }'
      const a = await spawnLitgate(configYaml(storage, qos, redis), { env: ENV })
      const b = await spawnLitgate(configYaml(storage, qos, redis), { env: ENV })
      const client = await connectRedis()
      try {
        await waitForLog(a, 'paid access ready: quotes and 402 challenges served')
        await waitForLog(b, 'paid access ready: quotes and 402 challenges served')
        const { id, token } = await subscribe(a, [b])
        // Warm both instances' token caches, then let the bucket refill to a full burst.
        assert.equal((await call(a, '/api/w', token)).status, 200)
        assert.equal((await call(b, '/api/w', token)).status, 200)
        await new Promise((r) => setTimeout(r, 1000))
        let admitted = 0
        let limited = 0
        let unavailable = 0
        const started = performance.now()
        const worker = async (gw: LitgateProcess) => {
          for (let i = 0; i < 60; i++) {
            const r = await call(gw, '/api/h', token)
            if (r.status === 200) admitted++
            else if (r.status === 429) limited++
            // Fail closed: a decision Redis could not make in time is refused, never admitted unmetered.
            else if (r.status === 503 && r.text().includes('RATE_LIMIT_UNAVAILABLE')) unavailable++
            else assert.fail(`status ${r.status}: ${r.text()}`)
          }
        }
        await Promise.all([worker(a), worker(b), worker(a), worker(b), worker(a), worker(b)])
        const elapsed = (performance.now() - started) / 1000
        const bound = 10 + Math.ceil(20 * elapsed)
        t.diagnostic(
          `admitted ${admitted}, limited ${limited}, unavailable ${unavailable}, elapsed ${elapsed.toFixed(2)} s, bound ${bound}`,
        )
        assert.equal(admitted + limited + unavailable, 360)
        assert.ok(admitted <= bound, `admitted ${admitted} > ${bound}`)
        assert.ok(admitted >= 10, `admitted ${admitted}`)
        // Both instances settled into the one Redis: the period counts every request that reached the upstream.
        // A settle the store dropped after its retries (a loaded host) is counted by the gateway.
        let dropped = 0
        for (const gw of [a, b])
          dropped +=
            metric(await scrape(gw), 'litgate_qos_store_errors_total', {
              operation: 'settle',
              action: 'dropped',
            }) ?? 0
        const counted = admitted + 2 - dropped
        const t0 = performance.now()
        let seen = -1
        while (performance.now() - t0 < 5000) {
          seen = (await usage(b.adminUrl, id)).body.period.requests
          if (seen === counted) break
          await new Promise((r) => setTimeout(r, 50))
        }
        assert.equal(seen, counted)
        const hist = (gw: LitgateProcess) => scrape(gw)
        for (const gw of [a, b]) {
          const m = await hist(gw)
          const count = metric(m, 'litgate_qos_reserve_duration_seconds_count', { store: 'redis' }) ?? 0
          const fast =
            metric(m, 'litgate_qos_reserve_duration_seconds_bucket', { store: 'redis', le: '0.002' }) ?? 0
          assert.ok(count >= 180, `${count}`)
          t.diagnostic(
            `reservations within 2 ms (Redis round trip in the gateway, loaded 2-core host): ${fast}/${count}`,
          )
          assert.ok((metric(m, 'litgate_qos_decisions_total', { outcome: 'limited' }) ?? 0) > 0)
        }
      } finally {
        await stop(a)
        await stop(b)
        await deletePrefix(client, prefix)
        client.disconnect()
        await storage.cleanup()
      }
    },
  )
})
