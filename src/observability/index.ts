export { createRootLogger, REDACT_PATHS, type LoggerOptions } from './logger.ts'
export { AccessLog, type AccessLogOptions, type AccessLogDeps } from './access-log.ts'
export {
  GatewayMetrics,
  UNROUTED,
  type GatewayMetricsOptions,
  type GatewayStatsSource,
  type UpstreamStats,
  type BackendStats,
  type ReloadResultLabel,
} from './metrics.ts'
export { redactQuery, REDACTED } from './redact.ts'
export { describeUpstream, type UpstreamLike, type BackendLike } from './upstream-stats.ts'
export { traceIdOf } from './trace-context.ts'
