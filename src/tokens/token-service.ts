/**
 * The token flows without HTTP: a sign-in nonce, an access + refresh token pair for a Sign-In with
 * Ethereum message, and refresh rotation with reuse detection. Every outcome is a value (the HTTP layer
 * renders it); only broken invariants throw. Dependencies are injected: the database repository, the JWT
 * codec, the subscription cache, the signature verifier (the chain's public client), clock and randomness.
 */
import { createHash } from 'node:crypto'
import type { Address, Hex } from 'viem'
import type { ErrorCode } from '../errors/index.ts'
import type { TokenRepository } from '../storage/index.ts'
import type { SubscriptionRecord } from '../subscriptions/index.ts'
import { accessTokenTimes, type AccessClaims } from './claims.ts'
import type { AccessTokenCodec } from './signing-keys.ts'
import { checkSiweMessage } from './siwe.ts'

/** What the service needs of the subscriptions subsystem (its cache and access decision). */
export interface TokenSubscriptions {
  /** The cached row, without I/O (hot path). */
  peek(id: Hex): SubscriptionRecord | undefined
  /** The cached row, else the store's. */
  get(id: Hex): Promise<SubscriptionRecord | undefined>
  isAllowed(row: SubscriptionRecord | undefined, nowMs: number): boolean
}

/** A plan as the tokens see it: its name and its limits version (`lv`). */
export interface TokenPlan {
  readonly name: string
  readonly limitsVersion: string
}

export interface TokenServiceOptions {
  readonly chainId: number
  readonly issuer: string
  readonly audience: string
  readonly accessTtlSeconds: number
  readonly refreshTtlSeconds: number
  readonly nonceTtlSeconds: number
  readonly maxOpenNonces: number
  readonly clockSkewSeconds: number
  /** `paidAccess.challenge.publicOrigin`: when set, the SIWE domain and URI must be its. */
  readonly publicOrigin?: string
}

export interface TokenServiceDeps {
  readonly store: Pick<
    TokenRepository,
    'createNonce' | 'consumeNonce' | 'createFamily' | 'rotateRefresh' | 'findRefresh'
  >
  readonly codec: AccessTokenCodec
  readonly subscriptions: TokenSubscriptions
  /** Plans this gateway sells, by on-chain plan id. */
  readonly plansById: ReadonlyMap<number, TokenPlan>
  /** EIP-191 signature check by `address` (EOA, EIP-1271 or ERC-6492): the chain's public client. */
  verifyMessage(args: { address: Address; message: string; signature: Hex }): Promise<boolean>
  /** A family was revoked here (refresh reuse): the edge and the other instances must know at once. */
  onFamilyRevoked(familyId: string): void
  /** Counts tokens issued (`kind`) and refusals (`code`). */
  onIssued?(kind: 'token' | 'refresh'): void
  readonly randomBytes: (n: number) => Uint8Array
  readonly nowMs: () => number
}

/** The 200 answer of `POST {base}/token` and `POST {base}/token/refresh` (the wire contract). */
export interface TokenAnswer {
  readonly accessToken: string
  readonly tokenType: 'Bearer'
  readonly expiresIn: number
  readonly refreshToken: string
  readonly refreshExpiresIn: number
  readonly subscriptionId: Hex
  readonly plan: string
  /** When the access token expires (ISO 8601). */
  readonly expiresAt: string
  /** When the subscription ends (ISO 8601): no token outlives it. */
  readonly subscriptionEndsAt: string
}

export type Outcome<T> =
  | { readonly ok: true; readonly value: T }
  | {
      readonly ok: false
      readonly code: ErrorCode
      readonly detail: string
      /** Bounded reason for metrics (`nonce`, `signature`, `domain`, …). */
      readonly reason: string
    }

export interface TokenService {
  createNonce(): Promise<Outcome<{ readonly nonce: string; readonly expiresAt: string }>>
  /** `host`: the request's Host (the SIWE domain when no public origin is configured). */
  issue(body: unknown, host: string | undefined): Promise<Outcome<TokenAnswer>>
  refresh(body: unknown): Promise<Outcome<TokenAnswer>>
}

/** SHA-256 (hex) of a refresh token: what the database stores. */
export function refreshTokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

const REFRESH_TOKEN = /^lgr_[A-Za-z0-9_-]{43}$/
const SIGNATURE = /^0x[0-9a-fA-F]{130,}$/
const MAX_SIGNATURE_CHARS = 8192

const fail = (code: ErrorCode, detail: string, reason: string) =>
  ({ ok: false, code, detail, reason }) as const

function objectWith(body: unknown, fields: readonly string[]): Record<string, unknown> | string {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    return 'the body must be a JSON object'
  for (const key of Object.keys(body))
    if (!fields.includes(key)) return `unknown field ${JSON.stringify(key).slice(0, 80)}`
  return body as Record<string, unknown>
}

export function createTokenService(options: TokenServiceOptions, deps: TokenServiceDeps): TokenService {
  const skewMs = options.clockSkewSeconds * 1000
  const publicOrigin = options.publicOrigin === undefined ? undefined : new URL(options.publicOrigin)
  const b64 = (n: number) => Buffer.from(deps.randomBytes(n)).toString('base64url')

  const mint = async (
    familyId: string,
    row: SubscriptionRecord,
    plan: TokenPlan,
    refreshToken: string,
    refreshExpiresAtMs: number,
    nowMs: number,
  ): Promise<Outcome<TokenAnswer>> => {
    const nowSec = Math.floor(nowMs / 1000)
    const times = accessTokenTimes(nowSec, options.accessTtlSeconds, row.endSec)
    if (times === undefined) return fail('SUBSCRIPTION_INACTIVE', 'the subscription ends now', 'inactive')
    const claims: AccessClaims = {
      iss: options.issuer,
      aud: options.audience,
      sub: row.id.toLowerCase(),
      plan: plan.name,
      tier: plan.name,
      lv: plan.limitsVersion,
      fam: familyId,
      jti: b64(12),
      ...times,
    }
    const accessToken = await deps.codec.sign(claims)
    return {
      ok: true,
      value: {
        accessToken,
        tokenType: 'Bearer',
        expiresIn: times.exp - nowSec,
        refreshToken,
        refreshExpiresIn: Math.max(0, Math.floor((refreshExpiresAtMs - nowMs) / 1000)),
        subscriptionId: row.id.toLowerCase() as Hex,
        plan: plan.name,
        expiresAt: new Date(times.exp * 1000).toISOString(),
        subscriptionEndsAt: new Date(row.endSec * 1000).toISOString(),
      },
    }
  }

  /** The subscription may be used now by this gateway: its plan is sold here and it grants access. */
  const usable = (
    row: SubscriptionRecord | undefined,
    nowMs: number,
  ): Outcome<{ row: SubscriptionRecord; plan: TokenPlan }> => {
    if (row === undefined)
      return fail('SUBSCRIPTION_INACTIVE', 'the gateway does not know this subscription (yet)', 'unknown')
    const plan = deps.plansById.get(row.planId)
    if (plan === undefined)
      return fail(
        'TOKEN_SUBSCRIPTION_FORBIDDEN',
        "the subscription's plan is not sold by this gateway",
        'plan',
      )
    if (!deps.subscriptions.isAllowed(row, nowMs))
      return fail('SUBSCRIPTION_INACTIVE', 'the subscription does not grant access now', 'inactive')
    return { ok: true, value: { row, plan } }
  }

  const newRefresh = (nowMs: number) => {
    const token = `lgr_${b64(32)}`
    return { token, hash: refreshTokenHash(token), expiresAtMs: nowMs + options.refreshTtlSeconds * 1000 }
  }

  return {
    async createNonce() {
      const nowMs = deps.nowMs()
      const nonce = Buffer.from(deps.randomBytes(16)).toString('hex')
      const expiresAtMs = nowMs + options.nonceTtlSeconds * 1000
      if (!(await deps.store.createNonce(nonce, expiresAtMs, nowMs, options.maxOpenNonces)))
        return fail('TOKEN_CAPACITY_EXHAUSTED', 'too many open sign-in nonces', 'capacity')
      return { ok: true, value: { nonce, expiresAt: new Date(expiresAtMs).toISOString() } }
    },

    async issue(body, host) {
      const o = objectWith(body, ['message', 'signature'])
      if (typeof o === 'string') return fail('TOKEN_REQUEST_INVALID', o, 'request')
      if (typeof o.message !== 'string')
        return fail('TOKEN_REQUEST_INVALID', 'message must be a string', 'request')
      if (
        typeof o.signature !== 'string' ||
        o.signature.length > MAX_SIGNATURE_CHARS ||
        !SIGNATURE.test(o.signature)
      )
        return fail('TOKEN_REQUEST_INVALID', 'signature must be a 0x-prefixed hex signature', 'request')
      const domain = publicOrigin?.host ?? host
      if (domain === undefined) return fail('TOKEN_REQUEST_INVALID', 'the request has no Host', 'request')
      const nowMs = deps.nowMs()
      const check = checkSiweMessage(o.message, {
        domain,
        origins:
          publicOrigin === undefined ? [`http://${domain}`, `https://${domain}`] : [publicOrigin.origin],
        chainId: options.chainId,
        nowMs,
        clockSkewMs: skewMs,
        maxAgeMs: options.nonceTtlSeconds * 1000,
      })
      if (!check.ok)
        return fail(check.code, check.detail, check.code === 'TOKEN_REQUEST_INVALID' ? 'request' : 'message')
      if (
        !(await deps.verifyMessage({
          address: check.address,
          message: o.message,
          signature: o.signature.toLowerCase() as Hex,
        }))
      )
        return fail('TOKEN_SIGNATURE_INVALID', 'the signature does not verify for the address', 'signature')
      const row = await deps.subscriptions.get(check.subscriptionId)
      if (row !== undefined) {
        const who = check.address.toLowerCase()
        if (row.owner.toLowerCase() !== who && row.beneficiary.toLowerCase() !== who)
          return fail(
            'TOKEN_SUBSCRIPTION_FORBIDDEN',
            'the signer is neither the owner nor the beneficiary of the subscription',
            'signer',
          )
      }
      const ok = usable(row, nowMs)
      if (!ok.ok) return ok
      // The nonce is spent only now, when a token is issued: a client polling for activation (402
      // SUBSCRIPTION_INACTIVE) may present the same signed message again until the nonce expires.
      if (!(await deps.store.consumeNonce(check.nonce, nowMs)))
        return fail('TOKEN_SIGNATURE_INVALID', 'the nonce is unknown, used or expired', 'nonce')
      const familyId = b64(16)
      const refresh = newRefresh(nowMs)
      await deps.store.createFamily(
        {
          id: familyId,
          subscriptionId: ok.value.row.id,
          signer: check.address.toLowerCase() as Hex,
          createdAtMs: nowMs,
          expiresAtMs: refresh.expiresAtMs,
        },
        refresh.hash,
      )
      const answer = await mint(
        familyId,
        ok.value.row,
        ok.value.plan,
        refresh.token,
        refresh.expiresAtMs,
        nowMs,
      )
      if (answer.ok) deps.onIssued?.('token')
      return answer
    },

    async refresh(body) {
      const o = objectWith(body, ['refreshToken'])
      if (typeof o === 'string') return fail('TOKEN_REQUEST_INVALID', o, 'request')
      if (typeof o.refreshToken !== 'string' || !REFRESH_TOKEN.test(o.refreshToken))
        return fail('TOKEN_REQUEST_INVALID', 'refreshToken must be a litgate refresh token', 'request')
      const nowMs = deps.nowMs()
      const hash = refreshTokenHash(o.refreshToken)
      const found = await deps.store.findRefresh(hash)
      if (found === undefined || found.family.revokedAtMs !== null)
        return fail('TOKEN_REFRESH_INVALID', 'the refresh token is unknown or revoked', 'refresh-invalid')
      let ok: Outcome<{ row: SubscriptionRecord; plan: TokenPlan }> | undefined
      if (!found.isSpent) {
        // Re-check the subscription before spending the token: a 402 leaves it usable after a renewal.
        ok = usable(await deps.subscriptions.get(found.family.subscriptionId), nowMs)
        if (!ok.ok) return ok
      }
      const next = newRefresh(nowMs)
      const rotation = await deps.store.rotateRefresh(hash, next, nowMs)
      if (rotation.kind === 'reused') {
        deps.onFamilyRevoked(rotation.familyId)
        return fail(
          'TOKEN_REFRESH_REUSED',
          'this refresh token was used already: every token of its sign-in is revoked',
          'refresh-reused',
        )
      }
      if (rotation.kind !== 'rotated' || ok === undefined || !ok.ok)
        return fail('TOKEN_REFRESH_INVALID', 'the refresh token is expired or revoked', 'refresh-invalid')
      const answer = await mint(
        rotation.family.id,
        ok.value.row,
        ok.value.plan,
        next.token,
        next.expiresAtMs,
        nowMs,
      )
      if (answer.ok) deps.onIssued?.('refresh')
      return answer
    },
  }
}
