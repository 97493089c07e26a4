// The assembled subsystem (what main.ts will wire): ledger → cache, degraded-mode status and metrics, the
// monitor's refusals queued for reconciliation. The chain is a stub port here (its real reads are covered
// against anvil in reconciler.test.ts); only the degraded-mode bookkeeping is under test.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import { Registry } from 'prom-client'
import { GatewayError } from '../errors/index.ts'
import { createMemorySubscriptionStore } from './subscription-store.ts'
import { createSubscriptions } from './subscriptions.ts'
import type { Actor, Address, Bytes32, PaymentConfirmedEvent } from './types.ts'

const CHAIN: Actor = { kind: 'chain', source: 'monitor' }
const hex32 = (n: number): Bytes32 => `0x${n.toString(16).padStart(64, '0')}` as Bytes32
const PAYER = '0x00000000000000000000000000000000000000a1' as Address
const T0 = 1_800_000_000
const PERIOD = 30 * 86_400

function creation(id: Bytes32): PaymentConfirmedEvent {
  return {
    type: 'payment-confirmed',
    digest: id,
    subscriptionId: id,
    payer: PAYER,
    beneficiary: PAYER,
    token: '0x00000000000000000000000000000000000000c1',
    planId: 1,
    startSec: T0,
    endSec: T0 + PERIOD,
    blockTimestampSec: T0,
    blockNumber: 1,
  }
}

function setup(graceMs = 60_000) {
  const store = createMemorySubscriptionStore()
  const registry = new Registry()
  let state: 'up' | 'degraded' | 'down' = 'up'
  let stateReads = 0
  let now = T0 * 1000
  const calls: string[] = []
  const subs = createSubscriptions(
    { basePath: '/litgate/v1', graceMs, confirmation: { tag: 'safe' } },
    {
      store,
      rpc: {
        verifiedCall: async (call) => {
          calls.push(`${String(call.blockNumber)}:${call.data}`)
          throw new GatewayError('CHAIN_UNAVAILABLE', 'no endpoint')
        },
        verifiedBlockTag: async (tag) => {
          calls.push(`tag:${tag}`)
          return { number: 5, hash: `0x${'ab'.repeat(32)}` }
        },
      },
      contract: '0x00000000000000000000000000000000000000d1',
      chainState: () => {
        stateReads++
        return state
      },
      log: pino({ level: 'silent' }),
      registry,
      nowMs: () => now,
    },
  )
  return {
    store,
    registry,
    subs,
    calls,
    stateReads: () => stateReads,
    setState: (s: typeof state) => (state = s),
    setNow: (ms: number) => (now = ms),
  }
}

async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name)
  assert.ok(m !== undefined, `${name} registered`)
  const v = m.values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l))
  return v?.value ?? 0
}

test('a change through the ledger fills the cache and counts the transition by cause', async () => {
  const h = setup()
  await h.subs.ledger.apply(creation(hex32(1)), CHAIN, T0)
  assert.equal(h.subs.cache.peek(hex32(1))?.state, 'active')
  assert.equal(
    await value(h.registry, 'litgate_subscriptions_transitions_total', { cause: 'payment-confirmed' }),
    1,
  )
  await h.subs.ledger.apply(creation(hex32(2)), { kind: 'operator', operatorId: 'op' }, T0)
  assert.equal(
    await value(h.registry, 'litgate_subscriptions_refused_total', { cause: 'payment-confirmed' }),
    1,
  )
  assert.equal(await value(h.registry, 'litgate_subscriptions_cached'), 1)
})

test('degraded mode: chain down → status says since when, access runs to end + grace, counted as served from cache', async () => {
  const h = setup(60_000)
  await h.subs.ledger.apply(creation(hex32(1)), CHAIN, T0)
  const row = h.subs.cache.peek(hex32(1))
  const afterEnd = (T0 + PERIOD) * 1000 + 30_000
  assert.equal(h.subs.isAllowed(row, afterEnd), false) // healthy: no grace
  h.setNow(T0 * 1000 + 5_000)
  h.setState('down')
  // The request path re-reads the chain state once per second at most.
  const reads = h.stateReads()
  for (let i = 0; i < 100; i++) h.subs.isAllowed(row, afterEnd)
  assert.equal(h.stateReads(), reads + 1)
  assert.equal(h.subs.isAllowed(row, afterEnd), true)
  assert.equal(h.subs.isAllowed(row, (T0 + PERIOD) * 1000 + 60_000), false)
  const s = h.subs.status()
  assert.equal(s.chainReachable, false)
  assert.equal(s.sinceMs, T0 * 1000 + 5_000)
  assert.equal(s.servedFromCacheWhileDegraded, 102)
  assert.equal(await value(h.registry, 'litgate_subscriptions_chain_reachable'), 0)
  assert.equal(await value(h.registry, 'litgate_subscriptions_chain_state_since_seconds'), T0 + 5)
  assert.equal(await value(h.registry, 'litgate_subscriptions_served_from_cache_total'), 102)
  h.setState('degraded') // some endpoint down, still reachable: not degraded mode for access
  assert.equal(h.subs.isAllowed(row, afterEnd), true) // the state read a moment ago still holds
  h.setNow(T0 * 1000 + 6_000)
  assert.equal(h.subs.isAllowed(row, afterEnd), false)
  assert.equal(h.subs.status().chainReachable, true)
})

test('a renewal the cache cannot place is queued for reconciliation; a failed read is counted, the row left', async () => {
  const h = setup()
  const renewal = { ...creation(hex32(7)), digest: hex32(8) }
  assert.equal((await h.subs.ledger.apply(renewal, CHAIN, T0)).kind, 'refused')
  const report = await h.subs.reconciler.runPass()
  assert.deepEqual(report, { checked: 1, repaired: 0, failed: 1 })
  assert.equal(h.calls.length, 2)
  assert.equal(h.calls[0], 'tag:safe')
  assert.ok(h.calls[1]?.startsWith('5:'), 'read at the safe block')
  assert.ok(h.calls[1]?.endsWith(hex32(7).slice(2)), 'getSubscription(id) asked for the queued id')
  assert.equal(await value(h.registry, 'litgate_subscriptions_reconciliation_read_failures_total'), 1)
  assert.equal(h.subs.status().lastReconciliation?.failed, 1)
  assert.equal(await h.store.get(hex32(7)), undefined)
  await h.subs.close()
})

test('refuses a negative or non-finite grace', () => {
  assert.throws(() => setup(-1), /graceMs must be a finite number >= 0, got -1/)
  assert.throws(() => setup(Number.NaN), /got NaN/)
})
