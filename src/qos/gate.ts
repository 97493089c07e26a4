/**
 * The HTTP glue of per-subscription QoS: wraps the access-token credential check so that a request the
 * token admits is reserved against its subscription's limits (one store call), refused with 429
 * QUOTA_EXCEEDED when a limit is reached, and otherwise admitted with a meter that settles what the
 * exchange moved when it ends (reserve → serve → settle; docs/qos.md).
 *
 * Streams (WebSocket, SSE) reuse the same pieces: `reserve` for the handshake, the store's
 * `acquireStream`/`releaseStream` leases for `concurrentStreams`, and `QuotaMeter.end` for the bytes.
 */
import type { Logger } from 'pino'
import type {
  AdmissionGrant,
  AdmissionRefusal,
  AdmissionRequest,
  ExchangeMeter,
  ExchangeOutcome,
} from '../runtime/index.ts'
import type { QuotaDecision } from './decision.ts'
import { rateLimitField, retryAfterSeconds, violatedPolicies } from './headers.ts'
import { quotaWindows, type QuotaLimits, type QuotaWindows } from './limits.ts'
import type { QuotaStore } from './store.ts'

/** What the gate needs of a subscription: its anchor (chain seconds). */
export interface QuotaSubscription {
  readonly startSec: number
}

/** Observability hooks (metrics); each optional. */
export interface QosHooks {
  onReserve?(isAllowed: boolean, violated: readonly string[], seconds: number): void
  onSettle?(counted: boolean, bytesIn: number, bytesOut: number): void
  onStoreError?(operation: 'reserve' | 'settle', action: 'allowed' | 'refused' | 'dropped'): void
}

export interface QosGateOptions {
  /** Add RateLimit-Policy / RateLimit to admitted responses (`paidAccess.rateLimitHeaders`). */
  readonly rateLimitHeaders: boolean
  /** Store failure on reserve: admit unmetered (`allow`) or refuse with 503 (`deny`). */
  readonly onError: 'allow' | 'deny'
}

export interface QosGateDeps {
  readonly store: QuotaStore
  /** The compiled limits of a plan name; undefined: the plan is not metered (unknown period). */
  limitsFor(plan: string): QuotaLimits | undefined
  /** The subscription row (the token check just read it: normally a cache hit). */
  subscription(id: string): QuotaSubscription | undefined | Promise<QuotaSubscription | undefined>
  readonly log: Logger
  readonly hooks?: QosHooks
  /** Wall-clock ms (windows are on chain seconds, compared with the wall clock as the token check does). */
  readonly nowMs?: () => number
  /** A counted settle landed (the usage flush marks its period). */
  onCounted?(id: string, limits: QuotaLimits, windows: QuotaWindows): void
  /** Pauses between settle attempts (default 100 ms, 1 s). */
  readonly settleRetryMs?: readonly number[]
}

export type GateVerdict = AdmissionGrant | AdmissionRefusal

export interface QosGate {
  /** A token grant (with `subject`) → the metered grant, or a refusal. */
  admit(grant: AdmissionGrant, request: AdmissionRequest): GateVerdict | Promise<GateVerdict>
}

const UNAVAILABLE: AdmissionRefusal = Object.freeze({ code: 'RATE_LIMIT_UNAVAILABLE' })
const LOG_INTERVAL_MS = 10_000

export function createQosGate(options: QosGateOptions, deps: QosGateDeps): QosGate {
  const { store, log } = deps
  const hooks = deps.hooks ?? {}
  const nowMs = deps.nowMs ?? Date.now
  const retries = deps.settleRetryMs ?? [100, 1000]
  let lastLogAt = -Infinity
  const logSpaced = (fields: object, msg: string): void => {
    const now = performance.now()
    if (now - lastLogAt < LOG_INTERVAL_MS) return
    lastLogAt = now
    log.error(fields, msg)
  }

  const settle = (
    id: string,
    limits: QuotaLimits,
    windows: QuotaWindows,
    requestId: string,
    o: ExchangeOutcome,
  ): void => {
    const usage = { counted: o.reachedUpstream, bytesIn: o.bytesIn, bytesOut: o.bytesOut }
    const attempt = (n: number): void => {
      let r: boolean | Promise<boolean>
      try {
        r = store.settle(id, limits, windows, requestId, usage)
      } catch (err) {
        return failed(n, err)
      }
      if (r instanceof Promise) r.then(done, (err: unknown) => failed(n, err))
      else done(r)
    }
    const done = (isNew: boolean): void => {
      if (!isNew) return
      hooks.onSettle?.(usage.counted, usage.bytesIn, usage.bytesOut)
      if (usage.counted) deps.onCounted?.(id, limits, windows)
    }
    const failed = (n: number, err: unknown): void => {
      const delay = retries[n]
      if (delay !== undefined) {
        // Idempotent per request id: a retry after a settle that did land changes nothing.
        setTimeout(() => attempt(n + 1), delay).unref()
        return
      }
      hooks.onStoreError?.('settle', 'dropped')
      logSpaced(
        { code: 'RATE_LIMIT_UNAVAILABLE', store: store.kind, requestId, err: (err as Error).message },
        'quota settle failed; usage of this request not recorded',
      )
    }
    attempt(0)
  }

  const decided = (
    base: AdmissionGrant,
    request: AdmissionRequest,
    id: string,
    limits: QuotaLimits,
    windows: QuotaWindows,
    nowSec: number,
    startedAt: number,
    d: QuotaDecision,
  ): GateVerdict => {
    const violated = d.isAllowed ? [] : violatedPolicies(d.violated)
    hooks.onReserve?.(d.isAllowed, violated, (performance.now() - startedAt) / 1000)
    if (!d.isAllowed) {
      return {
        code: 'QUOTA_EXCEEDED',
        headers: {
          'retry-after': String(retryAfterSeconds(d, windows, nowSec)),
          'ratelimit-policy': limits.policyField,
          ratelimit: rateLimitField(d, limits, windows, nowSec),
          'cache-control': 'no-store',
        },
        problemMembers: `"violated-policies":${JSON.stringify(violated)}`,
      }
    }
    const meter: ExchangeMeter = {
      responseHeaders: options.rateLimitHeaders
        ? ['ratelimit-policy', limits.policyField, 'ratelimit', rateLimitField(d, limits, windows, nowSec)]
        : undefined,
      end: (o) => settle(id, limits, windows, request.requestId, o),
    }
    return {
      grant: true,
      removeHeaders: base.removeHeaders,
      setHeaders: base.setHeaders,
      ...(base.subject === undefined ? {} : { subject: base.subject }),
      meter,
    }
  }

  const storeFailed = (base: AdmissionGrant, err: unknown): GateVerdict => {
    const refused = options.onError === 'deny'
    hooks.onStoreError?.('reserve', refused ? 'refused' : 'allowed')
    logSpaced(
      {
        code: 'RATE_LIMIT_UNAVAILABLE',
        store: store.kind,
        action: refused ? 'refused' : 'allowed',
        err: (err as Error).message,
      },
      'quota store failed',
    )
    return refused ? UNAVAILABLE : base
  }

  const reserve = (
    base: AdmissionGrant,
    request: AdmissionRequest,
    id: string,
    limits: QuotaLimits,
    row: QuotaSubscription | undefined,
  ): GateVerdict | Promise<GateVerdict> => {
    // The token check admitted on this row a moment ago; gone now: nothing to anchor on, admit as is.
    if (row === undefined) return base
    const startedAt = performance.now()
    const nowSec = nowMs() / 1000
    const windows = quotaWindows(row.startSec, limits.periodSec, nowSec)
    let d: QuotaDecision | Promise<QuotaDecision>
    try {
      d = store.reserve(id, limits, windows)
    } catch (err) {
      return storeFailed(base, err)
    }
    if (d instanceof Promise)
      return d.then(
        (v) => decided(base, request, id, limits, windows, nowSec, startedAt, v),
        (err: unknown) => storeFailed(base, err),
      )
    return decided(base, request, id, limits, windows, nowSec, startedAt, d)
  }

  return {
    admit(base, request) {
      const subject = base.subject
      if (subject === undefined) return base
      const limits = deps.limitsFor(subject.plan)
      if (limits === undefined) return base
      const id = subject.subscriptionId
      const row = deps.subscription(id)
      if (row instanceof Promise) return row.then((r) => reserve(base, request, id, limits, r))
      return reserve(base, request, id, limits, row)
    },
  }
}
