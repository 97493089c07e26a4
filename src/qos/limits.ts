/**
 * A plan's QoS tier compiled for the request path, and the windows a subscription's counters live in.
 * Pure: times are passed in.
 *
 * Windows are anchored to the subscription's start (chain seconds, `SubscriptionRecord.startSec`), never
 * to the calendar, so they do not drift and every instance computes the same boundaries:
 *
 *   day k    = [start + k·86 400,        start + (k+1)·86 400)
 *   month k  = [start + k·2 592 000,     start + (k+1)·2 592 000)      (30 days)
 *   period k = [start + k·P,             start + (k+1)·P)              (P = the plan's on-chain period)
 *
 * k = floor((now − start) / W), and 0 before the start (a clock slightly behind the chain's).
 */
import { gcraPolicy, type GcraPolicy } from '../limits/index.ts'
import type { QosConfig } from '../config/index.ts'

export const DAY_SECONDS = 86_400
/** A "month" is 30 days from the subscription's start (docs/qos.md "Windows"). */
export const MONTH_SECONDS = 30 * DAY_SECONDS

/** Policy names in RateLimit-Policy / RateLimit (shared/PAYMENTS-WIRE.md) and in metrics. */
export const POLICY = Object.freeze({
  rps: 'rps',
  daily: 'daily',
  monthly: 'monthly',
  bytes: 'bw',
  streams: 'ws',
} as const)
export type QosPolicyName = (typeof POLICY)[keyof typeof POLICY]

/** One plan's limits, compiled once per catalog (a reload or a new catalog compiles new ones). */
export interface QuotaLimits {
  readonly plan: string
  /** requestsPerSecond with burst (GCRA). */
  readonly rps: GcraPolicy
  readonly perDay: number | undefined
  readonly perMonth: number | undefined
  /** Content bytes (request + response bodies) per plan period. */
  readonly bytesPerPeriod: number | undefined
  readonly concurrentStreams: number | undefined
  /** The plan's period in seconds (the byte budget's window). */
  readonly periodSec: number
  /** The whole `RateLimit-Policy` field value of the plan (stable across responses). */
  readonly policyField: string
}

/** Compiles a plan's `qos` with its on-chain period length (seconds). */
export function compileQuotaLimits(plan: string, qos: QosConfig, periodSec: number): QuotaLimits {
  if (!Number.isInteger(periodSec) || periodSec < 1) throw new RangeError(`invariant: periodSec ${periodSec}`)
  const rps = gcraPolicy(POLICY.rps, qos.requestsPerSecond, 1, qos.burst)
  const fields = [`"${POLICY.rps}";q=${qos.requestsPerSecond};w=1`]
  if (qos.requestsPerDay !== undefined)
    fields.push(`"${POLICY.daily}";q=${qos.requestsPerDay};w=${DAY_SECONDS}`)
  if (qos.requestsPerMonth !== undefined)
    fields.push(`"${POLICY.monthly}";q=${qos.requestsPerMonth};w=${MONTH_SECONDS}`)
  if (qos.bytesPerPeriod !== undefined)
    fields.push(`"${POLICY.bytes}";q=${qos.bytesPerPeriod};qu="content-bytes";w=${periodSec}`)
  if (qos.concurrentStreams !== undefined)
    fields.push(`"${POLICY.streams}";q=${qos.concurrentStreams};qu="concurrent-requests"`)
  return Object.freeze({
    plan,
    rps,
    perDay: qos.requestsPerDay,
    perMonth: qos.requestsPerMonth,
    bytesPerPeriod: qos.bytesPerPeriod,
    concurrentStreams: qos.concurrentStreams,
    periodSec,
    policyField: fields.join(', '),
  })
}

/** One window a counter lives in: its index k since the anchor and its end (chain seconds). */
export interface WindowRef {
  readonly index: number
  readonly endSec: number
}

/** The three counter windows of one request. */
export interface QuotaWindows {
  readonly day: WindowRef
  readonly month: WindowRef
  readonly period: WindowRef
}

/** The window of width `widthSec` anchored at `anchorSec` that contains `nowSec`. */
export function windowAt(anchorSec: number, widthSec: number, nowSec: number): WindowRef {
  const index = nowSec <= anchorSec ? 0 : Math.floor((nowSec - anchorSec) / widthSec)
  return { index, endSec: anchorSec + (index + 1) * widthSec }
}

/** The windows of a subscription started at `startSec`, at `nowSec`. */
export function quotaWindows(startSec: number, periodSec: number, nowSec: number): QuotaWindows {
  return {
    day: windowAt(startSec, DAY_SECONDS, nowSec),
    month: windowAt(startSec, MONTH_SECONDS, nowSec),
    period: windowAt(startSec, periodSec, nowSec),
  }
}
