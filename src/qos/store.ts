import type { QuotaDecision, SettleUsage } from './decision.ts'
import type { QuotaLimits, QuotaWindows } from './limits.ts'

/** A subscription's counters as the usage API reports them (the windows of the request that asked). */
export interface UsageSnapshot {
  readonly dayUsed: number
  readonly monthUsed: number
  /** Requests that reached the upstream in the current period (settled). */
  readonly periodRequests: number
  readonly periodBytesIn: number
  readonly periodBytesOut: number
  /** Requests the GCRA would admit right now. */
  readonly rpsRemaining: number
  /** Open stream leases. */
  readonly streams: number
}

/**
 * Where per-subscription QoS state lives. One `reserve` per admitted request (atomic for all of its
 * limits: one Redis round trip), one `settle` when it ends, both keyed by the subscription id (the store
 * namespaces it; Redis keys share the hash tag `{sub:<id>}`). A store that cannot answer rejects (or
 * throws) with QuotaStoreError; the caller applies its fail-open or fail-closed choice.
 *
 * Streams (WebSocket, SSE, long requests): a lease per open stream, renewed by the holder before
 * `ttlMs` passes; a lease of a crashed instance lapses on its own.
 */
export interface QuotaStore {
  readonly kind: 'memory' | 'redis'
  reserve(id: string, limits: QuotaLimits, windows: QuotaWindows): QuotaDecision | Promise<QuotaDecision>
  /**
   * Idempotent per `requestId`: a second settle of the same request changes nothing and returns false.
   */
  settle(
    id: string,
    limits: QuotaLimits,
    windows: QuotaWindows,
    requestId: string,
    usage: SettleUsage,
  ): boolean | Promise<boolean>
  usage(id: string, limits: QuotaLimits, windows: QuotaWindows): UsageSnapshot | Promise<UsageSnapshot>
  /** Takes (or renews) the lease `leaseId` unless `limit` other leases are open; true when held. */
  acquireStream(id: string, limit: number, leaseId: string, ttlMs: number): boolean | Promise<boolean>
  releaseStream(id: string, leaseId: string): void | Promise<void>
  close(): Promise<void>
}

export class QuotaStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'QuotaStoreError'
  }
}

/**
 * How long a settle is remembered for idempotency: the gate's retries come within about a second, so two
 * minutes leaves a wide margin while bounding the markers (Redis: one small key per request for this long).
 */
export const SETTLE_MEMORY_SECONDS = 120
