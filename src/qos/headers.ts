/**
 * The wire form of a QoS decision (draft-ietf-httpapi-ratelimit-headers, shared/PAYMENTS-WIRE.md):
 * `RateLimit-Policy` is the plan's, precomputed (limits.ts); `RateLimit` lists each of the plan's
 * policies with `r` (units left now) and `t` (seconds until its window resets, rounded up); a refusal
 * adds `Retry-After`, never earlier than the end of the latest violated window (GCRA: its retry time).
 */
import { ceilSeconds } from '../limits/index.ts'
import { VIOLATED, type QuotaDecision } from './decision.ts'
import { POLICY, type QuotaLimits, type QuotaWindows } from './limits.ts'

const secondsUntil = (endSec: number, nowSec: number): number => Math.max(0, Math.ceil(endSec - nowSec))

/** The `RateLimit` field value of a decision taken at `nowSec` (wall-clock seconds, fractional). */
export function rateLimitField(
  d: QuotaDecision,
  limits: QuotaLimits,
  windows: QuotaWindows,
  nowSec: number,
): string {
  let out = `"${POLICY.rps}";r=${d.rps.remaining};t=${ceilSeconds(d.rps.resetUs)}`
  if (limits.perDay !== undefined)
    out += `, "${POLICY.daily}";r=${Math.max(0, limits.perDay - d.dayUsed)};t=${secondsUntil(windows.day.endSec, nowSec)}`
  if (limits.perMonth !== undefined)
    out += `, "${POLICY.monthly}";r=${Math.max(0, limits.perMonth - d.monthUsed)};t=${secondsUntil(windows.month.endSec, nowSec)}`
  if (limits.bytesPerPeriod !== undefined)
    out += `, "${POLICY.bytes}";r=${Math.max(0, limits.bytesPerPeriod - d.bytesUsed)};t=${secondsUntil(windows.period.endSec, nowSec)}`
  return out
}

/** Names of the violated policies, in the plan's order. */
export function violatedPolicies(violated: number): string[] {
  const out: string[] = []
  if ((violated & VIOLATED.rps) !== 0) out.push(POLICY.rps)
  if ((violated & VIOLATED.daily) !== 0) out.push(POLICY.daily)
  if ((violated & VIOLATED.monthly) !== 0) out.push(POLICY.monthly)
  if ((violated & VIOLATED.bytes) !== 0) out.push(POLICY.bytes)
  return out
}

/** Seconds a refused client must wait: the latest of the violated windows' ends (at least 1). */
export function retryAfterSeconds(d: QuotaDecision, windows: QuotaWindows, nowSec: number): number {
  let wait = 0
  if ((d.violated & VIOLATED.rps) !== 0) wait = Math.max(wait, ceilSeconds(d.rps.retryAfterUs))
  if ((d.violated & VIOLATED.daily) !== 0) wait = Math.max(wait, secondsUntil(windows.day.endSec, nowSec))
  if ((d.violated & VIOLATED.monthly) !== 0) wait = Math.max(wait, secondsUntil(windows.month.endSec, nowSec))
  if ((d.violated & VIOLATED.bytes) !== 0) wait = Math.max(wait, secondsUntil(windows.period.endSec, nowSec))
  return Math.max(1, wait)
}
