import type { Socket } from 'node:net'

/** Connection counts by state, across all listeners. */
export interface ConnectionCounts {
  /** Open client connections (TCP accepted, not yet closed). */
  readonly open: number
  /** HTTP/1.1 connections with a request in flight, plus HTTP/2 sessions. */
  readonly active: number
  /** Open connections with no request in flight (keep-alive idle, or TLS handshake). */
  readonly idle: number
  /** Connections handed over to a WebSocket tunnel. */
  readonly upgraded: number
  /** Connections refused because the global cap was reached (since start). */
  readonly rejected: number
}

const kInflight = Symbol('litgate.inflight')
type TrackedSocket = Socket & { [kInflight]?: number }

/**
 * Tracks client connections for the global cap, state counts and graceful shutdown. One tracker is
 * shared by all listeners of a gateway; it holds no references to closed sockets.
 */
export class ConnectionTracker {
  #maxConnections: number
  readonly #sockets = new Set<Socket>()
  #active = 0
  #rejected = 0
  #refusedStreams = 0

  constructor(maxConnections: number) {
    this.#maxConnections = maxConnections
  }

  /** The global cap (`server.maxConnections`). */
  get maxConnections(): number {
    return this.#maxConnections
  }

  /**
   * Changes the cap (on reload). Applies to the next accept: connections already open above a lowered
   * cap are not closed, new ones are refused until the count is below it.
   */
  setMaxConnections(maxConnections: number): void {
    this.#maxConnections = maxConnections
  }

  /** Admits a newly accepted socket; returns false (and destroys it) when the cap is reached. */
  admit(socket: Socket): boolean {
    if (this.#sockets.size >= this.#maxConnections) {
      this.#rejected++
      socket.destroy()
      return false
    }
    this.#sockets.add(socket)
    socket.once('close', () => this.#sockets.delete(socket))
    return true
  }

  /** An HTTP/2 stream refused because its client address had `server.http2MaxStreamsPerClient` open. */
  recordRefusedStream(): void {
    this.#refusedStreams++
  }

  /** HTTP/2 streams refused by the per-client cap (since start). */
  get refusedStreams(): number {
    return this.#refusedStreams
  }

  /** A connection the listener's own (Node) cap dropped before `admit` saw it. */
  recordDropped(): void {
    this.#rejected++
  }

  /** An HTTP/1.1 request started on `socket`. */
  requestStarted(socket: Socket): void {
    const s = socket as TrackedSocket
    const n = s[kInflight] ?? 0
    s[kInflight] = n + 1
    if (n === 0) this.#active++
  }

  /**
   * An HTTP/1.1 request on `socket` finished (response sent or connection gone: the response's
   * `close` event fires in both cases, so every start has exactly one finish). `socket` is the one the
   * request saw: on TLS listeners that is the TLS socket, not the raw one `admit` counted, so activity
   * is tracked on whichever object carries the request.
   */
  requestFinished(socket: Socket): void {
    const s = socket as TrackedSocket
    const n = s[kInflight] ?? 0
    if (n <= 0) return
    s[kInflight] = n - 1
    if (n === 1) this.#active--
  }

  sessionOpened(): void {
    this.#active++
  }

  sessionClosed(): void {
    this.#active--
  }

  /** True when `socket` has no request in flight (safe to close during drain). */
  isIdle(socket: Socket): boolean {
    return ((socket as TrackedSocket)[kInflight] ?? 0) === 0
  }

  /** Every open client socket (for forced shutdown). */
  sockets(): IterableIterator<Socket> {
    return this.#sockets.values()
  }

  /** Counts by state; `upgraded` is the number of live tunnels (owned by the upgrade path). */
  counts(upgraded: number): ConnectionCounts {
    const open = this.#sockets.size
    return {
      open,
      active: this.#active,
      idle: Math.max(0, open - this.#active - upgraded),
      upgraded,
      rejected: this.#rejected,
    }
  }
}
