import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { ErrorCode } from '../errors/index.ts'
import type { RouteMatch, Router } from '../routing/index.ts'
import type { HostHeaderPolicy, RouteContext, RoutePolicy } from '../runtime/index.ts'
import {
  actualResponseHeaders,
  addSecurityHeadersToProxied,
  applyCorsToResponse,
  isAddressAllowed,
  isPreflight,
  preflightHeaders,
  type SecurityHeaders,
} from '../security/index.ts'
import type { Backend } from '../upstream/index.ts'
import type { AnyResponse } from './problem-response.ts'

/**
 * The request-time side of a route's operator policy (runtime/route-policy.ts compiles it), in the order
 * it is applied after routing: client IP lists (403 IP_DENIED), CORS preflight (answered at the gateway,
 * or 403 CORS_PREFLIGHT_REFUSED), direct response. Nothing here reaches an upstream. Shared by the HTTP
 * path (proxy.ts) and the WebSocket upgrade path (websocket.ts).
 */

/** A response the gateway makes for the route, written by sendAnswer (or rawAnswer on a socket). */
export interface GatewayAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  /** Undefined: no content (204 preflight). */
  readonly body: Buffer | undefined
}

/** What a route's policy decides for one request: proxy it (undefined), refuse it, or answer it. */
export type PolicyDecision =
  | undefined
  | { readonly refuse: Extract<ErrorCode, 'IP_DENIED' | 'CORS_PREFLIGHT_REFUSED'> }
  | { readonly answer: GatewayAnswer }

/**
 * Routes a CORS preflight as the request it announces: the route that would serve
 * `Access-Control-Request-Method` on this path answers it when that route has CORS. Otherwise (not a
 * preflight, or the announced request's route has no CORS) the OPTIONS match stands, and OPTIONS is
 * proxied like any method. Called only for OPTIONS.
 */
export function matchPreflight(
  router: Router<RouteContext>,
  optionsMatch: RouteMatch<RouteContext>,
  headers: IncomingHttpHeaders,
  host: string,
  path: string,
  getHeader: (name: string) => string | undefined,
): RouteMatch<RouteContext> {
  const requestMethod = headers['access-control-request-method']
  if (!isPreflight('OPTIONS', headers.origin, requestMethod)) return optionsMatch
  if (optionsMatch.ok && optionsMatch.target.policy?.cors !== undefined) return optionsMatch
  const announced = router.match(host, path, requestMethod.toUpperCase(), getHeader)
  return announced.ok && announced.target.policy?.cors !== undefined ? announced : optionsMatch
}

/** Applies a route's policy to one request (see the module comment for the order). */
export function decideRoutePolicy(
  policy: RoutePolicy,
  method: string,
  headers: IncomingHttpHeaders,
  clientAddress: string,
): PolicyDecision {
  if (policy.ipAccess !== undefined && !isAddressAllowed(policy.ipAccess, clientAddress)) return DENIED
  const cors = policy.cors
  const origin = headers.origin
  if (cors !== undefined) {
    const requestMethod = headers['access-control-request-method']
    if (isPreflight(method, origin, requestMethod)) {
      const fields = preflightHeaders(
        cors,
        origin as string,
        requestMethod,
        joined(headers['access-control-request-headers']),
      )
      return fields === undefined
        ? PREFLIGHT_REFUSED
        : { answer: { status: 204, headers: fields, body: undefined } }
    }
  }
  const direct = policy.direct
  if (direct === undefined) return undefined
  const headersOut =
    cors === undefined ? direct.headers : { ...direct.headers, ...actualResponseHeaders(cors, origin) }
  return { answer: { status: direct.status, headers: headersOut, body: direct.body } }
}

const DENIED = Object.freeze({ refuse: 'IP_DENIED' as const })
const PREFLIGHT_REFUSED = Object.freeze({ refuse: 'CORS_PREFLIGHT_REFUSED' as const })

function joined(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v
}

// RFC 9110 §8.6, §15.3.5, §15.4.5: 204 and 304 carry no Content-Length (304: not the one of the body).
function hasContentLength(status: number): boolean {
  return status !== 204 && status !== 304
}

/**
 * Writes a gateway answer on an HTTP/1.1 or HTTP/2 response with the request id and the security
 * fields. HEAD gets the head only, with the Content-Length a GET would get (RFC 9110 §9.3.2). Returns
 * the body bytes written.
 */
export function sendAnswer(
  res: AnyResponse,
  answer: GatewayAnswer,
  isHead: boolean,
  requestIdHeader: string,
  requestId: string,
  security: Readonly<Record<string, string>>,
  extraHeaders: Readonly<Record<string, string>> | undefined,
): number {
  const body = answer.body
  const headers: Record<string, string | number> = { ...answer.headers, ...security, ...extraHeaders }
  if (hasContentLength(answer.status)) headers['content-length'] = body?.length ?? 0
  headers[requestIdHeader] = requestId
  ;(res as ServerResponse).writeHead(answer.status, headers)
  if (isHead || body === undefined || body.length === 0) {
    res.end()
    return 0
  }
  res.end(body)
  return body.length
}

/**
 * The same answer as complete HTTP/1.1 bytes for a raw socket (an upgrade request the route answers
 * itself), always closing the connection.
 */
export function rawAnswer(
  answer: GatewayAnswer,
  isHead: boolean,
  requestIdHeader: string,
  requestId: string,
  securityLines: string,
): Buffer {
  const body = answer.body
  let head = `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}\r\n`
  for (const name in answer.headers) head += `${name}: ${answer.headers[name] as string}\r\n`
  if (hasContentLength(answer.status)) head += `content-length: ${body?.length ?? 0}\r\n`
  head += `${securityLines}${requestIdHeader}: ${requestId}\r\nconnection: close\r\n\r\n`
  const bytes = Buffer.from(head, 'latin1')
  return isHead || body === undefined ? bytes : Buffer.concat([bytes, body])
}

/**
 * A proxied response head (flat list) with the route's CORS applied and, when configured
 * (`securityHeaders.proxiedResponses`), the security fields the backend did not send. Returns `flat`
 * itself when neither applies (the common case).
 */
export function decorateProxiedHead(
  flat: string[],
  route: RouteContext,
  security: SecurityHeaders,
  req: { readonly headers: IncomingHttpHeaders; readonly socket: unknown },
): string[] {
  const cors = route.policy?.cors
  const out = cors === undefined ? flat : applyCorsToResponse(flat, cors, req.headers.origin)
  if (security.proxiedResponses) {
    addSecurityHeadersToProxied(
      out,
      security,
      (req.socket as { encrypted?: boolean } | null)?.encrypted === true,
    )
  }
  return out
}

/** The security fields for a gateway-made response on this connection (TLS or cleartext). */
export function securityFieldsFor(
  security: SecurityHeaders,
  isTls: boolean,
): Readonly<Record<string, string>> {
  return isTls ? security.tls : security.cleartext
}

/**
 * The Host sent upstream (undici also takes it as HTTP/2 `:authority`): the client's (absent only on
 * paths that never route, then the backend's), the backend URL's authority, or the fixed value.
 */
export function upstreamHost(
  policy: HostHeaderPolicy,
  clientHost: string | undefined,
  backend: Backend,
): string {
  if (policy === 'preserve') return clientHost ?? backend.authority
  if (policy === 'backend') return backend.authority
  return policy.fixed
}
