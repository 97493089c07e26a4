/**
 * Degraded-mode signals: whether the chain is reachable, since when, and how many access decisions were
 * served from the cache while it was not. A plain object for `/readyz?verbose` and metrics.
 */

export interface SubscriptionsStatus {
  readonly chainReachable: boolean
  /** Wall-clock ms of the last reachability change (null before the first observation). */
  readonly sinceMs: number | null
  /** Access decisions answered from cached rows while the chain was unreachable (since start). */
  readonly servedFromCacheWhileDegraded: number
  /** Rows in the request-path cache. */
  readonly cachedSubscriptions: number
  readonly lastReconciliation: {
    readonly atMs: number
    readonly checked: number
    readonly repaired: number
    readonly failed: number
  } | null
}

export interface DegradedTracker {
  /** Records the chain's reachability (call on each chain-status read; changes set `sinceMs`). */
  observeChain(isReachable: boolean, nowMs: number): void
  readonly isChainReachable: boolean
  /** Counts one access decision served from cache while degraded. */
  countServedFromCache(): void
  recordReconciliation(r: NonNullable<SubscriptionsStatus['lastReconciliation']>): void
  status(cachedSubscriptions: number): SubscriptionsStatus
}

export function createDegradedTracker(): DegradedTracker {
  let reachable = true
  let sinceMs: number | null = null
  let served = 0
  let last: SubscriptionsStatus['lastReconciliation'] = null
  return {
    observeChain(isReachable, nowMs) {
      if (sinceMs !== null && isReachable === reachable) return
      reachable = isReachable
      sinceMs = nowMs
    },
    get isChainReachable() {
      return reachable
    },
    countServedFromCache() {
      if (!reachable) served++
    },
    recordReconciliation(r) {
      last = r
    },
    status: (cachedSubscriptions) => ({
      chainReachable: reachable,
      sinceMs,
      servedFromCacheWhileDegraded: served,
      cachedSubscriptions,
      lastReconciliation: last,
    }),
  }
}
