/**
 * Public surface of the subscriptions subsystem: the pure state machine and access decision, the store
 * port (with an in-memory implementation), the ledger that applies events, the request-path cache, the
 * reconciliation pass against the contract, degraded-mode signals and the admin lookup route.
 */
export {
  isAccessAllowed,
  createSubscriptionCache,
  type AccessOptions,
  type SubscriptionCache,
  type SubscriptionCacheOptions,
} from './access.ts'
export {
  createChainSubscriptionReader,
  createConfirmedBlockReader,
  type ChainSubscriptionReader,
} from './chain-subscription-reader.ts'
export { createDegradedTracker, type DegradedTracker, type SubscriptionsStatus } from './degraded-status.ts'
export {
  DEFAULT_RECONCILER_OPTIONS,
  createReconciler,
  type ReconcileReport,
  type Reconciler,
  type ReconcilerDeps,
  type ReconcilerOptions,
} from './reconciler.ts'
export { MAX_REMEMBERED_PAYMENTS, decideTransition, deriveState, type Decision } from './state-machine.ts'
export {
  createSubscriptionLedger,
  type ApplyOutcome,
  type SubscriptionLedger,
  type SubscriptionLedgerDeps,
} from './subscription-ledger.ts'
export {
  createSubscriptionLookup,
  type SubscriptionLookupDeps,
  type SubscriptionLookupOptions,
  type SubscriptionLookupRoute,
} from './subscription-lookup.ts'
export {
  createMemorySubscriptionStore,
  type MemorySubscriptionStore,
  type SubscriptionStore,
} from './subscription-store.ts'
export { createSubscriptionMetrics, type SubscriptionMetrics } from './subscription-metrics.ts'
export {
  createSubscriptions,
  type Subscriptions,
  type SubscriptionsDeps,
  type SubscriptionsOptions,
} from './subscriptions.ts'
export type * from './types.ts'
