/**
 * The edge check of access tokens on paid routes: `Authorization: Bearer <JWT>` → verified (cached by
 * SHA-256 of the token until its exp) → not revoked → its plan is one of the route's → its subscription
 * still grants access → admitted with the subscription id and plan set upstream (and the client's
 * Authorization removed unless the route passes it). No credential, another plan or a subscription that no
 * longer grants access → `false` (the 402 challenge); a bad, expired or revoked token → 401 TOKEN_INVALID.
 *
 * Hot path (a cache hit): one SHA-256, one Map lookup, two Set lookups, the subscription cache's peek and
 * access decision; no allocation beyond the hash's. The admission grants are precomputed per cache entry.
 */
import type { Hex } from 'viem'
import type { AdmissionGrant, AdmissionRefusal, AdmissionRequest } from '../runtime/index.ts'
import type { AccessClaims } from './claims.ts'
import type { RevocationSet } from './revocations.ts'
import type { AccessTokenCodec, TokenRefusalReason } from './signing-keys.ts'
import type { TokenSubscriptions } from './token-service.ts'
import { createVerificationCache, tokenKey } from './verification-cache.ts'

/** The edge's refusal reasons (metrics label `reason` of `litgate_token_checks_total`). */
export type EdgeOutcome = 'admitted' | 'absent' | TokenRefusalReason | 'revoked' | 'plan' | 'inactive'

export type EdgeVerdict = false | AdmissionGrant | AdmissionRefusal

export interface TokenCredentialCheck {
  (request: AdmissionRequest, plans: readonly string[]): EdgeVerdict | Promise<EdgeVerdict>
  /** Forgets cached verifications (tests, key rotation). */
  clear(): void
}

export interface CredentialCheckOptions {
  readonly cacheMaxEntries: number
  readonly upstreamHeaders: { readonly subscription: string; readonly plan: string }
}

export interface CredentialCheckDeps {
  readonly codec: Pick<AccessTokenCodec, 'verify'>
  readonly revocations: Pick<RevocationSet, 'isRevoked'>
  readonly subscriptions: TokenSubscriptions
  /** Whether the route forwards the client's Authorization (`routes[].passAuthorization`). */
  passAuthorization(routeId: string): boolean
  readonly nowMs: () => number
  onCheck?(outcome: EdgeOutcome): void
  onCacheLookup?(isHit: boolean): void
}

interface Verified {
  readonly claims: AccessClaims
  /** The grant that strips Authorization, and the one that keeps it. */
  readonly strip: AdmissionGrant
  readonly keep: AdmissionGrant
}

const DESCRIPTIONS: Record<TokenRefusalReason | 'revoked', string> = {
  malformed: 'the access token is malformed',
  signature: 'the access token signature is invalid',
  expired: 'the access token expired',
  claims: 'the access token is not for this gateway',
  revoked: 'the access token was revoked',
}

/** RFC 6750 §3: the refusal of a bad token (precomputed per reason). */
function invalidToken(reason: TokenRefusalReason | 'revoked'): AdmissionRefusal {
  return Object.freeze({
    code: 'TOKEN_INVALID',
    headers: Object.freeze({
      'www-authenticate': `Bearer realm="litgate", error="invalid_token", error_description="${DESCRIPTIONS[reason]}"`,
      'cache-control': 'no-store',
    }),
  })
}
const REFUSALS = Object.freeze({
  malformed: invalidToken('malformed'),
  signature: invalidToken('signature'),
  expired: invalidToken('expired'),
  claims: invalidToken('claims'),
  revoked: invalidToken('revoked'),
})

/** The Bearer token of an Authorization value (RFC 6750 §2.1), or undefined for another scheme. */
export function bearerToken(value: string | undefined): string | undefined {
  if (value === undefined || value.length < 8) return undefined
  const scheme = value.slice(0, 7)
  if (scheme !== 'Bearer ' && scheme.toLowerCase() !== 'bearer ') return undefined
  const token = value.slice(7).trim()
  return token === '' ? undefined : token
}

export function createTokenCredentialCheck(
  options: CredentialCheckOptions,
  deps: CredentialCheckDeps,
): TokenCredentialCheck {
  let cache = createVerificationCache<Verified>(options.cacheMaxEntries)
  const { subscription: subHeader, plan: planHeader } = options.upstreamHeaders
  const removeStrip = Object.freeze(['authorization'])
  const removeKeep = Object.freeze([] as string[])

  const decide = (v: Verified, request: AdmissionRequest, plans: readonly string[], nowMs: number) => {
    const claims = v.claims
    if (deps.revocations.isRevoked(claims.fam, claims.jti)) {
      deps.onCheck?.('revoked')
      return REFUSALS.revoked
    }
    if (!plans.includes(claims.plan)) {
      deps.onCheck?.('plan')
      return false
    }
    const id = claims.sub as Hex
    const row = deps.subscriptions.peek(id)
    const finish = (allowed: boolean): EdgeVerdict => {
      if (!allowed) {
        deps.onCheck?.('inactive')
        return false
      }
      deps.onCheck?.('admitted')
      return deps.passAuthorization(request.routeId) ? v.keep : v.strip
    }
    if (row !== undefined) return finish(deps.subscriptions.isAllowed(row, nowMs))
    return deps.subscriptions.get(id).then((r) => finish(deps.subscriptions.isAllowed(r, deps.nowMs())))
  }

  const check = ((request, plans) => {
    const raw = request.headers.authorization
    const token = bearerToken(raw)
    if (token === undefined) {
      deps.onCheck?.('absent')
      return false
    }
    const key = tokenKey(token)
    const nowMs = deps.nowMs()
    const hit = cache.get(key, nowMs)
    deps.onCacheLookup?.(hit !== undefined)
    if (hit !== undefined) return decide(hit, request, plans, nowMs)
    return deps.codec.verify(token, nowMs).then((outcome) => {
      if (!outcome.ok) {
        deps.onCheck?.(outcome.reason)
        return REFUSALS[outcome.reason]
      }
      const claims = outcome.claims
      const set = Object.freeze([subHeader, claims.sub, planHeader, claims.plan])
      const subject = Object.freeze({ subscriptionId: claims.sub, plan: claims.plan })
      const verified: Verified = {
        claims,
        strip: Object.freeze({ grant: true, removeHeaders: removeStrip, setHeaders: set, subject }),
        keep: Object.freeze({ grant: true, removeHeaders: removeKeep, setHeaders: set, subject }),
      }
      cache.set(key, verified, claims.exp * 1000)
      return decide(verified, request, plans, deps.nowMs())
    })
  }) as TokenCredentialCheck
  check.clear = () => {
    cache = createVerificationCache<Verified>(options.cacheMaxEntries)
  }
  return check
}
