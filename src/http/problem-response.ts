import type { ServerResponse } from 'node:http'
import type { Http2ServerResponse } from 'node:http2'
import { STATUS_CODES } from 'node:http'
import { ERROR_CODES, PROBLEM_CONTENT_TYPE, renderProblem, type ErrorCode } from '../errors/index.ts'

export type AnyResponse = ServerResponse | Http2ServerResponse

/** Seconds clients are told to wait after a capacity 503. */
export const RETRY_AFTER_SECONDS = '1'

// A problem document must never be sniffed into something a browser would run (docs/security.md).
const NOSNIFF = 'nosniff'

/**
 * Answers with an RFC 9457 problem document. The one place where gateway-made errors become HTTP on
 * a live response. No-op when the response head was already sent (the caller destroys the stream).
 * Returns the body bytes handed to the response (0 for the no-op).
 */
export function sendProblem(
  res: AnyResponse,
  code: ErrorCode,
  requestIdHeader: string,
  requestId: string,
  extraHeaders?: Record<string, string>,
  problemMembers?: string,
): number {
  if (res.headersSent || res.writableEnded) return 0
  const body = renderProblem(code, requestId, undefined, problemMembers)
  const length = Buffer.byteLength(body)
  const headers: Record<string, string | number> = {
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': length,
    'cache-control': 'no-store',
    'x-content-type-options': NOSNIFF,
    [requestIdHeader]: requestId,
    ...extraHeaders,
  }
  if (ERROR_CODES[code].status === 503 && headers['retry-after'] === undefined)
    headers['retry-after'] = RETRY_AFTER_SECONDS
  ;(res as ServerResponse).writeHead(ERROR_CODES[code].status, headers)
  res.end(body)
  return length
}

/**
 * A complete HTTP/1.1 problem response as bytes, for raw sockets (parse errors before a request
 * object exists, refused upgrades). Always closes the connection. `extraLines`: header lines (each
 * ending in CR LF) such as HSTS on a TLS connection. `extraHeaders` (lower-case names, values the
 * gateway made: an admission refusal's) and `problemMembers` as for sendProblem.
 */
export function rawProblemResponse(
  code: ErrorCode,
  requestIdHeader: string,
  requestId: string,
  extraLines = '',
  extraHeaders?: Readonly<Record<string, string>>,
  problemMembers?: string,
): string {
  const status = ERROR_CODES[code].status
  const body = renderProblem(code, requestId, undefined, problemMembers)
  let extra = ''
  if (extraHeaders !== undefined)
    for (const [name, value] of Object.entries(extraHeaders)) extra += `${name}: ${value}\r\n`
  const retry =
    status === 503 && extraHeaders?.['retry-after'] === undefined
      ? `retry-after: ${RETRY_AFTER_SECONDS}\r\n`
      : ''
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    `content-type: ${PROBLEM_CONTENT_TYPE}\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    `cache-control: no-store\r\n${retry}${extra}` +
    `x-content-type-options: ${NOSNIFF}\r\n${extraLines}` +
    `${requestIdHeader}: ${requestId}\r\n` +
    'connection: close\r\n\r\n' +
    body
  )
}

/** Body bytes of a response built by rawProblemResponse (what bytesOut counts for it). */
export function rawProblemBodyBytes(response: string): number {
  return Buffer.byteLength(response) - response.indexOf('\r\n\r\n') - 4
}
