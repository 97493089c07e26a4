import { createBalancer, type Balancer } from '../load-balancer/index.ts'
import type { UpstreamConfig } from '../config/index.ts'
import type { ErrorCode } from '../errors/index.ts'
import {
  ActiveChecker,
  HealthTracker,
  parseStatusRanges,
  type BackendState,
  type HealthTransition,
  type PassiveOutcome,
} from '../health/index.ts'
import type { BreakerState } from '../resilience/index.ts'
import type { Backend } from './backend.ts'
import { ClientShare } from './client-share.ts'

/** Called exactly once per `acquire`: with a backend (the caller must `release` it) or an error code. */
export interface AcquireCallback {
  onBackend(backend: Backend): void
  onUnavailable(code: ErrorCode): void
  /** A reload moved this waiter to `upstream` (the new runtime's upstream of the same id): release there. */
  onRequeued(upstream: Upstream): void
}

interface Waiter {
  readonly callback: AcquireCallback
  readonly deadline: number
}

export interface UpstreamDeps {
  /** Monotonic clock in ms. */
  readonly now: () => number
  readonly random?: () => number
  /** Backend health transitions (logged with the reason, counted in metrics). */
  readonly onHealthTransition?: (upstreamId: string, transition: HealthTransition) => void
}

/** A backend's externally visible state (admin API, metrics). */
export interface BackendStats {
  readonly upstreamId: string
  readonly backendId: string
  readonly state: BackendState
  readonly breaker: BreakerState
  readonly active: number
  readonly maxActive: number
  readonly tunnels: number
}

/**
 * A named set of backends behind one balancer, with admission: a request gets an eligible backend
 * (healthy or recovering, breaker not open) that has a free slot immediately, or waits in a bounded
 * FIFO with a deadline. Never an unbounded wait. Health comes from passive reports and, when
 * configured, active checks (which this upstream runs and stops).
 */
export class Upstream {
  readonly id: string
  readonly backends: readonly Backend[]
  readonly maxQueue: number
  /** Per-client-IP share of the slots that wait on their client (`pool.maxClientSharePercent`). */
  readonly clientShare: ClientShare
  /** Set when a reload retired this upstream in favour of another of the same id. */
  #successor: Upstream | undefined
  readonly queueTimeoutMs: number
  readonly #balancer: Balancer<Backend>
  readonly #health: HealthTracker
  readonly #index = new Map<Backend, number>()
  readonly #checker: ActiveChecker | undefined
  readonly #queue: Waiter[] = []
  #queueHead = 0
  #timer: NodeJS.Timeout | undefined
  readonly #deps: UpstreamDeps
  readonly #panicMode: 'spread' | 'fail-fast'
  // Per-pick context, set synchronously just before a balancer pick (pick never yields).
  #pickNow = 0
  #pickPanicking = false
  #pickExclude: ReadonlySet<Backend> | undefined

  readonly #isEligible = (b: Backend): boolean => {
    if (b.isDraining) return false
    if (this.#pickExclude?.has(b) === true) return false
    const i = this.#index.get(b) as number
    if (!this.#health.isEligible(i, this.#pickNow, this.#pickPanicking)) return false
    return b.breaker === undefined || b.breaker.isAvailable(this.#pickNow)
  }
  readonly #hasCapacity = (b: Backend): boolean => b.active < b.maxActive && this.#isEligible(b)

  constructor(config: UpstreamConfig, backends: readonly Backend[], deps: UpstreamDeps) {
    this.id = config.id
    this.backends = backends
    this.maxQueue = config.pool.maxQueue
    this.queueTimeoutMs = config.pool.queueTimeoutMs
    let capacity = 0
    for (const b of backends) capacity += b.maxActive
    this.clientShare = ClientShare.of(capacity, config.pool.maxClientSharePercent)
    this.#deps = deps
    this.#panicMode = config.panic.mode
    backends.forEach((b, i) => this.#index.set(b, i))
    const check = config.healthCheck
    this.#health = new HealthTracker(
      backends.map((b) => b.id),
      {
        outlier: config.outlierDetection,
        slowStart: config.slowStart,
        panic: config.panic,
        active: check === undefined ? undefined : { rise: check.rise, fall: check.fall },
      },
      (t) => deps.onHealthTransition?.(config.id, t),
    )
    const hasSlowStart = config.slowStart.windowMs > 0
    this.#balancer = createBalancer(
      config.balancing,
      backends,
      hasSlowStart
        ? {
            weightOf: (b: Backend) =>
              b.weight * this.#health.weightFactor(this.#index.get(b) as number, this.#pickNow),
          }
        : undefined,
    )
    this.#checker =
      check === undefined
        ? undefined
        : new ActiveChecker(
            { ...check, expected: parseStatusRanges(check.expectedStatuses) },
            {
              random: deps.random ?? Math.random,
              onResult: (target, isPassing, detail) => {
                const backend = backends.find((b) => b.id === target.id)
                if (backend === undefined) return
                this.#health.onActiveCheck(
                  this.#index.get(backend) as number,
                  isPassing,
                  this.#deps.now(),
                  detail,
                )
              },
            },
          )
  }

  /** Takes over what `previous` (same id, previous runtime) learned about backends that remain. */
  inheritHealth(previous: Upstream): void {
    this.#health.inheritFrom(previous.#health)
  }

  /** Starts active health checks (if configured). Called once the runtime is live. */
  startHealthChecks(): void {
    this.#checker?.start(this.backends)
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

  /** State of each backend now (computed, for admin and metrics scrapes). */
  stats(): BackendStats[] {
    const now = this.#deps.now()
    return this.backends.map((b, i) => ({
      upstreamId: this.id,
      backendId: b.id,
      state: b.isDraining ? 'draining' : this.#health.state(i, now),
      breaker: b.breaker?.state(now) ?? 'closed',
      active: b.active,
      maxActive: b.maxActive,
      tunnels: b.tunnels,
    }))
  }

  /**
   * Reserves a backend slot. Synchronous when an eligible backend has a free slot (the common case);
   * otherwise queues with a deadline. `exclude` skips backends already tried (retries go elsewhere
   * when another backend is available).
   */
  acquire(callback: AcquireCallback, exclude?: ReadonlySet<Backend>): void {
    this.#beginPick(exclude)
    let backend = this.#balancer.pick(this.#hasCapacity)
    if (backend === undefined && exclude !== undefined) {
      this.#pickExclude = undefined
      backend = this.#balancer.pick(this.#hasCapacity)
    }
    if (backend !== undefined) {
      this.#start(backend)
      callback.onBackend(backend)
      return
    }
    if (this.#balancer.pick(this.#isEligible) === undefined) {
      callback.onUnavailable('NO_HEALTHY_BACKEND')
      return
    }
    if (this.queueDepth >= this.maxQueue) {
      callback.onUnavailable('UPSTREAM_QUEUE_FULL')
      return
    }
    this.#queue.push({ callback, deadline: this.#pickNow + this.queueTimeoutMs })
    this.#armTimer()
  }

  /** Picks a backend for a long-lived tunnel (WebSocket): not bounded by request slots. */
  pickForTunnel(): Backend | undefined {
    this.#beginPick(undefined)
    const backend = this.#balancer.pick(this.#isEligible)
    if (backend !== undefined) backend.tunnels++
    return backend
  }

  releaseTunnel(backend: Backend): void {
    backend.tunnels--
  }

  /** Passive health and breaker signal for one finished attempt on `backend`. */
  report(backend: Backend, outcome: PassiveOutcome): void {
    const i = this.#index.get(backend)
    if (i === undefined) return // backend no longer part of this upstream
    const now = this.#deps.now()
    this.#health.onResponse(i, outcome, now)
    backend.breaker?.onResult(outcome === 'success', now)
  }

  /** An attempt ended without an outcome that says anything about the backend (client went away). */
  reportCancelled(backend: Backend): void {
    backend.breaker?.releaseProbe(this.#deps.now())
  }

  /** Returns a slot taken by `acquire`; hands it to the oldest waiter if any. */
  release(backend: Backend): void {
    backend.active--
    this.#balancer.onEnd(backend)
    // Retired by a reload: the freed slot may belong to a backend the successor shares; its waiters
    // (including those moved there by transferQueued) are served from it.
    if (this.#successor === undefined) return this.#serveWaiter()
    let serving = this.#successor
    while (serving.#successor !== undefined) serving = serving.#successor
    serving.#serveWaiter()
  }

  /** Hands a free slot, if any, to the oldest waiter. */
  #serveWaiter(): void {
    if (this.queueDepth === 0) return
    this.#beginPick(undefined)
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

  /**
   * Moves every queued request to `to`, the upstream of the same id in the runtime that replaced this one,
   * keeping each waiter's deadline: a reload must not fail requests that were only waiting for a slot.
   * Waiters beyond `to`'s queue bound fail with UPSTREAM_QUEUE_FULL, as they would have on arrival.
   */
  transferQueued(to: Upstream): void {
    this.#successor = to
    let waiter: Waiter | undefined
    while ((waiter = this.#shift()) !== undefined) {
      waiter.callback.onRequeued(to)
      to.#adopt(waiter)
    }
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #adopt(waiter: Waiter): void {
    if (this.queueDepth === 0) {
      // Capacity may be free right away (the new upstream may allow more connections).
      this.#beginPick(undefined)
      const backend = this.#balancer.pick(this.#hasCapacity)
      if (backend !== undefined) {
        this.#start(backend)
        waiter.callback.onBackend(backend)
        return
      }
      if (this.#balancer.pick(this.#isEligible) === undefined) {
        waiter.callback.onUnavailable('NO_HEALTHY_BACKEND')
        return
      }
    }
    if (this.queueDepth >= this.maxQueue) {
      waiter.callback.onUnavailable('UPSTREAM_QUEUE_FULL')
      return
    }
    this.#queue.push(waiter)
    this.#armTimer()
  }

  /** Fails every queued request (used when the upstream is retired with no successor). */
  failQueued(code: ErrorCode): void {
    let waiter: Waiter | undefined
    while ((waiter = this.#shift()) !== undefined) waiter.callback.onUnavailable(code)
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /** Stops active health checks (pools are closed by the runtime's retirement). */
  async stopHealthChecks(): Promise<void> {
    await this.#checker?.stop()
  }

  #beginPick(exclude: ReadonlySet<Backend> | undefined): void {
    this.#pickNow = this.#deps.now()
    this.#pickExclude = exclude
    this.#pickPanicking = this.#health.isPanicking(this.#pickNow)
    if (this.#pickPanicking && this.#panicMode === 'fail-fast') this.#pickPanicking = false
  }

  #start(backend: Backend): void {
    backend.active++
    this.#balancer.onStart(backend)
    // Half-open breakers admit a bounded number of probes: take the slot now.
    backend.breaker?.tryAcquire(this.#pickNow)
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
