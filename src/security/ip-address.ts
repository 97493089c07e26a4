/**
 * Allocation-free IP address parsing and canonical formatting. Addresses are parsed into a caller-owned
 * Uint32Array: IPv4 as one uint32 in word 0, IPv6 as four big-endian uint32 words. IPv4-mapped IPv6
 * (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) is reported as the IPv4 address it carries, so one client has one
 * identity whether it arrived on a v4 or a dual-stack socket.
 */

/** Family of a parsed address; 0 means not an address. */
export type IpFamily = 0 | 4 | 6

// Scratch for the eight 16-bit groups of an IPv6 address. Module-level but stateless between calls: it is
// written and read within one synchronous parse and never escapes.
const groups = new Uint16Array(8)

/** Parses dotted-quad IPv4 in s[start, end) to a uint32, or -1. Strict: four decimal octets, no leading zeros. */
export function parseIPv4(s: string, start: number, end: number): number {
  let value = 0
  let octet = 0
  let digits = 0
  let dots = 0
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x30 && c <= 0x39) {
      // A leading zero would be read as octal by inet_aton; reject rather than guess.
      if (digits > 0 && octet === 0) return -1
      octet = octet * 10 + (c - 0x30)
      if (octet > 255) return -1
      digits++
    } else if (c === 0x2e && digits > 0 && dots < 3) {
      value = value * 256 + octet
      octet = 0
      digits = 0
      dots++
    } else {
      return -1
    }
  }
  if (digits === 0 || dots !== 3) return -1
  return value * 256 + octet
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  return -1
}

/**
 * Parses IPv6 text (RFC 4291 §2.2, with optional embedded IPv4 and `%zone`, which is dropped) in
 * s[start, end) into out[0..3]. Returns false when it is not an IPv6 address.
 */
export function parseIPv6(s: string, start: number, end: number, out: Uint32Array): boolean {
  let stop = end
  for (let i = start; i < end; i++) {
    if (s.charCodeAt(i) === 0x25 /* % */) {
      if (i === end - 1) return false // empty zone id
      stop = i
      break
    }
  }
  if (stop - start < 2) return false
  let count = 0
  let compressAt = -1
  let i = start
  if (s.charCodeAt(i) === 0x3a) {
    if (s.charCodeAt(i + 1) !== 0x3a) return false
    compressAt = 0
    i += 2
  }
  while (i < stop) {
    if (count === 8) return false
    let value = 0
    let j = i
    while (j < stop) {
      const h = hexValue(s.charCodeAt(j))
      if (h < 0) break
      if (j - i === 4) return false
      value = value * 16 + h
      j++
    }
    if (j < stop && s.charCodeAt(j) === 0x2e) {
      // Embedded IPv4 takes the last two groups.
      if (count > 6) return false
      const v4 = parseIPv4(s, i, stop)
      if (v4 < 0) return false
      groups[count++] = v4 >>> 16
      groups[count++] = v4 & 0xffff
      break
    }
    if (j === i) return false
    groups[count++] = value
    if (j === stop) break
    if (s.charCodeAt(j) !== 0x3a) return false
    j++
    if (j < stop && s.charCodeAt(j) === 0x3a) {
      if (compressAt >= 0) return false
      compressAt = count
      j++
    } else if (j === stop) {
      return false // trailing single colon
    }
    i = j
  }
  if (compressAt < 0 ? count !== 8 : count > 7) return false
  if (compressAt >= 0) {
    // Move the groups after "::" to the end and zero the gap.
    const tail = count - compressAt
    for (let k = 0; k < tail; k++) groups[7 - k] = groups[count - 1 - k]!
    for (let k = compressAt; k < 8 - tail; k++) groups[k] = 0
  }
  for (let k = 0; k < 4; k++) out[k] = ((groups[2 * k]! << 16) | groups[2 * k + 1]!) >>> 0
  return true
}

/** True when out[0..3] is an IPv4-mapped IPv6 address (::ffff:0:0/96). */
export function isIPv4Mapped(words: Uint32Array): boolean {
  return words[0] === 0 && words[1] === 0 && words[2] === 0xffff
}

/**
 * Parses an IPv4 or IPv6 address in s[start, end) into `out`. IPv4-mapped IPv6 comes back as family 4 with
 * the IPv4 address in out[0].
 */
export function parseIp(s: string, start: number, end: number, out: Uint32Array): IpFamily {
  const v4 = parseIPv4(s, start, end)
  if (v4 >= 0) {
    out[0] = v4
    return 4
  }
  if (!parseIPv6(s, start, end, out)) return 0
  if (isIPv4Mapped(out)) {
    out[0] = out[3]!
    return 4
  }
  return 6
}

/** Dotted-quad text of a uint32. */
export function formatIPv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`
}

/** RFC 5952 canonical text of an IPv6 address: lower case, longest zero run (≥ 2 groups, first wins) as "::". */
export function formatIPv6(words: Uint32Array): string {
  let bestStart = -1
  let bestLength = 1
  let runStart = -1
  for (let k = 0; k <= 8; k++) {
    const group = k < 8 ? (k % 2 === 0 ? words[k >> 1]! >>> 16 : words[k >> 1]! & 0xffff) : 1
    if (group === 0) {
      if (runStart < 0) runStart = k
    } else if (runStart >= 0) {
      if (k - runStart > bestLength) {
        bestStart = runStart
        bestLength = k - runStart
      }
      runStart = -1
    }
  }
  let text = ''
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      text += '::'
      k += bestLength - 1
      continue
    }
    if (k > 0 && k !== bestStart + bestLength) text += ':'
    text += (k % 2 === 0 ? words[k >> 1]! >>> 16 : words[k >> 1]! & 0xffff).toString(16)
  }
  return text
}

/** Canonical text of a parsed address. */
export function formatIp(family: 4 | 6, words: Uint32Array): string {
  return family === 4 ? formatIPv4(words[0]!) : formatIPv6(words)
}

const normalizeWords = new Uint32Array(4)

/**
 * The canonical text of `ip` (IPv4 dotted quad; IPv6 per RFC 5952 without zone id; IPv4-mapped IPv6 as
 * IPv4), or undefined when it is not an IP address.
 */
export function normalizeIp(ip: string): string | undefined {
  const family = parseIp(ip, 0, ip.length, normalizeWords)
  return family === 0 ? undefined : formatIp(family, normalizeWords)
}
