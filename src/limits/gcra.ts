/**
 * The Generic Cell Rate Algorithm (GCRA, ITU-T I.371 "virtual scheduling"), the limiter every store
 * shares. The whole state of a key is one number, its theoretical arrival time (TAT): the time at which
 * the key would be back to a full burst if nothing more arrived. A TAT at or before `now` is the same as
 * no state at all, which is what lets a store forget a key once its TAT has passed (and lets Redis expire
 * it with a TTL).
 *
 * Pure: time is passed in. All arithmetic is in integer microseconds so that it is exact in a double
 * (2^53 µs is 285 years) and the Redis Lua script (redis-store.ts) can repeat it digit for digit.
 */

/** A compiled limit: `quota` units per `windowSeconds`, at most `burst` at once. */
export interface GcraPolicy {
  /** Policy name in `RateLimit-Policy` / `RateLimit` (draft-ietf-httpapi-ratelimit-headers), e.g. `ip`. */
  readonly name: string
  /** Units per window (`q` in RateLimit-Policy). */
  readonly quota: number
  /** The window in seconds (`w` in RateLimit-Policy). */
  readonly windowSeconds: number
  /** Units that may be spent at once from a full state. */
  readonly burst: number
  /** Emission interval T: microseconds per unit at the sustained rate (windowSeconds × 10^6 / quota). */
  readonly intervalUs: number
  /** Burst tolerance: how far the TAT may run ahead of now, burst × T. */
  readonly capacityUs: number
}

/** Compiles a policy; throws on values config validation already refuses (a broken invariant). */
export function gcraPolicy(name: string, quota: number, windowSeconds: number, burst = quota): GcraPolicy {
  if (!Number.isInteger(quota) || quota < 1) throw new RangeError(`invariant: quota ${quota}`)
  if (!Number.isInteger(windowSeconds) || windowSeconds < 1)
    throw new RangeError(`invariant: windowSeconds ${windowSeconds}`)
  if (!Number.isInteger(burst) || burst < 1) throw new RangeError(`invariant: burst ${burst}`)
  // At least 1 µs per unit: a quota above a million per second per key is not a limit worth keeping.
  const intervalUs = Math.max(1, Math.round((windowSeconds * 1_000_000) / quota))
  return Object.freeze({ name, quota, windowSeconds, burst, intervalUs, capacityUs: burst * intervalUs })
}

/**
 * A policy over a window in milliseconds (for protocol-level bounds such as HTTP/2 resets per session,
 * which are not advertised in RateLimit fields): `units` per `windowMs`, all of them at once from a full state.
 */
export function gcraPolicyForWindow(name: string, units: number, windowMs: number): GcraPolicy {
  if (!Number.isInteger(units) || units < 1) throw new RangeError(`invariant: units ${units}`)
  if (!(windowMs > 0)) throw new RangeError(`invariant: windowMs ${windowMs}`)
  const intervalUs = Math.max(1, Math.round((windowMs * 1000) / units))
  return Object.freeze({
    name,
    quota: units,
    windowSeconds: Math.max(1, Math.round(windowMs / 1000)),
    burst: units,
    intervalUs,
    capacityUs: units * intervalUs,
  })
}

/** The outcome of one decision (all times relative to `now`, in microseconds). */
export interface GcraDecision {
  readonly isAllowed: boolean
  /** The key's TAT after the decision (unchanged when refused); store it. */
  readonly tatUs: number
  /** Units that could still be spent right now after this decision. */
  readonly remaining: number
  /** Until the key is back to a full burst (its TAT minus now; 0 for a full state). */
  readonly resetUs: number
  /** Refused: until this request would be allowed. 0 when allowed. */
  readonly retryAfterUs: number
}

/**
 * One GCRA decision for a request costing `cost` units at `nowUs`, given the key's stored TAT (undefined
 * for an unknown key). Allowed iff, after charging the cost, the TAT is at most `capacityUs` ahead of now.
 * A refused request charges nothing (clients that keep hammering while limited are not pushed further
 * out; they keep being refused, and the rate they get through stays the policy's).
 */
export function gcraDecide(
  tatUs: number | undefined,
  nowUs: number,
  policy: GcraPolicy,
  cost = 1,
): GcraDecision {
  const base = tatUs === undefined || tatUs < nowUs ? nowUs : tatUs
  const next = base + cost * policy.intervalUs
  return next - nowUs > policy.capacityUs
    ? gcraOutcome(false, base, nowUs, policy, cost)
    : gcraOutcome(true, next, nowUs, policy, cost)
}

/**
 * The full decision from its essentials: allowed or not, and the key's TAT after it (at least `nowUs`).
 * Shared by gcraDecide and the Redis store (whose script returns just these), so both report alike.
 */
export function gcraOutcome(
  isAllowed: boolean,
  tatUs: number,
  nowUs: number,
  policy: GcraPolicy,
  cost = 1,
): GcraDecision {
  const held = tatUs - nowUs
  return {
    isAllowed,
    tatUs,
    // Never negative, also for a TAT left further ahead by a policy that a reload shrank.
    remaining: Math.max(0, Math.floor((policy.capacityUs - held) / policy.intervalUs)),
    resetUs: held,
    retryAfterUs: isAllowed ? 0 : held + cost * policy.intervalUs - policy.capacityUs,
  }
}

/** Whole seconds for a header (delay-seconds, RFC 9110 §10.2.3): rounded up, so never early. */
export function ceilSeconds(us: number): number {
  return Math.ceil(us / 1_000_000)
}
