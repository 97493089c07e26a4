/** Matches one request header. With neither `exact` nor `present`, the header must be present. */
export interface HeaderMatcher {
  /** Header name, lower-case. */
  readonly name: string
  /** The header value must equal this string exactly (case-sensitive, no trimming). Implies presence. */
  readonly exact?: string
  /** true: the header must exist; false: it must be absent. Cannot be false together with `exact`. */
  readonly present?: boolean
}

/** One route as configured. Compiled once by `compileRouter`; never consulted per request as-is. */
export interface RouteSpec<T> {
  readonly id: string
  /**
   * exact 'api.example.com', wildcard '*.example.com' (matches any deeper subdomain, not the apex), or
   * '*' = default. Empty array = any host ('*'). Case-insensitive; a trailing dot is ignored.
   */
  readonly hosts: readonly string[]
  /**
   * exact: the whole normalised path equals `value`; prefix: segment-aware ('/api' matches '/api',
   * '/api/' and '/api/x', never '/apix'; '/' matches everything). Paths are case-sensitive.
   */
  readonly path: { readonly kind: 'exact' | 'prefix'; readonly value: string }
  /** Upper-case method names; absent = any method. A route allowing GET also allows HEAD (RFC 9110 §9.3.2). */
  readonly methods?: readonly string[]
  /** All matchers must hold. */
  readonly headers?: readonly HeaderMatcher[]
  /** Opaque payload returned on match. */
  readonly target: T
}

/**
 * Outcome of `Router.match`. A miss is a value, not an error: the HTTP layer renders 'no-route' as 404
 * ROUTE_NOT_FOUND, 'method-not-allowed' as 405 METHOD_NOT_ALLOWED with an `Allow` header built from
 * `allow`, and 'invalid-host' as 400 INVALID_HOST.
 */
export type RouteMatch<T> =
  | { readonly ok: true; readonly route: RouteSpec<T>; readonly target: T }
  | {
      readonly ok: false
      readonly reason: 'no-route' | 'method-not-allowed' | 'invalid-host'
      /** Present only with 'method-not-allowed': the methods some candidate route would accept, sorted. */
      readonly allow?: readonly string[]
    }

/** A compiled, immutable route table. */
export interface Router<T> {
  /**
   * host: raw Host / :authority value (may include port, upper-case, trailing dot, [ipv6]); path: already
   * normalised by normalizePath (without the query). getHeader returns the request header value (lower-case
   * name) or undefined.
   */
  match(
    host: string,
    path: string,
    method: string,
    getHeader: (name: string) => string | undefined,
  ): RouteMatch<T>
}

/** A finding of `analyzeRoutes`; errors also make `compileRouter` throw. */
export interface RouteDiagnostic {
  readonly severity: 'error' | 'warning'
  readonly routeId: string
  readonly code: RouteDiagnosticCode
  readonly message: string
}

export type RouteDiagnosticCode =
  'duplicate-id' | 'shadowed' | 'invalid-host' | 'invalid-path' | 'invalid-method' | 'invalid-header'
