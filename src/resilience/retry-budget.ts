import { SlidingCounter } from './sliding-counter.ts'

export interface RetryBudgetOptions {
  /** Retries allowed as a share of requests in the window (Envoy's budget_percent / 100). */
  readonly ratio: number
  /** Retries always allowed per second, so low-traffic routes can still retry. */
  readonly minRetriesPerSecond: number
  readonly windowMs: number
}

/**
 * A retry budget per route: retries in the window may not exceed `ratio` × requests plus a small floor.
 * At 100% backend failure the extra load is bounded by the ratio, so a full outage cannot multiply load.
 */
export class RetryBudget {
  readonly #requests: SlidingCounter
  readonly #retries: SlidingCounter
  readonly #options: RetryBudgetOptions

  constructor(options: RetryBudgetOptions) {
    this.#options = options
    this.#requests = new SlidingCounter(options.windowMs)
    this.#retries = new SlidingCounter(options.windowMs)
  }

  recordRequest(now: number): void {
    this.#requests.add(now)
  }

  /** Takes one retry from the budget if available; false when exhausted. */
  tryAcquire(now: number): boolean {
    const allowed =
      this.#options.ratio * this.#requests.total(now) +
      (this.#options.minRetriesPerSecond * this.#options.windowMs) / 1000
    if (this.#retries.total(now) + 1 > allowed) return false
    this.#retries.add(now)
    return true
  }

  retriesInWindow(now: number): number {
    return this.#retries.total(now)
  }
}
