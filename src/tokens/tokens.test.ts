import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { describe, test } from 'node:test'
import { privateKeyToAccount } from 'viem/accounts'
import { createSiweMessage } from 'viem/siwe'
import type { SubscriptionRecord } from '../subscriptions/index.ts'
import type { AdmissionGrant, AdmissionRefusal, AdmissionRequest } from '../runtime/index.ts'
import {
  accessTokenTimes,
  bearerToken,
  checkSiweMessage,
  createAccessTokenCodec,
  createRevocationSet,
  createTokenCredentialCheck,
  createVerificationCache,
  parseRevocationMessage,
  parseSigningKey,
  type AccessClaims,
} from './index.ts'

const pem = () =>
  generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
const SUB = `0x${'1a'.repeat(32)}`
const T0 = Date.UTC(2026, 11, 2, 12, 0, 0)

describe('access-token lifetime', () => {
  test('is the configured TTL, capped at 15 min, and never past the subscription end', () => {
    assert.deepEqual(accessTokenTimes(1000, 600, 10_000), { iat: 1000, nbf: 1000, exp: 1600 })
    assert.equal(accessTokenTimes(1000, 5000, 10_000)?.exp, 1900, 'capped at 900 s')
    assert.equal(accessTokenTimes(1000, 600, 1200)?.exp, 1200, 'the subscription ends first')
    assert.equal(accessTokenTimes(1000, 600, 1000), undefined, 'nothing to issue at the end')
    assert.equal(accessTokenTimes(1000, 600, 900), undefined)
  })
})

describe('signing keys and the codec', () => {
  const claims = (over: Partial<AccessClaims> = {}): AccessClaims => ({
    iss: 'https://gw.example',
    aud: 'litgate',
    sub: SUB,
    plan: 'pro',
    tier: 'pro',
    lv: 'abcdef0123456789',
    fam: 'fam-0000000000000000',
    jti: 'jti-1',
    iat: T0 / 1000,
    nbf: T0 / 1000,
    exp: T0 / 1000 + 600,
    ...over,
  })
  const options = { issuer: 'https://gw.example', audience: 'litgate', clockSkewSeconds: 30 }

  test('a PKCS#8 PEM and a private JWK both load; other keys are refused naming the kid, never the key', () => {
    const a = parseSigningKey('a', pem(), 'env:A')
    assert.equal(a.jwk.kty, 'OKP')
    assert.equal(a.jwk.kid, 'a')
    assert.equal(a.jwk.alg, 'EdDSA')
    assert.equal((a.jwk as { d?: string }).d, undefined, 'no private part in the JWKS')
    const jwk = JSON.stringify(generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }))
    assert.equal(parseSigningKey('b', jwk, 'file:/k').jwk.crv, 'Ed25519')
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString()
    assert.throws(
      () => parseSigningKey('r', rsa, 'env:R'),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'TOKEN_KEY_INVALID')
        assert.match(e.message, /"r" \(env:R\).*rsa/)
        assert.ok(!e.message.includes('PRIVATE KEY'))
        return true
      },
    )
    assert.throws(() => parseSigningKey('x', 'garbage', 'env:X'), /neither a PKCS#8 PEM nor a private JWK/)
  })

  test('verifies its own tokens; rotation: a token of the second key verifies, an unknown kid does not', async () => {
    const k1 = parseSigningKey('k1', pem(), 'env:K1')
    const k2 = parseSigningKey('k2', pem(), 'env:K2')
    const old = createAccessTokenCodec([k1], options)
    const rotated = createAccessTokenCodec([k2, k1], options)
    const byOld = await old.sign(claims())
    const byNew = await rotated.sign(claims())
    assert.deepEqual(
      await rotated.verify(byOld, T0),
      { ok: true, claims: claims() },
      'overlap: old key verifies',
    )
    assert.equal((await old.verify(byNew, T0)).ok, false, 'the old instance does not know k2')
    assert.deepEqual(await old.verify(byNew, T0), { ok: false, reason: 'signature' })
    assert.equal(JSON.parse(rotated.jwks).keys.length, 2)
    const header = JSON.parse(Buffer.from(byNew.split('.')[0] as string, 'base64url').toString())
    assert.deepEqual([header.alg, header.kid], ['EdDSA', 'k2'])
  })

  test('expiry with 30 s skew, nbf, audience, issuer, tampering and garbage are refused with a reason', async () => {
    const codec = createAccessTokenCodec([parseSigningKey('k', pem(), 'env:K')], options)
    const token = await codec.sign(claims())
    const exp = (T0 / 1000 + 600) * 1000
    assert.equal((await codec.verify(token, exp + 29_000)).ok, true, 'inside the skew')
    assert.deepEqual(await codec.verify(token, exp + 31_000), { ok: false, reason: 'expired' })
    assert.deepEqual(await codec.verify(token, T0 - 60_000), { ok: false, reason: 'claims' }, 'before nbf')
    const other = createAccessTokenCodec([parseSigningKey('k', pem(), 'env:K')], options)
    assert.deepEqual(await other.verify(token, T0), { ok: false, reason: 'signature' }, 'same kid, other key')
    const wrongAud = await codec.sign(claims({ aud: 'someone-else' }))
    assert.deepEqual(await codec.verify(wrongAud, T0), { ok: false, reason: 'claims' })
    const wrongIss = await codec.sign(claims({ iss: 'https://evil.example' }))
    assert.deepEqual(await codec.verify(wrongIss, T0), { ok: false, reason: 'claims' })
    const [h, p, s] = token.split('.') as [string, string, string]
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString())
    payload.plan = 'enterprise'
    const forged = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`
    assert.deepEqual(await codec.verify(forged, T0), { ok: false, reason: 'signature' })
    assert.deepEqual(await codec.verify('not.a.jwt', T0), { ok: false, reason: 'malformed' })
    const badSub = await codec.sign(claims({ sub: 'not-a-subscription' }))
    assert.deepEqual(await codec.verify(badSub, T0), { ok: false, reason: 'claims' })
  })
})

describe('verification cache', () => {
  test('an entry dies at its expiry; the least recently used goes when full', () => {
    const cache = createVerificationCache<string>(2)
    cache.set('a', 'A', 1000)
    cache.set('b', 'B', 5000)
    assert.equal(cache.get('a', 999), 'A')
    assert.equal(cache.get('a', 1000), undefined, 'dead at exp')
    assert.equal(cache.size, 1, 'and dropped')
    cache.set('a', 'A', 9000)
    assert.equal(cache.get('b', 0), 'B') // b now most recent
    cache.set('c', 'C', 9000) // evicts a
    assert.equal(cache.get('a', 0), undefined)
    assert.equal(cache.get('b', 0), 'B')
    assert.equal(cache.get('c', 0), 'C')
    assert.equal(cache.size, 2)
  })
})

describe('revocations', () => {
  test('families and token ids are revoked until the retention passes', () => {
    const set = createRevocationSet(1000)
    set.revokeFamily('f1', 0)
    set.revokeJti('j1', 500)
    assert.equal(set.isRevoked('f1', 'x'), true)
    assert.equal(set.isRevoked('f2', 'j1'), true)
    assert.equal(set.isRevoked('f2', 'j2'), false)
    assert.equal(set.sweep(999), 0)
    assert.equal(set.sweep(1000), 1)
    assert.equal(set.isRevoked('f1', 'x'), false)
    assert.equal(set.sweep(1500), 1)
    assert.equal(set.size, 0)
  })

  test('bus messages are parsed strictly', () => {
    assert.deepEqual(parseRevocationMessage('{"kind":"family","id":"abc","origin":"o"}'), {
      kind: 'family',
      id: 'abc',
      origin: 'o',
    })
    assert.equal(parseRevocationMessage('{"kind":"all","id":"abc","origin":"o"}'), undefined)
    assert.equal(parseRevocationMessage('{"kind":"family","id":"a b","origin":"o"}'), undefined)
    assert.equal(parseRevocationMessage('nope'), undefined)
  })
})

describe('SIWE field checks', () => {
  const account = privateKeyToAccount(`0x${'11'.repeat(32)}`)
  const expect = {
    domain: 'gw.example:8443',
    origins: ['https://gw.example:8443'],
    chainId: 31337,
    nowMs: T0,
    clockSkewMs: 30_000,
    maxAgeMs: 300_000,
  }
  const message = (over: Record<string, unknown> = {}) =>
    createSiweMessage({
      domain: 'gw.example:8443',
      address: account.address,
      uri: 'https://gw.example:8443/litgate/v1/token',
      version: '1',
      chainId: 31337,
      nonce: 'abcdef0123456789abcdef0123456789',
      issuedAt: new Date(T0 - 1000),
      resources: [`urn:litgate:subscription:${SUB}`],
      ...over,
    } as Parameters<typeof createSiweMessage>[0])

  test('a well-formed message for this gateway passes and names the subscription and nonce', () => {
    const r = checkSiweMessage(message(), expect)
    assert.equal(r.ok, true)
    assert.ok(r.ok)
    assert.equal(r.subscriptionId, SUB)
    assert.equal(r.nonce, 'abcdef0123456789abcdef0123456789')
    assert.equal(r.address, account.address)
  })

  for (const [name, over, code] of [
    ['another domain', { domain: 'evil.example' }, 'TOKEN_SIGNATURE_INVALID'],
    ['another URI origin', { uri: 'https://evil.example/x' }, 'TOKEN_SIGNATURE_INVALID'],
    ['another chain', { chainId: 1 }, 'TOKEN_SIGNATURE_INVALID'],
    ['issued in the future', { issuedAt: new Date(T0 + 60_000) }, 'TOKEN_SIGNATURE_INVALID'],
    ['issued too long ago', { issuedAt: new Date(T0 - 400_000) }, 'TOKEN_SIGNATURE_INVALID'],
    ['expired', { expirationTime: new Date(T0 - 60_000) }, 'TOKEN_SIGNATURE_INVALID'],
    ['not valid yet', { notBefore: new Date(T0 + 60_000) }, 'TOKEN_SIGNATURE_INVALID'],
    ['no resource', { resources: [] }, 'TOKEN_REQUEST_INVALID'],
    [
      'two resources',
      { resources: [`urn:litgate:subscription:${SUB}`, 'https://x'] },
      'TOKEN_REQUEST_INVALID',
    ],
    [
      'a resource that is not a subscription',
      { resources: ['urn:litgate:subscription:0x12'] },
      'TOKEN_REQUEST_INVALID',
    ],
  ] as const) {
    test(`refuses a message with ${name} (${code})`, () => {
      const r = checkSiweMessage(message(over), expect)
      assert.equal(r.ok, false)
      assert.equal(!r.ok && r.code, code)
    })
  }

  test('refuses text that is not an EIP-4361 message, and an oversized one', () => {
    assert.equal(checkSiweMessage('hello', expect).ok, false)
    const r = checkSiweMessage('x'.repeat(5000), expect)
    assert.equal(!r.ok && r.code, 'TOKEN_REQUEST_INVALID')
  })
})

describe('the edge credential check', () => {
  const row = (over: Partial<SubscriptionRecord> = {}): SubscriptionRecord =>
    ({
      id: SUB,
      state: 'active',
      owner: '0x' + '22'.repeat(20),
      beneficiary: '0x' + '22'.repeat(20),
      planId: 1,
      token: '0x' + '33'.repeat(20),
      startSec: T0 / 1000 - 100,
      endSec: T0 / 1000 + 86_400,
      chainStatus: 'live',
      chainBlock: 1,
      version: 1,
      updatedAtSec: 0,
      paymentDigests: [],
      beforeLastPayment: null,
      operatorHold: null,
      ...over,
    }) as SubscriptionRecord
  const request = (authorization?: string, routeId = 'paid'): AdmissionRequest => ({
    requestId: 'r1',
    routeId,
    method: 'GET',
    path: '/api',
    clientAddress: '127.0.0.1',
    headers: authorization === undefined ? {} : { authorization },
    isUpgrade: false,
  })

  async function setup() {
    const codec = createAccessTokenCodec([parseSigningKey('k', pem(), 'env:K')], {
      issuer: 'litgate',
      audience: 'litgate',
      clockSkewSeconds: 30,
    })
    let now = T0
    let current: SubscriptionRecord | undefined = row()
    let verifications = 0
    const revocations = createRevocationSet(60_000)
    const outcomes: string[] = []
    const lookups: boolean[] = []
    const check = createTokenCredentialCheck(
      {
        cacheMaxEntries: 10,
        upstreamHeaders: { subscription: 'x-litgate-subscription', plan: 'x-litgate-plan' },
      },
      {
        codec: {
          verify: (t, n) => {
            verifications++
            return codec.verify(t, n)
          },
        },
        revocations,
        subscriptions: {
          peek: () => current,
          get: async () => current,
          isAllowed: (r, n) => r !== undefined && r.chainStatus === 'live' && n < r.endSec * 1000,
        },
        passAuthorization: (id) => id === 'pass',
        nowMs: () => now,
        onCheck: (o) => outcomes.push(o),
        onCacheLookup: (h) => lookups.push(h),
      },
    )
    const token = await codec.sign({
      iss: 'litgate',
      aud: 'litgate',
      sub: SUB,
      plan: 'pro',
      tier: 'pro',
      lv: 'lv1',
      fam: 'fam1',
      jti: 'jti1',
      iat: T0 / 1000,
      nbf: T0 / 1000,
      exp: T0 / 1000 + 600,
    })
    return {
      check,
      token,
      revocations,
      outcomes,
      lookups,
      verifications: () => verifications,
      setNow: (n: number) => (now = n),
      setRow: (r: SubscriptionRecord | undefined) => (current = r),
    }
  }

  test('admits a valid token with the subscription headers, strips Authorization; cached after the first check', async () => {
    const s = await setup()
    const first = (await s.check(request(`Bearer ${s.token}`), ['pro'])) as AdmissionGrant
    assert.equal(first.grant, true)
    assert.deepEqual(first.setHeaders, ['x-litgate-subscription', SUB, 'x-litgate-plan', 'pro'])
    assert.deepEqual(first.removeHeaders, ['authorization'])
    const second = s.check(request(`bearer ${s.token}`), ['basic', 'pro'])
    assert.ok(!(second instanceof Promise), 'a cache hit answers synchronously')
    assert.equal(second, first, 'the precomputed grant')
    assert.equal(s.verifications(), 1)
    assert.deepEqual(s.lookups, [false, true])
    const kept = (await s.check(request(`Bearer ${s.token}`, 'pass'), ['pro'])) as AdmissionGrant
    assert.deepEqual(kept.removeHeaders, [], 'passAuthorization keeps it')
  })

  test('no credential or another scheme → the 402 challenge (false)', async () => {
    const s = await setup()
    assert.equal(await s.check(request(), ['pro']), false)
    assert.equal(await s.check(request('Basic dXNlcjpwdw=='), ['pro']), false)
    assert.equal(bearerToken('Bearer '), undefined)
  })

  test('a bad token → 401 TOKEN_INVALID with WWW-Authenticate: Bearer error="invalid_token"', async () => {
    const s = await setup()
    const r = (await s.check(request('Bearer abc.def.ghi'), ['pro'])) as AdmissionRefusal
    assert.equal(r.code, 'TOKEN_INVALID')
    assert.match(
      r.headers?.['www-authenticate'] ?? '',
      /^Bearer realm="litgate", error="invalid_token", error_description="/,
    )
  })

  test('the cache entry dies at exp: an expired token is re-verified and refused', async () => {
    const s = await setup()
    assert.equal(((await s.check(request(`Bearer ${s.token}`), ['pro'])) as AdmissionGrant).grant, true)
    s.setNow(T0 + 600_000 + 31_000)
    const r = (await s.check(request(`Bearer ${s.token}`), ['pro'])) as AdmissionRefusal
    assert.equal(r.code, 'TOKEN_INVALID')
    assert.match(r.headers?.['www-authenticate'] ?? '', /expired/)
    assert.equal(s.verifications(), 2)
  })

  test('a revoked family → 401 at once, even on a cache hit', async () => {
    const s = await setup()
    await s.check(request(`Bearer ${s.token}`), ['pro'])
    s.revocations.revokeFamily('fam1', T0)
    const r = (await s.check(request(`Bearer ${s.token}`), ['pro'])) as AdmissionRefusal
    assert.equal(r.code, 'TOKEN_INVALID')
    assert.match(r.headers?.['www-authenticate'] ?? '', /revoked/)
  })

  test('another plan, or a subscription that no longer grants access → the 402 challenge', async () => {
    const s = await setup()
    assert.equal(await s.check(request(`Bearer ${s.token}`), ['enterprise']), false)
    s.setRow(row({ chainStatus: 'revoked' }))
    assert.equal(await s.check(request(`Bearer ${s.token}`), ['pro']), false)
    s.setRow(undefined)
    assert.equal(await s.check(request(`Bearer ${s.token}`), ['pro']), false)
    assert.deepEqual(s.outcomes, ['plan', 'inactive', 'inactive'])
  })
})
