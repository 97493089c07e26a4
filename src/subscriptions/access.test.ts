import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createSubscriptionCache, isAccessAllowed } from './access.ts'
import { createDegradedTracker } from './degraded-status.ts'
import { createMemorySubscriptionStore } from './subscription-store.ts'
import type { Bytes32, SubscriptionRecord } from './types.ts'

const hex32 = (n: number): Bytes32 => `0x${n.toString(16).padStart(64, '0')}` as Bytes32
const START = 1_000
const END = 2_000

function row(over: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  return {
    id: hex32(1),
    state: 'active',
    owner: '0x00000000000000000000000000000000000000a1',
    beneficiary: '0x00000000000000000000000000000000000000a1',
    planId: 1,
    token: '0x00000000000000000000000000000000000000c1',
    startSec: START,
    endSec: END,
    chainStatus: 'live',
    chainBlock: 1,
    version: 1,
    updatedAtSec: START,
    paymentDigests: [],
    beforeLastPayment: null,
    operatorHold: null,
    ...over,
  }
}

const healthy = { graceMs: 60_000, chainHealthy: true }
const down = { graceMs: 60_000, chainHealthy: false }

test('access runs from start to end (exclusive); the grace never applies while the chain is healthy', () => {
  assert.equal(isAccessAllowed(row(), START * 1000 - 1, healthy), false)
  assert.equal(isAccessAllowed(row(), START * 1000, healthy), true)
  assert.equal(isAccessAllowed(row(), END * 1000 - 1, healthy), true)
  assert.equal(isAccessAllowed(row(), END * 1000, healthy), false)
  assert.equal(isAccessAllowed(row(), END * 1000 + 30_000, healthy), false)
})

test('degraded mode: chain down keeps access until end plus the grace, never beyond; grace 0 = end', () => {
  assert.equal(isAccessAllowed(row(), END * 1000 + 59_999, down), true)
  assert.equal(isAccessAllowed(row(), END * 1000 + 60_000, down), false)
  assert.equal(isAccessAllowed(row(), END * 1000, { graceMs: 0, chainHealthy: false }), false)
  assert.equal(isAccessAllowed(row(), END * 1000 - 1, { graceMs: 0, chainHealthy: false }), true)
  // A negative grace is not a way to shorten nor lengthen anything.
  assert.equal(isAccessAllowed(row(), END * 1000 - 1, { graceMs: -5_000, chainHealthy: false }), true)
})

test('pending, revoked, held or unknown subscriptions never grant access, chain down or not', () => {
  const t = START * 1000 + 1
  for (const opts of [healthy, down]) {
    assert.equal(isAccessAllowed(undefined, t, opts), false)
    assert.equal(isAccessAllowed(row({ chainStatus: null, state: 'pending' }), t, opts), false)
    assert.equal(isAccessAllowed(row({ chainStatus: 'revoked', state: 'revoked' }), t, opts), false)
    assert.equal(isAccessAllowed(row({ operatorHold: { operatorId: 'op', atSec: START } }), t, opts), false)
    assert.equal(isAccessAllowed(row({ chainStatus: 'cancelled', state: 'cancelled' }), t, opts), true)
  }
})

test('the cache is bounded (least recently used goes first), fills from the store, never goes back a version', async () => {
  const store = createMemorySubscriptionStore()
  for (let i = 1; i <= 4; i++) store.corrupt(hex32(i), row({ id: hex32(i) }))
  const cache = createSubscriptionCache({ maxEntries: 3 }, { store })
  for (let i = 1; i <= 3; i++) await cache.get(hex32(i))
  assert.equal(cache.size, 3)
  assert.ok(cache.peek(hex32(1)) !== undefined) // 1 is now the most recent: 2 is the oldest
  await cache.get(hex32(4))
  assert.equal(cache.size, 3)
  assert.equal(cache.peek(hex32(2)), undefined)
  assert.ok(cache.peek(hex32(1)) !== undefined)
  assert.deepEqual(cache.stats(), { hits: 0, misses: 4 })
  await cache.get(hex32(1))
  assert.deepEqual(cache.stats(), { hits: 1, misses: 4 })
  cache.set(row({ id: hex32(1), version: 3, endSec: 9 }))
  cache.set(row({ id: hex32(1), version: 2, endSec: 5 }))
  assert.equal(cache.peek(hex32(1))?.endSec, 9)
  assert.equal(await cache.get(hex32(99)), undefined)
  assert.throws(
    () => createSubscriptionCache({ maxEntries: 0 }, { store }),
    /maxEntries must be a positive integer, got 0/,
  )
})

test('the degraded tracker says since when the chain is unreachable and counts cache-served decisions', () => {
  const t = createDegradedTracker()
  t.observeChain(true, 100)
  t.countServedFromCache()
  t.observeChain(false, 200)
  t.observeChain(false, 300)
  t.countServedFromCache()
  t.countServedFromCache()
  assert.deepEqual(t.status(7), {
    chainReachable: false,
    sinceMs: 200,
    servedFromCacheWhileDegraded: 2,
    cachedSubscriptions: 7,
    lastReconciliation: null,
  })
  t.observeChain(true, 400)
  assert.equal(t.status(0).sinceMs, 400)
  assert.equal(t.status(0).chainReachable, true)
})

test('attack (two instances): a row another instance changed in the shared store is re-read once the cached copy is older than maxAgeMs', async () => {
  // Instance B caches the pending row; instance A's monitor activates it in the database. B must not keep
  // answering the stale row (a paying buyer refused, or a revoked one admitted) beyond maxAgeMs.
  const store = createMemorySubscriptionStore()
  const id = hex32(7)
  store.corrupt(id, row({ id, chainStatus: null, state: 'pending', version: 1 }))
  let now = 1_000
  const cache = createSubscriptionCache({ maxEntries: 10, maxAgeMs: 500 }, { store, nowMs: () => now })
  assert.equal((await cache.get(id))?.state, 'pending')
  store.corrupt(id, row({ id, version: 2 })) // written by the other instance
  now += 499
  assert.equal((await cache.get(id))?.state, 'pending', 'fresh enough: served from memory')
  now += 2
  assert.equal((await cache.get(id))?.version, 2, 'stale: re-read from the store')
  assert.equal(cache.peek(id)?.version, 2)
  // A row the store no longer has is dropped, not served from memory.
  store.corrupt(id, undefined)
  now += 501
  assert.equal(await cache.get(id), undefined)
  assert.equal(cache.peek(id), undefined)
})

test('attack (two instances): the hot path never admits on a cached row older than maxAgeMs (fresh() is undefined then)', async () => {
  // Instance B caches an active row; instance A processes an on-chain revocation. B's token check (the hot
  // path) must fall back to the store within maxAgeMs instead of admitting on the stale copy forever.
  const store = createMemorySubscriptionStore()
  const id = hex32(8)
  store.corrupt(id, row({ id, version: 1 }))
  let now = 5_000
  const cache = createSubscriptionCache({ maxEntries: 10, maxAgeMs: 500 }, { store, nowMs: () => now })
  await cache.get(id)
  assert.equal(cache.fresh(id)?.version, 1)
  store.corrupt(id, row({ id, chainStatus: 'revoked', state: 'revoked', version: 2 }))
  now += 501
  assert.equal(cache.fresh(id), undefined, 'stale: the caller must read through')
  assert.equal((await cache.get(id))?.state, 'revoked')
  assert.equal(cache.fresh(id)?.state, 'revoked')
})
