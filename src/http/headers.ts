import { buildForwardedHeaders, type CidrSet } from '../security/index.ts'
/**
 * Header handling on the forwarding path. RFC 9110 §7.6.1: connection-specific ("hop-by-hop") fields
 * are not forwarded, including any field named in `Connection`.
 */

/** Fields never forwarded in either direction (RFC 9110 §7.6.1, plus legacy and proxy-directed ones). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // undici refuses `expect`; Node answers 100-continue itself before the request reaches us.
  'expect',
  'http2-settings',
])

/** Request fields the gateway replaces with its own values. */
const REPLACED_ON_REQUEST = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded'])

/** What the forwarding path needs from the request head, gathered in one pass over raw headers. */
export interface ScannedRequestHead {
  host: string | undefined
  requestId: string | undefined
  xForwardedFor: string | undefined
  xForwardedProto: string | undefined
  xForwardedHost: string | undefined
  forwarded: string | undefined
  contentLength: string | undefined
  hasTransferEncoding: boolean
  /** Number of Host fields (RFC 9112 §3.2: more than one is a 400). */
  hostFields: number
  /** The first Host field's value (on HTTP/2 compared with `:authority`). */
  hostField: string | undefined
  /** HTTP/2 `:authority`, if sent. */
  authority: string | undefined
  /** A field name containing `_` was seen (dropped from `forward` unless the policy is `allow`). */
  hasUnderscoreName: boolean
  /** Flat [name, value, …] list of end-to-end fields to forward (original case kept). */
  forward: string[]
}

function connectionTokens(value: string): Set<string> {
  const tokens = new Set<string>()
  for (const part of value.split(',')) {
    const token = part.trim().toLowerCase()
    if (token !== '' && token !== 'close' && token !== 'keep-alive') tokens.add(token)
  }
  return tokens
}

/**
 * One pass over `rawHeaders` ([name, value, …] as received): picks out what routing and forwarding
 * need and collects the end-to-end fields. HTTP/2 pseudo-headers are skipped (`:authority` → host).
 */
export function scanRequestHead(
  rawHeaders: readonly string[],
  requestIdHeader: string,
  underscores: 'drop' | 'reject' | 'allow' = 'drop',
): ScannedRequestHead {
  const head: ScannedRequestHead = {
    host: undefined,
    requestId: undefined,
    xForwardedFor: undefined,
    xForwardedProto: undefined,
    xForwardedHost: undefined,
    forwarded: undefined,
    contentLength: undefined,
    hasTransferEncoding: false,
    hostFields: 0,
    hostField: undefined,
    authority: undefined,
    hasUnderscoreName: false,
    forward: [],
  }
  let nominated: Set<string> | undefined
  const forward = head.forward
  /** Index of the first Cookie field's value in `forward` (-1: none yet). */
  let cookieAt = -1
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string
    const value = rawHeaders[i + 1] as string
    const lower = name.toLowerCase()
    if (lower.charCodeAt(0) === 58 /* ':' */) {
      if (lower === ':authority' && head.authority === undefined) {
        head.authority = value
        head.host ??= value
      }
      continue
    }
    if (lower === 'host') {
      if (head.hostFields++ === 0) head.hostField = value
      head.host ??= value
      continue
    }
    // CGI/WSGI-style backends map `_` and `-` to the same variable: `X_Forwarded_For` would pass for
    // the field we set, `Content_Length` for framing. nginx drops such fields by default; so do we.
    if (name.indexOf('_') !== -1) {
      head.hasUnderscoreName = true
      if (underscores !== 'allow') continue
    }
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection') nominated = connectionTokens(value)
      else if (lower === 'transfer-encoding') head.hasTransferEncoding = true
      continue
    }
    if (lower === requestIdHeader) {
      if (head.requestId === undefined) head.requestId = value
      continue
    }
    if (REPLACED_ON_REQUEST.has(lower)) {
      // Several instances of a list field combine with commas (RFC 9110 §5.3).
      if (lower === 'x-forwarded-for') head.xForwardedFor = join(head.xForwardedFor, value)
      else if (lower === 'forwarded') head.forwarded = join(head.forwarded, value)
      else if (lower === 'x-forwarded-proto') head.xForwardedProto ??= value
      else head.xForwardedHost ??= value
      continue
    }
    if (lower === 'content-length') head.contentLength = value
    else if (lower === 'cookie') {
      // RFC 9113 §8.2.3: HTTP/2 clients may split Cookie into several fields; they must be joined with
      // "; " before reaching an HTTP/1.1 hop (which allows one Cookie field, RFC 6265 §5.4).
      if (cookieAt !== -1) {
        forward[cookieAt] = `${forward[cookieAt] as string}; ${value}`
        continue
      }
      cookieAt = forward.length + 1
    }
    forward.push(name, value)
  }
  if (nominated !== undefined && nominated.size > 0) head.forward = dropNominated(forward, nominated)
  return head
}

function join(a: string | undefined, b: string): string {
  return a === undefined ? b : `${a}, ${b}`
}

function dropNominated(flat: readonly string[], nominated: ReadonlySet<string>): string[] {
  const out: string[] = []
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string
    if (!nominated.has(name.toLowerCase())) out.push(name, flat[i + 1] as string)
  }
  return out
}

/**
 * Builds the client response head from an upstream response's headers (undici's parsed object):
 * hop-by-hop fields dropped, the request id added. Returns a flat [name, value, …] list.
 */
export function buildResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
  requestIdHeader: string,
  requestId: string,
): string[] {
  const out: string[] = []
  let nominated: Set<string> | undefined
  const connection = headers['connection']
  if (typeof connection === 'string' && connection !== 'keep-alive' && connection !== 'close') {
    nominated = connectionTokens(connection)
  }
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || name === requestIdHeader) continue
    if (nominated !== undefined && nominated.has(name)) continue
    const value = headers[name]
    if (value === undefined) continue
    if (typeof value === 'string') out.push(name, value)
    else for (const v of value) out.push(name, v)
  }
  out.push(requestIdHeader, requestId)
  return out
}

/** True when `name` is hop-by-hop (for callers that build heads by hand, e.g. WebSocket). */
export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name)
}

/**
 * Appends the fields the gateway itself sets on a forwarded request: Host (`upstreamHost`, chosen by the
 * route's `hostHeader` policy: the client's by default, see route-policy.ts),
 * X-Forwarded-For/-Proto/-Host and Forwarded (RFC 7239; incoming values extended only from trusted
 * proxies), and the request id. Shared by the HTTP and WebSocket paths.
 */
export function appendGatewayHeaders(
  out: string[],
  head: ScannedRequestHead,
  socket: { readonly remoteAddress?: string | undefined; readonly encrypted?: boolean },
  trusted: CidrSet,
  upstreamHost: string,
  requestIdHeader: string,
  requestId: string,
): void {
  const peer = socket.remoteAddress ?? ''
  const fwd = buildForwardedHeaders({
    peer,
    isPeerTrusted: trusted.has(peer),
    ...(head.xForwardedFor === undefined ? {} : { incomingXff: head.xForwardedFor }),
    ...(head.forwarded === undefined ? {} : { incomingForwarded: head.forwarded }),
    ...(head.xForwardedProto === undefined ? {} : { incomingProto: head.xForwardedProto }),
    ...(head.xForwardedHost === undefined ? {} : { incomingHost: head.xForwardedHost }),
    proto: socket.encrypted === true ? 'https' : 'http',
    host: head.host ?? '',
  })
  out.push(
    'host',
    upstreamHost,
    'x-forwarded-for',
    fwd.xForwardedFor,
    'x-forwarded-proto',
    fwd.xForwardedProto,
    'x-forwarded-host',
    fwd.xForwardedHost,
    'forwarded',
    fwd.forwarded,
    requestIdHeader,
    requestId,
  )
}
