import { SlidingCounter } from './sliding-counter.ts'

export type BreakerState = 'closed' | 'open' | 'half-open'

export interface CircuitBreakerOptions {
  /** Open when failures / calls in the window reach this ratio... */
  readonly failureRatio: number
  /** ...and at least this many calls were seen in the window. */
  readonly minRequests: number
  readonly windowMs: number
  /** How long the breaker stays open before letting probes through. */
  readonly openMs: number
  /** Probes allowed in flight while half-open; all must succeed to close. */
  readonly halfOpenProbes: number
}

/**
 * Per-backend circuit breaker, an explicit state machine:
 * closed --(failure ratio ≥ threshold over the window, volume ≥ min)--> open
 * open --(openMs elapsed)--> half-open
 * half-open --(halfOpenProbes successes)--> closed;  half-open --(any failure)--> open
 * Pure: time is passed in. `onTransition` reports every change with its reason.
 */
export class CircuitBreaker {
  #state: BreakerState = 'closed'
  #openedAt = 0
  #probesInFlight = 0
  #probeSuccesses = 0
  readonly #calls: SlidingCounter
  readonly #failures: SlidingCounter
  readonly #options: CircuitBreakerOptions
  readonly #onTransition: ((from: BreakerState, to: BreakerState, reason: string) => void) | undefined

  constructor(
    options: CircuitBreakerOptions,
    onTransition?: (from: BreakerState, to: BreakerState, reason: string) => void,
  ) {
    this.#options = options
    this.#calls = new SlidingCounter(options.windowMs)
    this.#failures = new SlidingCounter(options.windowMs)
    this.#onTransition = onTransition
  }

  /** Current state, after applying time-based transitions (open → half-open). */
  state(now: number): BreakerState {
    if (this.#state === 'open' && now - this.#openedAt >= this.#options.openMs) {
      this.#set('half-open', 'open period elapsed')
      this.#probesInFlight = 0
      this.#probeSuccesses = 0
    }
    return this.#state
  }

  /** Whether a request may be sent now. In half-open, takes a probe slot (release it with onResult). */
  tryAcquire(now: number): boolean {
    const state = this.state(now)
    if (state === 'closed') return true
    if (state === 'open') return false
    if (this.#probesInFlight >= this.#options.halfOpenProbes) return false
    this.#probesInFlight++
    return true
  }

  /** True when a request may be sent now, without taking a probe slot. */
  isAvailable(now: number): boolean {
    const state = this.state(now)
    return (
      state === 'closed' || (state === 'half-open' && this.#probesInFlight < this.#options.halfOpenProbes)
    )
  }

  /** Reports the outcome of a request that `tryAcquire` admitted. */
  onResult(isSuccess: boolean, now: number): void {
    const state = this.state(now)
    if (state === 'half-open') {
      this.#probesInFlight = Math.max(0, this.#probesInFlight - 1)
      if (!isSuccess) {
        this.#open(now, 'probe failed')
        return
      }
      this.#probeSuccesses++
      if (this.#probeSuccesses >= this.#options.halfOpenProbes) {
        this.#calls.reset()
        this.#failures.reset()
        this.#set('closed', `${this.#probeSuccesses} probes succeeded`)
      }
      return
    }
    if (state === 'open') return
    this.#calls.add(now)
    if (!isSuccess) this.#failures.add(now)
    const calls = this.#calls.total(now)
    if (calls < this.#options.minRequests) return
    const failures = this.#failures.total(now)
    if (failures / calls >= this.#options.failureRatio) {
      this.#open(now, `failure ratio ${failures}/${calls} over the window`)
    }
  }

  /** Returns a probe slot taken by `tryAcquire` without an outcome (the attempt was cancelled). */
  releaseProbe(now: number): void {
    if (this.state(now) === 'half-open') this.#probesInFlight = Math.max(0, this.#probesInFlight - 1)
  }

  #open(now: number, reason: string): void {
    this.#openedAt = now
    this.#probesInFlight = 0
    this.#probeSuccesses = 0
    this.#set('open', reason)
  }

  #set(to: BreakerState, reason: string): void {
    const from = this.#state
    if (from === to) return
    this.#state = to
    this.#onTransition?.(from, to, reason)
  }
}
