export {
  Gateway,
  type GatewayDeps,
  type GatewayState,
  type StopResult,
  type ReloadResult,
  RestartRequiredError,
} from './gateway.ts'
export {
  APPLIED_ON_RELOAD,
  RESTART_BOUND,
  CONSTANT_FIELDS,
  restartBoundChanges,
  formatChange,
  splitPath,
  type FieldChange,
  type ReloadClass,
} from './reload-fields.ts'
export {
  Reloader,
  type ReloaderDeps,
  type ReloadOutcome,
  type ReloadTrigger,
  type ReloadTarget,
  type ConfigSource,
} from './reloader.ts'
export { watchConfigFile, type ConfigWatcherOptions } from './config-watcher.ts'
