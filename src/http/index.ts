export {
  ProxyHandler,
  type ProxyDeps,
  type ExchangeSummary,
  type AttemptFailureReason,
  type LocalEndpoints,
} from './proxy.ts'
export { answerClientError, type ClientErrorDeps } from './client-error.ts'
export { createUpgradeHandler, type Tunnel, type UpgradeDeps } from './websocket.ts'
export {
  createRequestIdSource,
  isValidRequestId,
  MAX_REQUEST_ID_LENGTH,
  type RequestIdSource,
} from './request-id.ts'
export { rawProblemResponse, sendProblem } from './problem-response.ts'
export { scanRequestHead, buildResponseHeaders } from './headers.ts'
export { classifyUpstreamError } from './upstream-errors.ts'
export { SlowClients, type SlowClientSnapshot, type SlowClientCounts } from './slow-clients.ts'
