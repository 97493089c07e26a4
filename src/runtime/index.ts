export {
  buildRuntime,
  retireRuntime,
  configVersion,
  type Runtime,
  type RouteContext,
  type RuntimeDeps,
  type UnderscorePolicy,
} from './runtime.ts'
export type { AdmissionStage, AdmissionRequest, AdmissionRefusal } from './admission.ts'
export type { DirectResponse, HostHeaderPolicy, RoutePolicy } from './route-policy.ts'
