export {
  Gateway,
  type GatewayDeps,
  type GatewayState,
  type StopResult,
  type ReloadResult,
} from './gateway.ts'
export {
  Reloader,
  type ReloaderDeps,
  type ReloadOutcome,
  type ReloadTrigger,
  type ReloadTarget,
  type ConfigSource,
} from './reloader.ts'
export { watchConfigFile, type ConfigWatcherOptions } from './config-watcher.ts'
