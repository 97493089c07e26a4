import { formatIp, parseIp, type IpFamily } from './ip-address.ts'

/** A compiled set of address ranges. */
export interface CidrSet {
  /** True when `ip` (IPv4, IPv6 with optional zone, or IPv4-mapped IPv6) lies in one of the ranges. */
  has(ip: string): boolean
}

/**
 * Keyword shortcuts accepted by compileCidrs, expanded to their well-known ranges. They exist because
 * "trust the proxies on my private network" is the common case and a hand-typed list tends to miss one
 * (usually 172.16.0.0/12 or the IPv6 ULA range).
 */
export const CIDR_KEYWORDS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  loopback: Object.freeze(['127.0.0.0/8', '::1/128']),
  // RFC 1918 and RFC 4193 unique local addresses.
  private: Object.freeze(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']),
  // RFC 3927 and RFC 4291 §2.5.6.
  'link-local': Object.freeze(['169.254.0.0/16', 'fe80::/10']),
})

interface ParsedCidr {
  readonly family: 4 | 6
  readonly words: Uint32Array
  readonly prefix: number
}

const parseWords = new Uint32Array(4)

/** Masks `words` (family-sized) to `prefix` bits in place; returns true when any host bit was set. */
function maskInPlace(family: 4 | 6, words: Uint32Array, prefix: number): boolean {
  let hadHostBits = false
  const wordCount = family === 4 ? 1 : 4
  for (let k = 0; k < wordCount; k++) {
    const bits = Math.min(32, Math.max(0, prefix - 32 * k))
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
    const masked = (words[k]! & mask) >>> 0
    if (masked !== words[k]) hadHostBits = true
    words[k] = masked
  }
  return hadHostBits
}

/** Parses one CIDR or bare address; returns the reason when invalid. Keywords are not handled here. */
function parseCidr(entry: string): ParsedCidr | string {
  const slash = entry.indexOf('/')
  const addressEnd = slash < 0 ? entry.length : slash
  const family: IpFamily = parseIp(entry, 0, addressEnd, parseWords)
  if (family === 0) return 'not an IP address, CIDR or keyword'
  if (entry.lastIndexOf('%', addressEnd) >= 0) return 'zone ids are not allowed in CIDRs'
  const words = new Uint32Array(parseWords)
  // An IPv4-mapped IPv6 CIDR (::ffff:a.b.c.d/p, p ≥ 96) is the IPv4 CIDR a.b.c.d/(p − 96).
  const isMapped = family === 4 && entry.includes(':')
  const maxPrefix = family === 4 && !isMapped ? 32 : 128
  let prefix = maxPrefix
  if (slash >= 0) {
    const text = entry.slice(slash + 1)
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(text) || Number(text) > maxPrefix) {
      return `prefix length must be an integer from 0 to ${maxPrefix}`
    }
    prefix = Number(text)
  }
  if (isMapped) {
    if (prefix < 96) return 'an IPv4-mapped CIDR needs a prefix length of at least 96'
    prefix -= 96
  }
  const network = new Uint32Array(words)
  if (maskInPlace(family, network, prefix)) {
    return `host bits are set; did you mean ${formatIp(family, network)}/${prefix}?`
  }
  return { family, words: network, prefix }
}

/** Why `entry` is not an acceptable CIDR, address or keyword, or undefined when it is. */
export function explainInvalidCidr(entry: string): string | undefined {
  if (Object.hasOwn(CIDR_KEYWORDS, entry)) return undefined
  const parsed = parseCidr(entry)
  return typeof parsed === 'string' ? parsed : undefined
}

/**
 * True for an IPv4 or IPv6 CIDR with no host bits set (`10.0.0.0/8`, `2001:db8::/32`), a bare address
 * (`10.1.2.3`, `::1`) or one of the CIDR_KEYWORDS (`loopback`, `private`, `link-local`).
 */
export function isValidCidr(s: string): boolean {
  return explainInvalidCidr(s) === undefined
}

/**
 * The compiled form. IPv4 ranges are merged into sorted, disjoint [first, last] uint32 intervals searched
 * by bisection; IPv6 ranges are (network, mask) word quadruples scanned linearly, with no BigInt anywhere.
 * IPv4 addresses are matched as their IPv4-mapped IPv6 form, so an IPv6 range covering ::ffff:0:0/96 (such
 * as ::/0) also covers them.
 */
export class CompiledCidrSet implements CidrSet {
  readonly isEmpty: boolean
  readonly #v4Bounds: Float64Array // [first0, last0, first1, last1, ...], sorted, disjoint
  readonly #v6: Uint32Array // [net0..net3, mask0..mask3] per range
  readonly #words = new Uint32Array(4)

  constructor(v4Bounds: Float64Array, v6: Uint32Array) {
    this.#v4Bounds = v4Bounds
    this.#v6 = v6
    this.isEmpty = v4Bounds.length === 0 && v6.length === 0
  }

  has(ip: string): boolean {
    if (this.isEmpty) return false
    const family = parseIp(ip, 0, ip.length, this.#words)
    return family !== 0 && this.hasParsed(family, this.#words)
  }

  /** Membership of an address already parsed by parseIp. */
  hasParsed(family: 4 | 6, words: Uint32Array): boolean {
    if (family === 4) return this.#hasV4(words[0]!)
    const v6 = this.#v6
    for (let i = 0; i < v6.length; i += 8) {
      if (
        (words[0]! & v6[i + 4]!) >>> 0 === v6[i] &&
        (words[1]! & v6[i + 5]!) >>> 0 === v6[i + 1] &&
        (words[2]! & v6[i + 6]!) >>> 0 === v6[i + 2] &&
        (words[3]! & v6[i + 7]!) >>> 0 === v6[i + 3]
      ) {
        return true
      }
    }
    return false
  }

  #hasV4(address: number): boolean {
    const bounds = this.#v4Bounds
    // Largest interval whose first ≤ address.
    let lo = 0
    let hi = bounds.length / 2 - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (bounds[2 * mid]! <= address) lo = mid + 1
      else hi = mid - 1
    }
    return hi >= 0 && address <= bounds[2 * hi + 1]!
  }
}

/**
 * Compiles trusted-proxy entries: CIDRs, bare addresses and the CIDR_KEYWORDS. Throws a TypeError naming
 * the first bad entry and why it is bad (config validation should have rejected it with isValidCidr).
 */
export function compileCidrs(cidrs: readonly string[]): CidrSet {
  const v4: [number, number][] = []
  const v6: number[] = []
  const add = (parsed: ParsedCidr): void => {
    if (parsed.family === 4) {
      const first = parsed.words[0]!
      v4.push([first, first + 2 ** (32 - parsed.prefix) - 1])
      return
    }
    const mask = new Uint32Array(4).fill(0xffffffff)
    maskInPlace(6, mask, parsed.prefix)
    v6.push(...parsed.words, ...mask)
    // ::ffff:0:0/96 ⊆ this range ⇒ every IPv4 address (matched as its mapped form) is in it too.
    const coversMapped =
      parsed.prefix <= 96 &&
      parsed.words[0] === 0 &&
      parsed.words[1] === 0 &&
      (0xffff & mask[2]!) >>> 0 === parsed.words[2]
    if (coversMapped) v4.push([0, 0xffffffff])
  }
  cidrs.forEach((entry, index) => {
    const expansion = Object.hasOwn(CIDR_KEYWORDS, entry) ? CIDR_KEYWORDS[entry]! : [entry]
    for (const item of expansion) {
      const parsed = parseCidr(item)
      if (typeof parsed === 'string') {
        throw new TypeError(`invalid CIDR at index ${index}: ${JSON.stringify(entry)}: ${parsed}`)
      }
      add(parsed)
    }
  })
  v4.sort((a, b) => a[0] - b[0])
  const merged: number[] = []
  for (const [first, last] of v4) {
    const n = merged.length
    if (n > 0 && first <= merged[n - 1]! + 1) merged[n - 1] = Math.max(merged[n - 1]!, last)
    else merged.push(first, last)
  }
  return new CompiledCidrSet(Float64Array.from(merged), Uint32Array.from(v6))
}
