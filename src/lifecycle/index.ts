export { Gateway, type GatewayDeps, type GatewayState, type StopResult, type ReloadResult } from './gateway.ts'
