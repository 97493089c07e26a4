/**
 * The subscriptions subsystem assembled for `main.ts`: one factory the lead wires with the storage
 * repository (the `SubscriptionStore` port), the chain client's RPC (verified reads) and the payment
 * contract's address. It exposes the ledger the payment monitor feeds, the request-path access decision,
 * the degraded-mode status for `/readyz?verbose`, the admin lookup route and the reconciliation timer.
 */
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { ConfirmationPolicy, RpcClient } from '../blockchain/index.ts'
import { createSubscriptionCache, isAccessAllowed, type SubscriptionCache } from './access.ts'
import { createChainSubscriptionReader, createConfirmedBlockReader } from './chain-subscription-reader.ts'
import { createDegradedTracker, type SubscriptionsStatus } from './degraded-status.ts'
import {
  DEFAULT_RECONCILER_OPTIONS,
  createReconciler,
  type Reconciler,
  type ReconcilerOptions,
} from './reconciler.ts'
import { createSubscriptionLedger, type SubscriptionLedger } from './subscription-ledger.ts'
import { createSubscriptionLookup, type SubscriptionLookupRoute } from './subscription-lookup.ts'
import { createSubscriptionMetrics } from './subscription-metrics.ts'
import type { SubscriptionStore } from './subscription-store.ts'
import type { Address, Bytes32, SubscriptionRecord } from './types.ts'

export interface SubscriptionsOptions {
  /** The gateway's own base path (`paidAccess.basePath`, default `/litgate/v1`). */
  readonly basePath: string
  /** Degraded mode: access continues this long after `end` while the chain is unreachable (default 0). */
  readonly graceMs?: number
  /** Bound of the request-path cache (default 10,000 rows). */
  readonly cacheMaxEntries?: number
  readonly reconciler?: Partial<ReconcilerOptions>
  /** How long the request path reuses the chain state it read (default 1,000 ms). */
  readonly chainStateTtlMs?: number
  /** The payment monitor's confirmation policy: reconciliation reads the chain at its newest confirmed block. */
  readonly confirmation: ConfirmationPolicy
}

export interface SubscriptionsDeps {
  readonly store: SubscriptionStore
  /** The chain client's RPC: only cross-checked reads (`verifiedCall`, `verifiedBlockTag`) are used. */
  readonly rpc: Pick<RpcClient, 'verifiedCall' | 'verifiedBlockTag'>
  /** The PaymentProcessor proxy. */
  readonly contract: Address
  /**
   * The chain client's state (`chain.status().state`): `down` means degraded mode. Read at most once per
   * `chainStateTtlMs` on the request path (it builds a snapshot), on every `status()` call.
   */
  readonly chainState: () => 'up' | 'degraded' | 'down'
  readonly log: Logger
  /** Registers the subscription metrics on it when given. */
  readonly registry?: Registry
  /** Wall-clock ms (the request path's stand-in for chain time). */
  readonly nowMs?: () => number
  /** Chain time in seconds for the reconciliation pass (e.g. the latest verified block's timestamp). */
  readonly chainNowSec?: () => number
}

export interface Subscriptions {
  /** What the payment monitor applies its events through. */
  readonly ledger: SubscriptionLedger
  readonly cache: SubscriptionCache
  readonly reconciler: Reconciler
  /** `GET {base}/subscriptions/:id` for the admin server's `routes`. */
  readonly adminRoute: SubscriptionLookupRoute
  /**
   * The hot-path decision for a cached row (`cache.peek(id)`, or `await cache.get(id)` on a miss): applies
   * the degraded-mode grace while the chain is down, and counts decisions served from cache meanwhile.
   */
  isAllowed(row: SubscriptionRecord | undefined, nowMs: number): boolean
  /** Degraded-mode signals for `/readyz?verbose` (`{ subscriptions: status() }`) and `/status`. */
  status(): SubscriptionsStatus
  /** Starts the reconciliation timer (unref'd). */
  start(): void
  close(): Promise<void>
}

export function createSubscriptions(options: SubscriptionsOptions, deps: SubscriptionsDeps): Subscriptions {
  const graceMs = options.graceMs ?? 0
  if (!Number.isFinite(graceMs) || graceMs < 0)
    throw new Error(`subscriptions graceMs must be a finite number >= 0, got ${String(options.graceMs)}`)
  const nowMs = deps.nowMs ?? Date.now
  const chainNowSec = deps.chainNowSec ?? (() => Math.floor(nowMs() / 1000))
  const log = deps.log.child({ component: 'subscriptions' })
  const tracker = createDegradedTracker()
  const cache = createSubscriptionCache(
    { maxEntries: options.cacheMaxEntries ?? 10_000 },
    { store: deps.store, nowMs },
  )
  const ttlMs = options.chainStateTtlMs ?? 1_000
  let chainReadAtMs = Number.NEGATIVE_INFINITY
  const readChainState = (now: number): boolean => {
    const healthy = deps.chainState() !== 'down'
    tracker.observeChain(healthy, now)
    chainReadAtMs = now
    return healthy
  }
  // Hot path: one comparison per request; the chain's snapshot is rebuilt at most once per TTL.
  const isChainHealthy = (): boolean => {
    const now = nowMs()
    return now - chainReadAtMs >= ttlMs ? readChainState(now) : tracker.isChainReachable
  }
  const status = (): SubscriptionsStatus => {
    readChainState(nowMs())
    return tracker.status(cache.size)
  }
  const metrics =
    deps.registry === undefined ? undefined : createSubscriptionMetrics(deps.registry, { status })
  const ledger = createSubscriptionLedger({
    store: deps.store,
    onChange: (row) => cache.set(row),
    ...(metrics === undefined ? {} : { onAudit: (a) => metrics.observeAudit(a) }),
    // Called only from `apply`, after `reconciler` below is initialised.
    onNeedsReconciliation: (id: Bytes32) => reconciler.enqueue(id),
  })
  const reconciler: Reconciler = createReconciler(
    { ...DEFAULT_RECONCILER_OPTIONS, ...options.reconciler },
    {
      store: deps.store,
      ledger,
      readChain: createChainSubscriptionReader(deps.rpc, deps.contract),
      confirmedBlock: createConfirmedBlockReader(deps.rpc, options.confirmation),
      nowSec: chainNowSec,
      log,
      onReport: (r) => {
        tracker.recordReconciliation({ atMs: nowMs(), ...r })
        metrics?.observeReconciliation(r)
      },
    },
  )
  const adminRoute = createSubscriptionLookup(
    { basePath: options.basePath, graceMs },
    { cache, nowMs, isChainHealthy },
  )
  return {
    ledger,
    cache,
    reconciler,
    adminRoute,
    isAllowed(row, now) {
      const healthy = isChainHealthy()
      if (!healthy && row !== undefined) {
        tracker.countServedFromCache()
        metrics?.countServedFromCache()
      }
      return isAccessAllowed(row, now, { graceMs, chainHealthy: healthy })
    },
    status,
    start: () => reconciler.start(),
    close: () => reconciler.close(),
  }
}
