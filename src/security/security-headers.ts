/**
 * Security fields on responses litgate makes itself (problem documents, direct responses, CORS
 * preflights), compiled once per config from `server.securityHeaders`:
 * - `X-Content-Type-Options: nosniff` always: a problem+json or fixed body must never be sniffed into
 *   something a browser executes;
 * - `Strict-Transport-Security` only on connections that arrived over TLS (RFC 6797 §7.2: a host must
 *   not send it over insecure transport), and only when configured;
 * - proxied responses are the backend's business and get neither, unless `proxiedResponses` is set (then
 *   each is added only when the backend did not send it).
 */

/** `server.securityHeaders` as validated by the config. */
export interface SecurityHeadersOptions {
  readonly hsts?:
    | { readonly maxAgeSeconds: number; readonly includeSubDomains: boolean; readonly preload: boolean }
    | undefined
  readonly proxiedResponses: boolean
}

/** The compiled form: ready-made field sets per transport. */
export interface SecurityHeaders {
  /** Fields for a gateway-made response over cleartext. */
  readonly cleartext: Readonly<Record<string, string>>
  /** Fields for a gateway-made response over TLS (HSTS included when configured). */
  readonly tls: Readonly<Record<string, string>>
  /** The same as raw HTTP/1.1 header lines (each ending in CR LF), for responses written to a socket. */
  readonly cleartextLines: string
  readonly tlsLines: string
  /** Just the HSTS line (CR LF ended), '' when not configured: for problem responses that carry nosniff already. */
  readonly hstsLine: string
  /** The HSTS value, when configured. */
  readonly hsts: string | undefined
  readonly proxiedResponses: boolean
}

const NOSNIFF = 'nosniff'

/** Compiles `server.securityHeaders`. */
export function compileSecurityHeaders(options: SecurityHeadersOptions): SecurityHeaders {
  const h = options.hsts
  const hsts =
    h === undefined
      ? undefined
      : `max-age=${h.maxAgeSeconds}${h.includeSubDomains ? '; includeSubDomains' : ''}${h.preload ? '; preload' : ''}`
  const cleartext = Object.freeze({ 'x-content-type-options': NOSNIFF })
  const tls = Object.freeze(
    hsts === undefined ? { ...cleartext } : { ...cleartext, 'strict-transport-security': hsts },
  )
  return Object.freeze({
    cleartext,
    tls,
    cleartextLines: toLines(cleartext),
    tlsLines: toLines(tls),
    hstsLine: hsts === undefined ? '' : `strict-transport-security: ${hsts}\r\n`,
    hsts,
    proxiedResponses: options.proxiedResponses,
  })
}

/** The defaults (nosniff only), for code paths that run without a config. */
export const DEFAULT_SECURITY_HEADERS: SecurityHeaders = compileSecurityHeaders({ proxiedResponses: false })

/**
 * Adds the security fields to a proxied response head (flat [name, value, …], lower-case names) when
 * `proxiedResponses` is set, each only when absent. A no-op otherwise.
 */
export function addSecurityHeadersToProxied(flat: string[], policy: SecurityHeaders, isTls: boolean): void {
  if (!policy.proxiedResponses) return
  let hasNosniff = false
  let hasHsts = false
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string
    if (name === 'x-content-type-options') hasNosniff = true
    else if (name === 'strict-transport-security') hasHsts = true
  }
  if (!hasNosniff) flat.push('x-content-type-options', NOSNIFF)
  if (isTls && !hasHsts && policy.hsts !== undefined) flat.push('strict-transport-security', policy.hsts)
}

function toLines(fields: Readonly<Record<string, string>>): string {
  let out = ''
  for (const name in fields) out += `${name}: ${fields[name] as string}\r\n`
  return out
}
