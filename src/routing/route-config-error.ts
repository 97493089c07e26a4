import type { RouteDiagnostic } from './route-spec.ts'

/**
 * Thrown by `compileRouter` when a route table has errors. Config validation (`litgate validate`,
 * reload) runs `analyzeRoutes` first and reports them, so reaching this is a broken invariant.
 */
export class RouteConfigError extends Error {
  override readonly name = 'RouteConfigError'
  readonly code = 'INVALID_ROUTE_CONFIG'
  readonly diagnostics: readonly RouteDiagnostic[]

  constructor(diagnostics: readonly RouteDiagnostic[]) {
    const first = diagnostics[0]
    const summary = first === undefined ? '' : `: route ${JSON.stringify(first.routeId)}: ${first.message}`
    super(`invalid route table (${diagnostics.length} error(s))${summary}`)
    this.diagnostics = diagnostics
  }
}
