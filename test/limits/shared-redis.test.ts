/**
 * Two litgate processes (`litgate run`, the real composition root) sharing one Redis enforce ONE per-IP
 * limit: one client hammering both instances gets burst + rate × elapsed requests through in total, as a
 * single GCRA would allow, not twice that. Real Redis at REDIS_URL under a unique key prefix.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Redis } from 'ioredis'
import { spawnGateway, type ChildGateway } from '../helpers/child-gateway.ts'
import { connectRedis, deletePrefix, keysUnder, REDIS_URL, uniquePrefix } from '../helpers/redis.ts'
import { send } from '../helpers/client.ts'
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts'

const RATE = 20 // requests per second (and the burst)
const DURATION_MS = 3000
const WORKERS = 8

const prefix = uniquePrefix('rl-shared')
let redis: Redis
let up: TestUpstream
let gateways: ChildGateway[] = []

before(async () => {
  redis = await connectRedis()
  up = await startUpstream()
  // The children read the URL from their environment (a secret reference), as in production.
  process.env['LITGATE_TEST_REDIS_URL'] = REDIS_URL
  const config = {
    listeners: [{ name: 'main', host: '127.0.0.1', port: 0 }],
    upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
    routes: [{ id: 'r', match: {}, upstream: 'u' }],
    logging: { accessLog: { enabled: false } },
    rateLimit: {
      store: 'redis' as const,
      perIp: { requests: RATE, windowSeconds: 1 },
      redis: { url: { fromEnv: 'LITGATE_TEST_REDIS_URL' }, keyPrefix: prefix, commandTimeoutMs: 1000 },
    },
  }
  gateways = await Promise.all([spawnGateway(config), spawnGateway(config)])
})

after(async () => {
  await Promise.all(gateways.map((g) => g.stop()))
  await up.close()
  await deletePrefix(redis, prefix)
  redis.disconnect()
})

test('two instances sharing Redis allow burst + rate × elapsed in total for one client', async (t) => {
  const counts = gateways.map(() => ({ allowed: 0, limited: 0 }))
  const other: number[] = []
  const started = performance.now()
  let sent = 0
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      while (performance.now() - started < DURATION_MS) {
        const i = (sent++ + w) % gateways.length
        const res = await send(`${(gateways[i] as ChildGateway).url}/`)
        const c = counts[i] as { allowed: number; limited: number }
        if (res.status === 200) c.allowed++
        else if (res.status === 429) c.limited++
        else other.push(res.status)
      }
    }),
  )
  const elapsedS = (performance.now() - started) / 1000
  assert.deepEqual(other, [], 'only 200 and 429')
  const allowed = counts.reduce((n, c) => n + c.allowed, 0)
  const limited = counts.reduce((n, c) => n + c.limited, 0)
  // One GCRA on Redis's clock: at most burst + floor(span / T), the span being inside our elapsed time.
  const bound = RATE + RATE * elapsedS
  t.diagnostic(
    `limit ${RATE}/s (burst ${RATE}), 2 instances, ${WORKERS} workers for ${elapsedS.toFixed(2)} s: ` +
      `${sent} sent (${(sent / elapsedS).toFixed(0)}/s), allowed ${allowed} (instance A ${counts[0]?.allowed}, ` +
      `B ${counts[1]?.allowed}), limited ${limited}; single-limit ideal ${bound.toFixed(1)}, ` +
      `error ${(((allowed - bound) / bound) * 100).toFixed(1)} %; two separate limits would allow ~${(2 * bound).toFixed(0)}`,
  )
  assert.ok(allowed <= Math.floor(bound) + 1, `allowed ${allowed} > ${bound.toFixed(1)}`)
  // Offered load is far above the rate, so GCRA admits nearly the whole budget (generous for a busy host).
  assert.ok(allowed >= Math.min(sent, bound) * 0.8, `allowed ${allowed} of a budget of ${bound.toFixed(1)}`)
  for (const c of counts) assert.ok(c.allowed > 0 && c.limited > 0, 'both instances decide on the one limit')
})

test('the shared state is one Redis key under the configured prefix, expiring with its debt', async () => {
  // One more request (the key may have expired since: its debt is at most one second).
  await send(`${(gateways[0] as ChildGateway).url}/`)
  const keys = await keysUnder(redis, prefix)
  assert.deepEqual(keys, [`${prefix}ip|127.0.0.1`])
  const ttl = await redis.pttl(keys[0] as string)
  assert.ok(ttl > 0 && ttl <= 1000, `pttl ${ttl}`)
})
