// Public surface of the routing engine: pure functions of data, no I/O. Precedence and normalisation
// policy: docs/routing.md.
export type {
  HeaderMatcher,
  RouteDiagnostic,
  RouteDiagnosticCode,
  RouteMatch,
  RouteSpec,
  Router,
} from './route-spec.ts'
export { compileRouter } from './compile-router.ts'
export { analyzeRoutes } from './analyze-routes.ts'
export { normalizeHost } from './normalize-host.ts'
export {
  normalizePath,
  type NormalizedPath,
  type PathNormalizationOptions,
  type PathRejectReason,
} from './normalize-path.ts'
export { RouteConfigError } from './route-config-error.ts'
