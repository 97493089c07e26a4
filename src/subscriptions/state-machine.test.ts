import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from '../../test/helpers/fast-check.ts'
import { isAccessAllowed } from './access.ts'
import { decideTransition, deriveState } from './state-machine.ts'
import { createSubscriptionLedger } from './subscription-ledger.ts'
import { createMemorySubscriptionStore } from './subscription-store.ts'
import type {
  Actor,
  Address,
  Bytes32,
  PaymentConfirmedEvent,
  SubscriptionEvent,
  SubscriptionRecord,
} from './types.ts'

const CHAIN: Actor = { kind: 'chain', source: 'monitor' }
const CLOCK: Actor = { kind: 'system', source: 'clock' }
const RECON: Actor = { kind: 'system', source: 'reconciliation' }
const OPERATOR: Actor = { kind: 'operator', operatorId: 'alice@ops' }
const PAYER = '0x00000000000000000000000000000000000000a1' as Address
const TOKEN = '0x00000000000000000000000000000000000000c1' as Address
const ZERO = '0x0000000000000000000000000000000000000000' as Address
const DAY = 86_400
const PERIOD = 30 * DAY
const T0 = 1_800_000_000
const hex32 = (n: number): Bytes32 => `0x${n.toString(16).padStart(64, '0')}` as Bytes32
const SUB = hex32(1)

function creation(over: Partial<PaymentConfirmedEvent> = {}): PaymentConfirmedEvent {
  return {
    type: 'payment-confirmed',
    digest: SUB,
    subscriptionId: SUB,
    payer: PAYER,
    beneficiary: PAYER,
    token: TOKEN,
    planId: 1,
    startSec: T0,
    endSec: T0 + PERIOD,
    blockTimestampSec: T0,
    blockNumber: 10,
    expected: { periods: 1, periodSeconds: PERIOD },
    ...over,
  }
}

function renewal(n: number, over: Partial<PaymentConfirmedEvent>): PaymentConfirmedEvent {
  return creation({ digest: hex32(100 + n), beneficiary: ZERO, ...over })
}

function setup() {
  const store = createMemorySubscriptionStore()
  const ledger = createSubscriptionLedger({ store })
  return { store, ledger }
}

test('a confirmed creation activates with the contract start and end, audited with its cause', async () => {
  const { store, ledger } = setup()
  const out = await ledger.apply(creation(), CHAIN, T0 + 12)
  assert.equal(out.kind, 'changed')
  const row = await store.get(SUB)
  assert.equal(row?.state, 'active')
  assert.equal(row?.startSec, T0)
  assert.equal(row?.endSec, T0 + PERIOD)
  assert.equal(row?.chainStatus, 'live')
  assert.equal(store.audits.length, 1)
  assert.deepEqual(
    { ...store.audits[0], detail: undefined },
    {
      subscriptionId: SUB,
      cause: 'payment-confirmed',
      actor: CHAIN,
      fromState: null,
      toState: 'active',
      fromVersion: null,
      toVersion: 1,
      atSec: T0 + 12,
      digest: SUB,
      anomalies: [],
      detail: undefined,
    },
  )
})

test('applying the same payment twice changes nothing the second time (no second audit)', async () => {
  const { store, ledger } = setup()
  await ledger.apply(creation(), CHAIN, T0)
  const renew = renewal(1, { startSec: T0, endSec: T0 + 2 * PERIOD, blockTimestampSec: T0 + DAY })
  await ledger.apply(renew, CHAIN, T0 + DAY)
  const before = await store.get(SUB)
  for (const e of [creation(), renew])
    assert.equal((await ledger.apply(e, CHAIN, T0 + 2 * DAY)).kind, 'unchanged')
  assert.deepEqual(await store.get(SUB), before)
  assert.equal(store.audits.length, 2)
})

test('only the chain activates: an operator or the system cannot confirm a payment (refusal audited)', async () => {
  for (const actor of [OPERATOR, CLOCK, RECON] as const) {
    const { store, ledger } = setup()
    const out = await ledger.apply(creation(), actor, T0)
    assert.deepEqual(out, { kind: 'refused', reason: `actor-not-allowed:${actor.kind}` })
    assert.equal(await store.get(SUB), undefined)
    assert.equal(store.audits.length, 1)
    assert.deepEqual(store.audits[0]?.actor, actor)
  }
  // Nor may the monitor fake the clock's or the reconciliation's events.
  const { ledger } = setup()
  await ledger.apply(creation(), CHAIN, T0)
  assert.equal(
    (await ledger.apply({ type: 'expiry', subscriptionId: SUB }, CHAIN, T0 + PERIOD)).kind,
    'refused',
  )
  const fake = { type: 'reconciliation', subscriptionId: SUB, chain: null, blockNumber: 20 } as const
  assert.equal((await ledger.apply(fake, CHAIN, T0)).kind, 'refused')
  assert.equal((await ledger.apply(fake, CLOCK, T0)).kind, 'refused')
})

test('payment-seen makes a pending row that grants nothing; confirmation activates it', async () => {
  const { store, ledger } = setup()
  const seen = { ...creation(), type: 'payment-seen' } as const
  await ledger.apply(seen, CHAIN, T0)
  const pending = await store.get(SUB)
  assert.equal(pending?.state, 'pending')
  assert.equal(isAccessAllowed(pending, (T0 + 1) * 1000, { graceMs: 0, chainHealthy: true }), false)
  assert.equal((await ledger.apply(seen, CHAIN, T0)).kind, 'unchanged')
  await ledger.apply(creation(), CHAIN, T0 + 2)
  const active = await store.get(SUB)
  assert.equal(active?.state, 'active')
  assert.equal(active?.version, 2)
  assert.equal(isAccessAllowed(active, (T0 + 1) * 1000, { graceMs: 0, chainHealthy: true }), true)
})

test('renewal of a running subscription extends from its end; a lapsed one restarts at the payment block', () => {
  const row = activeRow()
  // Running: from = current end.
  const t = T0 + 10 * DAY
  const ok = decideTransition(
    row,
    renewal(1, { startSec: T0, endSec: T0 + 2 * PERIOD, blockTimestampSec: t }),
    CHAIN,
    t,
  )
  assert.equal(ok.kind, 'change')
  assert.equal(ok.kind === 'change' && ok.audit.cause, 'renewal')
  assert.deepEqual(ok.kind === 'change' && ok.audit.anomalies, [])
  // Lapsed: from = block timestamp, start = block timestamp.
  const late = T0 + PERIOD + 5 * DAY
  const lapsed = decideTransition(
    row,
    renewal(1, { startSec: late, endSec: late + PERIOD, blockTimestampSec: late }),
    CHAIN,
    late,
  )
  assert.equal(lapsed.kind, 'change')
  assert.deepEqual(lapsed.kind === 'change' && lapsed.audit.anomalies, [])
  assert.equal(lapsed.kind === 'change' && lapsed.next.state, 'active')
})

test('a contract end that differs from the expectation is taken as truth and audited as an anomaly', () => {
  const row = activeRow()
  const t = T0 + 10 * DAY
  // Extending from `now` instead of the current end would be the gateway's bug; the contract is truth.
  const d = decideTransition(
    row,
    renewal(1, { startSec: T0, endSec: t + PERIOD, blockTimestampSec: t }),
    CHAIN,
    t,
  )
  assert.equal(d.kind, 'change')
  if (d.kind !== 'change') return
  assert.deepEqual(d.audit.anomalies, ['end-mismatch'])
  assert.equal(d.next.endSec, t + PERIOD)
  const s = decideTransition(
    row,
    renewal(2, { startSec: t, endSec: T0 + 2 * PERIOD, blockTimestampSec: t }),
    CHAIN,
    t,
  )
  assert.deepEqual(s.kind === 'change' && s.audit.anomalies, ['start-mismatch'])
  const c = decideTransition(undefined, creation({ startSec: T0 - 5 }), CHAIN, T0)
  assert.deepEqual(c.kind === 'change' && c.audit.anomalies, ['start-mismatch'])
  const e = decideTransition(undefined, creation({ endSec: T0 + PERIOD + 1 }), CHAIN, T0)
  assert.deepEqual(e.kind === 'change' && [e.next.endSec, e.audit.anomalies], [
    T0 + PERIOD + 1,
    ['end-mismatch'],
  ])
})

test('a plan change is audited as plan-change; a renewal of a row the cache lacks is refused for reconciliation', async () => {
  const row = activeRow()
  const t = T0 + DAY
  const d = decideTransition(
    row,
    renewal(1, {
      planId: 2,
      startSec: T0,
      endSec: T0 + PERIOD + 40 * DAY,
      blockTimestampSec: t,
      expected: { periods: 1, periodSeconds: 40 * DAY },
    }),
    CHAIN,
    t,
  )
  assert.equal(d.kind === 'change' && d.audit.cause, 'plan-change')
  assert.deepEqual(d.kind === 'change' && d.audit.anomalies, [])
  const wanted: Bytes32[] = []
  const store = createMemorySubscriptionStore()
  const ledger = createSubscriptionLedger({ store, onNeedsReconciliation: (id) => wanted.push(id) })
  const out = await ledger.apply(renewal(1, { blockTimestampSec: t }), CHAIN, t)
  assert.deepEqual(out, { kind: 'refused', reason: 'renewal-of-unknown-subscription' })
  assert.deepEqual(wanted, [SUB])
})

test('a reorg of the newest renewal restores the previous bounds; of the creation, back to pending', async () => {
  const { store, ledger } = setup()
  await ledger.apply(creation(), CHAIN, T0)
  const renew = renewal(1, { startSec: T0, endSec: T0 + 2 * PERIOD, blockTimestampSec: T0 + DAY })
  await ledger.apply(renew, CHAIN, T0 + DAY)
  await ledger.apply(
    { type: 'payment-reorged', digest: renew.digest, subscriptionId: SUB },
    CHAIN,
    T0 + DAY + 2,
  )
  let row = await store.get(SUB)
  assert.equal(row?.endSec, T0 + PERIOD)
  assert.equal(row?.state, 'active')
  // Re-applying the reorg is a no-op; the same renewal confirmed again re-applies it.
  assert.equal(
    (
      await ledger.apply(
        { type: 'payment-reorged', digest: renew.digest, subscriptionId: SUB },
        CHAIN,
        T0 + DAY + 3,
      )
    ).kind,
    'unchanged',
  )
  await ledger.apply(renew, CHAIN, T0 + DAY + 4)
  assert.equal((await store.get(SUB))?.endSec, T0 + 2 * PERIOD)
  await ledger.apply(
    { type: 'payment-reorged', digest: renew.digest, subscriptionId: SUB },
    CHAIN,
    T0 + DAY + 5,
  )
  await ledger.apply({ type: 'payment-reorged', digest: SUB, subscriptionId: SUB }, CHAIN, T0 + DAY + 6)
  row = await store.get(SUB)
  assert.equal(row?.state, 'pending')
  assert.equal(isAccessAllowed(row, (T0 + DAY + 7) * 1000, { graceMs: 0, chainHealthy: true }), false)
  assert.deepEqual(
    store.audits.map((a) => a.cause),
    ['payment-confirmed', 'renewal', 'payment-reorged', 'renewal', 'payment-reorged', 'payment-reorged'],
  )
})

test('cancel keeps access until the end and is idempotent; revoke ends it at the contract end', async () => {
  const { store, ledger } = setup()
  await ledger.apply(creation(), CHAIN, T0)
  const cancel = {
    type: 'cancel',
    subscriptionId: SUB,
    by: PAYER,
    blockTimestampSec: T0 + DAY,
    blockNumber: 11,
  } as const
  await ledger.apply(cancel, CHAIN, T0 + DAY)
  assert.equal((await ledger.apply(cancel, CHAIN, T0 + DAY)).kind, 'unchanged')
  const cancelled = await store.get(SUB)
  assert.equal(cancelled?.state, 'cancelled')
  assert.equal(isAccessAllowed(cancelled, (T0 + PERIOD - 1) * 1000, { graceMs: 0, chainHealthy: true }), true)
  const revoke = {
    type: 'revoke',
    subscriptionId: SUB,
    by: PAYER,
    endSec: T0 + 2 * DAY,
    blockTimestampSec: T0 + 2 * DAY,
    blockNumber: 12,
  } as const
  await ledger.apply(revoke, CHAIN, T0 + 2 * DAY)
  assert.equal((await ledger.apply(revoke, CHAIN, T0 + 2 * DAY)).kind, 'unchanged')
  const revoked = await store.get(SUB)
  assert.equal(revoked?.state, 'revoked')
  assert.equal(revoked?.endSec, T0 + 2 * DAY)
  assert.equal(isAccessAllowed(revoked, (T0 + DAY) * 1000, { graceMs: 0, chainHealthy: true }), false)
  assert.deepEqual(
    store.audits.map((a) => [a.cause, a.toState, a.anomalies.length]),
    [
      ['payment-confirmed', 'active', 0],
      ['cancel', 'cancelled', 0],
      ['revoke', 'revoked', 0],
    ],
  )
  // Cancel after revoke is refused (the contract would refuse it too).
  assert.deepEqual(await ledger.apply(cancel, CHAIN, T0 + 3 * DAY), {
    kind: 'refused',
    reason: 'cancel-of-revoked',
  })
})

test('expiry by time: only at or after the end, once', async () => {
  const { store, ledger } = setup()
  await ledger.apply(creation(), CHAIN, T0)
  const expiry = { type: 'expiry', subscriptionId: SUB } as const
  assert.equal((await ledger.apply(expiry, CLOCK, T0 + PERIOD - 1)).kind, 'unchanged')
  assert.equal((await ledger.apply(expiry, CLOCK, T0 + PERIOD)).kind, 'changed')
  assert.equal((await store.get(SUB))?.state, 'expired')
  assert.equal((await ledger.apply(expiry, CLOCK, T0 + PERIOD + 1)).kind, 'unchanged')
  assert.deepEqual(
    store.audits.map((a) => a.cause),
    ['payment-confirmed', 'expiry'],
  )
})

test('an operator revoke carries the operator id, needs one, and reconciliation does not undo it', async () => {
  const { store, ledger } = setup()
  await ledger.apply(creation(), CHAIN, T0)
  const ev = { type: 'operator-revoke', subscriptionId: SUB, reason: 'abuse report 42' } as const
  for (const operatorId of ['', ' padded ', 'x'.repeat(129)]) {
    assert.equal((await ledger.apply(ev, { kind: 'operator', operatorId }, T0 + 5)).kind, 'refused')
  }
  await ledger.apply(ev, OPERATOR, T0 + 10)
  const row = await store.get(SUB)
  assert.equal(row?.state, 'revoked')
  assert.deepEqual(row?.operatorHold, { operatorId: 'alice@ops', atSec: T0 + 10 })
  const last = store.audits.at(-1)
  assert.equal(last?.cause, 'operator')
  assert.equal(last?.detail.operatorId, 'alice@ops')
  assert.equal(last?.detail.reason, 'abuse report 42')
  const chain = {
    owner: PAYER,
    beneficiary: PAYER,
    planId: 1,
    token: TOKEN,
    startSec: T0,
    endSec: T0 + PERIOD,
    status: 'live',
  } as const
  await ledger.apply({ type: 'reconciliation', subscriptionId: SUB, chain, blockNumber: 20 }, RECON, T0 + 20)
  const after = await store.get(SUB)
  assert.equal(after?.state, 'revoked')
  assert.equal(isAccessAllowed(after, (T0 + 30) * 1000, { graceMs: 0, chainHealthy: true }), false)
})

test('reconciliation repairs a wrong end, a wrong status, a missing row and a row the chain does not know', () => {
  const row = activeRow()
  const chain = {
    owner: PAYER,
    beneficiary: PAYER,
    planId: 1,
    token: TOKEN,
    startSec: T0,
    endSec: T0 + PERIOD,
    status: 'live',
  } as const
  const now = T0 + DAY
  assert.equal(
    decideTransition(row, { type: 'reconciliation', subscriptionId: SUB, chain, blockNumber: 20 }, RECON, now)
      .kind,
    'unchanged',
  )
  const wrongEnd = decideTransition(
    { ...row, endSec: T0 + 9 * PERIOD },
    { type: 'reconciliation', subscriptionId: SUB, chain, blockNumber: 20 },
    RECON,
    now,
  )
  assert.deepEqual(wrongEnd.kind === 'change' && [wrongEnd.next.endSec, wrongEnd.audit.anomalies], [
    T0 + PERIOD,
    ['endSec-differs'],
  ])
  const wrongState = decideTransition(
    { ...row, chainStatus: 'revoked', state: 'revoked' },
    { type: 'reconciliation', subscriptionId: SUB, chain, blockNumber: 20 },
    RECON,
    now,
  )
  assert.deepEqual(wrongState.kind === 'change' && [wrongState.next.state, wrongState.audit.anomalies], [
    'active',
    ['status-differs'],
  ])
  const missing = decideTransition(
    undefined,
    { type: 'reconciliation', subscriptionId: SUB, chain, blockNumber: 20 },
    RECON,
    now,
  )
  assert.deepEqual(
    missing.kind === 'change' && [missing.next.state, missing.next.version, missing.audit.anomalies],
    ['active', 1, ['missing-row']],
  )
  const gone = decideTransition(
    row,
    { type: 'reconciliation', subscriptionId: SUB, chain: null, blockNumber: 20 },
    RECON,
    now,
  )
  assert.deepEqual(gone.kind === 'change' && [gone.next.state, gone.audit.anomalies], [
    'pending',
    ['not-on-chain'],
  ])
  const stale = decideTransition(
    row,
    { type: 'reconciliation', subscriptionId: SUB, chain, blockNumber: 20 },
    RECON,
    T0 + PERIOD,
  )
  assert.deepEqual(stale.kind === 'change' && [stale.next.state, stale.audit.anomalies], [
    'expired',
    ['state-stale'],
  ])
})

test('deriveState: hold and revoked win, unknown is pending, end is exclusive', () => {
  assert.equal(deriveState('live', 10, 9, false), 'active')
  assert.equal(deriveState('live', 10, 10, false), 'expired')
  assert.equal(deriveState('cancelled', 10, 9, false), 'cancelled')
  assert.equal(deriveState('cancelled', 10, 10, false), 'expired')
  assert.equal(deriveState('revoked', 10, 9, false), 'revoked')
  assert.equal(deriveState('live', 10, 9, true), 'revoked')
  assert.equal(deriveState(null, 10, 9, false), 'pending')
})

// Model-based: over random event sequences from random actors, (1) nothing grants access unless the chain
// confirmed a payment or reconciliation read it live on chain, (2) re-applying any event at once is a no-op,
// (3) every change wrote exactly one audit entry with a version one higher.
test('property: only chain-caused events grant access; every event is idempotent; every change is audited', async () => {
  const actorArb = fc.constantFrom<Actor>(CHAIN, CLOCK, RECON, OPERATOR)
  const chainArb = fc.option(
    fc.record({
      owner: fc.constant(PAYER),
      beneficiary: fc.constant(PAYER),
      planId: fc.integer({ min: 1, max: 3 }),
      token: fc.constant(TOKEN),
      startSec: fc.constant(T0),
      endSec: fc.integer({ min: T0 + 1, max: T0 + 3 * PERIOD }),
      status: fc.constantFrom('live' as const, 'cancelled' as const, 'revoked' as const),
    }),
    { nil: null },
  )
  const eventArb: fc.Arbitrary<SubscriptionEvent> = fc.oneof(
    fc.integer({ min: 0, max: 3 }).map((n) =>
      n === 0
        ? creation()
        : renewal(n, {
            startSec: T0,
            endSec: T0 + (n + 1) * PERIOD,
            expected: { periods: n, periodSeconds: PERIOD },
          }),
    ),
    fc.integer({ min: 0, max: 3 }).map((n) => ({
      type: 'payment-reorged' as const,
      digest: n === 0 ? SUB : hex32(100 + n),
      subscriptionId: SUB,
    })),
    fc.constant({
      type: 'cancel' as const,
      subscriptionId: SUB,
      by: PAYER,
      blockTimestampSec: T0 + DAY,
      blockNumber: 11,
    }),
    fc.constant({
      type: 'revoke' as const,
      subscriptionId: SUB,
      by: PAYER,
      endSec: T0 + DAY,
      blockTimestampSec: T0 + DAY,
      blockNumber: 12,
    }),
    fc.constant({ type: 'expiry' as const, subscriptionId: SUB }),
    fc.constant({ type: 'operator-revoke' as const, subscriptionId: SUB, reason: 'r' }),
    chainArb.map((chain) => ({
      type: 'reconciliation' as const,
      subscriptionId: SUB,
      chain,
      blockNumber: 20,
    })),
  )
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(eventArb, actorArb, fc.integer({ min: 0, max: 4 * PERIOD })), { maxLength: 25 }),
      async (steps) => {
        const { store, ledger } = setup()
        let hasChainGrant = false
        for (const [event, actor, offset] of steps) {
          const now = T0 + offset
          const before = await store.get(SUB)
          const auditsBefore = store.audits.length
          const out = await ledger.apply(event, actor, now)
          const after = await store.get(SUB)
          if (out.kind === 'changed') {
            assert.equal(store.audits.length, auditsBefore + 1)
            assert.equal(after?.version, (before?.version ?? 0) + 1)
            assert.equal(store.audits.at(-1)?.toVersion, after?.version)
          } else {
            assert.deepEqual(after, before)
          }
          // Idempotence: the same event again, at once, changes nothing.
          const again = await ledger.apply(event, actor, now)
          if (out.kind !== 'refused')
            assert.equal(again.kind, 'unchanged', `${event.type} re-applied changed the row`)
          assert.deepEqual(await store.get(SUB), after)
          const isChainGrant =
            (actor.kind === 'chain' && event.type === 'payment-confirmed') ||
            (actor.kind === 'system' &&
              event.type === 'reconciliation' &&
              event.chain !== null &&
              event.chain.status !== 'revoked')
          if (out.kind === 'changed' && isChainGrant) hasChainGrant = true
          if (isAccessAllowed(after, now * 1000, { graceMs: 0, chainHealthy: true }))
            assert.ok(hasChainGrant, 'access without a chain-confirmed payment or a chain read')
        }
      },
    ),
    { numRuns: 300 },
  )
})

function activeRow(over: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  const d = decideTransition(undefined, creation(), CHAIN, T0)
  assert.equal(d.kind, 'change')
  return { ...(d as Extract<typeof d, { kind: 'change' }>).next, ...over }
}

test('a reconciliation read older than the newest chain fact applied never rolls a renewal back', async () => {
  const { store, ledger } = setup()
  await ledger.apply(creation(), CHAIN, T0)
  const renew = renewal(1, {
    startSec: T0,
    endSec: T0 + 2 * PERIOD,
    blockTimestampSec: T0 + DAY,
    blockNumber: 15,
  })
  await ledger.apply(renew, CHAIN, T0 + DAY)
  const before = await store.get(SUB)
  assert.equal(before?.chainBlock, 15)
  // The chain as of block 14: the renewal is not in it yet.
  const old = {
    owner: PAYER,
    beneficiary: PAYER,
    planId: 1,
    token: TOKEN,
    startSec: T0,
    endSec: T0 + PERIOD,
    status: 'live',
  } as const
  const stale = { type: 'reconciliation', subscriptionId: SUB, chain: old, blockNumber: 14 } as const
  assert.equal((await ledger.apply(stale, RECON, T0 + DAY)).kind, 'unchanged')
  assert.deepEqual(await store.get(SUB), before)
  // At block 15 or later the chain's word wins.
  const fresh = { ...stale, blockNumber: 15 }
  assert.equal((await ledger.apply(fresh, RECON, T0 + DAY)).kind, 'changed')
  assert.equal((await store.get(SUB))?.endSec, T0 + PERIOD)
})

test('after reconciliation found a row not on chain, the same payment confirmed again re-activates it', async () => {
  const { store, ledger } = setup()
  await ledger.apply(creation(), CHAIN, T0)
  await ledger.apply(
    { type: 'reconciliation', subscriptionId: SUB, chain: null, blockNumber: 20 },
    RECON,
    T0 + 5,
  )
  assert.equal((await store.get(SUB))?.state, 'pending')
  // Re-included in block 21 (the monitor missed the reorg): its confirmation must count again.
  assert.equal((await ledger.apply(creation({ blockNumber: 21 }), CHAIN, T0 + 6)).kind, 'changed')
  assert.equal((await store.get(SUB))?.state, 'active')
})

test('two renewals reorged in a row: the second has no remembered bounds, so no access and reconciliation is asked', async () => {
  const wanted: Bytes32[] = []
  const store = createMemorySubscriptionStore()
  const ledger = createSubscriptionLedger({ store, onNeedsReconciliation: (id) => wanted.push(id) })
  await ledger.apply(creation(), CHAIN, T0)
  const r1 = renewal(1, { startSec: T0, endSec: T0 + 2 * PERIOD, blockTimestampSec: T0 + 1, blockNumber: 11 })
  const r2 = renewal(2, { startSec: T0, endSec: T0 + 3 * PERIOD, blockTimestampSec: T0 + 2, blockNumber: 12 })
  await ledger.apply(r1, CHAIN, T0 + 1)
  await ledger.apply(r2, CHAIN, T0 + 2)
  await ledger.apply({ type: 'payment-reorged', digest: r2.digest, subscriptionId: SUB }, CHAIN, T0 + 3)
  assert.equal((await store.get(SUB))?.endSec, T0 + 2 * PERIOD)
  assert.deepEqual(wanted, [])
  await ledger.apply({ type: 'payment-reorged', digest: r1.digest, subscriptionId: SUB }, CHAIN, T0 + 4)
  const row = await store.get(SUB)
  assert.equal(row?.state, 'pending')
  assert.equal(isAccessAllowed(row, (T0 + 5) * 1000, { graceMs: 0, chainHealthy: false }), false)
  assert.deepEqual(store.audits.at(-1)?.anomalies, ['reorg-bounds-unknown'])
  assert.deepEqual(wanted, [SUB])
})
