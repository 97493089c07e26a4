/**
 * Per-endpoint circuit breaker as a pure state machine over an injected `now`:
 *
 *   closed --(failureThreshold consecutive failures)--> open
 *   open   --(cooldown elapsed, one trial admitted)----> half-open
 *   half-open --success--> closed      half-open --failure--> open (longer cooldown)
 *
 * The cooldown grows with full-jitter exponential backoff over consecutive trips, so a dead endpoint is
 * re-tried (reconnected) ever more rarely, up to `openMaxMs`, and many gateways do not retry in lockstep.
 */
import { backoffCeilingMs } from './backoff.ts'

export interface BreakerOptions {
  /** Consecutive failures that open a closed breaker. */
  readonly failureThreshold: number
  /** Cooldown of the first trip. */
  readonly openBaseMs: number
  /** Longest cooldown after repeated trips. */
  readonly openMaxMs: number
}

export type BreakerPhase = 'closed' | 'open' | 'half-open'

export interface BreakerState {
  readonly phase: BreakerPhase
  readonly consecutiveFailures: number
  /** Consecutive trips without a success in between; drives the growing cooldown. */
  readonly trips: number
  /** While open: when a trial may be admitted. */
  readonly openUntil: number
  /** While half-open: whether the one trial request is in flight. */
  readonly isTrialInFlight: boolean
}

export const CLOSED_BREAKER: BreakerState = Object.freeze({
  phase: 'closed',
  consecutiveFailures: 0,
  trips: 0,
  openUntil: 0,
  isTrialInFlight: false,
})

/** Whether a request may be sent now (without changing the state). */
export function isBreakerAdmitting(state: BreakerState, now: number): boolean {
  if (state.phase === 'closed') return true
  if (state.phase === 'open') return now >= state.openUntil
  return !state.isTrialInFlight
}

/**
 * Records that a request is being sent. Returns the new state; an open breaker whose cooldown elapsed
 * moves to half-open with its single trial in flight. Callers check `isBreakerAdmitting` first.
 */
export function onBreakerAttempt(state: BreakerState, now: number): BreakerState {
  if (state.phase === 'closed') return state
  if (state.phase === 'open' && now < state.openUntil) return state
  return { ...state, phase: 'half-open', isTrialInFlight: true }
}

/** Any answer from the endpoint (even a JSON-RPC error) closes the breaker. */
export function onBreakerSuccess(state: BreakerState): BreakerState {
  return state.phase === 'closed' && state.consecutiveFailures === 0 ? state : CLOSED_BREAKER
}

/**
 * A transport-level failure (timeout, refused, 5xx, 429). `random` (uniform in [0, 1)) jitters the
 * cooldown between half and all of its ceiling, so cooldowns never collapse to zero.
 */
export function onBreakerFailure(
  state: BreakerState,
  now: number,
  options: BreakerOptions,
  random: () => number,
): BreakerState {
  const failures = state.consecutiveFailures + 1
  const shouldTrip = state.phase === 'half-open' || (state.phase === 'closed' && failures >= options.failureThreshold)
  if (!shouldTrip) {
    // An open breaker stays open with its cooldown (e.g. a late failure of a request admitted earlier).
    return { ...state, consecutiveFailures: failures }
  }
  const ceiling = backoffCeilingMs(state.trips, { baseMs: options.openBaseMs, maxMs: options.openMaxMs })
  const cooldownMs = Math.ceil(ceiling / 2 + (random() * ceiling) / 2)
  return {
    phase: 'open',
    consecutiveFailures: failures,
    trips: state.trips + 1,
    openUntil: now + cooldownMs,
    isTrialInFlight: false,
  }
}

/** Numeric phase for a gauge: 0 closed, 1 half-open, 2 open. */
export function breakerPhaseValue(phase: BreakerPhase): number {
  return phase === 'closed' ? 0 : phase === 'half-open' ? 1 : 2
}
