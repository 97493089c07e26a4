import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { storageBackends } from '../../test/helpers/storage.ts'
import { createStorage, openStorage, type Hex, type NewPayment, type Storage } from './index.ts'

const h32 = (n: number): Hex => `0x${n.toString(16).padStart(64, '0')}`
const addr = (n: number): Hex => `0x${n.toString(16).padStart(40, '0')}`

function payment(n: number): NewPayment {
  return {
    chainId: 31337,
    txHash: h32(900 + n),
    logIndex: 0,
    digest: h32(n),
    subscriptionId: h32(n),
    payer: addr(1),
    beneficiary: addr(2),
    token: addr(3),
    amount: 5n,
    planId: 1,
    periodStart: 1,
    periodEnd: 2,
    blockNumber: 1n,
    blockHash: h32(1),
    state: 'confirmed',
  }
}

/** A promise and its resolver, for ordering two transactions deliberately. */
function gate(): { readonly wait: Promise<void>; readonly open: () => void } {
  let open = (): void => {}
  const wait = new Promise<void>((resolve) => (open = resolve))
  return { wait, open }
}

/**
 * One activation attempt as a monitor makes it: in a transaction, claim, then write the effect (here an
 * audit entry standing for "subscription activated") and the cursor. Answers whether it won.
 */
async function activate(
  storage: Storage,
  p: NewPayment,
  instance: string,
  hold?: Promise<void>,
): Promise<boolean> {
  return storage.transaction(async (tx) => {
    const won = await tx.payments.claimActivation(p)
    if (won) {
      await tx.audit.append({
        entity: 'subscription',
        entityId: p.subscriptionId,
        fromState: 'pending',
        toState: 'active',
        cause: `activated-by-${instance}`,
      })
    }
    await hold
    await tx.cursor.set(instance, { number: p.blockNumber, hash: p.blockHash })
    return won
  })
}

/** Whether `p` settles within `ms` (without waiting longer). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const settled = p.then(
    () => true,
    () => true,
  )
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))
  try {
    return await Promise.race([settled, late])
  } finally {
    clearTimeout(timer)
  }
}

for (const backend of storageBackends()) {
  describe(`exactly-once activation (${backend.name})`, () => {
    after(() => backend.close())

    if (backend.name === 'postgres') {
      test('postgres: two gateway instances (two pools) racing on one payment activate it once', async () => {
        const options = await backend.fresh()
        const { storage: a } = await openStorage(options)
        backend.track(a)
        const b = backend.track(await createStorage(options))
        for (let n = 1; n <= 20; n++) await a.payments.record(payment(n), { cause: 'log-seen' })
        // A holds its claim open while B tries: B must block on the row, then see it taken.
        const held = gate()
        const first = activate(a, payment(1), 'a', held.wait)
        await new Promise((r) => setTimeout(r, 50))
        const second = activate(b, payment(1), 'b')
        // The gate opens whatever the check says: a failing check must not leave A's transaction hanging.
        const raced = await settlesWithin(second, 200).finally(held.open)
        assert.equal(raced, false, 'B blocks on the row lock while A has not committed')
        assert.deepEqual(await Promise.all([first, second]), [true, false])
        // And many at once, both instances, every payment: exactly one win each.
        const attempts = []
        for (let n = 2; n <= 20; n++)
          attempts.push(activate(a, payment(n), 'a'), activate(b, payment(n), 'b'))
        const wins = (await Promise.all(attempts)).filter(Boolean).length
        assert.equal(wins, 19)
        const activations = (await a.audit.recent(100)).filter((e) => e.cause.startsWith('activated-by-'))
        assert.equal(activations.length, 20)
        assert.equal(new Set(activations.map((e) => e.entityId)).size, 20)
      })

      test('postgres: getForUpdate holds the subscription row: the other instance waits, then sees the new version', async () => {
        const options = await backend.fresh()
        const { storage: a } = await openStorage(options)
        backend.track(a)
        const b = backend.track(await createStorage(options))
        const id = h32(0xabc)
        await a.subscriptions.insert(
          {
            id,
            owner: addr(1),
            beneficiary: addr(2),
            planId: 1,
            token: addr(3),
            startAt: 0,
            endAt: 100,
            state: 'active',
          },
          { cause: 'seed' },
        )
        const held = gate()
        const renewal = a.transaction(async (tx) => {
          const sub = await tx.subscriptions.getForUpdate(id)
          assert.equal(sub?.version, 1)
          await held.wait
          return tx.subscriptions.update(id, 1, { endAt: 200 }, { cause: 'renewal' })
        })
        await new Promise((r) => setTimeout(r, 50))
        const revoke = b.transaction(async (tx) => {
          const sub = await tx.subscriptions.getForUpdate(id)
          return sub === undefined
            ? undefined
            : tx.subscriptions.update(id, sub.version, { state: 'revoked' }, { cause: 'revoked' })
        })
        // The gate opens whatever the check says: a failing check must not leave A's transaction hanging.
        const raced = await settlesWithin(revoke, 200).finally(held.open)
        assert.equal(raced, false, 'B waits for the row A holds')
        const [renewed, revoked] = await Promise.all([renewal, revoke])
        assert.equal(renewed?.version, 2)
        assert.equal(revoked?.version, 3, 'B read the row after A committed: no lost update')
        assert.equal(revoked?.endAt, 200)
        assert.deepEqual(
          (await a.audit.list('subscription', id)).map((e) => e.cause),
          ['seed', 'renewal', 'revoked'],
        )
      })

      test('postgres: a claim rolled back by its instance is won by the other', async () => {
        const options = await backend.fresh()
        const { storage: a } = await openStorage(options)
        backend.track(a)
        const b = backend.track(await createStorage(options))
        await a.payments.record(payment(1), { cause: 'log-seen' })
        const held = gate()
        const crashed = a.transaction(async (tx) => {
          assert.equal(await tx.payments.claimActivation(payment(1)), true)
          await held.wait
          throw new Error('instance a crashed mid-transaction')
        })
        await new Promise((r) => setTimeout(r, 50))
        const other = activate(b, payment(1), 'b')
        held.open()
        await assert.rejects(crashed, /crashed/)
        assert.equal(await other, true)
      })
    }

    test(`${backend.name}: concurrent transactions on one handle activate once (one at a time on PGlite)`, async () => {
      const s = await backend.open()
      await s.payments.record(payment(1), { cause: 'log-seen' })
      const order: string[] = []
      const tagged = (name: string) =>
        s.transaction(async (tx) => {
          order.push(`${name}:begin`)
          const won = await tx.payments.claimActivation(payment(1))
          await new Promise((r) => setTimeout(r, 20))
          await tx.cursor.set(name, { number: 1n, hash: h32(1) })
          order.push(`${name}:end`)
          return won
        })
      const results = await Promise.all([tagged('x'), tagged('y'), tagged('z')])
      assert.deepEqual(results.filter(Boolean).length, 1)
      if (backend.name === 'pglite') {
        // PGlite has one session: transactions must never interleave (a statement of y inside x's BEGIN).
        assert.deepEqual(order, ['x:begin', 'x:end', 'y:begin', 'y:end', 'z:begin', 'z:end'])
      }
    })
  })
}
