import { normalizeHost } from './normalize-host.ts'
import { RouteConfigError } from './route-config-error.ts'
import type { RouteDiagnostic, RouteMatch, RouteSpec, Router } from './route-spec.ts'
import {
  compileHeaderMatchers,
  hostPatternsOf,
  validateRoute,
  type CompiledHeaderMatcher,
} from './validate-route.ts'

/** A route with its per-request checks precomputed. */
export interface CompiledRoute<T> {
  /** Declaration index: the final tie-breaker. */
  readonly index: number
  readonly spec: RouteSpec<T>
  /** Allowed methods (GET implies HEAD); undefined = any. */
  readonly methods: ReadonlySet<string> | undefined
  readonly headers: readonly CompiledHeaderMatcher[]
  /** Method list counts 1, each header matcher 1: more constrained routes are tried first. */
  readonly constraintCount: number
  /** The match result, built once so a hit allocates nothing. */
  readonly hit: RouteMatch<T>
}

const NO_ROUTE: RouteMatch<never> = Object.freeze({ ok: false, reason: 'no-route' })
const INVALID_HOST: RouteMatch<never> = Object.freeze({ ok: false, reason: 'invalid-host' })
const EMPTY: readonly CompiledRoute<never>[] = Object.freeze([])

export function compileRoute<T>(spec: RouteSpec<T>, index: number): CompiledRoute<T> {
  let methods: Set<string> | undefined
  if (spec.methods !== undefined) {
    methods = new Set(spec.methods)
    // RFC 9110 §9.3.2: HEAD is GET without the body; nginx's limit_except does the same.
    if (methods.has('GET')) methods.add('HEAD')
  }
  const headers = compileHeaderMatchers(spec.headers)
  return {
    index,
    spec,
    methods,
    headers,
    constraintCount: (methods === undefined ? 0 : 1) + headers.length,
    hit: Object.freeze({ ok: true, route: spec, target: spec.target }),
  }
}

/** Precedence among routes with the same host bucket and path pattern: more constraints first, then order. */
export function byConstraintsThenOrder(a: CompiledRoute<unknown>, b: CompiledRoute<unknown>): number {
  return b.constraintCount - a.constraintCount || a.index - b.index
}

export function headersMatch(
  headers: readonly CompiledHeaderMatcher[],
  getHeader: (name: string) => string | undefined,
): boolean {
  for (let i = 0; i < headers.length; i++) {
    const matcher = headers[i]!
    const value = getHeader(matcher.name)
    if (matcher.exact !== undefined) {
      if (value !== matcher.exact) return false
    } else if ((value !== undefined) !== matcher.mustBePresent) {
      return false
    }
  }
  return true
}

// Up to this many children, a node is searched by comparing segments in place (no substring); above it, a
// Map keyed by the segment string is used (one substring per lookup).
const MAX_SCANNED_CHILDREN = 8

/** One node of a host bucket's path trie; one edge per path segment. */
class PathNode<T> {
  readonly #children = new Map<string, PathNode<T>>()
  /** Child segments and nodes for in-place scanning, when there are few; undefined selects the Map. */
  #scanKeys: readonly string[] | undefined = []
  #scanNodes: readonly PathNode<T>[] = []
  readonly exactRoutes: CompiledRoute<T>[] = []
  readonly prefixRoutes: CompiledRoute<T>[] = []
  /** Candidates in precedence order when the request path ends here: exact, then prefixes longest first. */
  endCandidates: readonly CompiledRoute<T>[] = EMPTY
  /** Candidates when the path continues below this node without a matching child: prefixes, longest first. */
  passCandidates: readonly CompiledRoute<T>[] = EMPTY

  child(segment: string): PathNode<T> {
    let node = this.#children.get(segment)
    if (node === undefined) {
      node = new PathNode<T>()
      this.#children.set(segment, node)
    }
    return node
  }

  /** The child for `path.slice(start, end)`, without building that substring when the node is small. */
  findChild(path: string, start: number, end: number): PathNode<T> | undefined {
    const keys = this.#scanKeys
    if (keys === undefined) return this.#children.get(path.slice(start, end))
    const length = end - start
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!
      if (key.length === length && path.startsWith(key, start)) return this.#scanNodes[i]
    }
    return undefined
  }

  /** Flattens the precedence order into each node's candidate lists, once, at compile time. */
  finish(inherited: readonly CompiledRoute<T>[]): void {
    this.exactRoutes.sort(byConstraintsThenOrder)
    this.prefixRoutes.sort(byConstraintsThenOrder)
    this.passCandidates = this.prefixRoutes.length === 0 ? inherited : [...this.prefixRoutes, ...inherited]
    this.endCandidates =
      this.exactRoutes.length === 0 ? this.passCandidates : [...this.exactRoutes, ...this.passCandidates]
    const isSmall = this.#children.size <= MAX_SCANNED_CHILDREN
    this.#scanKeys = isSmall ? [...this.#children.keys()] : undefined
    this.#scanNodes = isSmall ? [...this.#children.values()] : []
    for (const node of this.#children.values()) node.finish(this.passCandidates)
  }
}

/**
 * Compiles the route table once at config load: a Map of exact hosts, a Map of wildcard suffixes and a
 * default bucket, each holding a path trie whose nodes carry their candidate lists in precedence order.
 * Throws RouteConfigError when `analyzeRoutes` would report an error. Precedence: docs/routing.md.
 */
export function compileRouter<T>(routes: readonly RouteSpec<T>[]): Router<T> {
  const errors: RouteDiagnostic[] = []
  const ids = new Set<string>()
  for (const route of routes) {
    errors.push(...validateRoute(route))
    if (ids.has(route.id)) {
      errors.push({
        severity: 'error',
        routeId: route.id,
        code: 'duplicate-id',
        message: 'duplicate route id',
      })
    }
    ids.add(route.id)
  }
  if (errors.length > 0) throw new RouteConfigError(errors)

  const exactHosts = new Map<string, PathNode<T>>()
  const wildcardHosts = new Map<string, PathNode<T>>()
  let defaultHost: PathNode<T> | undefined
  for (const [index, spec] of routes.entries()) {
    const route = compileRoute(spec, index)
    for (const pattern of hostPatternsOf(spec)) {
      let root: PathNode<T>
      if (pattern.kind === 'default') {
        root = defaultHost ??= new PathNode<T>()
      } else {
        const map = pattern.kind === 'exact' ? exactHosts : wildcardHosts
        const key = pattern.kind === 'exact' ? pattern.host : pattern.suffix
        root = map.get(key) ?? new PathNode<T>()
        map.set(key, root)
      }
      let node = root
      if (spec.path.value !== '/')
        for (const segment of spec.path.value.slice(1).split('/')) node = node.child(segment)
      ;(spec.path.kind === 'exact' ? node.exactRoutes : node.prefixRoutes).push(route)
    }
  }
  for (const root of exactHosts.values()) root.finish(EMPTY)
  for (const root of wildcardHosts.values()) root.finish(EMPTY)
  defaultHost?.finish(EMPTY)
  return new CompiledRouter(exactHosts, wildcardHosts, defaultHost)
}

class CompiledRouter<T> implements Router<T> {
  readonly #exactHosts: ReadonlyMap<string, PathNode<T>>
  readonly #wildcardHosts: ReadonlyMap<string, PathNode<T>>
  readonly #defaultHost: PathNode<T> | undefined

  constructor(
    exactHosts: ReadonlyMap<string, PathNode<T>>,
    wildcardHosts: ReadonlyMap<string, PathNode<T>>,
    defaultHost: PathNode<T> | undefined,
  ) {
    this.#exactHosts = exactHosts
    this.#wildcardHosts = wildcardHosts
    this.#defaultHost = defaultHost
  }

  match(
    host: string,
    path: string,
    method: string,
    getHeader: (name: string) => string | undefined,
  ): RouteMatch<T> {
    const canonicalHost = normalizeHost(host)
    if (canonicalHost === undefined) return INVALID_HOST
    const root = this.#selectHostBucket(canonicalHost)
    if (root === undefined || path.charCodeAt(0) !== 0x2f /* / */) return NO_ROUTE
    const candidates = findCandidates(root, path)
    let hasMethodMismatch = false
    for (let i = 0; i < candidates.length; i++) {
      const route = candidates[i]!
      if (route.methods !== undefined && !route.methods.has(method)) {
        hasMethodMismatch = true
      } else if (route.headers.length === 0 || headersMatch(route.headers, getHeader)) {
        return route.hit
      }
    }
    return hasMethodMismatch ? methodNotAllowed(candidates, getHeader) : NO_ROUTE
  }

  /** nginx-style server selection: exact host, else longest wildcard suffix, else default. No fallback later. */
  #selectHostBucket(host: string): PathNode<T> | undefined {
    const exact = this.#exactHosts.get(host)
    if (exact !== undefined) return exact
    if (this.#wildcardHosts.size > 0 && host.charCodeAt(0) !== 0x5b /* [ */) {
      // Walking dots left to right visits the longest suffix first; the apex itself is never looked up.
      for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
        const bucket = this.#wildcardHosts.get(host.slice(dot + 1))
        if (bucket !== undefined) return bucket
      }
    }
    return this.#defaultHost
  }
}

/** Walks the trie by segment: index scanning, no array of segments. */
function findCandidates<T>(root: PathNode<T>, path: string): readonly CompiledRoute<T>[] {
  if (path.length === 1) return root.endCandidates
  let node = root
  let start = 1
  for (;;) {
    let end = path.indexOf('/', start)
    const isLast = end === -1
    if (isLast) end = path.length
    const next = node.findChild(path, start, end)
    if (next === undefined) return node.passCandidates
    node = next
    if (isLast) return node.endCandidates
    start = end + 1
  }
}

/** Error path only: 405 when some candidate matched host, path and headers but none accepted the method. */
function methodNotAllowed<T>(
  candidates: readonly CompiledRoute<T>[],
  getHeader: (name: string) => string | undefined,
): RouteMatch<T> {
  const allow = new Set<string>()
  for (const route of candidates) {
    if (route.methods !== undefined && headersMatch(route.headers, getHeader)) {
      for (const method of route.methods) allow.add(method)
    }
  }
  if (allow.size === 0) return NO_ROUTE
  return { ok: false, reason: 'method-not-allowed', allow: [...allow].sort() }
}
