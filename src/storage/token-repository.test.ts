import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { storageBackends } from '../../test/helpers/storage.ts'
import type { Hex, Storage } from './index.ts'

const SUB = `0x${'ab'.repeat(32)}` as Hex
const SIGNER = `0x${'cd'.repeat(20)}` as Hex
const hash = (n: number): string => n.toString(16).padStart(64, '0')
const fam = (n: number): string => `family${String(n).padStart(12, '0')}`

for (const backend of storageBackends()) {
  describe(`token repository, schema v4 (${backend.name})`, () => {
    after(() => backend.close())
    let shared: Promise<Storage> | undefined
    const db = (): Promise<Storage> => (shared ??= backend.open())

    test('a nonce is redeemed exactly once, never after its expiry, and the global cap holds', async () => {
      const s = await db()
      assert.equal(await s.tokens.createNonce('nonceAAAAAAAAAAAAAAA', 2_000, 1_000, 3), true)
      assert.equal(await s.tokens.createNonce('nonceAAAAAAAAAAAAAAA', 2_000, 1_000, 3), false, 'duplicate')
      const both = await Promise.all([
        s.tokens.consumeNonce('nonceAAAAAAAAAAAAAAA', 1_500),
        s.tokens.consumeNonce('nonceAAAAAAAAAAAAAAA', 1_500),
      ])
      assert.deepEqual(both.sort(), [false, true], 'one of two concurrent redemptions wins')
      assert.equal(await s.tokens.createNonce('nonceBBBBBBBBBBBBBBB', 2_000, 1_000, 3), true)
      assert.equal(await s.tokens.consumeNonce('nonceBBBBBBBBBBBBBBB', 2_000), false, 'expired at 2000')
      assert.equal(await s.tokens.consumeNonce('nonceUNKNOWNUNKNOWN1', 1_000), false)
      for (const n of ['nonceC0000000000000001', 'nonceC0000000000000002', 'nonceC0000000000000003'])
        assert.equal(await s.tokens.createNonce(n, 10_000, 2_000, 3), true)
      assert.equal(await s.tokens.createNonce('nonceC0000000000000004', 10_000, 2_000, 3), false, 'cap of 3')
      // Swept rows free the cap.
      assert.ok((await s.tokens.sweep(20_000, 100)) >= 3)
      assert.equal(await s.tokens.createNonce('nonceC0000000000000004', 30_000, 20_000, 3), true)
    })

    test('refresh rotation spends the old token once; reuse revokes the family in the same transaction', async () => {
      const s = await db()
      await s.tokens.createFamily(
        { id: fam(1), subscriptionId: SUB, signer: SIGNER, createdAtMs: 1_000, expiresAtMs: 100_000 },
        hash(1),
      )
      const r1 = await s.tokens.rotateRefresh(hash(1), { hash: hash(2), expiresAtMs: 200_000 }, 2_000)
      assert.equal(r1.kind, 'rotated')
      assert.equal(
        r1.kind === 'rotated' && r1.family.expiresAtMs,
        200_000,
        'the family lives as long as its newest token',
      )
      const r2 = await s.tokens.rotateRefresh(hash(2), { hash: hash(3), expiresAtMs: 300_000 }, 3_000)
      assert.equal(r2.kind, 'rotated')
      // hash(1) again: reuse.
      const reuse = await s.tokens.rotateRefresh(hash(1), { hash: hash(4), expiresAtMs: 300_000 }, 4_000)
      assert.deepEqual(reuse, { kind: 'reused', familyId: fam(1) })
      const family = await s.tokens.getFamily(fam(1))
      assert.equal(family?.revokedAtMs, 4_000)
      assert.equal(family?.revokeReason, 'refresh-reuse')
      // The newest (unspent) token of a revoked family is refused too.
      const after = await s.tokens.rotateRefresh(hash(3), { hash: hash(5), expiresAtMs: 300_000 }, 5_000)
      assert.deepEqual(after, { kind: 'revoked', familyId: fam(1) })
      assert.deepEqual(await s.tokens.rotateRefresh(hash(99), { hash: hash(6), expiresAtMs: 1 }, 5_000), {
        kind: 'unknown',
      })
      assert.deepEqual(await s.tokens.listRevokedSince(3_500, 10), [{ id: fam(1), revokedAtMs: 4_000 }])
      assert.deepEqual(await s.tokens.listRevokedSince(4_001, 10), [])
    })

    test('two concurrent rotations of one token: one rotates, the other is a reuse that revokes the family', async () => {
      const s = await db()
      await s.tokens.createFamily(
        { id: fam(2), subscriptionId: SUB, signer: SIGNER, createdAtMs: 1_000, expiresAtMs: 100_000 },
        hash(20),
      )
      const outcomes = await Promise.all([
        s.tokens.rotateRefresh(hash(20), { hash: hash(21), expiresAtMs: 100_000 }, 2_000),
        s.tokens.rotateRefresh(hash(20), { hash: hash(22), expiresAtMs: 100_000 }, 2_000),
      ])
      assert.deepEqual(outcomes.map((o) => o.kind).sort(), ['reused', 'rotated'])
      assert.notEqual((await s.tokens.getFamily(fam(2)))?.revokedAtMs, null)
    })

    test('an expired refresh token is refused without revoking; revokeSubscription revokes every live family', async () => {
      const s = await db()
      const sub = `0x${'ef'.repeat(32)}` as Hex
      await s.tokens.createFamily(
        { id: fam(3), subscriptionId: sub, signer: SIGNER, createdAtMs: 1_000, expiresAtMs: 5_000 },
        hash(30),
      )
      await s.tokens.createFamily(
        { id: fam(4), subscriptionId: sub, signer: SIGNER, createdAtMs: 1_000, expiresAtMs: 50_000 },
        hash(40),
      )
      assert.deepEqual(await s.tokens.rotateRefresh(hash(30), { hash: hash(31), expiresAtMs: 9 }, 6_000), {
        kind: 'expired',
      })
      assert.equal((await s.tokens.getFamily(fam(3)))?.revokedAtMs, null)
      assert.deepEqual((await s.tokens.revokeSubscription(sub, 'operator', 7_000)).sort(), [fam(3), fam(4)])
      assert.deepEqual(await s.tokens.revokeSubscription(sub, 'operator', 8_000), [])
      assert.equal(await s.tokens.revokeFamily(fam(4), 'operator', 9_000), false, 'already revoked')
      // Swept after expiry, refresh tokens with it.
      await s.tokens.sweep(10_000, 100)
      assert.equal(await s.tokens.getFamily(fam(3)), undefined)
      assert.notEqual(await s.tokens.getFamily(fam(4)), undefined)
    })
  })
}
