import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import fc from '../../test/helpers/fast-check.ts'
import { gcraDecide, gcraPolicy } from './gcra.ts'
import { MemoryLimiterStore } from './memory-store.ts'

function fakeClock(startUs = 1_000_000): { nowUs: () => number; advance(us: number): void } {
  let now = startUs
  return { nowUs: () => now, advance: (us) => (now += us) }
}

describe('MemoryLimiterStore', () => {
  const policy = gcraPolicy('ip', 10, 1) // T = 100 ms, burst 10

  test('decides exactly like gcraDecide on the stored TAT, per key', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 300_000 })), {
          maxLength: 300,
        }),
        fc.integer({ min: 1, max: 8 }),
        (steps, maxKeys) => {
          // With room for every key, the store is a plain map of TATs.
          const clock = fakeClock()
          const store = new MemoryLimiterStore({ maxKeys: Math.max(maxKeys, 6) }, clock)
          const model = new Map<string, number>()
          for (const [k, gap] of steps) {
            clock.advance(gap)
            const key = `k${k}`
            const expected = gcraDecide(model.get(key), clock.nowUs(), policy)
            const got = store.take(key, policy)
            if (JSON.stringify(got) !== JSON.stringify(expected)) return false
            if (expected.isAllowed) model.set(key, expected.tatUs)
          }
          return true
        },
      ),
    )
  })

  test('never holds more than maxKeys keys, whatever the key sequence', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 50_000 })), {
          maxLength: 500,
        }),
        (maxKeys, steps) => {
          const clock = fakeClock()
          const store = new MemoryLimiterStore({ maxKeys }, clock)
          for (const [k, gap] of steps) {
            clock.advance(gap)
            store.take(`k${k}`, policy)
            if (store.size > maxKeys) return false
          }
          return true
        },
      ),
    )
  })

  test('a flood of fresh keys does not reset a limited client (eviction drops the smallest debt)', () => {
    const clock = fakeClock()
    const maxKeys = 1000
    const store = new MemoryLimiterStore({ maxKeys }, clock)
    for (let i = 0; i < 10; i++) assert.ok(store.take('hostile', policy).isAllowed)
    assert.equal(store.take('hostile', policy).isAllowed, false)
    // Three times the cap of distinct keys, one request each, all within the hostile client's window.
    for (let i = 0; i < maxKeys * 3; i++) {
      store.take(`flood-${i}`, policy)
      if (i % 100 === 0) clock.advance(1)
    }
    assert.equal(store.size, maxKeys)
    const d = store.take('hostile', policy)
    assert.equal(d.isAllowed, false, 'the limited client kept its debt')
    const stats = store.stats()
    // The hostile key held one slot: the other 999 filled first, every later flood key evicted another.
    assert.equal(stats.evictedActive, maxKeys * 3 - (maxKeys - 1))
    assert.equal(stats.evictedExpired, 0)
  })

  test('at the cap, keys whose TAT has passed go first (nothing lost), then the one closest to fresh', () => {
    const clock = fakeClock()
    const store = new MemoryLimiterStore({ maxKeys: 3 }, clock)
    store.take('a', policy) // TAT now+100ms
    store.take('b', policy)
    store.take('b', policy) // TAT now+200ms
    store.take('c', policy)
    store.take('c', policy)
    store.take('c', policy) // TAT now+300ms
    assert.equal(store.peekOldest()?.key, 'a')
    store.take('d', policy) // table full of debt: 'a' (least debt) goes
    assert.equal(store.size, 3)
    assert.deepEqual(store.stats(), { trackedKeys: 3, evictedExpired: 0, evictedActive: 1 })
    clock.advance(250_000) // b's TAT passed, c's not yet
    store.take('e', policy)
    // b (expired) was reclaimed first; d (TAT +100ms, expired too) as well: both carried nothing.
    assert.equal(store.stats().evictedExpired, 2)
    assert.equal(store.stats().evictedActive, 1)
    assert.equal(store.take('c', policy).remaining, 10 - 1 - 1, 'c kept its debt (one interval left)')
  })

  test('expired keys are reclaimed as new keys arrive: the table shrinks back to the active set', () => {
    const clock = fakeClock()
    const store = new MemoryLimiterStore({ maxKeys: 10_000 }, clock)
    for (let i = 0; i < 5000; i++) store.take(`old-${i}`, policy)
    clock.advance(10_000_000)
    for (let i = 0; i < 2500; i++) store.take(`new-${i}`, policy)
    assert.equal(store.size, 2500, 'two expired keys reclaimed per new key')
  })

  test('a refused request on an unknown key (cost above the burst) stores nothing', () => {
    const store = new MemoryLimiterStore({ maxKeys: 10 }, fakeClock())
    assert.equal(store.take('big', policy, 11).isAllowed, false)
    assert.equal(store.size, 0)
  })

  test('memory stays bounded under a million distinct keys (figures printed)', (t) => {
    const clock = fakeClock()
    const maxKeys = 100_000
    const store = new MemoryLimiterStore({ maxKeys }, clock)
    const ipPolicy = gcraPolicy('ip', 100, 60)
    // A full collection before each reading, so the figure is live memory, not garbage.
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    gc()
    const before = process.memoryUsage().heapUsed
    const started = performance.now()
    let peak = 0
    for (let i = 0; i < 1_000_000; i++) {
      // Distinct IPv4-like keys; the clock moves 1 µs per request (a 1 M req/s flood).
      store.take(`ip:${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}.${i >>> 24}`, ipPolicy)
      clock.advance(1)
      if ((i & 0xffff) === 0) peak = Math.max(peak, store.size)
    }
    const ms = performance.now() - started
    gc()
    const after = process.memoryUsage().heapUsed
    peak = Math.max(peak, store.size)
    assert.equal(store.size, maxKeys)
    assert.ok(peak <= maxKeys)
    const perKey = (after - before) / store.size
    t.diagnostic(
      `1,000,000 distinct keys, cap ${maxKeys}: tracked ${store.size}, heap +${((after - before) / 1048576).toFixed(1)} MiB (${perKey.toFixed(0)} B/key), ${ms.toFixed(0)} ms (${((1_000_000 / ms) * 1000).toFixed(0)} decisions/s), evicted ${JSON.stringify(store.stats())}`,
    )
    // Generous: a key costs about a hundred bytes; a leak (no cap) would be ten times the cap.
    assert.ok(after - before < maxKeys * 400, `heap grew ${after - before} bytes`)
  })
})
