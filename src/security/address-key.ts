import { formatIPv6, parseIp } from './ip-address.ts'

// Scratch for the address being examined; written and read within one synchronous call, never escapes.
const words = new Uint32Array(4)

/**
 * The key a per-client limit is counted under for a resolved client address (canonical text, as
 * resolveClientAddress returns it): an IPv4 address as is; an IPv6 address reduced to its network of
 * `ipv6PrefixLength` bits, written `net/len` (one subscriber usually holds a whole /64, so counting per
 * address would give each of them 2^64 budgets). 128 keeps the address. Anything that is not an address
 * (a Unix socket's '') is returned unchanged. IPv4 is recognised without parsing (no ':').
 */
export function addressKey(address: string, ipv6PrefixLength: number): string {
  if (ipv6PrefixLength >= 128 || !address.includes(':')) return address
  if (parseIp(address, 0, address.length, words) !== 6) return address
  for (let i = 0; i < 4; i++) {
    const bits = ipv6PrefixLength - i * 32
    if (bits >= 32) continue
    words[i] = bits <= 0 ? 0 : ((words[i] as number) & (0xffffffff << (32 - bits))) >>> 0
  }
  return `${formatIPv6(words)}/${ipv6PrefixLength}`
}
