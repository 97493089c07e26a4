import { byConstraintsThenOrder, compileRoute, type CompiledRoute } from './compile-router.ts'
import type { RouteDiagnostic, RouteSpec } from './route-spec.ts'
import { hostPatternsOf, validateRoute, type CompiledHeaderMatcher } from './validate-route.ts'

/**
 * Semantic checks for `litgate validate`: duplicate ids, routes that can never match because an
 * earlier/more specific route always wins (shadowed), invalid host/path patterns, methods and header
 * matchers. Errors make `compileRouter` throw; warnings do not.
 *
 * Shadowing is reported only when certain: route B is shadowed when, in every host bucket it belongs to,
 * a route A with the same path pattern is tried before B and accepts every request B accepts (A's methods
 * ⊇ B's, each of A's header matchers implied by one of B's). Coverage by a union of several routes is not
 * detected.
 */
export function analyzeRoutes(routes: readonly RouteSpec<unknown>[]): RouteDiagnostic[] {
  const diagnostics: RouteDiagnostic[] = []
  const ids = new Set<string>()
  const groups = new Map<string, CompiledRoute<unknown>[]>()
  const groupKeysByRoute = new Map<CompiledRoute<unknown>, string[]>()
  for (const [index, route] of routes.entries()) {
    const errors = validateRoute(route)
    diagnostics.push(...errors)
    if (ids.has(route.id)) {
      diagnostics.push({
        severity: 'error',
        routeId: route.id,
        code: 'duplicate-id',
        message: `route id ${JSON.stringify(route.id)} is declared more than once`,
      })
    }
    ids.add(route.id)
    if (errors.length > 0) continue
    const compiled = compileRoute(route, index)
    const keys: string[] = []
    for (const pattern of hostPatternsOf(route)) {
      // One group per (host bucket, path pattern): only there can one route pre-empt another entirely.
      const key = `${pattern.key} ${route.path.kind} ${route.path.value}`
      keys.push(key)
      const group = groups.get(key) ?? []
      group.push(compiled)
      groups.set(key, group)
    }
    groupKeysByRoute.set(compiled, keys)
  }
  for (const group of groups.values()) group.sort(byConstraintsThenOrder)

  for (const [route, keys] of groupKeysByRoute) {
    const shadowers = new Set<string>()
    let isShadowedEverywhere = true
    for (const key of keys) {
      const group = groups.get(key) ?? []
      const winner = group.slice(0, group.indexOf(route)).find((earlier) => covers(earlier, route))
      if (winner === undefined) {
        isShadowedEverywhere = false
        break
      }
      shadowers.add(winner.spec.id)
    }
    if (isShadowedEverywhere) {
      diagnostics.push({
        severity: 'warning',
        routeId: route.spec.id,
        code: 'shadowed',
        message: `route can never match: ${[...shadowers].map((id) => JSON.stringify(id)).join(', ')} is tried first with the same host and path and accepts every request it would`,
      })
    }
  }
  return diagnostics
}

/** True when every request `b` accepts is also accepted by `a`. */
function covers(a: CompiledRoute<unknown>, b: CompiledRoute<unknown>): boolean {
  if (a.methods !== undefined) {
    if (b.methods === undefined) return false
    for (const method of b.methods) if (!a.methods.has(method)) return false
  }
  return a.headers.every((needed) => b.headers.some((held) => implies(held, needed)))
}

/** True when a request satisfying `held` necessarily satisfies `needed` (same header name). */
function implies(held: CompiledHeaderMatcher, needed: CompiledHeaderMatcher): boolean {
  if (held.name !== needed.name) return false
  if (needed.exact !== undefined) return held.exact === needed.exact
  if (needed.mustBePresent) return held.mustBePresent
  return !held.mustBePresent
}
