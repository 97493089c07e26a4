// Micro-benchmark of per-subscription QoS on the request path: node bench/qos-gate.ts [iterations] [redis].
// Runs the gate exactly as the paid layer calls it (a token grant → reserve → metered grant → the
// exchange's end → settle) over 1,000 subscriptions, on the in-memory store, or on Redis (REDIS_URL) with
// the second argument `redis`. Reports µs per request (reserve + settle) and reserve p50/p99, with the load
// average (the machine is shared: compare within one run). The budget: quota check < 2 ms p99 with
// Redis.
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { Redis } from 'ioredis'
import pino from 'pino'
import { redisClientOptions } from '../src/limits/index.ts'
import {
  compileQuotaLimits,
  createQosGate,
  MemoryQuotaStore,
  RedisQuotaStore,
  type QuotaStore,
} from '../src/qos/index.ts'
import type { AdmissionGrant, AdmissionRequest } from '../src/runtime/index.ts'

const ITERATIONS = Number(process.argv[2] ?? 200_000)
const useRedis = process.argv[3] === 'redis'
const SUBS = 1_000
const redis = useRedis
  ? new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379/0', redisClientOptions(1000))
  : undefined
const store: QuotaStore = redis
  ? new RedisQuotaStore(redis, { keyPrefix: `litgate-bench:${process.pid}:` })
  : new MemoryQuotaStore()
const limits = compileQuotaLimits(
  'pro',
  { requestsPerSecond: 1_000_000, burst: 1_000_000, requestsPerDay: 1e12, bytesPerPeriod: 1e15 },
  2_592_000,
)
const startSec = Math.floor(Date.now() / 1000) - 100
const gate = createQosGate(
  { rateLimitHeaders: true, onError: 'allow' },
  { store, limitsFor: () => limits, subscription: () => ({ startSec }), log: pino({ level: 'silent' }) },
)
const grants: AdmissionGrant[] = []
for (let i = 0; i < SUBS; i++) {
  const id = `0x${i.toString(16).padStart(64, '0')}`
  grants.push({
    grant: true,
    removeHeaders: [],
    setHeaders: [],
    subject: { subscriptionId: id, plan: 'pro' },
  })
}
const req = (i: number): AdmissionRequest => ({
  requestId: `r${i}`,
  routeId: 'paid',
  method: 'GET',
  path: '/',
  clientAddress: '127.0.0.1',
  headers: {},
  isUpgrade: false,
})
const outcome = { reachedUpstream: true, bytesIn: 100, bytesOut: 1000, status: 200 }
const n = useRedis ? Math.min(ITERATIONS, 20_000) : ITERATIONS
const samples: number[] = []
const t0 = performance.now()
for (let i = 0; i < n; i++) {
  const s = performance.now()
  const v = (await gate.admit(grants[i % SUBS] as AdmissionGrant, req(i))) as AdmissionGrant
  if (i % 10 === 0) samples.push(performance.now() - s)
  v.meter?.end(outcome)
}
const total = performance.now() - t0
samples.sort((a, b) => a - b)
const q = (p: number) => (samples[Math.floor(samples.length * p)] ?? 0) * 1000
console.log(
  JSON.stringify({
    store: store.kind,
    iterations: n,
    usPerRequest: +((total * 1000) / n).toFixed(2),
    reserveP50Us: +q(0.5).toFixed(1),
    reserveP99Us: +q(0.99).toFixed(1),
    loadavg: loadavg().map((x) => +x.toFixed(2)),
  }),
)
if (redis) {
  // Settles are in flight (fire and forget): give them a moment, then drop the bench keys.
  await new Promise((r) => setTimeout(r, 500))
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `litgate-bench:${process.pid}:*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await redis.del(...keys)
  } while (cursor !== '0')
  redis.disconnect()
}
