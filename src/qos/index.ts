export {
  compileQuotaLimits,
  quotaWindows,
  windowAt,
  DAY_SECONDS,
  MONTH_SECONDS,
  POLICY,
  type QuotaLimits,
  type QuotaWindows,
  type WindowRef,
  type QosPolicyName,
} from './limits.ts'
export {
  quotaDecision,
  reserveInState,
  settleInState,
  emptyQuotaState,
  VIOLATED,
  type QuotaDecision,
  type QuotaState,
  type RawReserve,
  type SettleUsage,
} from './decision.ts'
export { QuotaStoreError, SETTLE_MEMORY_SECONDS, type QuotaStore, type UsageSnapshot } from './store.ts'
export { MemoryQuotaStore, type MemoryQuotaStoreDeps } from './memory-store.ts'
export {
  RedisQuotaStore,
  QOS_RESERVE_LUA,
  QOS_SETTLE_LUA,
  QOS_USAGE_LUA,
  QOS_STREAM_LUA,
  type RedisQuotaStoreOptions,
} from './redis-store.ts'
export { rateLimitField, retryAfterSeconds, violatedPolicies } from './headers.ts'
export {
  createQosGate,
  type QosGate,
  type QosGateDeps,
  type QosGateOptions,
  type QosHooks,
  type QuotaSubscription,
} from './gate.ts'
export { createQosMetrics } from './metrics.ts'
export { openQuotaStore, type OpenQuotaStoreDeps, type OpenedQuotaStore } from './open-store.ts'
export { createUsageRoute, type UsageRoute, type UsageRouteDeps } from './usage.ts'
export { createUsageFlusher, type UsageFlusher, type UsageFlusherDeps } from './flush.ts'
