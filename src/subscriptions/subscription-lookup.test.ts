// `GET {base}/subscriptions/:id` through the real admin listener on 127.0.0.1 port 0: answers from the
// cache, RFC 9457 problems for malformed and unknown ids, listed in the router's endpoints; p99 measured.
import assert from 'node:assert/strict'
import { Agent, request } from 'node:http'
import { after, before, test } from 'node:test'
import pino from 'pino'
import { Registry } from 'prom-client'
import { startAdminServer, type AdminServer } from '../admin/index.ts'
import { createSubscriptionCache } from './access.ts'
import { createSubscriptionLookup } from './subscription-lookup.ts'
import { createMemorySubscriptionStore } from './subscription-store.ts'
import type { Bytes32, SubscriptionRecord } from './types.ts'

const hex32 = (n: number): Bytes32 => `0x${n.toString(16).padStart(64, '0')}` as Bytes32
const NOW_SEC = 1_800_000_000
let admin: AdminServer
let chainHealthy = true
let storeReads = 0
const agent = new Agent({ keepAlive: true, maxSockets: 1 })
const store = createMemorySubscriptionStore()
const cache = createSubscriptionCache(
  { maxEntries: 1_000 },
  {
    store: {
      get: (id) => {
        storeReads++
        return store.get(id)
      },
    },
  },
)

function row(n: number, over: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  return {
    id: hex32(n),
    state: 'active',
    owner: '0x00000000000000000000000000000000000000a1',
    beneficiary: '0x00000000000000000000000000000000000000b2',
    planId: 2,
    token: '0x00000000000000000000000000000000000000c1',
    startSec: NOW_SEC - 100,
    endSec: NOW_SEC + 100,
    chainStatus: 'live',
    chainBlock: 1,
    version: 3,
    updatedAtSec: NOW_SEC - 100,
    paymentDigests: [],
    beforeLastPayment: null,
    operatorHold: null,
    ...over,
  }
}

before(async () => {
  for (let i = 1; i <= 50; i++) store.corrupt(hex32(i), row(i))
  store.corrupt(hex32(60), row(60, { chainStatus: null, state: 'pending' }))
  store.corrupt(hex32(61), row(61, { endSec: NOW_SEC - 10 }))
  const route = createSubscriptionLookup(
    { basePath: '/litgate/v1', graceMs: 30_000 },
    { cache, nowMs: () => NOW_SEC * 1000, isChainHealthy: () => chainHealthy },
  )
  admin = await startAdminServer(
    { host: '127.0.0.1', port: 0 },
    {
      log: pino({ level: 'silent' }),
      registry: new Registry(),
      isReady: () => true,
      status: () => ({}),
      reload: () => Promise.reject(new Error('not in this test')),
      routes: [route],
    },
  )
})
after(async () => {
  agent.destroy()
  await admin.close()
})

function get(path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: admin.address().port, path, method, agent }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

test('answers a cached subscription with its bounds, state and access decision', async () => {
  const res = await get(`/litgate/v1/subscriptions/${hex32(1)}`)
  assert.equal(res.status, 200)
  assert.match(res.type, /^application\/json/)
  assert.deepEqual(JSON.parse(res.body), {
    id: hex32(1),
    state: 'active',
    owner: '0x00000000000000000000000000000000000000a1',
    beneficiary: '0x00000000000000000000000000000000000000b2',
    planId: 2,
    token: '0x00000000000000000000000000000000000000c1',
    start: NOW_SEC - 100,
    end: NOW_SEC + 100,
    chainStatus: 'live',
    accessAllowed: true,
    chainReachable: true,
    version: 3,
  })
  // Upper-case hex is the same id.
  const upper = await get(`/litgate/v1/subscriptions/0x${hex32(1).slice(2).toUpperCase()}`)
  assert.equal(JSON.parse(upper.body).id, hex32(1))
})

test('an expired subscription says so; while the chain is down the grace shows in accessAllowed', async () => {
  const expired = JSON.parse((await get(`/litgate/v1/subscriptions/${hex32(61)}`)).body)
  assert.equal(expired.state, 'expired')
  assert.equal(expired.accessAllowed, false)
  chainHealthy = false
  try {
    const degraded = JSON.parse((await get(`/litgate/v1/subscriptions/${hex32(61)}`)).body)
    assert.equal(degraded.accessAllowed, true) // 10 s past the end, 30 s grace
    assert.equal(degraded.chainReachable, false)
  } finally {
    chainHealthy = true
  }
})

test('unknown and pending ids answer 404 SUBSCRIPTION_NOT_FOUND; malformed ones 400 SUBSCRIPTION_ID_INVALID', async () => {
  for (const id of [hex32(999), hex32(60)]) {
    const res = await get(`/litgate/v1/subscriptions/${id}`)
    assert.equal(res.status, 404)
    assert.equal(res.type, 'application/problem+json')
    const p = JSON.parse(res.body)
    assert.equal(p.code, 'SUBSCRIPTION_NOT_FOUND')
    assert.equal(p.status, 404)
  }
  for (const bad of [
    '0x1234',
    `${hex32(1)}00`,
    hex32(1).slice(2) + '00',
    `0x${'g'.repeat(64)}`,
    '',
    `${hex32(1)}/x`,
    ':id',
  ]) {
    const res = await get(`/litgate/v1/subscriptions/${bad}`)
    assert.equal(res.status, 400, bad)
    assert.equal(JSON.parse(res.body).code, 'SUBSCRIPTION_ID_INVALID')
  }
  const post = await get(`/litgate/v1/subscriptions/${hex32(1)}`, 'POST')
  assert.equal(post.status, 405)
  const notFound = JSON.parse((await get('/nope')).body)
  assert.ok(notFound.endpoints.includes('GET /litgate/v1/subscriptions/:id'), notFound.endpoints)
})

function percentiles(samples: number[]): { p50: number; p99: number } {
  samples.sort((a, b) => a - b)
  return {
    p50: samples[Math.floor(samples.length * 0.5)]!,
    p99: samples[Math.floor(samples.length * 0.99)]!,
  }
}

// The < 5 ms p99 budget is asserted on the gateway's own work (cache lookup, decision, JSON): the HTTP
// round trip on a 2-core machine shared with other test files adds scheduling noise that is not ours, so
// it is measured and printed, and only its median is asserted.
test('serves from the cache: p99 under 5 ms over 20,000 lookups, the store read once per id', async () => {
  const route = createSubscriptionLookup(
    { basePath: '/litgate/v1', graceMs: 0 },
    { cache, nowMs: () => NOW_SEC * 1000, isChainHealthy: () => true },
  )
  for (let i = 1; i <= 50; i++) await route.answer(hex32(i))
  const readsBefore = storeReads
  const samples: number[] = []
  for (let k = 0; k < 20_000; k++) {
    const t0 = process.hrtime.bigint()
    const res = await route.answer(hex32((k % 50) + 1))
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6)
    assert.equal(res.status, 200)
  }
  assert.equal(storeReads, readsBefore, 'cached rows must not be read from the store again')
  const { p50, p99 } = percentiles(samples)
  process.stdout.write(`# subscription lookup handler: p50 ${p50.toFixed(4)} ms, p99 ${p99.toFixed(4)} ms\n`)
  assert.ok(p99 < 5, `p99 ${p99} ms`)
})

test('over HTTP keep-alive on the admin listener (2,000 requests): median well under 5 ms, p99 printed', async () => {
  const samples: number[] = []
  for (let k = 0; k < 2_000; k++) {
    const t0 = process.hrtime.bigint()
    const res = await get(`/litgate/v1/subscriptions/${hex32((k % 50) + 1)}`)
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6)
    assert.equal(res.status, 200)
  }
  const { p50, p99 } = percentiles(samples)
  process.stdout.write(
    `# subscription lookup over HTTP keep-alive: p50 ${p50.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms\n`,
  )
  assert.ok(p50 < 5, `p50 ${p50} ms`)
})
