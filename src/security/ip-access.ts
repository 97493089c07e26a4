import { compileCidrs, type CidrSet } from './cidr-set.ts'

/** A route's client address lists, compiled once per config (`routes[].ipAllow` / `ipDeny`). */
export interface IpAccess {
  /** When set, only addresses in it are admitted. */
  readonly allow: CidrSet | undefined
  /** Addresses refused; checked first, so a deny entry carves an exception out of an allow range. */
  readonly deny: CidrSet | undefined
}

/** Compiles the lists (entries validated beforehand, see explainInvalidCidr); undefined when both are absent. */
export function compileIpAccess(
  allow: readonly string[] | undefined,
  deny: readonly string[] | undefined,
): IpAccess | undefined {
  if (allow === undefined && deny === undefined) return undefined
  return Object.freeze({
    allow: allow === undefined ? undefined : compileCidrs(allow),
    deny: deny === undefined ? undefined : compileCidrs(deny),
  })
}

/**
 * True when `clientAddress` (already resolved through the trusted proxies) may use the route: not in
 * `deny`, and in `allow` when there is one. An address that does not parse (a Unix socket peer) is in
 * no list: refused by an allow list, admitted by a deny list alone (fail closed only where asked to).
 */
export function isAddressAllowed(access: IpAccess, clientAddress: string): boolean {
  if (access.deny !== undefined && access.deny.has(clientAddress)) return false
  return access.allow === undefined || access.allow.has(clientAddress)
}
