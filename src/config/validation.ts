import { createSecureContext } from 'node:tls'
import { analyzeRoutes, type RouteSpec } from '../routing/index.ts'
import { isValidCidr } from '../security/index.ts'
import { parseBackendUrl } from './backend-url.ts'
import type { ConfigIssue } from './issues.ts'
import { checkOperatorFeatures } from './operator-validation.ts'
import type { Config, RouteConfig } from './schema.ts'

/** Maps a route from config to the router's spec (also used when compiling the runtime). */
export function toRouteSpec<T>(route: RouteConfig, target: T): RouteSpec<T> {
  const path =
    'exact' in route.match.path
      ? { kind: 'exact' as const, value: route.match.path.exact }
      : { kind: 'prefix' as const, value: route.match.path.prefix }
  return {
    id: route.id,
    hosts: route.match.hosts,
    path,
    ...(route.match.methods === undefined ? {} : { methods: route.match.methods }),
    ...(route.match.headers === undefined
      ? {}
      : {
          headers: route.match.headers.map((h) => ({
            name: h.name,
            ...(h.exact === undefined ? {} : { exact: h.exact }),
            ...(h.present === undefined ? {} : { present: h.present }),
          })),
        }),
    target,
  }
}

function duplicates<T>(items: readonly T[], key: (t: T) => string): Array<{ index: number; key: string }> {
  const seen = new Set<string>()
  const out: Array<{ index: number; key: string }> = []
  items.forEach((item, index) => {
    const k = key(item)
    if (seen.has(k)) out.push({ index, key: k })
    seen.add(k)
  })
  return out
}

/**
 * Semantic checks the schema cannot express: references between sections, duplicates, backend
 * addresses, trusted proxy CIDRs and route reachability. Pure; returns every issue found.
 */
export function checkConfigSemantics(config: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  const error = (path: string, message: string, value?: string) =>
    issues.push(
      value === undefined
        ? { path, message, severity: 'error' }
        : { path, message, value, severity: 'error' },
    )

  for (const d of duplicates(config.listeners, (l) => l.name)) {
    error(`listeners[${d.index}].name`, 'duplicate listener name', JSON.stringify(d.key))
  }
  for (const d of duplicates(
    config.listeners.filter((l) => l.port !== 0),
    (l) => `${l.host}:${l.port}`,
  )) {
    error(`listeners[${d.index}]`, 'two listeners bind the same address', JSON.stringify(d.key))
  }
  config.listeners.forEach((listener, l) => {
    const tls = listener.tls
    if (tls === undefined) return
    const seen = new Set<string>()
    tls.certificates.forEach((c, i) => {
      c.serverNames?.forEach((name, n) => {
        const key = name.toLowerCase()
        if (seen.has(key))
          error(
            `listeners[${l}].tls.certificates[${i}].serverNames[${n}]`,
            'server name listed for two certificates',
            JSON.stringify(name),
          )
        seen.add(key)
      })
    })
    const cipherProblem = cipherListProblem(tls.ciphers)
    if (cipherProblem !== undefined)
      error(`listeners[${l}].tls.ciphers`, cipherProblem, JSON.stringify(tls.ciphers))
  })
  config.server.trustedProxies.forEach((cidr, i) => {
    if (!isValidCidr(cidr))
      error(`server.trustedProxies[${i}]`, 'not a valid IP address or CIDR', JSON.stringify(cidr))
  })

  for (const d of duplicates(config.upstreams, (u) => u.id)) {
    error(`upstreams[${d.index}].id`, 'duplicate upstream id', JSON.stringify(d.key))
  }
  config.upstreams.forEach((upstream, u) => {
    const origins: string[] = []
    upstream.backends.forEach((backend, b) => {
      const parsed = parseBackendUrl(backend.url)
      if (typeof parsed === 'string')
        error(`upstreams[${u}].backends[${b}].url`, parsed, JSON.stringify(backend.url))
      else origins.push(parsed.origin)
    })
    for (const d of duplicates(origins, (o) => o)) {
      error(`upstreams[${u}].backends`, 'duplicate backend', JSON.stringify(d.key))
    }
  })

  const upstreamIds = new Set(config.upstreams.map((u) => u.id))
  const used = new Set<string>()
  config.routes.forEach((route, r) => {
    if (route.upstream === undefined) return // a direct response (checkOperatorFeatures)
    used.add(route.upstream)
    if (!upstreamIds.has(route.upstream)) {
      error(`routes[${r}].upstream`, 'unknown upstream', JSON.stringify(route.upstream))
    }
  })
  config.upstreams.forEach((upstream, u) => {
    if (!used.has(upstream.id)) {
      issues.push({
        path: `upstreams[${u}]`,
        message: 'upstream is not used by any route',
        value: JSON.stringify(upstream.id),
        severity: 'warning',
      })
    }
  })

  issues.push(...checkPaidAccess(config))
  issues.push(...checkOperatorFeatures(config))
  if (config.rateLimit.store === 'redis' && config.rateLimit.redis === undefined)
    error('rateLimit.redis', 'rateLimit.store is "redis" but rateLimit.redis is not set', '(absent)')

  const specs = config.routes.map((route, index) => toRouteSpec(route, index))
  for (const diag of analyzeRoutes(specs)) {
    // Point at the last route carrying the id: for duplicates and shadowing that is the offender.
    let index = -1
    config.routes.forEach((route, i) => {
      if (route.id === diag.routeId) index = i
    })
    issues.push({
      path: index >= 0 ? `routes[${index}]` : 'routes',
      message: `${diag.code}: ${diag.message}`,
      value: JSON.stringify(diag.routeId),
      severity: diag.severity,
    })
  }
  return issues
}

/** True when every request `route`'s path matches lies inside `basePath` (segment-aware). */
function isInside(route: RouteConfig, basePath: string): boolean {
  const value = 'exact' in route.match.path ? route.match.path.exact : route.match.path.prefix
  const trimmed = value.length > 1 && value.endsWith('/') ? value.slice(0, -1) : value
  return trimmed === basePath || trimmed.startsWith(`${basePath}/`)
}

/** `paidAccess` references: plan names and ids unique, route access names known plans, basePath not shadowed. */
function checkPaidAccess(config: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  const error = (path: string, message: string, value: string) =>
    issues.push({ path, message, value, severity: 'error' })
  const paid = config.paidAccess
  const plans = new Set(paid?.plans.map((p) => p.name) ?? [])
  config.routes.forEach((route, r) => {
    if (route.access === 'public') return
    if (paid === undefined) {
      error(
        `routes[${r}].access`,
        'a paid route needs the `paidAccess` section',
        JSON.stringify(route.access),
      )
      return
    }
    route.access.forEach((name, i) => {
      if (!plans.has(name))
        error(`routes[${r}].access[${i}]`, 'unknown plan (not in paidAccess.plans)', JSON.stringify(name))
    })
  })
  if (paid === undefined) return issues
  for (const d of duplicates(paid.plans, (p) => p.name)) {
    error(`paidAccess.plans[${d.index}].name`, 'duplicate plan name', JSON.stringify(d.key))
  }
  for (const d of duplicates(paid.plans, (p) => String(p.planId))) {
    error(`paidAccess.plans[${d.index}].planId`, 'two plans use the same on-chain plan id', d.key)
  }
  paid.plans.forEach((plan, p) => {
    for (const d of duplicates(Object.keys(plan.prices), (t) => t.toLowerCase())) {
      error(
        `paidAccess.plans[${p}].prices`,
        'token listed twice (addresses are case-insensitive)',
        JSON.stringify(d.key),
      )
    }
  })
  config.routes.forEach((route, r) => {
    if (isInside(route, paid.basePath)) {
      error(
        `routes[${r}].match.path`,
        `lies inside paidAccess.basePath ${JSON.stringify(paid.basePath)}: the gateway's own endpoints shadow it`,
        JSON.stringify(route.match.path),
      )
    }
  })
  return issues
}

/** OpenSSL's verdict on a cipher list (no I/O: a context is built in memory and dropped). */
function cipherListProblem(ciphers: string): string | undefined {
  try {
    createSecureContext({ ciphers })
    return undefined
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return code === 'ERR_SSL_NO_CIPHER_MATCH'
      ? 'no cipher OpenSSL knows in this list'
      : `not a cipher list OpenSSL accepts (${(err as Error).message})`
  }
}
