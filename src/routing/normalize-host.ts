import { isIPv6 } from 'node:net'

// RFC 1035 §2.3.4: labels ≤ 63 octets, names ≤ 253 characters in text form (without the root dot).
const MAX_LABEL_LENGTH = 63
const MAX_HOST_LENGTH = 253

/**
 * Canonical host for matching: lower-case, port stripped, trailing dot stripped, IPv6 brackets kept;
 * returns undefined if syntactically invalid (caller answers 400). An empty value stays '' (RFC 9112 §3.2
 * allows an empty Host; it can only reach the default host bucket).
 *
 * Accepted: DNS-style names (letters, digits, '-', '_'; non-empty labels), dotted IPv4 (as a name), and
 * bracketed IPv6 without zone id; each optionally followed by ':' and at most five digits ≤ 65535.
 * Percent-encoded or sub-delim reg-names (legal in RFC 3986, never real hosts) are rejected.
 */
export function normalizeHost(rawHost: string): string | undefined {
  const length = rawHost.length
  if (length === 0) return ''
  if (rawHost.charCodeAt(0) === 0x5b /* [ */) return normalizeIpLiteral(rawHost)
  let hostEnd = length
  let labelStart = 0
  let hasUpperCase = false
  for (let i = 0; i < length; i++) {
    const c = rawHost.charCodeAt(i)
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f) continue
    if (c >= 0x41 && c <= 0x5a) {
      hasUpperCase = true
      continue
    }
    if (c === 0x2e /* . */) {
      if (i === labelStart || i - labelStart > MAX_LABEL_LENGTH) return undefined
      labelStart = i + 1
      continue
    }
    if (c === 0x3a /* : */) {
      if (!isValidPort(rawHost, i + 1)) return undefined
      hostEnd = i
      break
    }
    return undefined
  }
  if (hostEnd === 0) return undefined // ':80'
  if (labelStart === hostEnd) {
    hostEnd-- // one trailing dot (FQDN form); an empty label before it was rejected above
  } else if (hostEnd - labelStart > MAX_LABEL_LENGTH) {
    return undefined
  }
  if (hostEnd > MAX_HOST_LENGTH) return undefined
  const host = hostEnd === length ? rawHost : rawHost.slice(0, hostEnd)
  return hasUpperCase ? host.toLowerCase() : host
}

/** '[v6]' or '[v6]:port'. IPvFuture and zone ids (RFC 6874) are rejected. */
function normalizeIpLiteral(rawHost: string): string | undefined {
  const close = rawHost.indexOf(']')
  if (close < 3) return undefined
  if (close !== rawHost.length - 1) {
    if (rawHost.charCodeAt(close + 1) !== 0x3a || !isValidPort(rawHost, close + 2)) return undefined
  }
  const address = rawHost.slice(1, close)
  if (address.includes('%') || !isIPv6(address)) return undefined
  return `[${address.toLowerCase()}]`
}

/** RFC 3986 §3.2.3: port = *DIGIT; we also bound it to 5 digits and 65535. */
function isValidPort(s: string, from: number): boolean {
  const digits = s.length - from
  if (digits > 5) return false
  let value = 0
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x30 || c > 0x39) return false
    value = value * 10 + (c - 0x30)
  }
  return value <= 65535
}
