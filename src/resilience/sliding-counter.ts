/**
 * Counts events over a sliding time window with fixed buckets (no allocation after construction).
 * Time is passed in, so the counter is pure and testable with a fake clock.
 */
export class SlidingCounter {
  readonly #bucketMs: number
  readonly #counts: Float64Array
  #headBucket = 0
  #total = 0

  constructor(windowMs: number, buckets = 10) {
    this.#bucketMs = Math.max(1, Math.ceil(windowMs / buckets))
    this.#counts = new Float64Array(buckets)
  }

  /** Adds `n` events at time `now` (ms). */
  add(now: number, n = 1): void {
    this.#advance(now)
    const i = this.#headBucket % this.#counts.length
    this.#counts[i] = (this.#counts[i] ?? 0) + n
    this.#total += n
  }

  /** Events in the last window ending at `now`. */
  total(now: number): number {
    this.#advance(now)
    return this.#total
  }

  reset(): void {
    this.#counts.fill(0)
    this.#total = 0
  }

  #advance(now: number): void {
    const bucket = Math.floor(now / this.#bucketMs)
    if (bucket <= this.#headBucket) return
    const n = this.#counts.length
    const steps = Math.min(n, bucket - this.#headBucket)
    for (let s = 1; s <= steps; s++) {
      const i = (this.#headBucket + s) % n
      this.#total -= this.#counts[i] ?? 0
      this.#counts[i] = 0
    }
    this.#headBucket = bucket
  }
}
