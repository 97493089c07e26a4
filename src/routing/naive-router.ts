import { normalizeHost } from './normalize-host.ts'
import type { RouteMatch, RouteSpec, Router } from './route-spec.ts'

/**
 * Test oracle: a linear scan that implements docs/routing.md's precedence as literally as possible, with no
 * precomputation shared with compileRouter. Property tests compare the two; never used in production.
 */
export function createNaiveRouter<T>(routes: readonly RouteSpec<T>[]): Router<T> {
  return {
    match(rawHost, path, method, getHeader): RouteMatch<T> {
      const host = normalizeHost(rawHost)
      if (host === undefined) return { ok: false, reason: 'invalid-host' }
      if (!path.startsWith('/')) return { ok: false, reason: 'no-route' }
      const patterns = (route: RouteSpec<T>): string[] =>
        route.hosts.length === 0 ? ['*'] : route.hosts.map((h) => h.toLowerCase().replace(/\.$/, ''))

      // 1. Host: the most specific host class any route declares for this host, and only that one.
      const all = routes.flatMap(patterns)
      let bucket: string | undefined = all.find((p) => p === host)
      if (bucket === undefined) {
        const wildcards = all
          .filter((p) => p.startsWith('*.') && !host.startsWith('[') && host.endsWith(p.slice(1)))
          .sort((a, b) => b.length - a.length)
        bucket = wildcards[0] ?? (all.includes('*') ? '*' : undefined)
      }
      if (bucket === undefined) return { ok: false, reason: 'no-route' }
      const inBucket = routes
        .map((route, index) => ({ route, index }))
        .filter(({ route }) => patterns(route).includes(bucket))

      // 2. Path: exact before prefix, longer prefix before shorter. 3. More constraints, then order.
      const constraints = (r: RouteSpec<T>): number =>
        (r.methods === undefined ? 0 : 1) + (r.headers?.length ?? 0)
      const candidates = inBucket
        .filter(({ route: { path: p } }) =>
          p.kind === 'exact'
            ? path === p.value
            : p.value === '/' || path === p.value || path.startsWith(p.value + '/'),
        )
        .sort(
          (a, b) =>
            (a.route.path.kind === 'exact' ? 0 : 1) - (b.route.path.kind === 'exact' ? 0 : 1) ||
            b.route.path.value.length - a.route.path.value.length ||
            constraints(b.route) - constraints(a.route) ||
            a.index - b.index,
        )
        .map(({ route }) => route)

      const allows = (route: RouteSpec<T>, m: string): boolean =>
        route.methods === undefined ||
        route.methods.includes(m) ||
        (m === 'HEAD' && route.methods.includes('GET'))
      const headersHold = (route: RouteSpec<T>): boolean =>
        (route.headers ?? []).every((h) => {
          const value = getHeader(h.name)
          if (h.exact !== undefined) return value === h.exact
          return h.present === false ? value === undefined : value !== undefined
        })
      const winner = candidates.find((route) => allows(route, method) && headersHold(route))
      if (winner !== undefined) return { ok: true, route: winner, target: winner.target }
      const allow = new Set(
        candidates
          .filter(headersHold)
          .flatMap((route) => route.methods ?? [])
          .flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])),
      )
      if (allow.size === 0) return { ok: false, reason: 'no-route' }
      return { ok: false, reason: 'method-not-allowed', allow: [...allow].sort() }
    },
  }
}
