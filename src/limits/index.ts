export {
  gcraDecide,
  gcraOutcome,
  gcraPolicy,
  gcraPolicyForWindow,
  ceilSeconds,
  type GcraDecision,
  type GcraPolicy,
} from './gcra.ts'
export { LimiterStoreError, type LimiterStore, type LimiterStoreStats } from './store.ts'
export { MemoryLimiterStore, type MemoryStoreOptions, type MemoryStoreDeps } from './memory-store.ts'
export {
  RedisLimiterStore,
  redisClientOptions,
  GCRA_LUA,
  GCRA_LUA_PRELUDE,
  type RedisStoreOptions,
} from './redis-store.ts'
export {
  compilePerIpPlan,
  createPerIpStage,
  limitFor,
  limitedRefusal,
  routePolicyName,
  GLOBAL_POLICY_NAME,
  type CompiledLimit,
  type LimitedRequest,
  type LimiterHooks,
  type LimitRefusal,
  type PerIpPlan,
  type PerIpStageDeps,
} from './per-ip-stage.ts'
export { createLimiterMetrics } from './limiter-metrics.ts'
export { openLimiterStore, type OpenLimiterStoreDeps, type OpenedLimiterStore } from './open-store.ts'
