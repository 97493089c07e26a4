import { normalizePeer } from './client-address.ts'
import { parseIPv4 } from './ip-address.ts'

/** Input of buildForwardedHeaders: this hop's facts plus the forwarding headers the request arrived with. */
export interface ForwardedHeadersInput {
  /** TCP peer address as the socket reports it. */
  readonly peer: string
  /** Whether the peer is a trusted proxy (trustedProxies.has(peer)); only then are incoming values kept. */
  readonly isPeerTrusted: boolean
  readonly incomingXff?: string
  readonly incomingForwarded?: string
  readonly incomingProto?: string
  readonly incomingHost?: string
  /** Scheme of the listener the request arrived on. */
  readonly proto: 'http' | 'https'
  /** The request's Host header (authority). */
  readonly host: string
}

/** Values of the forwarding headers to send upstream. */
export interface ForwardedHeaders {
  readonly xForwardedFor: string
  readonly xForwardedProto: string
  readonly xForwardedHost: string
  /** RFC 7239 Forwarded. */
  readonly forwarded: string
}

// RFC 9110 §5.6.2 tchar: "!#$%&'*+-.^_`|~" DIGIT ALPHA.
function isTchar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x21 ||
    (c >= 0x23 && c <= 0x27) ||
    c === 0x2a ||
    c === 0x2b ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5e ||
    c === 0x5f ||
    c === 0x60 ||
    c === 0x7c ||
    c === 0x7e
  )
}

/** RFC 7239 §4 value: a token as is, anything else as a quoted-string with `"` and `\` escaped. */
function forwardedValue(value: string): string {
  let isToken = value.length > 0
  for (let i = 0; i < value.length && isToken; i++) isToken = isTchar(value.charCodeAt(i))
  if (isToken) return value
  let quoted = '"'
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c === 0x22 || c === 0x5c) quoted += '\\'
    quoted += value[i]
  }
  return quoted + '"'
}

/**
 * RFC 7239 §6 node name of the peer: IPv4 bare, IPv6 bracketed and therefore quoted (`"[2001:db8::1]"`),
 * zone id dropped, IPv4-mapped IPv6 as IPv4; `unknown` when the peer is not an IP address (Unix socket).
 */
function forwardedNode(client: string): string {
  if (parseIPv4(client, 0, client.length) >= 0) return client
  if (client.includes(':')) return `"[${client}]"`
  return 'unknown'
}

/** Appends `value` to a comma-separated list that may be absent or blank. */
function appendToList(list: string | undefined, value: string): string {
  return list === undefined || list.trim().length === 0 ? value : `${list}, ${value}`
}

/** `value` when it is present and non-blank, else `fallback`. */
function keptOr(value: string | undefined, fallback: string): string {
  return value === undefined || value.trim().length === 0 ? fallback : value.trim()
}

/**
 * Builds the outgoing forwarding headers. From a trusted peer the incoming X-Forwarded-For and Forwarded
 * lists are extended with this hop and its X-Forwarded-Proto/-Host are kept; from anyone else they are
 * discarded and started afresh from the peer address, the listener's scheme and the Host header, so a
 * client cannot inject a forged hop. The Forwarded element carries `for`, `proto` and `host`
 * (RFC 7239 §5.2–5.4); `by` is omitted so as not to disclose the gateway's own address.
 */
export function buildForwardedHeaders(input: ForwardedHeadersInput): ForwardedHeaders {
  const client = normalizePeer(input.peer)
  const element = `for=${forwardedNode(client)};proto=${input.proto};host=${forwardedValue(input.host)}`
  if (!input.isPeerTrusted) {
    return {
      xForwardedFor: client,
      xForwardedProto: input.proto,
      xForwardedHost: input.host,
      forwarded: element,
    }
  }
  return {
    xForwardedFor: appendToList(input.incomingXff, client),
    xForwardedProto: keptOr(input.incomingProto, input.proto),
    xForwardedHost: keptOr(input.incomingHost, input.host),
    forwarded: appendToList(input.incomingForwarded, element),
  }
}
