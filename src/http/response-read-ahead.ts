import type { ByteBudget } from './byte-budget.ts'

/**
 * Read-ahead of one response for a client slower than its backend: the gateway keeps reading from the
 * backend while the bytes not yet taken by the client stay within `maxBytes` for this response and fit
 * the gateway-wide memory budget. A response that fits completes upstream at the backend's pace, so
 * its upstream connection goes back to the pool while the client drains. Beyond either bound the
 * caller falls back to streaming with backpressure.
 */
export class ResponseReadAhead {
  readonly #budget: ByteBudget
  readonly #maxBytes: number
  #reserved = 0

  constructor(budget: ByteBudget, maxBytes: number) {
    this.#budget = budget
    this.#maxBytes = maxBytes
  }

  /** Bytes of the memory budget this response holds. */
  get reservedBytes(): number {
    return this.#reserved
  }

  /**
   * The client's side holds `pendingBytes` not yet sent: true (and the growth reserved) when the
   * gateway may go on reading from the backend, false when it must pause it.
   */
  tryAbsorb(pendingBytes: number): boolean {
    if (pendingBytes > this.#maxBytes) return false
    const need = pendingBytes - this.#reserved
    if (need <= 0) return true
    if (!this.#budget.tryReserve(need)) return false
    this.#reserved += need
    return true
  }

  /** The client's side drained (or closed): the held bytes are gone. */
  releaseAll(): void {
    if (this.#reserved > 0) this.#budget.release(this.#reserved)
    this.#reserved = 0
  }
}
