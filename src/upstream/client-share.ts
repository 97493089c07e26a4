/**
 * The per-client-IP share of an upstream's slots that may wait on the client (slow-client protection).
 * A slot is "client-bound" while its progress depends on the client: its request body is streamed
 * unbuffered to the backend, or its response is paused because the client reads slower than the
 * backend sends. Slots of fast clients are never counted, so a single fast client can still use the
 * whole pool; one client IP can never hold more than `limit` slots hostage. Pure bookkeeping: entries
 * exist only while a client holds something (memory bounded by concurrency).
 */
export class ClientShare {
  readonly limit: number
  readonly #held = new Map<string, number>()

  /** `limit` client-bound slots per client (0 = no cap). */
  constructor(limit: number) {
    this.limit = limit
  }

  /** The share of `capacity` slots one client may hold at `percent` (at least one; 100 = no cap). */
  static of(capacity: number, percent: number): ClientShare {
    return new ClientShare(percent >= 100 ? 0 : Math.max(1, Math.floor((capacity * percent) / 100)))
  }

  /** Client-bound slots `client` holds now. */
  heldBy(client: string): number {
    return this.#held.get(client) ?? 0
  }

  /** Clients holding at least one client-bound slot. */
  get clients(): number {
    return this.#held.size
  }

  /** True when `client` already holds its whole share (its new requests are refused). */
  isFull(client: string): boolean {
    return this.limit !== 0 && this.heldBy(client) >= this.limit
  }

  /** Takes one client-bound slot for `client`; false (nothing taken) when its share is full. */
  tryHold(client: string): boolean {
    if (this.isFull(client)) return false
    this.#held.set(client, this.heldBy(client) + 1)
    return true
  }

  /** Returns one slot taken by `tryHold`. */
  release(client: string): void {
    const n = this.heldBy(client)
    if (n <= 1) this.#held.delete(client)
    else this.#held.set(client, n - 1)
  }
}
