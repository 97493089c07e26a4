import { ERROR_CODES, type ErrorCode } from '../errors/index.ts'
import type { Runtime } from '../runtime/index.ts'
import { rawProblemBodyBytes, rawProblemResponse } from './problem-response.ts'
import type { ExchangeSummary } from './proxy.ts'
import type { RequestIdSource } from './request-id.ts'

/** Collaborators of the parser-level refusal path (the same hook as the request path). */
export interface ClientErrorDeps {
  readonly runtime: () => Runtime
  readonly requestIds: RequestIdSource
  readonly onExchangeEnd?: (exchange: ExchangeSummary) => void
}

/** What Node's `clientError` gives about the connection and the bytes it could not parse. */
export interface ClientErrorContext {
  readonly socket: { readonly remoteAddress?: string | undefined; readonly encrypted?: boolean }
  /** `err.rawPacket`: the bytes the parser held when it failed (absent on timeouts). */
  readonly rawPacket: Buffer | undefined
}

/** Longest request line / Host value read out of a refused packet (the access log bounds it again). */
const MAX_SCAN_CHARS = 4096
const MAX_METHOD_CHARS = 32
// Header names are case-insensitive (RFC 9110 §5.1); the Host line of a refused head, if it got that far.
const HOST_LINE = /\r\nhost:[ \t]*([^\r\n]*)/i
const HTTP_VERSION = /^HTTP\/(\d\.\d)$/

/**
 * Answers a request Node's HTTP/1.1 parser refused before a request object existed (bad method,
 * bad Content-Length, malformed request line, head too large, head timeout): returns the complete
 * problem response to write on the socket, and reports the refusal like any exchange (one access-log
 * line, the request metrics) with what could be read from the raw bytes: method, request-target and
 * Host, all untrusted. Not on the hot path: runs only for refused requests.
 */
export function answerClientError(
  deps: ClientErrorDeps,
  code: ErrorCode,
  context: ClientErrorContext,
): string {
  const runtime = deps.runtime()
  const requestId = deps.requestIds.next()
  // HSTS also on TLS refusals (the security fields go on every response the gateway makes).
  const hsts = context.socket.encrypted === true ? runtime.securityHeaders.hstsLine : ''
  const response = rawProblemResponse(code, runtime.requestIdHeader, requestId, hsts)
  const onEnd = deps.onExchangeEnd
  if (onEnd !== undefined) {
    const head = readRefusedHead(context.rawPacket)
    onEnd({
      requestId,
      traceparent: undefined,
      configVersion: runtime.version,
      clientAddress: context.socket.remoteAddress ?? '',
      httpVersion: head.httpVersion,
      method: head.method,
      host: head.host,
      rawPath: head.target,
      path: undefined,
      routeId: undefined,
      backendId: undefined,
      status: ERROR_CODES[code].status,
      code,
      attempts: 0,
      attemptLog: undefined,
      bytesIn: 0,
      bytesOut: rawProblemBodyBytes(response),
      ttfbMs: undefined,
      durationMs: 0,
    })
  }
  return response
}

interface RefusedHead {
  readonly method: string
  readonly target: string
  readonly httpVersion: string
  readonly host: string | undefined
}

/** Best-effort reading of a head the parser refused: `METHOD SP target SP HTTP/x.y CRLF … Host: …`. */
function readRefusedHead(raw: Buffer | undefined): RefusedHead {
  if (raw === undefined || raw.length === 0)
    return { method: '', target: '', httpVersion: '', host: undefined }
  const text = raw.toString('latin1', 0, Math.min(raw.length, MAX_SCAN_CHARS))
  const eol = text.indexOf('\r\n')
  const line = eol === -1 ? text : text.slice(0, eol)
  const first = line.indexOf(' ')
  const method = (first === -1 ? line : line.slice(0, first)).slice(0, MAX_METHOD_CHARS)
  const rest = first === -1 ? '' : line.slice(first + 1)
  const last = rest.lastIndexOf(' ')
  const version = last === -1 ? undefined : HTTP_VERSION.exec(rest.slice(last + 1))?.[1]
  const target = version === undefined ? rest : rest.slice(0, last)
  const host = eol === -1 ? undefined : HOST_LINE.exec(text.slice(eol))?.[1]?.trim()
  return { method, target, httpVersion: version ?? '', host }
}
