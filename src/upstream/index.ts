export { createBackend, backendIdentity, type Backend } from './backend.ts'
export { Upstream, type AcquireCallback, type UpstreamDeps } from './upstream.ts'
