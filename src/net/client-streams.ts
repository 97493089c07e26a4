/**
 * Concurrent HTTP/2 streams per client IP across all sessions of a listener (`server.http2MaxStreamsPerClient`):
 * one address cannot open more streams than this however many connections it uses. Pure bookkeeping;
 * an entry exists only while its address has an open stream.
 */
export class ClientStreams {
  #limit: number
  readonly #open = new Map<string, number>()

  /** `limit` open streams per address (0 = no cap). */
  constructor(limit: number) {
    this.#limit = limit
  }

  /** New cap (reload): streams already open stay; new ones see it. */
  setLimit(limit: number): void {
    this.#limit = limit
  }

  openBy(address: string): number {
    return this.#open.get(address) ?? 0
  }

  /** Counts a new stream of `address`; false (not counted) when the address is at its cap. */
  tryOpen(address: string): boolean {
    const n = this.openBy(address)
    if (this.#limit !== 0 && n >= this.#limit) return false
    this.#open.set(address, n + 1)
    return true
  }

  /** A stream counted by `tryOpen` closed. */
  close(address: string): void {
    const n = this.openBy(address)
    if (n <= 1) this.#open.delete(address)
    else this.#open.set(address, n - 1)
  }
}
