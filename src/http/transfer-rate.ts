/**
 * Minimum transfer rates (slow-client protection): a request body must arrive, and a response must be
 * read, at `minBytesPerSecond` on average over each window of `windowMs` during which the transfer
 * waits on the client. A window in which the gateway itself held the transfer back (queued, upstream
 * backpressure, nothing left to send) does not count: the window restarts.
 */
export interface TransferRatePolicy {
  /** 0 = no minimum. */
  readonly minBytesPerSecond: number
  readonly windowMs: number
}

/** What the check knows about one transfer (times from the same monotonic clock as `now`). */
export interface RateWindow {
  windowStartedAt: number
  bytesAtWindowStart: number
}

export type RateVerdict = 'ok' | 'too-slow'

/**
 * Advances `window` for a transfer that has moved `bytes` so far and decides: a transfer not waiting
 * on the client restarts its window; one whose full window passed with fewer than the minimum bytes is
 * too slow; a full window that met the minimum starts the next one.
 */
export function checkTransferRate(
  window: RateWindow,
  bytes: number,
  isWaitingOnClient: boolean,
  now: number,
  policy: TransferRatePolicy,
): RateVerdict {
  if (policy.minBytesPerSecond === 0 || !isWaitingOnClient) {
    window.windowStartedAt = now
    window.bytesAtWindowStart = bytes
    return 'ok'
  }
  const elapsed = now - window.windowStartedAt
  if (elapsed < policy.windowMs) return 'ok'
  const moved = bytes - window.bytesAtWindowStart
  if (moved < (policy.minBytesPerSecond * elapsed) / 1000) return 'too-slow'
  window.windowStartedAt = now
  window.bytesAtWindowStart = bytes
  return 'ok'
}

/** Which side of an exchange a watched transfer is. */
export type TransferKind = 'request' | 'response'

/** A transfer under watch: the exchange answers these when the sweep asks. */
export interface WatchedTransfer {
  /** Bytes moved so far on this side. */
  transferredBytes(kind: TransferKind): number
  /** True while progress depends on the client (we are reading its body, or it has bytes to read). */
  isWaitingOnClient(kind: TransferKind): boolean
  /** The transfer fell under the minimum rate: it is unwatched, and the exchange ends it. */
  onTooSlow(kind: TransferKind): void
}

/** One watched transfer (returned by `TransferWatch.add`, handed back to `remove`). */
export interface WatchEntry extends RateWindow {
  readonly target: WatchedTransfer
  readonly kind: TransferKind
}

/**
 * The minimum-rate checks of all transfers of a gateway, on one coarse shared timer (no timer per
 * request): each tick checks every watched transfer. The timer runs only while something is watched.
 */
export class TransferWatch {
  readonly #entries = new Set<WatchEntry>()
  readonly #now: () => number
  #request: TransferRatePolicy
  #response: TransferRatePolicy
  #timer: NodeJS.Timeout | undefined

  constructor(request: TransferRatePolicy, response: TransferRatePolicy, now: () => number) {
    this.#request = request
    this.#response = response
    this.#now = now
  }

  /** Transfers watched right now. */
  get size(): number {
    return this.#entries.size
  }

  /** New policies (reload): they apply from the next tick. */
  configure(request: TransferRatePolicy, response: TransferRatePolicy): void {
    this.#request = request
    this.#response = response
    this.stop()
    if (this.#entries.size > 0) this.#arm()
  }

  /** Starts watching one side of an exchange; undefined when that side has no minimum rate. */
  add(target: WatchedTransfer, kind: TransferKind): WatchEntry | undefined {
    const policy = kind === 'request' ? this.#request : this.#response
    if (policy.minBytesPerSecond === 0) return undefined
    const entry: WatchEntry = {
      target,
      kind,
      windowStartedAt: this.#now(),
      bytesAtWindowStart: target.transferredBytes(kind),
    }
    this.#entries.add(entry)
    this.#arm()
    return entry
  }

  remove(entry: WatchEntry | undefined): void {
    if (entry !== undefined) this.#entries.delete(entry)
  }

  /** Runs one check of every watched transfer now (the timer's tick; tests call it directly). */
  sweep(): void {
    if (this.#entries.size === 0) {
      this.stop()
      return
    }
    const now = this.#now()
    for (const e of this.#entries) {
      const policy = e.kind === 'request' ? this.#request : this.#response
      const verdict = checkTransferRate(
        e,
        e.target.transferredBytes(e.kind),
        e.target.isWaitingOnClient(e.kind),
        now,
        policy,
      )
      if (verdict === 'too-slow') {
        this.#entries.delete(e)
        e.target.onTooSlow(e.kind)
      }
    }
  }

  /** Stops the timer (gateway stopping; also when nothing is watched). */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
  }

  #arm(): void {
    if (this.#timer !== undefined) return
    const windowMs = Math.min(this.#request.windowMs, this.#response.windowMs)
    const tickMs = Math.min(1000, Math.max(50, Math.floor(windowMs / 4)))
    this.#timer = setInterval(this.#tick, tickMs)
    this.#timer.unref()
  }

  readonly #tick = (): void => this.sweep()
}
