/**
 * The Redis store against a real Redis (REDIS_URL): the Lua script decides exactly as the pure core does
 * (replayed on the clock Redis reported), atomically under concurrent clients, with keys that expire when
 * they carry no debt; failures reject with LimiterStoreError within the command timeout.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server, type Socket } from 'node:net'
import { Redis } from 'ioredis'
import fc from '../helpers/fast-check.ts'
import {
  gcraDecide,
  gcraPolicy,
  LimiterStoreError,
  RedisLimiterStore,
  redisClientOptions,
  type GcraDecision,
} from '../../src/limits/index.ts'
import { connectRedis, deletePrefix, uniquePrefix } from '../helpers/redis.ts'

const prefix = uniquePrefix('rl-store')
let a: Redis
let b: Redis

before(async () => {
  a = await connectRedis()
  b = await connectRedis()
})

after(async () => {
  await deletePrefix(a, prefix)
  a.disconnect()
  b.disconnect()
})

describe('RedisLimiterStore', () => {
  test('a fresh key gets exactly `burst` at once, then a refusal with the wait of one interval', async () => {
    const store = new RedisLimiterStore(a, { keyPrefix: prefix })
    const policy = gcraPolicy('ip', 5, 60) // T = 12 s, burst 5
    const decisions: GcraDecision[] = []
    for (let i = 0; i < 6; i++) decisions.push(await store.take('burst', policy))
    assert.deepEqual(
      decisions.map((d) => [d.isAllowed, d.remaining]),
      [
        [true, 4],
        [true, 3],
        [true, 2],
        [true, 1],
        [true, 0],
        [false, 0],
      ],
    )
    const refused = decisions[5] as GcraDecision
    // The five allowed ones were decided within a few ms: the wait is one interval minus that.
    assert.ok(
      refused.retryAfterUs > 11_000_000 && refused.retryAfterUs <= 12_000_000,
      `${refused.retryAfterUs}`,
    )
    assert.ok(refused.resetUs > 59_000_000 && refused.resetUs <= 60_000_000, `${refused.resetUs}`)
    // The key lives until its TAT passes, never longer.
    const ttl = await a.pttl(`${prefix}burst`)
    assert.ok(ttl > 59_000 && ttl <= 60_000, `pttl ${ttl}`)
  })

  test('property: every decision equals gcraDecide replayed on the clock Redis reported', async () => {
    const store = new RedisLimiterStore(a, { keyPrefix: prefix })
    let run = 0
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          quota: fc.integer({ min: 1, max: 50 }),
          windowSeconds: fc.integer({ min: 1, max: 5 }),
          burst: fc.integer({ min: 1, max: 10 }),
        }),
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 25 }),
        async ({ quota, windowSeconds, burst }, costs) => {
          const policy = gcraPolicy('p', quota, windowSeconds, burst)
          const key = `replay-${run++}`
          let tat: number | undefined
          for (const cost of costs) {
            const got = await store.take(key, policy, cost)
            // The script returns its `now`: recover it from the decision and replay the model on it.
            const now = got.tatUs - got.resetUs
            const expected = gcraDecide(tat, now, policy, cost)
            assert.deepEqual(got, expected)
            tat = expected.tatUs
            const stored = await a.get(`${prefix}${key}`)
            if (expected.isAllowed)
              assert.equal(stored, String(expected.tatUs), 'TAT stored to the microsecond')
          }
        },
      ),
      { numRuns: 40 },
    )
  })

  test('atomic across clients: 200 concurrent decisions from two connections allow exactly the burst', async () => {
    const s1 = new RedisLimiterStore(a, { keyPrefix: prefix })
    const s2 = new RedisLimiterStore(b, { keyPrefix: prefix })
    const policy = gcraPolicy('ip', 50, 3600) // T = 72 s: nothing refills during the test
    const all = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? s1 : s2).take('race', policy)),
    )
    assert.equal(all.filter((d) => d.isAllowed).length, 50)
  })

  test('a Redis that is not there rejects with LimiterStoreError at once (no offline queue)', async () => {
    const server: Server = createServer((s) => s.destroy())
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as { port: number }).port
    await new Promise<void>((r) => server.close(() => r()))
    const client = await connectRedis(200, `redis://127.0.0.1:${port}/0`).catch((err: unknown) => err)
    assert.ok(client instanceof Error, 'connect to a closed port fails')
    const down = new Redis(`redis://127.0.0.1:${port}/0`, {
      ...redisClientOptions(200),
      retryStrategy: () => null,
    })
    down.on('error', () => undefined)
    try {
      const store = new RedisLimiterStore(down, { keyPrefix: prefix })
      const started = performance.now()
      await assert.rejects(store.take('x', gcraPolicy('ip', 1, 1)), LimiterStoreError)
      assert.ok(performance.now() - started < 1000)
    } finally {
      down.disconnect()
    }
  })

  test('a Redis that accepts but never answers fails the decision after commandTimeout', async () => {
    const sockets = new Set<Socket>()
    const silent = createServer((s) => {
      sockets.add(s)
      s.on('error', () => undefined)
      s.resume()
    })
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
    const port = (silent.address() as { port: number }).port
    const hung = new Redis(`redis://127.0.0.1:${port}/0`, {
      ...redisClientOptions(150),
      // RESP2 and no ready check: the silent server then counts as connected (RESP3 would wait for HELLO).
      protocol: 2,
      enableReadyCheck: false,
      disableClientInfo: true,
      retryStrategy: () => null,
    })
    hung.on('error', () => undefined)
    try {
      await new Promise<void>((r) => hung.once('ready', () => r()))
      const store = new RedisLimiterStore(hung, { keyPrefix: prefix })
      const started = performance.now()
      await assert.rejects(store.take('x', gcraPolicy('ip', 1, 1)), LimiterStoreError)
      const ms = performance.now() - started
      assert.ok(ms >= 140 && ms < 2000, `${ms} ms`)
    } finally {
      hung.disconnect()
      for (const s of sockets) s.destroy()
      await new Promise<void>((r) => silent.close(() => r()))
    }
  })
})
