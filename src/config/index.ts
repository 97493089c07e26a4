export {
  configSchema,
  MODERN_CIPHERS,
  type Config,
  type ConfigInput,
  type ListenerConfig,
  type ServerConfig,
  type UpstreamConfig,
  type BackendConfig,
  type RouteConfig,
  type AdminConfig,
  type AdminTokenConfig,
  type AdminRole,
  type StorageConfig,
  type PaidAccessConfig,
  type PlanConfig,
  type QosConfig,
  type TokensConfig,
  type RateLimitConfig,
  type RateLimitPolicyConfig,
} from './schema.ts'
export { parseConfig, loadConfigFile, formatOf, type ParseResult, type ConfigFormat } from './loader.ts'
export { ConfigError, formatIssue, type ConfigIssue } from './issues.ts'
export { parseBackendUrl, type BackendOrigin } from './backend-url.ts'
export { toRouteSpec } from './validation.ts'
export { resolveSecretRef, type SecretRefDeps, type SecretRefValue } from './secret-ref.ts'
