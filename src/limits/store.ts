import type { GcraDecision, GcraPolicy } from './gcra.ts'

/** Counters a store keeps for metrics (read at scrape time). */
export interface LimiterStoreStats {
  /** Keys held in memory now (memory store); undefined for stores that do not hold keys (Redis). */
  readonly trackedKeys: number | undefined
  /** Keys dropped at the cap whose TAT had passed: no information lost. */
  readonly evictedExpired: number
  /** Keys dropped at the cap while still holding debt (the table was full of active keys). */
  readonly evictedActive: number
}

/**
 * Where GCRA state lives: one TAT per key. Keys are opaque strings (a client IP today, a subscription id
 * for per-subscription QoS later); the caller namespaces them. `take` decides and, when allowed, charges
 * `cost` units in one step (atomic per key). A store that cannot decide (Redis unreachable, timeout)
 * rejects with a LimiterStoreError; the caller applies its fail-open or fail-closed choice.
 */
export interface LimiterStore {
  readonly kind: 'memory' | 'redis'
  take(key: string, policy: GcraPolicy, cost?: number): GcraDecision | Promise<GcraDecision>
  stats(): LimiterStoreStats
  close(): Promise<void>
}

/** A decision the store could not make (its backend failed); `cause` carries the driver error. */
export class LimiterStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'LimiterStoreError'
  }
}
