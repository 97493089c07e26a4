/**
 * A byte budget shared by every in-flight buffered body and read-ahead response of a gateway (one for
 * memory, one for temp files): hundreds of buffered bodies cannot add up past it. Pure bookkeeping;
 * callers reserve before they hold bytes and release exactly what they reserved.
 */
export class ByteBudget {
  #limit: number
  #used = 0

  constructor(limitBytes: number) {
    this.#limit = limitBytes
  }

  get limitBytes(): number {
    return this.#limit
  }

  /** Bytes reserved right now. */
  get usedBytes(): number {
    return this.#used
  }

  /** New limit (reload): reservations already held stay; new ones see the new limit. */
  setLimit(limitBytes: number): void {
    this.#limit = limitBytes
  }

  /** Reserves `bytes` if they fit under the limit; false (nothing reserved) otherwise. */
  tryReserve(bytes: number): boolean {
    if (this.#used + bytes > this.#limit) return false
    this.#used += bytes
    return true
  }

  /** Returns bytes taken by `tryReserve`. */
  release(bytes: number): void {
    this.#used -= bytes
    if (this.#used < 0) throw new Error(`invariant: byte budget released more than reserved (${this.#used})`)
  }
}
