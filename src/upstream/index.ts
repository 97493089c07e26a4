export { createBackend, backendIdentity, type Backend, type BreakerTransitionListener } from './backend.ts'
export { Upstream, type AcquireCallback, type UpstreamDeps, type BackendStats } from './upstream.ts'
export { ClientShare } from './client-share.ts'
