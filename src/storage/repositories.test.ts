import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { storageBackends } from '../../test/helpers/storage.ts'
import { isGatewayError } from '../errors/index.ts'
import {
  openStorage,
  paymentAuditId,
  type Hex,
  type NewPayment,
  type NewQuote,
  type Storage,
} from './index.ts'

const h32 = (n: number): Hex => `0x${n.toString(16).padStart(64, '0')}`
const addr = (n: number): Hex => `0x${n.toString(16).padStart(40, '0')}`
const MAX_UINT256 = 2n ** 256n - 1n

function quote(n: number, over: Partial<NewQuote> = {}): NewQuote {
  return {
    id: h32(n),
    payer: addr(1),
    beneficiary: addr(2),
    subscriptionId: h32(0),
    token: addr(3),
    amount: 1_000_000n,
    planId: 1,
    periods: 1,
    validUntil: 1_000n,
    digest: h32(1_000_000 + n),
    signature: `0x${'ab'.repeat(65)}`,
    ...over,
  }
}

function payment(n: number, over: Partial<NewPayment> = {}): NewPayment {
  return {
    chainId: 31337,
    txHash: h32(500 + n),
    logIndex: n,
    digest: h32(1_000_000 + n),
    subscriptionId: h32(1_000_000 + n),
    payer: addr(1),
    beneficiary: addr(2),
    token: addr(3),
    amount: 1_000_000n,
    planId: 1,
    periodStart: 100,
    periodEnd: 200,
    blockNumber: 10n,
    blockHash: h32(77),
    state: 'seen',
    ...over,
  }
}

for (const backend of storageBackends()) {
  describe(`repositories (${backend.name})`, () => {
    after(() => backend.close())
    let shared: Promise<Storage> | undefined
    const db = (): Promise<Storage> => (shared ??= backend.open())

    test(`${backend.name}: quote insert is idempotent on id and digest; uint256 amounts round-trip exactly`, async () => {
      const s = await db()
      const q = quote(1, { amount: MAX_UINT256, payer: '0x00000000000000000000000000000000000000AA' })
      assert.equal(await s.quotes.insert(q), true)
      assert.equal(await s.quotes.insert(q), false)
      assert.equal(await s.quotes.insert(quote(2, { digest: q.digest })), false, 'same digest, other id')
      const got = await s.quotes.get(q.id)
      assert.equal(got?.amount, MAX_UINT256)
      assert.equal(got?.payer, '0x00000000000000000000000000000000000000aa', 'addresses stored lowercase')
      assert.equal(got?.state, 'open')
      assert.ok(got?.createdAt instanceof Date, 'timestamptz is a Date on both drivers')
      assert.equal((await s.quotes.getByDigest(q.digest))?.id, q.id)
      await assert.rejects(s.quotes.insert(quote(3, { amount: MAX_UINT256 + 1n })), 'above uint256 refused')
      await assert.rejects(s.quotes.insert(quote(4, { token: '0x1234' })), 'malformed address refused')
    })

    test(`${backend.name}: quote state compare-and-set, open counts and the expiry sweep`, async () => {
      const s = await openIsolated()
      const payer = addr(0xbeef)
      for (const n of [10, 11, 12]) await s.quotes.insert(quote(n, { payer, validUntil: BigInt(n * 100) }))
      assert.equal(await s.quotes.countOpen(1100n, payer), 2)
      assert.equal(await s.quotes.setState(h32(12), 'open', 'paid'), true)
      assert.equal(await s.quotes.setState(h32(12), 'open', 'paid'), false)
      assert.equal(await s.quotes.countOpen(1100n, payer), 1)
      assert.equal(await s.quotes.sweepExpired(1050n, 100), 1, 'only the open quote valid until 1000')
      assert.equal(await s.quotes.get(h32(10)), undefined)
      assert.equal((await s.quotes.get(h32(11)))?.state, 'open')
      assert.equal((await s.quotes.get(h32(12)))?.state, 'paid', 'paid quotes are kept')
    })

    test(`${backend.name}: schema v3 open-quote counts stop at the cap and see the earliest expiry; plan and answer round-trip`, async () => {
      const s = await openIsolated()
      const payer = addr(0xcafe)
      for (const n of [5, 3, 9, 7]) await s.quotes.insert(quote(n, { payer, validUntil: BigInt(n * 100) }))
      await s.quotes.insert(quote(20, { validUntil: 2_000n, plan: 'pro', answer: '{"b":1,"a":[2]}' }))
      assert.deepEqual(await s.quotes.openQuotes(300n, { payer, upTo: 2 }), {
        count: 2,
        earliestValidUntil: 500n,
      })
      assert.deepEqual(await s.quotes.openQuotes(300n, { payer }), { count: 3, earliestValidUntil: 500n })
      assert.deepEqual(await s.quotes.openQuotes(300n), { count: 4, earliestValidUntil: 500n })
      assert.deepEqual(await s.quotes.openQuotes(2_000n), { count: 0, earliestValidUntil: null })
      const row = await s.quotes.get(h32(20))
      assert.deepEqual([row?.plan, row?.answer], ['pro', '{"b":1,"a":[2]}'], 'the text kept as written')
      assert.deepEqual(
        [(await s.quotes.get(h32(5)))?.plan, (await s.quotes.get(h32(5)))?.answer],
        [null, null],
      )
      await s.transaction(async (tx) => {
        await tx.quotes.lockCaps()
        await tx.quotes.lockCaps()
      })
    })

    test(`${backend.name}: a payment is recorded once per (chain, tx, log index) and audited once`, async () => {
      const s = await db()
      const p = payment(1, { isUnderpaid: true })
      assert.equal(await s.payments.record(p, { cause: 'log-seen', detail: { block: 10 } }), true)
      assert.equal(await s.payments.record(p, { cause: 'log-seen' }), false)
      assert.equal(
        await s.payments.record(payment(1, { chainId: 1 }), { cause: 'log-seen' }),
        true,
        'other chain',
      )
      const got = await s.payments.get(p)
      assert.equal(got?.state, 'seen')
      assert.equal(got?.isUnderpaid, true)
      assert.equal(got?.blockNumber, 10n)
      const trail = await s.audit.list('payment', paymentAuditId(p))
      assert.deepEqual(
        trail.map((e) => [e.fromState, e.toState, e.cause, e.detail]),
        [[null, 'seen', 'log-seen', { block: 10 }]],
      )
      assert.deepEqual(
        (await s.payments.listFlagged(10)).map((x) => x.chainId),
        [31337],
      )
    })

    test(`${backend.name}: payment transitions check the from-state and are audited with their cause`, async () => {
      const s = await db()
      const p = payment(2)
      await s.payments.record(p, { cause: 'log-seen' })
      assert.equal(
        await s.payments.transition(p, { from: ['seen'], to: 'confirmed' }, { cause: 'depth-reached' }),
        true,
      )
      assert.equal(
        await s.payments.transition(p, { from: ['seen'], to: 'confirmed' }, { cause: 'depth-reached' }),
        false,
        'not in seen any more',
      )
      const moved = { number: 11n, hash: h32(78) }
      assert.equal(
        await s.payments.transition(
          p,
          { from: ['confirmed'], to: 'reorged', block: moved },
          { cause: 'reorg', chainTime: 1234 },
        ),
        true,
      )
      const got = await s.payments.get(p)
      assert.equal(got?.state, 'reorged')
      assert.equal(got?.blockHash, moved.hash)
      const trail = await s.audit.list('payment', paymentAuditId(p))
      assert.deepEqual(
        trail.map((e) => [e.fromState, e.toState, e.cause, e.chainTime]),
        [
          [null, 'seen', 'log-seen', null],
          ['seen', 'confirmed', 'depth-reached', null],
          ['confirmed', 'reorged', 'reorg', 1234],
        ],
      )
      assert.equal(
        await s.payments.transition(payment(99), { from: ['seen'], to: 'confirmed' }, { cause: 'x' }),
        false,
      )
    })

    test(`${backend.name}: claimActivation answers true exactly once per payment`, async () => {
      const s = await db()
      const p = payment(3)
      assert.equal(await s.payments.claimActivation(p), false, 'unknown payment')
      await s.payments.record(p, { cause: 'log-seen' })
      assert.equal(await s.payments.claimActivation(p), true)
      assert.equal(await s.payments.claimActivation(p), false)
      assert.notEqual((await s.payments.get(p))?.activatedAt, null)
    })

    test(`${backend.name}: a rolled-back transaction undoes its claim, effects and cursor together`, async () => {
      const s = await db()
      const p = payment(4)
      await s.payments.record(p, { cause: 'log-seen' })
      await assert.rejects(
        s.transaction(async (tx) => {
          assert.equal(await tx.payments.claimActivation(p), true)
          await tx.payments.transition(p, { from: ['seen'], to: 'confirmed' }, { cause: 'depth-reached' })
          await tx.cursor.set('payments', { number: 50n, hash: h32(50) })
          throw new Error('crash before commit')
        }),
        /crash before commit/,
      )
      assert.equal((await s.payments.get(p))?.state, 'seen')
      assert.equal(await s.cursor.get('payments'), undefined)
      assert.equal((await s.audit.list('payment', paymentAuditId(p))).length, 1)
      const committed = await s.transaction(async (tx) => {
        const won = await tx.payments.claimActivation(p)
        await tx.cursor.set('payments', { number: 50n, hash: h32(50) })
        return won
      })
      assert.equal(committed, true)
      assert.deepEqual(await s.cursor.get('payments'), { number: 50n, hash: h32(50) })
    })

    test(`${backend.name}: subscriptions: idempotent insert, optimistic version, every change audited`, async () => {
      const s = await db()
      const id = h32(0x5b)
      const sub = {
        id,
        owner: addr(1),
        beneficiary: addr(2),
        planId: 1,
        token: addr(3),
        startAt: 100,
        endAt: 200,
        state: 'pending' as const,
      }
      assert.equal(await s.subscriptions.insert(sub, { cause: 'payment-seen' }), true)
      assert.equal(await s.subscriptions.insert(sub, { cause: 'payment-seen' }), false)
      const v2 = await s.subscriptions.update(id, 1, { state: 'active' }, { cause: 'payment-confirmed' })
      assert.equal(v2?.version, 2)
      assert.equal(v2?.state, 'active')
      assert.equal(
        await s.subscriptions.update(id, 1, { state: 'revoked' }, { cause: 'stale' }),
        undefined,
        'stale version',
      )
      const v3 = await s.subscriptions.update(id, 2, { endAt: 300 }, { cause: 'renewal', chainTime: 150 })
      assert.equal(v3?.endAt, 300)
      assert.equal((await s.subscriptions.get(id))?.state, 'active')
      const trail = await s.audit.list('subscription', id)
      assert.deepEqual(
        trail.map((e) => [e.fromState, e.toState, e.cause]),
        [
          [null, 'pending', 'payment-seen'],
          ['pending', 'active', 'payment-confirmed'],
          ['active', 'active', 'renewal'],
        ],
      )
      assert.deepEqual(trail[2]?.detail, { version: 3, changes: { endAt: 300 } })
      assert.deepEqual(
        (await s.subscriptions.listByState('active', { limit: 10 })).map((x) => x.id),
        [id],
      )
      assert.deepEqual(
        (await s.subscriptions.listByBeneficiary(addr(2))).map((x) => x.id),
        [id],
      )
      await assert.rejects(
        s.subscriptions.update(id, 3, { endAt: 50 }, { cause: 'bad' }),
        'end before start refused by the schema',
      )
    })

    test(`${backend.name}: subscriptions by state page by (end, id) and filter on the end`, async () => {
      const s = await openIsolated()
      const ends = [300, 100, 200, 200, 400]
      for (const [i, endAt] of ends.entries()) {
        const sub = { id: h32(0x700 + i), owner: addr(1), beneficiary: addr(2), planId: 1, token: addr(3) }
        await s.subscriptions.insert({ ...sub, startAt: 0, endAt, state: 'active' }, { cause: 'seed' })
      }
      await s.subscriptions.insert(
        {
          id: h32(0x7ff),
          owner: addr(1),
          beneficiary: addr(2),
          planId: 1,
          token: addr(3),
          startAt: 0,
          endAt: 50,
          state: 'expired',
        },
        { cause: 'seed' },
      )
      const seen: number[] = []
      let after: { endAt: number; id: Hex } | undefined
      for (;;) {
        const page = await s.subscriptions.listByState('active', {
          limit: 2,
          ...(after === undefined ? {} : { after }),
        })
        if (page.length === 0) break
        seen.push(...page.map((x) => Number(BigInt(x.id) - 0x700n)))
        const last = page.at(-1) as { endAt: number; id: Hex }
        after = { endAt: last.endAt, id: last.id }
      }
      assert.deepEqual(seen, [1, 2, 3, 0, 4], 'every active one once, by end then id')
      assert.deepEqual(
        (await s.subscriptions.listByState('active', { limit: 10, endBefore: 250 })).map((x) => x.endAt),
        [100, 200, 200],
      )
    })

    test(`${backend.name}: the monitor cursor and processed blocks (idempotent, rewind, prune)`, async () => {
      const s = await db()
      assert.equal(await s.cursor.get('m'), undefined)
      await s.cursor.set('m', { number: 5n, hash: h32(5) })
      await s.cursor.set('m', { number: 6n, hash: h32(6) })
      assert.deepEqual(await s.cursor.get('m'), { number: 6n, hash: h32(6) })
      for (let n = 1; n <= 5; n++) {
        assert.equal(
          await s.blocks.record({
            number: BigInt(n),
            hash: h32(n),
            parentHash: h32(n - 1),
            timestamp: n * 2,
          }),
          true,
        )
      }
      assert.equal(
        await s.blocks.record({ number: 3n, hash: h32(333), parentHash: h32(2), timestamp: 6 }),
        false,
      )
      assert.deepEqual(await s.blocks.get(3n), { number: 3n, hash: h32(3), parentHash: h32(2), timestamp: 6 })
      assert.equal(await s.blocks.deleteFrom(4n), 2)
      assert.equal((await s.blocks.latest())?.number, 3n)
      assert.equal(await s.blocks.pruneBelow(2n), 1)
      assert.equal(await s.blocks.get(1n), undefined)
    })

    test(`${backend.name}: payments above a block are listed for a rewind, reorged ones left out`, async () => {
      const s = await openIsolated()
      await s.payments.record(payment(1, { blockNumber: 5n }), { cause: 'x' })
      await s.payments.record(payment(2, { blockNumber: 8n }), { cause: 'x' })
      await s.payments.record(payment(3, { blockNumber: 9n, state: 'reorged' }), { cause: 'x' })
      assert.deepEqual(
        (await s.payments.listAbove(5n)).map((p) => p.logIndex),
        [2],
      )
      assert.deepEqual(
        (await s.payments.listBySubscription(h32(1_000_001))).map((p) => p.logIndex),
        [1],
      )
      assert.deepEqual(
        (await s.payments.listByState('seen', 10)).map((p) => p.logIndex),
        [1, 2],
      )
    })

    test(`${backend.name}: the database itself refuses UPDATE, DELETE and TRUNCATE of the audit log`, async () => {
      const options = await backend.fresh({ onDisk: true })
      const { storage } = await openStorage(options)
      try {
        await storage.payments.record(payment(1), { cause: 'log-seen' })
        assert.equal((await storage.audit.recent(10)).length, 1)
      } finally {
        await storage.close()
      }
      for (const statement of [
        `UPDATE audit_log SET cause = 'rewritten'`,
        `DELETE FROM audit_log`,
        `TRUNCATE audit_log`,
      ]) {
        await assert.rejects(backend.raw(options, statement), /append-only/, statement)
      }
      await backend.raw(
        options,
        `INSERT INTO audit_log (entity, entity_id, to_state, cause) VALUES ('payment', 'x', 'seen', 'raw')`,
      )
      const { storage: again } = await openStorage(options)
      try {
        assert.deepEqual(
          (await again.audit.recent(10)).map((e) => e.cause),
          ['raw', 'log-seen'],
          'history intact, appends still allowed',
        )
      } finally {
        await again.close()
      }
    })

    test(`${backend.name}: a statement error swallowed inside a transaction still fails the transaction`, async () => {
      const s = await db()
      const p = payment(40)
      await assert.rejects(
        s.transaction(async (tx) => {
          await tx.cursor.set('swallow', { number: 1n, hash: h32(1) })
          await tx.payments.record({ ...p, token: '0xnot-an-address' }, { cause: 'x' }).catch(() => false)
          return 'looks fine'
        }),
        'COMMIT of an aborted transaction is a failure, not a silent rollback',
      )
      assert.equal(await s.cursor.get('swallow'), undefined)
    })

    test(`${backend.name}: ping answers while open and is STORAGE_UNAVAILABLE once closed`, async () => {
      const options = await backend.fresh()
      const { storage } = await openStorage(options)
      await storage.ping()
      await storage.close()
      await storage.close()
      await assert.rejects(
        storage.ping(),
        (err: unknown) => isGatewayError(err) && err.code === 'STORAGE_UNAVAILABLE',
      )
    })

    async function openIsolated(): Promise<Storage> {
      return backend.open()
    }
  })
}
