import type { ErrorCode } from '../errors/index.ts'

/**
 * Maps an error from the upstream client (undici codes, socket errno codes) to a gateway reason code.
 * Pure; the edge renders the code's status (502/504).
 */
export function classifyUpstreamError(err: Error): ErrorCode {
  const code = (err as { code?: unknown }).code
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'UPSTREAM_CONNECT_TIMEOUT'
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return 'UPSTREAM_CONNECT_FAILED'
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'UPSTREAM_HEADERS_TIMEOUT'
    case 'UND_ERR_BODY_TIMEOUT':
      return 'UPSTREAM_BODY_TIMEOUT'
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_CLOSED':
      return 'UPSTREAM_RESET'
    case 'UND_ERR_ABORTED':
    case 'ABORT_ERR':
      return 'CLIENT_ABORTED'
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return 'BAD_REQUEST'
    case 'UND_ERR_HEADERS_OVERFLOW':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_RESPONSE_EXCEEDED_MAX_SIZE':
    case 'UND_ERR_INFO':
      return 'UPSTREAM_PROTOCOL_ERROR'
    default:
      if (typeof code === 'string' && code.startsWith('HPE_')) return 'UPSTREAM_PROTOCOL_ERROR'
      if (typeof code === 'string' && code.startsWith('ERR_TLS')) return 'UPSTREAM_CONNECT_FAILED'
      return 'UPSTREAM_RESET'
  }
}
