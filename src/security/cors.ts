/**
 * CORS at the gateway (Fetch standard, §3.2 "CORS protocol"), compiled once per route. Pure: the request
 * path passes the received fields in and writes the returned ones out.
 *
 * - A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered by the gateway: 204
 *   with the Access-Control-Allow-* fields when the origin, method and every requested header are
 *   allowed, otherwise a refusal (the caller answers 403 without any CORS field, which is a failed CORS
 *   check for a browser and a readable problem for a human).
 * - Other responses on the route get Access-Control-Allow-Origin (and -Credentials, -Expose-Headers) for
 *   an allowed origin only; a disallowed origin gets no CORS field and the browser withholds the
 *   response from the script. CORS is not access control: the request itself is still served.
 * - The route's CORS fields are the gateway's: any Access-Control-* field from the upstream is dropped.
 * - `Vary: Origin` whenever the answer depends on the origin (an exact list), so caches keep them apart.
 */

/** Route CORS settings as validated by the config (origins lower-case, methods upper-case, names lower-case). */
export interface CorsOptions {
  readonly allowOrigins: readonly string[]
  readonly allowMethods: readonly string[]
  readonly allowHeaders: readonly string[]
  readonly exposeHeaders: readonly string[]
  readonly allowCredentials: boolean
  readonly maxAgeSeconds?: number | undefined
}

/** The compiled form of CorsOptions. */
export interface CorsPolicy {
  readonly isAnyOrigin: boolean
  readonly origins: ReadonlySet<string>
  readonly isAnyMethod: boolean
  readonly methods: ReadonlySet<string>
  readonly allowMethodsValue: string
  readonly isAnyHeader: boolean
  readonly headers: ReadonlySet<string>
  readonly allowHeadersValue: string | undefined
  readonly exposeHeadersValue: string | undefined
  readonly allowCredentials: boolean
  readonly maxAgeValue: string | undefined
}

const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers'
// RFC 9110 §5.6.2: a field name (or method) is a token.
const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/

/** Compiles a route's CORS settings. */
export function compileCors(options: CorsOptions): CorsPolicy {
  const isAnyMethod = options.allowMethods.includes('*')
  const isAnyHeader = options.allowHeaders.includes('*')
  return Object.freeze({
    isAnyOrigin: options.allowOrigins.includes('*'),
    origins: new Set(options.allowOrigins),
    isAnyMethod,
    methods: new Set(options.allowMethods),
    allowMethodsValue: options.allowMethods.filter((m) => m !== '*').join(', '),
    isAnyHeader,
    headers: new Set(options.allowHeaders),
    allowHeadersValue:
      options.allowHeaders.length === 0 || isAnyHeader ? undefined : options.allowHeaders.join(', '),
    exposeHeadersValue: options.exposeHeaders.length === 0 ? undefined : options.exposeHeaders.join(', '),
    allowCredentials: options.allowCredentials,
    maxAgeValue: options.maxAgeSeconds === undefined ? undefined : String(options.maxAgeSeconds),
  })
}

/** Fetch §3.2.2: a CORS preflight is an OPTIONS request carrying Origin and Access-Control-Request-Method. */
export function isPreflight(
  method: string,
  origin: string | string[] | undefined,
  requestMethod: string | string[] | undefined,
): requestMethod is string {
  return (
    method === 'OPTIONS' &&
    typeof origin === 'string' &&
    typeof requestMethod === 'string' &&
    requestMethod !== ''
  )
}

/** True when responses on this route may be read by scripts from `origin`. */
export function isOriginAllowed(policy: CorsPolicy, origin: string): boolean {
  return policy.isAnyOrigin || policy.origins.has(origin) || policy.origins.has(origin.toLowerCase())
}

/**
 * The fields of a successful preflight answer, or undefined when the preflight is refused: origin not
 * allowed, method not allowed, or a requested header not allowed.
 */
export function preflightHeaders(
  policy: CorsPolicy,
  origin: string,
  requestMethod: string,
  requestHeaders: string | undefined,
): Record<string, string> | undefined {
  if (!isOriginAllowed(policy, origin)) return undefined
  if (!TOKEN.test(requestMethod)) return undefined
  if (!policy.isAnyMethod && !policy.methods.has(requestMethod.toUpperCase())) return undefined
  const requested = requestHeaders === undefined ? [] : splitFieldNames(requestHeaders)
  if (requested === undefined) return undefined
  if (!policy.isAnyHeader) for (const name of requested) if (!policy.headers.has(name)) return undefined
  const out: Record<string, string> = {
    'access-control-allow-origin': policy.isAnyOrigin ? '*' : origin,
    'access-control-allow-methods': policy.isAnyMethod ? requestMethod : policy.allowMethodsValue,
  }
  if (policy.allowCredentials) out['access-control-allow-credentials'] = 'true'
  const allowHeaders =
    policy.isAnyHeader && requested.length > 0 ? requested.join(', ') : policy.allowHeadersValue
  if (allowHeaders !== undefined) out['access-control-allow-headers'] = allowHeaders
  if (policy.maxAgeValue !== undefined) out['access-control-max-age'] = policy.maxAgeValue
  out['vary'] = PREFLIGHT_VARY
  return out
}

/**
 * CORS fields of a non-preflight response the gateway makes itself (a direct response): the
 * Access-Control-* fields for an allowed origin, `Vary: Origin` for an exact origin list.
 */
export function actualResponseHeaders(
  policy: CorsPolicy,
  origin: string | undefined,
): Record<string, string> {
  const out: Record<string, string> = {}
  if (origin !== undefined && isOriginAllowed(policy, origin)) {
    out['access-control-allow-origin'] = policy.isAnyOrigin ? '*' : origin
    if (policy.allowCredentials) out['access-control-allow-credentials'] = 'true'
    if (policy.exposeHeadersValue !== undefined)
      out['access-control-expose-headers'] = policy.exposeHeadersValue
  }
  if (!policy.isAnyOrigin) out['vary'] = 'Origin'
  return out
}

/**
 * Applies the route's CORS to a proxied response head (flat [name, value, …], lower-case names as
 * undici parses them): drops the upstream's Access-Control-* fields, adds ours for an allowed origin and
 * merges `Origin` into Vary. Returns the list to send (the same array unless fields were dropped).
 */
export function applyCorsToResponse(
  flat: string[],
  policy: CorsPolicy,
  origin: string | undefined,
): string[] {
  let out = flat
  let varyAt = -1
  let isVaryCovered = policy.isAnyOrigin
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string
    if (name.startsWith('access-control-')) {
      if (out === flat) out = flat.slice(0, i)
      continue
    }
    if (out !== flat) out.push(name, flat[i + 1] as string)
    if (name === 'vary') {
      if (varyAt === -1) varyAt = out === flat ? i + 1 : out.length - 1
      if (varyCoversOrigin(flat[i + 1] as string)) isVaryCovered = true
    }
  }
  if (origin !== undefined && isOriginAllowed(policy, origin)) {
    out.push('access-control-allow-origin', policy.isAnyOrigin ? '*' : origin)
    if (policy.allowCredentials) out.push('access-control-allow-credentials', 'true')
    if (policy.exposeHeadersValue !== undefined)
      out.push('access-control-expose-headers', policy.exposeHeadersValue)
  }
  if (!isVaryCovered) {
    if (varyAt === -1) out.push('vary', 'Origin')
    else out[varyAt] = `${out[varyAt] as string}, Origin`
  }
  return out
}

/** RFC 9110 §12.5.5: `*` or an `origin` member (case-insensitive) already covers Origin. */
function varyCoversOrigin(value: string): boolean {
  for (const part of value.split(',')) {
    const token = part.trim().toLowerCase()
    if (token === '*' || token === 'origin') return true
  }
  return false
}

/** Access-Control-Request-Headers as lower-case names (Fetch sends them so); undefined when one is not a token. */
function splitFieldNames(value: string): string[] | undefined {
  const out: string[] = []
  for (const part of value.split(',')) {
    const name = part.trim()
    if (name === '') continue
    if (!TOKEN.test(name)) return undefined
    out.push(name.toLowerCase())
  }
  return out
}
