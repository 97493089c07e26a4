/**
 * Exponential backoff with "full jitter": the delay is uniform in [0, min(cap, base · 2^attempt)]
 * (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015). Full jitter spreads retries of many
 * clients the most and keeps the expected total work lowest.
 */

export interface BackoffOptions {
  /** Ceiling of the first retry's delay. */
  readonly baseMs: number
  /** No delay ever exceeds this. */
  readonly maxMs: number
}

/** Upper bound of the delay before retry number `attempt` (0-based). */
export function backoffCeilingMs(attempt: number, options: BackoffOptions): number {
  // 2^attempt overflows to Infinity for large attempts; Math.min keeps the cap.
  return Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt))
}

/** Delay before retry number `attempt` (0-based); `random` is uniform in [0, 1). */
export function fullJitterBackoffMs(attempt: number, options: BackoffOptions, random: () => number): number {
  return Math.floor(random() * backoffCeilingMs(attempt, options))
}
