import { normalizeHost } from './normalize-host.ts'
import { normalizePath } from './normalize-path.ts'
import type { HeaderMatcher, RouteDiagnostic, RouteSpec } from './route-spec.ts'

/** A host pattern reduced to its bucket: the key is unique per bucket across all routes. */
export type HostPattern =
  | { readonly kind: 'default'; readonly key: '*' }
  | { readonly kind: 'exact'; readonly key: string; readonly host: string }
  | { readonly kind: 'wildcard'; readonly key: string; readonly suffix: string }

/** Header matcher with the implicit presence rule made explicit. */
export interface CompiledHeaderMatcher {
  readonly name: string
  readonly exact: string | undefined
  readonly mustBePresent: boolean
}

// RFC 9110 §5.6.2: token = 1*tchar
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const LOWER_TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/

/** Parses one configured host pattern; undefined when invalid. */
export function parseHostPattern(pattern: string): HostPattern | undefined {
  if (pattern === '*') return { kind: 'default', key: '*' }
  if (pattern.startsWith('*.')) {
    const suffix = normalizeHost(pattern.slice(2))
    // A wildcard names DNS labels: no port, no IP literal, no all-numeric last label (that is an IPv4 tail).
    if (suffix === undefined || suffix === '' || pattern.includes(':') || /(?:^|\.)\d+$/.test(suffix)) {
      return undefined
    }
    return { kind: 'wildcard', key: `*.${suffix}`, suffix }
  }
  const host = normalizeHost(pattern)
  // A port in the pattern could never match: ports are stripped from the request host.
  if (host === undefined || host === '' || (!pattern.startsWith('[') && pattern.includes(':')))
    return undefined
  if (pattern.startsWith('[') && !pattern.endsWith(']')) return undefined
  return { kind: 'exact', key: host, host }
}

/** The distinct buckets a route belongs to, in declaration order. Assumes the route validated. */
export function hostPatternsOf(route: RouteSpec<unknown>): HostPattern[] {
  if (route.hosts.length === 0) return [{ kind: 'default', key: '*' }]
  const seen = new Map<string, HostPattern>()
  for (const raw of route.hosts) {
    const pattern = parseHostPattern(raw)
    if (pattern !== undefined && !seen.has(pattern.key)) seen.set(pattern.key, pattern)
  }
  return [...seen.values()]
}

export function compileHeaderMatchers(
  headers: readonly HeaderMatcher[] | undefined,
): CompiledHeaderMatcher[] {
  return (headers ?? []).map((h) => ({
    name: h.name,
    exact: h.exact,
    mustBePresent: h.exact !== undefined || h.present !== false,
  }))
}

/**
 * Checks one route's patterns; returns error diagnostics (empty when valid). A route path must already be in
 * the normal form requests are brought to, or it could never match.
 */
export function validateRoute(route: RouteSpec<unknown>): RouteDiagnostic[] {
  const diagnostics: RouteDiagnostic[] = []
  const routeId = route.id
  const error = (code: RouteDiagnostic['code'], message: string): void => {
    diagnostics.push({ severity: 'error', routeId, code, message })
  }
  for (const host of route.hosts) {
    if (parseHostPattern(host) === undefined) {
      error(
        'invalid-host',
        `host pattern ${JSON.stringify(host)} is invalid: use 'name.example', '*.example' or '*', without a port`,
      )
    }
  }
  const pathError = checkPathPattern(route.path)
  if (pathError !== undefined) error('invalid-path', pathError)
  if (route.methods !== undefined) {
    if (route.methods.length === 0) error('invalid-method', 'methods is empty: omit it to allow any method')
    for (const method of route.methods) {
      if (!TOKEN.test(method) || method !== method.toUpperCase()) {
        error(
          'invalid-method',
          `method ${JSON.stringify(method)} must be an upper-case token (methods are case-sensitive)`,
        )
      }
    }
  }
  const headerError = checkHeaderMatchers(route.headers ?? [])
  if (headerError !== undefined) error('invalid-header', headerError)
  return diagnostics
}

function checkPathPattern(path: RouteSpec<unknown>['path']): string | undefined {
  const { kind, value } = path
  if (kind !== 'exact' && kind !== 'prefix')
    return `path kind ${JSON.stringify(kind)} must be 'exact' or 'prefix'`
  if (typeof value !== 'string' || !value.startsWith('/')) return 'path value must start with /'
  const normal = normalizePath(value, { encodedSlashes: 'keep', semicolons: 'keep', mergeSlashes: true })
  if (!normal.ok) return `path ${JSON.stringify(value)} is invalid (${normal.reason})`
  if (normal.query !== '') return `path ${JSON.stringify(value)} must not contain a query`
  if (normal.path !== value) {
    return `path ${JSON.stringify(value)} is not in normal form; requests are matched as ${JSON.stringify(normal.path)}`
  }
  if (kind === 'prefix' && value.length > 1 && value.endsWith('/')) {
    return `prefix ${JSON.stringify(value)} must not end with '/': prefixes are segment-aware, '${value.slice(0, -1)}' already matches '${value}…'`
  }
  return undefined
}

function checkHeaderMatchers(headers: readonly HeaderMatcher[]): string | undefined {
  const byName = new Map<string, CompiledHeaderMatcher>()
  for (const [i, matcher] of compileHeaderMatchers(headers).entries()) {
    const raw = headers[i]
    if (!LOWER_TOKEN.test(matcher.name))
      return `header name ${JSON.stringify(matcher.name)} must be a lower-case token`
    if (raw?.exact !== undefined && raw.present === false) {
      return `header ${matcher.name}: 'exact' and 'present: false' contradict each other`
    }
    if (matcher.exact !== undefined && !isFieldValue(matcher.exact)) {
      return `header ${matcher.name}: exact value contains control characters`
    }
    const earlier = byName.get(matcher.name)
    if (earlier !== undefined && !areCompatible(earlier, matcher)) {
      return `header ${matcher.name}: matchers contradict each other, the route could never match`
    }
    // Keep the most specific matcher per name so later ones are checked against an exact value if any.
    byName.set(matcher.name, earlier?.exact !== undefined ? earlier : matcher)
  }
  return undefined
}

function areCompatible(a: CompiledHeaderMatcher, b: CompiledHeaderMatcher): boolean {
  if (a.mustBePresent !== b.mustBePresent) return false
  return a.exact === undefined || b.exact === undefined || a.exact === b.exact
}

/** RFC 9110 §5.5: field values carry no CR, LF or NUL; we also refuse the other controls except HTAB. */
function isFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return false
  }
  return true
}
