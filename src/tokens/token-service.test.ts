import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { after, describe, test } from 'node:test'
import { verifyMessage, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createSiweMessage } from 'viem/siwe'
import { storageBackends } from '../../test/helpers/storage.ts'
import type { Storage } from '../storage/index.ts'
import type { SubscriptionRecord } from '../subscriptions/index.ts'
import { createAccessTokenCodec, createTokenService, parseSigningKey, type TokenAnswer } from './index.ts'

const owner = privateKeyToAccount(`0x${'21'.repeat(32)}`)
const beneficiary = privateKeyToAccount(`0x${'22'.repeat(32)}`)
const stranger = privateKeyToAccount(`0x${'23'.repeat(32)}`)
const SUB = `0x${'5e'.repeat(32)}` as Hex
const T0 = Date.UTC(2026, 11, 2, 12, 0, 0)

for (const backend of storageBackends()) {
  describe(`token service (${backend.name})`, () => {
    after(() => backend.close())
    let shared: Promise<Storage> | undefined
    const db = (): Promise<Storage> => (shared ??= backend.open())

    async function setup(over: Partial<SubscriptionRecord> = {}) {
      const storage = await db()
      let now = T0
      let row: SubscriptionRecord | undefined = {
        id: SUB,
        state: 'active',
        owner: owner.address.toLowerCase() as Hex,
        beneficiary: beneficiary.address.toLowerCase() as Hex,
        planId: 7,
        token: `0x${'33'.repeat(20)}`,
        startSec: T0 / 1000 - 100,
        endSec: T0 / 1000 + 300,
        chainStatus: 'live',
        chainBlock: 1,
        version: 1,
        updatedAtSec: 0,
        paymentDigests: [],
        beforeLastPayment: null,
        operatorHold: null,
        ...over,
      }
      const revoked: string[] = []
      const codec = createAccessTokenCodec(
        [
          parseSigningKey(
            'k1',
            generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
            'env:K',
          ),
        ],
        { issuer: 'litgate', audience: 'litgate', clockSkewSeconds: 30 },
      )
      const service = createTokenService(
        {
          chainId: 31337,
          issuer: 'litgate',
          audience: 'litgate',
          accessTtlSeconds: 600,
          refreshTtlSeconds: 3600,
          nonceTtlSeconds: 300,
          maxOpenNonces: 1000,
          clockSkewSeconds: 30,
        },
        {
          store: storage.tokens,
          codec,
          subscriptions: {
            peek: () => row,
            get: async () => row,
            isAllowed: (r, n) => r !== undefined && r.chainStatus === 'live' && n < r.endSec * 1000,
          },
          plansById: new Map([[7, { name: 'pro', limitsVersion: 'lv7' }]]),
          verifyMessage: (args) => verifyMessage(args),
          onFamilyRevoked: (id) => revoked.push(id),
          randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
          nowMs: () => now,
        },
      )
      const signIn = async (who = owner, over2: Record<string, unknown> = {}) => {
        const n = await service.createNonce()
        assert.ok(n.ok)
        const message = createSiweMessage({
          domain: 'gw.test:8080',
          address: who.address,
          uri: 'http://gw.test:8080',
          version: '1',
          chainId: 31337,
          nonce: n.value.nonce,
          issuedAt: new Date(now),
          resources: [`urn:litgate:subscription:${SUB}`],
          ...over2,
        } as Parameters<typeof createSiweMessage>[0])
        return { message, signature: await who.signMessage({ message }) }
      }
      return {
        service,
        codec,
        signIn,
        revoked,
        storage,
        initial: row as SubscriptionRecord,
        setNow: (n: number) => (now = n),
        setRow: (r: SubscriptionRecord | undefined) => (row = r),
      }
    }

    test('owner and beneficiary get a token pair; lifetime never past the subscription end; claims per contract', async () => {
      const s = await setup()
      for (const who of [owner, beneficiary]) {
        const r = await s.service.issue(await s.signIn(who), 'gw.test:8080')
        assert.ok(r.ok, JSON.stringify(r))
        const a = r.value
        assert.equal(a.tokenType, 'Bearer')
        assert.equal(a.expiresIn, 300, 'the subscription ends in 300 s, before the 600 s TTL')
        assert.equal(a.subscriptionId, SUB)
        assert.equal(a.plan, 'pro')
        assert.equal(a.refreshExpiresIn, 3600)
        const v = await s.codec.verify(a.accessToken, T0)
        assert.ok(v.ok)
        assert.equal(v.claims.sub, SUB)
        assert.equal(v.claims.plan, 'pro')
        assert.equal(v.claims.tier, 'pro')
        assert.equal(v.claims.lv, 'lv7')
        assert.equal(v.claims.exp, T0 / 1000 + 300)
      }
    })

    test('a nonce serves one token only; a 402 while inactive leaves it usable (activation polling)', async () => {
      const s = await setup({ chainStatus: null })
      const body = await s.signIn()
      const pending = await s.service.issue(body, 'gw.test:8080')
      assert.equal(!pending.ok && pending.code, 'SUBSCRIPTION_INACTIVE')
      s.setRow({ ...s.initial, chainStatus: 'live' }) // the payment confirmed: the same signed message works
      assert.ok((await s.service.issue(body, 'gw.test:8080')).ok)
      const replay = await s.service.issue(body, 'gw.test:8080')
      assert.equal(!replay.ok && replay.code, 'TOKEN_SIGNATURE_INVALID', 'the nonce was spent')
    })

    test('refusals: stranger 403, wrong domain 401, bad signature 401, unknown subscription 402, malformed 400', async () => {
      const s = await setup()
      const code = async (p: Promise<{ ok: boolean; code?: string }>) => {
        const r = (await p) as { ok: boolean; code?: string }
        return r.ok ? 'ok' : r.code
      }
      assert.equal(
        await code(s.service.issue(await s.signIn(stranger), 'gw.test:8080')),
        'TOKEN_SUBSCRIPTION_FORBIDDEN',
      )
      assert.equal(await code(s.service.issue(await s.signIn(), 'other.test')), 'TOKEN_SIGNATURE_INVALID')
      const b = await s.signIn()
      const forged = { message: b.message, signature: await stranger.signMessage({ message: b.message }) }
      assert.equal(await code(s.service.issue(forged, 'gw.test:8080')), 'TOKEN_SIGNATURE_INVALID')
      assert.equal(
        await code(s.service.issue({ message: 1, signature: '0x' }, 'gw.test:8080')),
        'TOKEN_REQUEST_INVALID',
      )
      assert.equal(
        await code(s.service.issue({ message: 'x', signature: b.signature, extra: 1 }, 'h')),
        'TOKEN_REQUEST_INVALID',
      )
      s.setRow(undefined)
      assert.equal(await code(s.service.issue(await s.signIn(), 'gw.test:8080')), 'SUBSCRIPTION_INACTIVE')
    })

    test('refresh rotates; presenting a spent refresh token revokes the family', async () => {
      const s = await setup()
      const first = await s.service.issue(await s.signIn(), 'gw.test:8080')
      assert.ok(first.ok)
      s.setNow(T0 + 10_000)
      const second = await s.service.refresh({ refreshToken: first.value.refreshToken })
      assert.ok(second.ok, JSON.stringify(second))
      assert.notEqual(second.value.refreshToken, first.value.refreshToken)
      const fam = async (a: TokenAnswer) => {
        const v = await s.codec.verify(a.accessToken, T0 + 10_000)
        assert.ok(v.ok)
        return v.claims.fam
      }
      assert.equal(await fam(second.value), await fam(first.value), 'same family')
      const reuse = await s.service.refresh({ refreshToken: first.value.refreshToken })
      assert.equal(!reuse.ok && reuse.code, 'TOKEN_REFRESH_REUSED')
      assert.deepEqual(s.revoked, [await fam(first.value)])
      const after = await s.service.refresh({ refreshToken: second.value.refreshToken })
      assert.equal(
        !after.ok && after.code,
        'TOKEN_REFRESH_INVALID',
        'the newest token of the family is dead too',
      )
      const unknown = await s.service.refresh({ refreshToken: `lgr_${'A'.repeat(43)}` })
      assert.equal(!unknown.ok && unknown.code, 'TOKEN_REFRESH_INVALID')
    })

    test('refresh re-checks the subscription without spending the token', async () => {
      const s = await setup()
      const first = await s.service.issue(await s.signIn(), 'gw.test:8080')
      assert.ok(first.ok)
      s.setNow(T0 + 400_000) // past the end
      const expired = await s.service.refresh({ refreshToken: first.value.refreshToken })
      assert.equal(!expired.ok && expired.code, 'SUBSCRIPTION_INACTIVE')
      s.setNow(T0 + 1_000)
      assert.ok((await s.service.refresh({ refreshToken: first.value.refreshToken })).ok, 'still usable')
    })
  })
}
