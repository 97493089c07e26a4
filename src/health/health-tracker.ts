/**
 * Backend health for one upstream: an explicit state machine per backend, fed by passive signals
 * (responses) and active checks, with the pool-level rules (ejection cap, panic mode). Pure: the
 * current time is passed in; no timers. Time-based transitions (ejection expiry, end of slow start)
 * are applied when state is read.
 *
 *   healthy ──(N consecutive 5xx / gateway errors, under the ejection cap)──▶ ejected (for base × k, k = ejections so far)
 *   healthy ──(`fall` failed active checks)──────────────────────────────────▶ ejected (until `rise` passing checks)
 *   ejected ──(ejection time over and active check passing)──────────────────▶ recovering (weight ramps floor → 100%)
 *   recovering ──(slow-start window over)─────────────────────────────────────▶ healthy
 *   recovering ──(ejected again)──────────────────────────────────────────────▶ ejected
 *   any ──(removed from config)───────────────────────────────────────────────▶ draining (terminal)
 */
export type BackendState = 'healthy' | 'ejected' | 'recovering' | 'draining'

/** Passive outcome of one request to a backend. */
export type PassiveOutcome = 'success' | '5xx' | 'gateway-error'

export interface OutlierPolicy {
  /** Consecutive 5xx responses that eject (0 = off). */
  readonly consecutive5xx: number
  /** Consecutive connect failures / resets / timeouts that eject (0 = off). */
  readonly consecutiveGatewayErrors: number
  readonly baseEjectionMs: number
  readonly maxEjectionMs: number
  /** Most of the pool that passive detection may eject at once (at least one backend). */
  readonly maxEjectionPercent: number
}

export interface HealthPolicy {
  readonly outlier: OutlierPolicy
  /** Slow start after recovery: weight ramps from floorPercent to 100% over windowMs (0 = off). */
  readonly slowStart: { readonly windowMs: number; readonly floorPercent: number }
  /** Below this share of healthy backends the pool is in panic. */
  readonly panic: { readonly thresholdPercent: number; readonly mode: 'spread' | 'fail-fast' }
  /** Active check thresholds (consecutive results), when active checks run. */
  readonly active: { readonly rise: number; readonly fall: number } | undefined
}

export interface HealthTransition {
  readonly backendId: string
  readonly from: BackendState
  readonly to: BackendState
  readonly reason: string
}

interface Record {
  readonly id: string
  state: BackendState
  consecutive5xx: number
  consecutiveGatewayErrors: number
  ejections: number
  passiveUntil: number
  isActiveDown: boolean
  activePasses: number
  activeFails: number
  recoveringSince: number
}

export class HealthTracker {
  readonly #records: Record[]
  readonly #policy: HealthPolicy
  readonly #onTransition: (t: HealthTransition) => void

  constructor(
    backendIds: readonly string[],
    policy: HealthPolicy,
    onTransition: (t: HealthTransition) => void = () => {},
  ) {
    this.#policy = policy
    this.#onTransition = onTransition
    this.#records = backendIds.map((id) => ({
      id,
      state: 'healthy',
      consecutive5xx: 0,
      consecutiveGatewayErrors: 0,
      ejections: 0,
      passiveUntil: 0,
      isActiveDown: false,
      activePasses: 0,
      activeFails: 0,
      recoveringSince: 0,
    }))
  }

  get size(): number {
    return this.#records.length
  }

  /** State of backend `i` at `now` (applies expiry of ejection and of slow start). */
  state(i: number, now: number): BackendState {
    const r = this.#records[i] as Record
    if (r.state === 'ejected' && !r.isActiveDown && now >= r.passiveUntil) {
      if (this.#policy.slowStart.windowMs > 0) {
        r.recoveringSince = now
        this.#set(r, 'recovering', 'ejection period over')
      } else {
        this.#set(r, 'healthy', 'ejection period over')
      }
    }
    if (r.state === 'recovering' && now - r.recoveringSince >= this.#policy.slowStart.windowMs) {
      this.#set(r, 'healthy', 'slow start complete')
    }
    return r.state
  }

  /** Weight multiplier in (0, 1]: below 1 only while recovering (slow start, linear ramp). */
  weightFactor(i: number, now: number): number {
    if (this.state(i, now) !== 'recovering') return 1
    const r = this.#records[i] as Record
    const { windowMs, floorPercent } = this.#policy.slowStart
    const floor = floorPercent / 100
    return floor + (1 - floor) * Math.min(1, (now - r.recoveringSince) / windowMs)
  }

  /** True when the pool is below the panic threshold of healthy (or recovering) backends. */
  isPanicking(now: number): boolean {
    let usable = 0
    let total = 0
    for (let i = 0; i < this.#records.length; i++) {
      const s = this.state(i, now)
      if (s === 'draining') continue
      total++
      if (s !== 'ejected') usable++
    }
    return total > 0 && (usable * 100) / total < this.#policy.panic.thresholdPercent
  }

  /** Whether backend `i` may receive traffic: not ejected or draining (or the pool panics and spreads). */
  isEligible(i: number, now: number, isPanicking: boolean): boolean {
    const s = this.state(i, now)
    if (s === 'draining') return false
    if (s !== 'ejected') return true
    return isPanicking && this.#policy.panic.mode === 'spread'
  }

  /** Feeds one request outcome (passive detection). */
  onResponse(i: number, outcome: PassiveOutcome, now: number): void {
    const r = this.#records[i] as Record
    if (r.state === 'draining') return
    if (outcome === 'success') {
      r.consecutive5xx = 0
      r.consecutiveGatewayErrors = 0
      return
    }
    const o = this.#policy.outlier
    let reason: string | undefined
    if (outcome === '5xx') {
      r.consecutive5xx++
      if (o.consecutive5xx > 0 && r.consecutive5xx >= o.consecutive5xx)
        reason = `${r.consecutive5xx} consecutive 5xx`
    } else {
      r.consecutiveGatewayErrors++
      if (o.consecutiveGatewayErrors > 0 && r.consecutiveGatewayErrors >= o.consecutiveGatewayErrors) {
        reason = `${r.consecutiveGatewayErrors} consecutive gateway errors`
      }
    }
    if (reason === undefined || this.state(i, now) === 'ejected') return
    if (!this.#mayEject(now)) return
    r.ejections++
    r.consecutive5xx = 0
    r.consecutiveGatewayErrors = 0
    r.passiveUntil = now + Math.min(o.maxEjectionMs, o.baseEjectionMs * r.ejections)
    this.#set(r, 'ejected', `${reason}; ejected for ${r.passiveUntil - now} ms (ejection #${r.ejections})`)
  }

  /** Feeds one active health check result. */
  onActiveCheck(i: number, isPassing: boolean, now: number, detail: string): void {
    const r = this.#records[i] as Record
    const active = this.#policy.active
    if (r.state === 'draining' || active === undefined) return
    if (isPassing) {
      r.activeFails = 0
      r.activePasses++
      if (r.isActiveDown && r.activePasses >= active.rise) {
        r.isActiveDown = false
        // Back from an active-check ejection: passive ejection time may still run; state() resolves it.
        if (now >= r.passiveUntil) {
          if (this.#policy.slowStart.windowMs > 0) {
            r.recoveringSince = now
            this.#set(r, 'recovering', `${r.activePasses} passing health checks`)
          } else {
            this.#set(r, 'healthy', `${r.activePasses} passing health checks`)
          }
        }
      }
    } else {
      r.activePasses = 0
      r.activeFails++
      if (!r.isActiveDown && r.activeFails >= active.fall) {
        r.isActiveDown = true
        this.#set(r, 'ejected', `${r.activeFails} failed health checks: ${detail}`)
      }
    }
  }

  /**
   * Copies the health of backends with the same id from `previous` (a config reload keeps what was
   * learned about a backend that stays: an ejected backend stays ejected). No transitions are reported.
   */
  inheritFrom(previous: HealthTracker): void {
    const byId = new Map(previous.#records.map((r) => [r.id, r]))
    for (let i = 0; i < this.#records.length; i++) {
      const old = byId.get((this.#records[i] as Record).id)
      if (old !== undefined && old.state !== 'draining') this.#records[i] = { ...old }
    }
  }

  /** Marks backend `i` as draining (removed by config). Terminal. */
  drain(i: number): void {
    const r = this.#records[i] as Record
    this.#set(r, 'draining', 'removed from config')
  }

  #mayEject(now: number): boolean {
    let ejected = 0
    let total = 0
    for (let i = 0; i < this.#records.length; i++) {
      const s = this.state(i, now)
      if (s === 'draining') continue
      total++
      if (s === 'ejected') ejected++
    }
    const cap = Math.max(1, Math.floor((total * this.#policy.outlier.maxEjectionPercent) / 100))
    return ejected < cap
  }

  #set(r: Record, to: BackendState, reason: string): void {
    const from = r.state
    if (from === to) return
    r.state = to
    this.#onTransition({ backendId: r.id, from, to, reason })
  }
}
