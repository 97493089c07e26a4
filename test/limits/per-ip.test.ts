/**
 * Per-client-IP rate limits through real gateways on loopback: the 429 answer exactly (status, problem
 * body, Retry-After, RateLimit-Policy, RateLimit) on HTTP/1.1, HTTP/2 and a WebSocket upgrade; the
 * per-route override and exemption; buckets per client after trusted-proxy resolution; metrics; and the
 * in-memory bound under a flood of distinct client addresses.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as h2connect } from 'node:http2'
import { Registry } from 'prom-client'
import { Redis } from 'ioredis'
import {
  createLimiterMetrics,
  MemoryLimiterStore,
  RedisLimiterStore,
  redisClientOptions,
} from '../../src/limits/index.ts'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { deadPort, startUpstream, type TestUpstream } from '../helpers/upstream.ts'
import { parseRaw, rawExchange, send, type SimpleResponse } from '../helpers/client.ts'

function fakeClock(): { nowUs: () => number; advance(us: number): void } {
  let now = 1_000_000_000
  return { nowUs: () => now, advance: (us) => (now += us) }
}

function assertLimited(
  res: { status: number; headers: Record<string, string | string[] | undefined>; body: string },
  expected: { retryAfter: string; policy: string; ratelimit: string; violated: string },
): void {
  assert.equal(res.status, 429, res.body)
  assert.equal(res.headers['content-type'], 'application/problem+json')
  assert.equal(res.headers['retry-after'], expected.retryAfter)
  assert.equal(res.headers['ratelimit-policy'], expected.policy)
  assert.equal(res.headers['ratelimit'], expected.ratelimit)
  const doc = JSON.parse(res.body) as Record<string, unknown>
  assert.deepEqual(
    { ...doc, requestId: undefined },
    {
      type: 'https://litgate.dev/errors#rate-limited',
      title: 'Rate limit exceeded',
      status: 429,
      code: 'RATE_LIMITED',
      requestId: undefined,
      'violated-policies': [expected.violated],
    },
  )
  assert.equal(res.headers['x-request-id'], doc['requestId'])
}

describe('per-IP rate limit: the 429 answer', () => {
  let up: TestUpstream
  let gw: TestGateway
  const clock = fakeClock()
  const store = new MemoryLimiterStore({ maxKeys: 1000 }, { nowUs: clock.nowUs })
  const registry = new Registry()

  before(async () => {
    up = await startUpstream()
    gw = await startGateway(
      {
        listeners: [{ name: 'main', host: '127.0.0.1', port: 0, http2: true }],
        server: { trustedProxies: ['127.0.0.1/32'] },
        rateLimit: { perIp: { requests: 3, windowSeconds: 10 } },
        upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
        routes: [{ id: 'r', match: {}, upstream: 'u' }],
      },
      { rateLimit: { store, hooks: createLimiterMetrics(registry, store) } },
    )
  })
  after(async () => {
    await gw.stop()
    await up.close()
  })

  const as = (client: string): Record<string, string> => ({ 'x-forwarded-for': client })

  test('three requests pass, the fourth gets 429 with Retry-After, RateLimit-Policy and RateLimit exactly', async () => {
    for (let i = 0; i < 3; i++)
      assert.equal((await send(`${gw.url}/a`, { headers: as('198.51.100.1') })).status, 200)
    const limited = await send(`${gw.url}/a`, { headers: as('198.51.100.1') })
    // T = 10 s / 3 = 3.333333 s: the next request fits in 4 s (rounded up); the burst is full in 10 s.
    assertLimited(limited, {
      retryAfter: '4',
      policy: '"ip";q=3;w=10',
      ratelimit: '"ip";r=0;t=10',
      violated: 'ip',
    })
    assert.equal(up.received.length, 3, 'the refused request never reached the upstream')
  })

  test('after Retry-After (one interval) exactly one more request passes', async () => {
    clock.advance(3_333_332)
    assert.equal((await send(`${gw.url}/a`, { headers: as('198.51.100.1') })).status, 429, '1 µs early')
    clock.advance(1)
    assert.equal((await send(`${gw.url}/a`, { headers: as('198.51.100.1') })).status, 200)
    const again = await send(`${gw.url}/a`, { headers: as('198.51.100.1') })
    assertLimited(again, {
      retryAfter: '4',
      policy: '"ip";q=3;w=10',
      ratelimit: '"ip";r=0;t=10',
      violated: 'ip',
    })
  })

  test('buckets are per client after trusted-proxy resolution; an IPv6 /64 is one client', async () => {
    for (let i = 0; i < 3; i++)
      assert.equal((await send(`${gw.url}/b`, { headers: as('198.51.100.2') })).status, 200)
    assert.equal((await send(`${gw.url}/b`, { headers: as('198.51.100.2') })).status, 429)
    assert.equal((await send(`${gw.url}/b`, { headers: as('198.51.100.3') })).status, 200, 'another client')
    // 2001:db8:0:1::/64 — two addresses of it share one budget, an address of the next /64 does not.
    assert.equal((await send(`${gw.url}/b`, { headers: as('2001:db8:0:1::a') })).status, 200)
    assert.equal((await send(`${gw.url}/b`, { headers: as('2001:db8:0:1::b') })).status, 200)
    assert.equal((await send(`${gw.url}/b`, { headers: as('2001:db8:0:1:ffff::1') })).status, 200)
    assert.equal((await send(`${gw.url}/b`, { headers: as('2001:db8:0:1::c') })).status, 429)
    assert.equal((await send(`${gw.url}/b`, { headers: as('2001:db8:0:2::a') })).status, 200)
  })

  test('HTTP/2 gets the same 429 fields', async () => {
    const session = h2connect(gw.url)
    try {
      const get = (): Promise<{
        status: number
        headers: Record<string, string | string[] | undefined>
        body: string
      }> =>
        new Promise((resolve, reject) => {
          const req = session.request({ ':path': '/h2', 'x-forwarded-for': '198.51.100.4' })
          let body = ''
          let headers: Record<string, string | string[] | undefined> = {}
          req.on('response', (h) => (headers = h as typeof headers))
          req.setEncoding('utf8')
          req.on('data', (c: string) => (body += c))
          req.on('end', () => resolve({ status: Number(headers[':status']), headers, body }))
          req.on('error', reject)
        })
      for (let i = 0; i < 3; i++) assert.equal((await get()).status, 200)
      assertLimited(await get(), {
        retryAfter: '4',
        policy: '"ip";q=3;w=10',
        ratelimit: '"ip";r=0;t=10',
        violated: 'ip',
      })
    } finally {
      session.close()
    }
  })

  test('a WebSocket upgrade over the limit gets the same 429 on the raw socket', async () => {
    const client = '198.51.100.5'
    for (let i = 0; i < 3; i++)
      assert.equal((await send(`${gw.url}/ws`, { headers: as(client) })).status, 200)
    const raw = await rawExchange(
      gw.port,
      'GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
        `X-Forwarded-For: ${client}\r\n\r\n`,
      2000,
    )
    const res = parseRaw(raw)
    assertLimited(res, {
      retryAfter: '4',
      policy: '"ip";q=3;w=10',
      ratelimit: '"ip";r=0;t=10',
      violated: 'ip',
    })
  })

  test('litgate_rate_limited_total counts the refusals by policy; tracked keys are exported', async () => {
    const text = await registry.metrics()
    const limited = Number(/^litgate_rate_limited_total\{policy="ip"\} (\d+)$/m.exec(text)?.[1])
    // 1 + 2 + 2 + 1 (HTTP/2) + 1 (WebSocket) in the tests above.
    assert.equal(limited, 7)
    const tracked = Number(/^litgate_rate_limit_tracked_keys (\d+)$/m.exec(text)?.[1])
    assert.equal(tracked, store.size)
    assert.ok(tracked >= 6)
  })
})

describe('per-IP rate limit: per-route override', () => {
  let up: TestUpstream
  let gw: TestGateway

  before(async () => {
    up = await startUpstream()
    gw = await startGateway({
      rateLimit: { perIp: { requests: 2, windowSeconds: 60 } },
      upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
      routes: [
        {
          id: 'own',
          match: { path: { prefix: '/own' } },
          upstream: 'u',
          rateLimit: { perIp: { requests: 5, windowSeconds: 60, burst: 4 } },
        },
        { id: 'free', match: { path: { prefix: '/free' } }, upstream: 'u', rateLimit: { perIp: 'off' } },
        { id: 'default', match: {}, upstream: 'u' },
      ],
    })
  })
  after(async () => {
    await gw.stop()
    await up.close()
  })

  const statuses = async (path: string, n: number): Promise<SimpleResponse[]> => {
    const out: SimpleResponse[] = []
    for (let i = 0; i < n; i++) out.push(await send(`${gw.url}${path}`))
    return out
  }

  test('the global limit applies to routes without their own', async () => {
    const res = await statuses('/x', 3)
    assert.deepEqual(
      res.map((r) => r.status),
      [200, 200, 429],
    )
    assert.equal(res[2]?.headers['ratelimit-policy'], '"ip";q=2;w=60')
    assert.equal(res[2]?.headers['retry-after'], '30')
  })

  test("a route's own limit replaces the global one, in a bucket of its own (burst 4 of 5 per minute)", async () => {
    const res = await statuses('/own/a', 5)
    assert.deepEqual(
      res.map((r) => r.status),
      [200, 200, 200, 200, 429],
    )
    const limited = res[4] as SimpleResponse
    assert.equal(limited.headers['ratelimit-policy'], '"ip-own";q=5;w=60')
    // T = 12 s; four spent: the burst is full again in 48 s.
    assert.equal(limited.headers['ratelimit'], '"ip-own";r=0;t=48')
    assert.equal(limited.headers['retry-after'], '12')
    assert.deepEqual((JSON.parse(limited.body) as Record<string, unknown>)['violated-policies'], ['ip-own'])
  })

  test('an exempt route ("off") is never limited', async () => {
    const res = await statuses('/free', 20)
    assert.ok(res.every((r) => r.status === 200))
  })
})

describe('per-IP rate limit: bounded memory under a flood of client addresses', () => {
  test('5,000 distinct addresses against a cap of 1,000 keys: at most 1,000 tracked, the limited client stays limited', async (t) => {
    const up = await startUpstream()
    const clock = fakeClock()
    const store = new MemoryLimiterStore({ maxKeys: 1000 }, { nowUs: clock.nowUs })
    const gw = await startGateway(
      {
        server: { trustedProxies: ['127.0.0.1/32'] },
        rateLimit: { perIp: { requests: 5, windowSeconds: 60 }, maxTrackedKeys: 1000 },
        upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
        routes: [{ id: 'r', match: {}, upstream: 'u' }],
      },
      { rateLimit: { store } },
    )
    try {
      const hostile = { 'x-forwarded-for': '203.0.113.66' }
      for (let i = 0; i < 5; i++) assert.equal((await send(`${gw.url}/`, { headers: hostile })).status, 200)
      assert.equal((await send(`${gw.url}/`, { headers: hostile })).status, 429)
      let maxTracked = 0
      const started = performance.now()
      for (let batch = 0; batch < 50; batch++) {
        await Promise.all(
          Array.from({ length: 100 }, (_, i) => {
            const n = batch * 100 + i
            return send(`${gw.url}/`, {
              headers: { 'x-forwarded-for': `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` },
            })
          }),
        )
        maxTracked = Math.max(maxTracked, store.size)
        clock.advance(1000)
      }
      const ms = performance.now() - started
      assert.ok(maxTracked <= 1000, `tracked ${maxTracked}`)
      assert.equal(
        (await send(`${gw.url}/`, { headers: hostile })).status,
        429,
        'the flood did not reset the limited client',
      )
      t.diagnostic(
        `5000 distinct client addresses over HTTP in ${ms.toFixed(0)} ms: max tracked ${maxTracked} (cap 1000), evictions ${JSON.stringify(store.stats())}`,
      )
    } finally {
      await gw.stop()
      await up.close()
    }
  })
})

describe('per-IP rate limit: Redis failures never crash, are logged once per interval and counted', () => {
  test('fail open: every request is served, one log line, litgate_rate_limit_store_errors_total{action="allowed"}', async () => {
    const up = await startUpstream()
    const down = new Redis(`redis://127.0.0.1:${await deadPort()}/0`, {
      ...redisClientOptions(100),
      retryStrategy: () => null,
    })
    down.on('error', () => undefined)
    const store = new RedisLimiterStore(down, { keyPrefix: 'litgate-test:dead:' })
    const registry = new Registry()
    const gw = await startGateway(
      {
        rateLimit: {
          store: 'redis',
          perIp: { requests: 1, windowSeconds: 60 },
          redis: { url: { fromEnv: 'UNUSED_IN_PROCESS' }, onError: 'allow' },
        },
        upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
        routes: [{ id: 'r', match: {}, upstream: 'u' }],
      },
      { rateLimit: { store, hooks: createLimiterMetrics(registry, store) } },
    )
    try {
      const res = await Promise.all(Array.from({ length: 20 }, () => send(`${gw.url}/`)))
      assert.deepEqual(new Set(res.map((r) => r.status)), new Set([200]))
      const lines = gw.lines.filter((l) => l.includes('rate limit store failed'))
      assert.equal(lines.length, 1, 'spaced out: one line per 10 s')
      const entry = JSON.parse(lines[0] as string) as Record<string, unknown>
      assert.equal(entry['code'], 'RATE_LIMIT_UNAVAILABLE')
      assert.equal(entry['action'], 'allowed')
      const text = await registry.metrics()
      assert.match(text, /^litgate_rate_limit_store_errors_total\{action="allowed"\} 20$/m)
      assert.doesNotMatch(text, /^litgate_rate_limit_tracked_keys /m, 'no tracked-keys gauge for Redis')
    } finally {
      await gw.stop()
      down.disconnect()
      await up.close()
    }
  })
})
