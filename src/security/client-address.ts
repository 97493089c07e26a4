import { CompiledCidrSet, type CidrSet } from './cidr-set.ts'
import { formatIp, normalizeIp, parseIp, parseIPv4, type IpFamily } from './ip-address.ts'

// Scratch for the address being examined; written and read within one synchronous call, never escapes.
const words = new Uint32Array(4)

/**
 * Canonical text of the TCP peer address, cheap for what sockets report: IPv4 as is, Node's dual-stack
 * `::ffff:a.b.c.d` as the IPv4 it carries. Anything unparseable (a Unix socket's '') is returned unchanged.
 */
export function normalizePeer(peer: string): string {
  if (!peer.includes(':')) return peer
  if (peer.startsWith('::ffff:') && parseIPv4(peer, 7, peer.length) >= 0) return peer.slice(7)
  return normalizeIp(peer) ?? peer
}

function isTrusted(trusted: CidrSet, family: 4 | 6, parsed: Uint32Array): boolean {
  return trusted instanceof CompiledCidrSet
    ? trusted.hasParsed(family, parsed)
    : trusted.has(formatIp(family, parsed))
}

/**
 * Parses one X-Forwarded-For element in s[start, end) into `words`: an address, or an address with a port
 * as some proxies write it (`1.2.3.4:5678`, `[2001:db8::1]:5678`, `[2001:db8::1]`).
 */
function parseForwardedElement(s: string, start: number, end: number): IpFamily {
  if (s.charCodeAt(start) === 0x5b /* [ */) {
    const close = s.indexOf(']', start)
    if (close < 0 || close >= end || !isPortSuffix(s, close + 1, end)) return 0
    return parseIp(s, start + 1, close, words) === 6 ? 6 : 0
  }
  const family = parseIp(s, start, end, words)
  if (family !== 0) return family
  const colon = s.lastIndexOf(':', end - 1)
  if (colon <= start || !isPortSuffix(s, colon, end)) return 0
  const v4 = parseIPv4(s, start, colon)
  if (v4 < 0) return 0
  words[0] = v4
  return 4
}

/** True for "" or ":" followed by a decimal port 0–65535 in s[start, end). */
function isPortSuffix(s: string, start: number, end: number): boolean {
  if (start === end) return true
  if (s.charCodeAt(start) !== 0x3a || end - start < 2 || end - start > 6) return false
  let port = 0
  for (let i = start + 1; i < end; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x30 || c > 0x39) return false
    port = port * 10 + (c - 0x30)
  }
  return port <= 65535
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09
}

/**
 * The client address as the gateway should believe it, in canonical form (see normalizeIp).
 *
 * The TCP peer, unless the peer is trusted: then X-Forwarded-For is walked from the right, each element
 * being the peer of the hop that appended it, skipping trusted addresses, and the first untrusted one is
 * the client (nginx `real_ip_recursive on`, Envoy's trusted-hops walk). If every element is trusted the
 * leftmost is the client. An element that is not an address (garbage, `unknown`, an obfuscated name) stops
 * the walk: the answer is the last address reached, the trusted hop that reported the garbage, because
 * nothing to its left can be attributed to anyone we trust. Empty list elements are skipped (RFC 9110 §5.6.1).
 * Several X-Forwarded-For header lines must be joined with "," beforehand (Node does so).
 */
export function resolveClientAddress(
  peer: string,
  xForwardedFor: string | undefined,
  trusted: CidrSet,
): string {
  const client = normalizePeer(peer)
  if (xForwardedFor === undefined || xForwardedFor.length === 0) return client
  if (trusted instanceof CompiledCidrSet && trusted.isEmpty) return client
  const peerFamily = parseIp(client, 0, client.length, words)
  if (peerFamily === 0 || !isTrusted(trusted, peerFamily, words)) return client

  // The element currently believed to be the client: [resultStart, resultEnd) of xForwardedFor, or the peer.
  let resultStart = -1
  let resultEnd = -1
  let end = xForwardedFor.length
  for (;;) {
    const comma = end > 0 ? xForwardedFor.lastIndexOf(',', end - 1) : -1
    let start = comma + 1
    let stop = end
    while (start < stop && isOws(xForwardedFor.charCodeAt(start))) start++
    while (stop > start && isOws(xForwardedFor.charCodeAt(stop - 1))) stop--
    if (start < stop) {
      const family = parseForwardedElement(xForwardedFor, start, stop)
      if (family === 0) break
      resultStart = start
      resultEnd = stop
      if (!isTrusted(trusted, family, words)) break
    }
    if (comma < 0) break
    end = comma
  }
  if (resultStart < 0) return client
  // Parse the chosen element again (words was overwritten by later elements) and canonicalise it.
  const family = parseForwardedElement(xForwardedFor, resultStart, resultEnd)
  return family === 0 ? client : formatIp(family, words)
}
