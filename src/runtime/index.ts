export {
  buildRuntime,
  retireRuntime,
  configVersion,
  type Runtime,
  type RouteContext,
  type RuntimeDeps,
  type UnderscorePolicy,
} from './runtime.ts'
export {
  applyAdmissionGrant,
  isAdmissionGrant,
  type AdmissionGrant,
  type AdmissionStage,
  type AdmissionRequest,
  type AdmissionRefusal,
  type ExchangeMeter,
  type ExchangeOutcome,
} from './admission.ts'
export type { DirectResponse, HostHeaderPolicy, RoutePolicy } from './route-policy.ts'
