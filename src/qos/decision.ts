/**
 * The multi-limit decision of one request of a subscription, pure: a GCRA check (requests per second
 * with burst) and three counters (requests per day and per month, content bytes per period). The
 * in-memory store runs it directly; the Redis script (redis-store.ts) repeats it step for step, and both
 * hand their raw result to `quotaDecision` so that they report alike.
 *
 * Reserve charges nothing unless every limit admits (a refused request costs nothing and a client that
 * keeps hammering does not push its windows further out). The byte budget is checked, not charged: bytes
 * are known only when the response ends (settle); a request is admitted while the budget is not
 * exhausted, so one response may overshoot it (docs/qos.md "Metering").
 */
import { gcraDecide, gcraOutcome, type GcraDecision } from '../limits/index.ts'
import type { QuotaLimits, QuotaWindows } from './limits.ts'

/** Bits of `violated`. */
export const VIOLATED = Object.freeze({ rps: 1, daily: 2, monthly: 4, bytes: 8 })

/** What a store reports of a reserve, before it is decorated for the wire. */
export interface RawReserve {
  /** 0 when admitted, else the VIOLATED bits. */
  readonly violated: number
  /** The store's clock (µs), the one the GCRA state is on. */
  readonly nowUs: number
  /** TAT after the decision (unchanged when refused). */
  readonly tatUs: number
  /** Counters after the decision (incremented when admitted). */
  readonly dayUsed: number
  readonly monthUsed: number
  readonly bytesUsed: number
}

export interface QuotaDecision {
  readonly isAllowed: boolean
  readonly violated: number
  readonly rps: GcraDecision
  readonly dayUsed: number
  readonly monthUsed: number
  readonly bytesUsed: number
}

export function quotaDecision(raw: RawReserve, limits: QuotaLimits): QuotaDecision {
  return {
    isAllowed: raw.violated === 0,
    violated: raw.violated,
    rps: gcraOutcome((raw.violated & VIOLATED.rps) === 0, raw.tatUs, raw.nowUs, limits.rps),
    dayUsed: raw.dayUsed,
    monthUsed: raw.monthUsed,
    bytesUsed: raw.bytesUsed,
  }
}

/** Per-subscription counters (the memory store's state; the Redis keys hold the same numbers). */
export interface QuotaState {
  tatUs: number
  dayIndex: number
  dayCount: number
  monthIndex: number
  monthCount: number
  periodIndex: number
  periodRequests: number
  periodBytesIn: number
  periodBytesOut: number
}

export function emptyQuotaState(): QuotaState {
  return {
    tatUs: 0,
    dayIndex: -1,
    dayCount: 0,
    monthIndex: -1,
    monthCount: 0,
    periodIndex: -1,
    periodRequests: 0,
    periodBytesIn: 0,
    periodBytesOut: 0,
  }
}

/** Counters of a window: the stored count when the state is in that window, else 0 (a new window). */
const inWindow = (storedIndex: number, count: number, index: number): number =>
  storedIndex === index ? count : 0

/** Decides and, when admitted, charges `state` (in place). */
export function reserveInState(
  state: QuotaState,
  limits: QuotaLimits,
  windows: QuotaWindows,
  nowUs: number,
): RawReserve {
  const g = gcraDecide(state.tatUs, nowUs, limits.rps)
  const day = inWindow(state.dayIndex, state.dayCount, windows.day.index)
  const month = inWindow(state.monthIndex, state.monthCount, windows.month.index)
  const bytes = state.periodIndex === windows.period.index ? state.periodBytesIn + state.periodBytesOut : 0
  let violated = 0
  if (!g.isAllowed) violated |= VIOLATED.rps
  if (limits.perDay !== undefined && day >= limits.perDay) violated |= VIOLATED.daily
  if (limits.perMonth !== undefined && month >= limits.perMonth) violated |= VIOLATED.monthly
  if (limits.bytesPerPeriod !== undefined && bytes >= limits.bytesPerPeriod) violated |= VIOLATED.bytes
  if (violated !== 0)
    return {
      violated,
      nowUs,
      tatUs: Math.max(state.tatUs, nowUs),
      dayUsed: day,
      monthUsed: month,
      bytesUsed: bytes,
    }
  state.tatUs = g.tatUs
  state.dayIndex = windows.day.index
  state.dayCount = day + 1
  state.monthIndex = windows.month.index
  state.monthCount = month + 1
  return { violated, nowUs, tatUs: g.tatUs, dayUsed: day + 1, monthUsed: month + 1, bytesUsed: bytes }
}

/** What the end of an admitted request reports. */
export interface SettleUsage {
  /** The request reached the upstream (docs/qos.md "What counts"); false releases the reservation. */
  readonly counted: boolean
  readonly bytesIn: number
  readonly bytesOut: number
}

/**
 * Settles a reservation in `state` (in place): a counted request adds its bytes to the period it was
 * reserved in; an uncounted one gives its request back to the day and month windows it was charged in
 * and its GCRA interval back (never below now).
 */
export function settleInState(
  state: QuotaState,
  limits: QuotaLimits,
  windows: QuotaWindows,
  usage: SettleUsage,
  nowUs: number,
): void {
  if (usage.counted) {
    if (state.periodIndex !== windows.period.index) {
      if (state.periodIndex > windows.period.index) return // a settle older than the current period
      state.periodIndex = windows.period.index
      state.periodRequests = 0
      state.periodBytesIn = 0
      state.periodBytesOut = 0
    }
    state.periodRequests++
    state.periodBytesIn += usage.bytesIn
    state.periodBytesOut += usage.bytesOut
    return
  }
  if (state.dayIndex === windows.day.index && state.dayCount > 0) state.dayCount--
  if (state.monthIndex === windows.month.index && state.monthCount > 0) state.monthCount--
  if (state.tatUs > nowUs) state.tatUs = Math.max(nowUs, state.tatUs - limits.rps.intervalUs)
}
