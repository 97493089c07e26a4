/**
 * Server Name Indication (RFC 6066 §3): which of a listener's certificates answers a ClientHello's
 * server name. Pure; compiled once per certificate set (start-up and reload), one Map lookup or two per
 * handshake.
 */

/** One certificate's names: exact DNS names and `*.example.com` wildcards. */
export interface SniEntry<T> {
  readonly serverNames: readonly string[]
  readonly value: T
}

/** A compiled name table: `select` returns the entry for a server name, or undefined (the default). */
export interface SniTable<T> {
  select(serverName: string): T | undefined
}

/**
 * Compiles entries into a table. Exact names win; then the wildcard of the name's parent domain
 * (`*.example.com` covers `a.example.com`, not `example.com` nor `a.b.example.com`: one label, RFC 6125
 * §6.4.3), which is the longest wildcard that can match; else undefined (the listener's default
 * certificate). Names compare case-insensitively, a trailing dot ignored. A name listed twice keeps its
 * first entry (config validation refuses duplicates).
 */
export function createSniTable<T>(entries: readonly SniEntry<T>[]): SniTable<T> {
  const exact = new Map<string, T>()
  const wildcard = new Map<string, T>() // parent domain -> value
  for (const e of entries) {
    for (const raw of e.serverNames) {
      const name = normalizeServerName(raw)
      if (name.startsWith('*.')) {
        if (!wildcard.has(name.slice(2))) wildcard.set(name.slice(2), e.value)
      } else if (!exact.has(name)) exact.set(name, e.value)
    }
  }
  return {
    select(serverName: string): T | undefined {
      const name = normalizeServerName(serverName)
      const hit = exact.get(name)
      if (hit !== undefined) return hit
      const dot = name.indexOf('.')
      // The first label must be non-empty: `.example.com` is no name a wildcard covers.
      return dot > 0 ? wildcard.get(name.slice(dot + 1)) : undefined
    },
  }
}

function normalizeServerName(name: string): string {
  const lower = name.toLowerCase()
  return lower.endsWith('.') ? lower.slice(0, -1) : lower
}

/**
 * Whether a certificate whose DNS subject alternative names are `dnsNames` is valid for `serverName`
 * (what a client checks, RFC 6125 §6.4): an exact name needs the same SAN or the wildcard of its parent
 * domain; a wildcard server name needs the same wildcard SAN (any label may be asked for).
 */
export function isServerNameCovered(serverName: string, dnsNames: readonly string[]): boolean {
  const name = normalizeServerName(serverName)
  const sans = new Set(dnsNames.map(normalizeServerName))
  if (sans.has(name)) return true
  if (name.startsWith('*.')) return false
  const dot = name.indexOf('.')
  return dot > 0 && sans.has(`*.${name.slice(dot + 1)}`)
}

/** DNS names from an X509Certificate's `subjectAltName` (`DNS:a.example.com, IP Address:127.0.0.1`). */
export function dnsNamesOf(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined) return []
  return subjectAltName
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4))
}
