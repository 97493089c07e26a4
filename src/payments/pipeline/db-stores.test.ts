// The database-backed ports of the payment pipeline on every storage backend (PGlite always, PostgreSQL
// when DATABASE_URL is set): the MonitorStore contract (one transaction, version check, idempotent effect
// keys, cursor and blocks saved with the effects), the per-inclusion activation claim, the
// SubscriptionStore (row and audit in one write) and the QuoteLookup over the quotes table.
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { storageBackends } from '../../../test/helpers/storage.ts'
import { openStorage } from '../../storage/index.ts'
import type { LogRecord, MonitorCommit, MonitorEffect, PaymentLog } from '../monitor/index.ts'
import type { SubscriptionAudit, SubscriptionRecord } from '../../subscriptions/index.ts'
import { createDbMonitorStore, createDbQuoteLookup, createDbSubscriptionStore } from './index.ts'

const h = (n: number): `0x${string}` => `0x${n.toString(16).padStart(64, '0')}`
const a = (n: number): `0x${string}` => `0x${n.toString(16).padStart(40, '0')}`
const CHAIN = 31337

const payment: PaymentLog = {
  type: 'payment',
  txHash: h(0xaa),
  logIndex: 2,
  digest: h(7),
  subscriptionId: h(7),
  payer: a(1),
  beneficiary: a(1),
  token: a(9),
  amount: 2n ** 200n + 5n,
  planId: 1,
  start: 1_000,
  end: 2_000,
}
const record = (over: Partial<LogRecord> = {}): LogRecord => ({
  key: `${CHAIN}:${payment.txHash}:${payment.logIndex}`,
  chainId: CHAIN,
  blockNumber: 11,
  blockHash: h(0xb11),
  log: payment,
  status: 'seen',
  anomaly: null,
  applied: false,
  settled: false,
  ...over,
})
const effect = (type: 'mark-confirmed' | 'mark-final', blockHash = h(0xb11)): MonitorEffect => ({
  type,
  key: `${type}:${CHAIN}:${payment.txHash}:${payment.logIndex}:${blockHash}`,
  recordKey: `${CHAIN}:${payment.txHash}:${payment.logIndex}`,
  chainId: CHAIN,
  txHash: payment.txHash,
  logIndex: payment.logIndex,
  blockNumber: 11,
  blockHash,
  at: 1_234,
})
const block = (n: number, hash = h(0xb00 + n), parentHash = h(0xb00 + n - 1)) => ({
  number: n,
  hash,
  parentHash,
  timestamp: 1_000 + n,
})
const commit = (over: Partial<MonitorCommit>): MonitorCommit => ({
  expectedVersion: 0,
  version: 1,
  cursor: { number: 12, hash: h(0xb0c) },
  blocks: { rewindFrom: null, append: [block(10), block(11), block(12)], pruneBelow: null },
  records: [record()],
  effects: [effect('mark-confirmed')],
  ...over,
})

for (const backend of storageBackends()) {
  describe(`payment pipeline stores (${backend.name})`, () => {
    after(() => backend.close())

    test(`${backend.name}: MonitorStore apply saves effects, records, blocks, cursor and version together; load rebuilds them`, async () => {
      const storage = await backend.open()
      const consumed: string[] = []
      const store = createDbMonitorStore(storage, async (_repos, effects, ctx) => {
        consumed.push(...effects.map((e) => `${e.type}@${ctx.blockTime(e.blockNumber)}`))
        return undefined
      })
      assert.deepEqual(await store.load(CHAIN), { version: 0, cursor: null, blocks: [], records: new Map() })
      assert.deepEqual(await store.apply(CHAIN, commit({})), { ok: true, applied: 1, duplicates: 0 })
      assert.deepEqual(consumed, ['mark-confirmed@1011'], 'the consumer sees the block time')
      const state = await store.load(CHAIN)
      assert.equal(state.version, 1)
      assert.deepEqual(state.cursor, { number: 12, hash: h(0xb0c) })
      assert.deepEqual(
        state.blocks.map((b) => b.number),
        [10, 11, 12],
      )
      const rec = state.records.get(record().key)
      assert.ok(rec !== undefined)
      assert.equal(rec.log.type === 'payment' && rec.log.amount, payment.amount, 'uint256 amount round-trips')
      assert.deepEqual(rec, record())

      // The same effect key again (a retried step): skipped and counted, never re-consumed.
      const again = commit({
        expectedVersion: 1,
        version: 2,
        blocks: {
          rewindFrom: 11,
          append: [block(11, h(0xc11)), block(12, h(0xc12), h(0xc11))],
          pruneBelow: 11,
        },
        records: [record({ status: 'final', settled: true })],
        effects: [effect('mark-confirmed'), effect('mark-final')],
      })
      assert.deepEqual(await store.apply(CHAIN, again), { ok: true, applied: 1, duplicates: 1 })
      assert.deepEqual(consumed, ['mark-confirmed@1011', 'mark-final@1011'])
      const s2 = await store.load(CHAIN)
      assert.deepEqual(
        s2.blocks.map((b) => [b.number, b.hash]),
        [
          [11, h(0xc11)],
          [12, h(0xc12)],
        ],
        'rewound, appended and pruned',
      )
      assert.equal(s2.records.size, 0, 'settled records are no longer loaded')
      assert.equal((await store.records(CHAIN)).length, 1, 'but kept')
      assert.deepEqual(
        (await store.effects(CHAIN)).map((e) => e.type),
        ['mark-confirmed', 'mark-final'],
      )
    })

    test(`${backend.name}: MonitorStore refuses a stale version and writes nothing; a failing consumer rolls the whole step back`, async () => {
      const storage = await backend.open()
      let fail = false
      const store = createDbMonitorStore(storage, async () => {
        if (fail) throw new Error('consumer failed')
        return undefined
      })
      assert.equal((await store.apply(CHAIN, commit({}))).ok, true)
      const stale = await store.apply(
        CHAIN,
        commit({ expectedVersion: 0, version: 1, effects: [effect('mark-final')] }),
      )
      assert.deepEqual(stale, { ok: false, reason: 'version-conflict', storedVersion: 1 })
      assert.deepEqual(
        (await store.effects(CHAIN)).map((e) => e.type),
        ['mark-confirmed'],
        'the stale commit wrote no effect',
      )
      fail = true
      await assert.rejects(
        store.apply(
          CHAIN,
          commit({
            expectedVersion: 1,
            version: 2,
            cursor: { number: 13, hash: h(0xb0d) },
            blocks: { rewindFrom: null, append: [block(13)], pruneBelow: null },
            effects: [effect('mark-final')],
          }),
        ),
        /consumer failed/,
      )
      const s = await store.load(CHAIN)
      assert.equal(s.version, 1, 'version unchanged')
      assert.deepEqual(s.cursor, { number: 12, hash: h(0xb0c) }, 'cursor unchanged')
      assert.equal(s.blocks.length, 3, 'no block appended')
      assert.equal((await store.effects(CHAIN)).length, 1, 'no effect inserted')
    })

    test(`${backend.name}: monitor_effects is append-only in the database (UPDATE, DELETE, TRUNCATE refused)`, async () => {
      const options = await backend.fresh({ onDisk: true })
      const { storage } = await openStorage(options)
      backend.track(storage)
      assert.equal((await createDbMonitorStore(storage).apply(CHAIN, commit({}))).ok, true)
      await storage.close()
      for (const statement of [
        `UPDATE monitor_effects SET type = 'activate-subscription'`,
        `DELETE FROM monitor_effects`,
        `TRUNCATE monitor_effects`,
      ]) {
        await assert.rejects(backend.raw(options, statement), /monitor_effects is append-only/, statement)
      }
    })

    test(`${backend.name}: activation is claimed once per inclusion (a re-included payment can be claimed at its new block)`, async () => {
      const storage = await backend.open()
      const key = { chainId: CHAIN, txHash: payment.txHash, logIndex: payment.logIndex }
      assert.equal(await storage.payments.claimInclusionActivation(key, h(0xb11)), false, 'unknown payment')
      await storage.payments.record(
        {
          ...key,
          digest: payment.digest,
          subscriptionId: payment.subscriptionId,
          payer: payment.payer,
          beneficiary: payment.beneficiary,
          token: payment.token,
          amount: payment.amount,
          planId: 1,
          periodStart: 1_000,
          periodEnd: 2_000,
          blockNumber: 11n,
          blockHash: h(0xb11),
          state: 'seen',
        },
        { cause: 'payment-seen' },
      )
      const claims = await Promise.all([
        storage.payments.claimInclusionActivation(key, h(0xb11)),
        storage.payments.claimInclusionActivation(key, h(0xb11)),
      ])
      assert.deepEqual(claims.sort(), [false, true], 'exactly one claim of one inclusion')
      const first = (await storage.payments.get(key))?.activatedAt
      assert.ok(first instanceof Date)
      assert.equal(
        await storage.payments.claimActivation(key),
        false,
        'v1 claim: once per payment for good (the gap)',
      )
      assert.equal(await storage.payments.claimInclusionActivation(key, h(0xc12)), true, 'new inclusion')
      assert.equal(await storage.payments.claimInclusionActivation(key, h(0xc12)), false)
      assert.deepEqual((await storage.payments.get(key))?.activatedAt, first, 'activated_at keeps the first')
    })

    test(`${backend.name}: SubscriptionStore compare-and-set writes the row and its audit together; a lost race writes neither`, async () => {
      const storage = await backend.open()
      const store = createDbSubscriptionStore(storage)
      const row: SubscriptionRecord = {
        id: h(7),
        state: 'active',
        owner: a(1),
        beneficiary: a(2),
        planId: 3,
        token: a(9),
        startSec: 100,
        endSec: 200,
        chainStatus: 'live',
        chainBlock: 11,
        version: 1,
        updatedAtSec: 150,
        paymentDigests: [h(7)],
        beforeLastPayment: null,
        operatorHold: null,
      }
      const audit = (over: Partial<SubscriptionAudit> = {}): SubscriptionAudit => ({
        subscriptionId: h(7),
        cause: 'payment-confirmed',
        actor: { kind: 'chain', source: 'monitor' },
        fromState: null,
        toState: 'active',
        fromVersion: null,
        toVersion: 1,
        atSec: 150,
        digest: h(7),
        anomalies: [],
        detail: {},
        ...over,
      })
      assert.equal(await store.compareAndSet(row, null, audit()), true)
      assert.equal(await store.compareAndSet(row, null, audit()), false, 'exists already')
      assert.deepEqual(await store.get(h(7)), row)
      const next = {
        ...row,
        version: 2,
        state: 'cancelled' as const,
        chainStatus: 'cancelled' as const,
        beforeLastPayment: { planId: 3, startSec: 100, endSec: 150, state: 'active' as const },
        updatedAtSec: 160,
      }
      const cancel = audit({
        cause: 'cancel',
        fromState: 'active',
        toState: 'cancelled',
        fromVersion: 1,
        toVersion: 2,
      })
      assert.equal(await store.compareAndSet(next, 5, cancel), false, 'stale version')
      assert.equal(await store.compareAndSet(next, 1, cancel), true)
      assert.deepEqual(await store.get(h(7)), next)
      await store.appendAudit(
        audit({ cause: 'cancel', fromState: 'cancelled', toState: null, anomalies: ['x'] }),
      )
      const log = await storage.audit.list('subscription', h(7))
      assert.deepEqual(
        log.map((e) => [e.cause, e.fromState, e.toState]),
        [
          ['payment-confirmed', null, 'active'],
          ['cancel', 'active', 'cancelled'],
          ['cancel', 'cancelled', 'cancelled'],
        ],
        'one audit row per write, none for the refused ones',
      )
      assert.deepEqual(log[0]?.detail['actor'], { kind: 'chain', source: 'monitor' })
      assert.deepEqual(
        (await store.listActive(10)).map((r) => r.id),
        [h(7)],
      )
      assert.deepEqual(await store.listChangedSince(161, 10), [])
      assert.equal((await store.listChangedSince(160, 10)).length, 1)
    })

    test(`${backend.name}: QuoteLookup reads the quotes table by digest; an unknown digest is null`, async () => {
      const storage = await backend.open()
      await storage.quotes.insert({
        id: h(0x51),
        payer: a(0xabc),
        beneficiary: a(0),
        subscriptionId: h(0),
        token: a(9),
        amount: 10_000_000n,
        planId: 4,
        periods: 1,
        validUntil: 9_999n,
        digest: h(0xd1),
        signature: `0x${'11'.repeat(65)}`,
      })
      const got = await createDbQuoteLookup(storage.quotes).byDigests([h(0xd1), h(0xd2)])
      assert.deepEqual(got.get(h(0xd1)), { payer: a(0xabc), amount: 10_000_000n, planId: 4, token: a(9) })
      assert.equal(got.get(h(0xd2)), null)
      assert.equal(got.size, 2)
    })
  })
}
