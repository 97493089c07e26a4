export { ConnectionTracker, type ConnectionCounts } from './connection-tracker.ts'
export {
  startListener,
  type Listener,
  type ListenerHandlers,
  type RequestListener,
  type UpgradeListener,
} from './listener.ts'
export { bindError } from './bind-error.ts'
export { loadTlsMaterial, readTlsFile, type TlsMaterial } from './tls-material.ts'
