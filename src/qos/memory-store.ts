import {
  emptyQuotaState,
  quotaDecision,
  reserveInState,
  settleInState,
  type QuotaDecision,
  type QuotaState,
  type SettleUsage,
} from './decision.ts'
import type { QuotaLimits, QuotaWindows } from './limits.ts'
import { SETTLE_MEMORY_SECONDS, type QuotaStore, type UsageSnapshot } from './store.ts'

export interface MemoryQuotaStoreDeps {
  /** Monotonic microseconds (GCRA). Default performance.now() × 1000. */
  readonly nowUs?: () => number
  /** Milliseconds for leases and settle memory. Default Date.now. */
  readonly nowMs?: () => number
}

/** Settle markers held at most (the idempotency window is the shorter of this many and two minutes). */
const MAX_SETTLE_MARKERS = 100_000

/**
 * Per-subscription QoS state in process memory (one instance; the default). One entry per subscription
 * that was admitted since start (bounded by the paying subscriptions, not by traffic); settled request
 * ids are remembered SETTLE_MEMORY_SECONDS (at most MAX_SETTLE_MARKERS) in insertion order and swept as
 * new ones arrive.
 */
export class MemoryQuotaStore implements QuotaStore {
  readonly kind = 'memory' as const
  readonly #nowUs: () => number
  readonly #nowMs: () => number
  readonly #states = new Map<string, QuotaState>()
  /** requestId → when it may be forgotten (ms); Map order is insertion order = expiry order. */
  readonly #settled = new Map<string, number>()
  readonly #streams = new Map<string, Map<string, number>>()

  constructor(deps: MemoryQuotaStoreDeps = {}) {
    this.#nowUs = deps.nowUs ?? (() => Math.floor(performance.now() * 1000))
    this.#nowMs = deps.nowMs ?? Date.now
  }

  #state(id: string): QuotaState {
    let s = this.#states.get(id)
    if (s === undefined) {
      s = emptyQuotaState()
      this.#states.set(id, s)
    }
    return s
  }

  reserve(id: string, limits: QuotaLimits, windows: QuotaWindows): QuotaDecision {
    return quotaDecision(reserveInState(this.#state(id), limits, windows, this.#nowUs()), limits)
  }

  settle(
    id: string,
    limits: QuotaLimits,
    windows: QuotaWindows,
    requestId: string,
    usage: SettleUsage,
  ): boolean {
    const now = this.#nowMs()
    for (const [key, until] of this.#settled) {
      if (until > now) break
      this.#settled.delete(key)
    }
    const key = `${id}|${requestId}`
    if (this.#settled.has(key)) return false
    // Bounded: past the cap the oldest marker goes (in memory a settle cannot be lost and retried anyway).
    if (this.#settled.size >= MAX_SETTLE_MARKERS)
      this.#settled.delete(this.#settled.keys().next().value as string)
    this.#settled.set(key, now + SETTLE_MEMORY_SECONDS * 1000)
    settleInState(this.#state(id), limits, windows, usage, this.#nowUs())
    return true
  }

  usage(id: string, limits: QuotaLimits, windows: QuotaWindows): UsageSnapshot {
    const s = this.#states.get(id) ?? emptyQuotaState()
    const inPeriod = s.periodIndex === windows.period.index
    const nowUs = this.#nowUs()
    const rps = quotaDecision(
      { violated: 0, nowUs, tatUs: Math.max(s.tatUs, nowUs), dayUsed: 0, monthUsed: 0, bytesUsed: 0 },
      limits,
    ).rps
    return {
      dayUsed: s.dayIndex === windows.day.index ? s.dayCount : 0,
      monthUsed: s.monthIndex === windows.month.index ? s.monthCount : 0,
      periodRequests: inPeriod ? s.periodRequests : 0,
      periodBytesIn: inPeriod ? s.periodBytesIn : 0,
      periodBytesOut: inPeriod ? s.periodBytesOut : 0,
      rpsRemaining: rps.remaining,
      streams: this.#liveLeases(id, this.#nowMs())?.size ?? 0,
    }
  }

  #liveLeases(id: string, now: number): Map<string, number> | undefined {
    const leases = this.#streams.get(id)
    if (leases === undefined) return undefined
    for (const [lease, until] of leases) if (until <= now) leases.delete(lease)
    if (leases.size === 0) this.#streams.delete(id)
    return leases
  }

  acquireStream(id: string, limit: number, leaseId: string, ttlMs: number): boolean {
    const now = this.#nowMs()
    let leases = this.#liveLeases(id, now)
    if (leases === undefined || leases.size === 0) {
      leases = new Map()
      this.#streams.set(id, leases)
    }
    if (!leases.has(leaseId) && leases.size >= limit) return false
    leases.set(leaseId, now + ttlMs)
    return true
  }

  releaseStream(id: string, leaseId: string): void {
    const leases = this.#streams.get(id)
    leases?.delete(leaseId)
    if (leases?.size === 0) this.#streams.delete(id)
  }

  /** Subscriptions with state (metrics). */
  get size(): number {
    return this.#states.size
  }

  close(): Promise<void> {
    this.#states.clear()
    this.#settled.clear()
    this.#streams.clear()
    return Promise.resolve()
  }
}
