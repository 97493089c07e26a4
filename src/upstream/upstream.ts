import { createBalancer, type Balancer } from '../load-balancer/index.ts'
import type { UpstreamConfig } from '../config/index.ts'
import type { ErrorCode } from '../errors/index.ts'
import type { Backend } from './backend.ts'

/** Called exactly once per `acquire`: with a backend (the caller must `release` it) or an error code. */
export interface AcquireCallback {
  onBackend(backend: Backend): void
  onUnavailable(code: ErrorCode): void
}

interface Waiter {
  readonly callback: AcquireCallback
  readonly deadline: number
}

export interface UpstreamDeps {
  /** Monotonic clock in ms. */
  readonly now: () => number
}

/**
 * A named set of backends behind one balancer, with admission: a request gets a backend that has a
 * free slot immediately, or waits in a bounded FIFO with a deadline. Never an unbounded wait.
 */
export class Upstream {
  readonly id: string
  readonly backends: readonly Backend[]
  readonly maxQueue: number
  readonly queueTimeoutMs: number
  readonly #balancer: Balancer<Backend>
  readonly #queue: Waiter[] = []
  #queueHead = 0
  #timer: NodeJS.Timeout | undefined
  readonly #deps: UpstreamDeps
  readonly #hasCapacity = (b: Backend): boolean => !b.isDraining && b.active < b.maxActive
  readonly #isUsable = (b: Backend): boolean => !b.isDraining

  constructor(config: UpstreamConfig, backends: readonly Backend[], deps: UpstreamDeps) {
    this.id = config.id
    this.backends = backends
    this.maxQueue = config.pool.maxQueue
    this.queueTimeoutMs = config.pool.queueTimeoutMs
    this.#balancer = createBalancer(config.balancing, backends)
    this.#deps = deps
  }

  /** Requests waiting for a free backend slot. */
  get queueDepth(): number {
    return this.#queue.length - this.#queueHead
  }

  /** Requests in flight across all backends. */
  get active(): number {
    let n = 0
    for (const b of this.backends) n += b.active
    return n
  }

  /**
   * Reserves a backend slot. Synchronous when a slot is free (the common case); otherwise queues with
   * a deadline.
   */
  acquire(callback: AcquireCallback): void {
    const backend = this.#balancer.pick(this.#hasCapacity)
    if (backend !== undefined) {
      this.#start(backend)
      callback.onBackend(backend)
      return
    }
    if (this.#balancer.pick(this.#isUsable) === undefined) {
      callback.onUnavailable('NO_HEALTHY_BACKEND')
      return
    }
    if (this.queueDepth >= this.maxQueue) {
      callback.onUnavailable('UPSTREAM_QUEUE_FULL')
      return
    }
    this.#queue.push({ callback, deadline: this.#deps.now() + this.queueTimeoutMs })
    this.#armTimer()
  }

  /** Picks a backend for a long-lived tunnel (WebSocket): not bounded by request slots. */
  pickForTunnel(): Backend | undefined {
    const backend = this.#balancer.pick(this.#isUsable)
    if (backend !== undefined) backend.tunnels++
    return backend
  }

  releaseTunnel(backend: Backend): void {
    backend.tunnels--
  }

  /** Returns a slot taken by `acquire`; hands it to the oldest waiter if any. */
  release(backend: Backend): void {
    backend.active--
    this.#balancer.onEnd(backend)
    if (this.queueDepth === 0) return
    const next = this.#balancer.pick(this.#hasCapacity)
    if (next === undefined) return
    const waiter = this.#shift()
    if (waiter === undefined) return
    this.#start(next)
    waiter.callback.onBackend(next)
  }

  /** Removes a waiter that gave up (client aborted). Returns false if it was not queued. */
  cancel(callback: AcquireCallback): boolean {
    for (let i = this.#queueHead; i < this.#queue.length; i++) {
      if (this.#queue[i]?.callback === callback) {
        this.#queue.splice(i, 1)
        return true
      }
    }
    return false
  }

  /** Fails every queued request (used when the upstream is retired). */
  failQueued(code: ErrorCode): void {
    let waiter: Waiter | undefined
    while ((waiter = this.#shift()) !== undefined) waiter.callback.onUnavailable(code)
  }

  /** Closes all pools: in-flight requests finish, idle connections close. */
  async close(): Promise<void> {
    this.failQueued('GATEWAY_SHUTTING_DOWN')
    clearTimeout(this.#timer)
    await Promise.all(this.backends.map((b) => b.pool.close()))
  }

  #start(backend: Backend): void {
    backend.active++
    this.#balancer.onStart(backend)
  }

  #shift(): Waiter | undefined {
    if (this.#queueHead >= this.#queue.length) return undefined
    const waiter = this.#queue[this.#queueHead++]
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#queueHead)
      this.#queueHead = 0
    }
    return waiter
  }

  // One timer per upstream, armed for the oldest waiter's deadline (FIFO with equal timeouts).
  #armTimer(): void {
    if (this.#timer !== undefined) return
    const head = this.#queue[this.#queueHead]
    if (head === undefined) return
    const delay = Math.max(0, head.deadline - this.#deps.now())
    this.#timer = setTimeout(this.#onTimer, delay)
    this.#timer.unref()
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined
    const now = this.#deps.now()
    let head = this.#queue[this.#queueHead]
    while (head !== undefined && head.deadline <= now) {
      this.#shift()
      head.callback.onUnavailable('UPSTREAM_QUEUE_TIMEOUT')
      head = this.#queue[this.#queueHead]
    }
    this.#armTimer()
  }
}
