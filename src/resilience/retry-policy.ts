import type { ErrorCode } from '../errors/index.ts'

/** Route retry settings (from config). */
export interface RetryPolicy {
  /** Extra attempts after the first (0 = never retry). */
  readonly maxRetries: number
  readonly perTryTimeoutMs: number | undefined
  readonly backoffBaseMs: number
  readonly backoffMaxMs: number
  /** Retry on these upstream response statuses (idempotent requests only). */
  readonly retryOnStatuses: ReadonlySet<number>
  /** A request carrying this header may be retried even if POST/PATCH (the client made it idempotent). */
  readonly idempotencyKeyHeader: string | undefined
  /** Request bodies up to this size are buffered so they can be replayed (0 = never buffer). */
  readonly maxReplayBodyBytes: number
}

/** Where an attempt failed: before the request could have reached the backend, or after. */
export type AttemptPhase = 'pre-send' | 'post-send'

/** Why a retry did or did not happen (access log and debug header). */
export type RetryVerdict =
  | 'retried'
  | 'not-retryable-outcome'
  | 'not-idempotent'
  | 'body-not-replayable'
  | 'no-retries-left'
  | 'budget-exhausted'
  | 'deadline'
  | 'response-started'

// RFC 9110 §9.2.2
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])

/** Connect-phase failures: the request provably never reached the backend. */
export function phaseOf(code: ErrorCode): AttemptPhase {
  return code === 'UPSTREAM_CONNECT_FAILED' ||
    code === 'UPSTREAM_CONNECT_TIMEOUT' ||
    code === 'UPSTREAM_QUEUE_TIMEOUT'
    ? 'pre-send'
    : 'post-send'
}

export interface RetryQuestion {
  readonly policy: RetryPolicy
  readonly method: string
  readonly hasIdempotencyKey: boolean
  /** No body, or a body buffered for replay. */
  readonly isBodyReplayable: boolean
  /** Failure code, or the upstream status for a retry-on-status response. */
  readonly outcome: ErrorCode | number
  readonly phase: AttemptPhase
  /** Retries already made for this request. */
  readonly retriesSoFar: number
  readonly isResponseStarted: boolean
}

/**
 * Decides whether a failed attempt may be retried, before the budget is consulted. Safe by
 * construction: a request that may have reached the backend is retried only when it is idempotent
 * (by method, or by an idempotency key the route trusts) and its body can be replayed.
 */
export function shouldRetry(q: RetryQuestion): RetryVerdict | 'yes' {
  if (q.isResponseStarted) return 'response-started'
  if (q.retriesSoFar >= q.policy.maxRetries) return 'no-retries-left'
  if (typeof q.outcome === 'number') {
    if (!q.policy.retryOnStatuses.has(q.outcome)) return 'not-retryable-outcome'
  } else if (
    q.outcome !== 'UPSTREAM_CONNECT_FAILED' &&
    q.outcome !== 'UPSTREAM_CONNECT_TIMEOUT' &&
    q.outcome !== 'UPSTREAM_RESET' &&
    q.outcome !== 'UPSTREAM_HEADERS_TIMEOUT'
  ) {
    return 'not-retryable-outcome'
  }
  if (q.phase === 'post-send') {
    const isIdempotent =
      IDEMPOTENT.has(q.method) || (q.policy.idempotencyKeyHeader !== undefined && q.hasIdempotencyKey)
    if (!isIdempotent) return 'not-idempotent'
  }
  if (!q.isBodyReplayable) return 'body-not-replayable'
  return 'yes'
}

/** Parses Retry-After (delta-seconds or HTTP-date) to milliseconds from `nowEpochMs`; undefined if invalid. */
export function parseRetryAfter(value: string | undefined, nowEpochMs: number): number | undefined {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  if (Number.isNaN(date)) return undefined
  return Math.max(0, date - nowEpochMs)
}
