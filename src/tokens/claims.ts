/**
 * Access-token claims (pure): what a token says and how long it may live. A token lives at most
 * `accessTtlSeconds` (≤ 15 min) and never past the end of the subscription it was issued for.
 */

/** The claims of a litgate access token (docs/tokens.md "Claims"). Times in unix seconds. */
export interface AccessClaims {
  readonly iss: string
  readonly aud: string
  /** The subscription id (`0x` + 64 lower-case hex). */
  readonly sub: string
  /** The plan name (`paidAccess.plans[].name`). */
  readonly plan: string
  /** The QoS tier (the plan name for now). */
  readonly tier: string
  /** Limits version: a hash of the plan's configuration (changes when its QoS changes). */
  readonly lv: string
  /** Family id: every token issued from one `POST {base}/token`. */
  readonly fam: string
  readonly jti: string
  readonly iat: number
  readonly nbf: number
  readonly exp: number
}

/** The hard ceiling of an access token's lifetime (the contract: ≤ 15 min). */
export const MAX_ACCESS_TTL_SECONDS = 900

/**
 * `iat`/`nbf`/`exp` of a token issued at `nowSec` for a subscription ending at `subscriptionEndSec`:
 * `exp = min(now + ttl, end)`. Undefined when the subscription ends within the second (nothing to issue).
 */
export function accessTokenTimes(
  nowSec: number,
  ttlSeconds: number,
  subscriptionEndSec: number,
): { readonly iat: number; readonly nbf: number; readonly exp: number } | undefined {
  const ttl = Math.min(Math.max(1, Math.floor(ttlSeconds)), MAX_ACCESS_TTL_SECONDS)
  const now = Math.floor(nowSec)
  const exp = Math.min(now + ttl, Math.floor(subscriptionEndSec))
  if (exp <= now) return undefined
  return { iat: now, nbf: now, exp }
}

const SUBSCRIPTION_ID = /^0x[0-9a-f]{64}$/
const SHORT = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * The litgate claims of a verified JWT payload (signature, iss, aud, exp and nbf already checked by the
 * codec), or undefined when one is missing or malformed: such a token was not issued by litgate.
 */
export function readAccessClaims(payload: Record<string, unknown>): AccessClaims | undefined {
  const { iss, aud, sub, plan, tier, lv, fam, jti, iat, nbf, exp } = payload
  if (typeof sub !== 'string' || !SUBSCRIPTION_ID.test(sub)) return undefined
  if (typeof iss !== 'string' || typeof aud !== 'string') return undefined
  for (const v of [plan, tier, lv, fam, jti]) if (typeof v !== 'string' || !SHORT.test(v)) return undefined
  for (const v of [iat, nbf, exp]) if (typeof v !== 'number' || !Number.isInteger(v)) return undefined
  return { iss, aud, sub, plan, tier, lv, fam, jti, iat, nbf, exp } as AccessClaims
}
