import { createHash } from 'node:crypto'
import type { Config } from '../config/index.ts'
import { toRouteSpec } from '../config/index.ts'
import { compileRouter, type Router } from '../routing/index.ts'
import {
  compileCidrs,
  compileSecurityHeaders,
  type CidrSet,
  type SecurityHeaders,
} from '../security/index.ts'
import {
  backendIdentity,
  createBackend,
  Upstream,
  type Backend,
  type BreakerTransitionListener,
  type UpstreamDeps,
} from '../upstream/index.ts'
import type { AdmissionStage } from './admission.ts'
import {
  compileRoutePolicy,
  hostHeaderPolicy,
  type HostHeaderPolicy,
  type RoutePolicy,
} from './route-policy.ts'

/** What happens to request header names containing `_` (`server.underscoresInHeaders`). */
export type UnderscorePolicy = Config['server']['underscoresInHeaders']
import { RetryBudget, type RetryPolicy } from '../resilience/index.ts'

/** Everything the request path needs about one route, compiled once per config. */
export interface RouteContext {
  readonly id: string
  /** The upstream serving the route; undefined for a direct-response route (`policy.direct`). */
  readonly upstream: Upstream | undefined
  readonly maxBodyBytes: number
  readonly timeoutMs: number | undefined
  readonly isWebSocketAllowed: boolean
  readonly websocketIdleTimeoutMs: number
  readonly retry: RetryPolicy
  /** Shared by all requests on this route in this runtime. */
  readonly retryBudget: RetryBudget
  readonly maxConcurrent: number | undefined
  /** Mutable counters of this route in this runtime (the context itself is frozen). */
  readonly load: { active: number }
  readonly debugHeader: boolean
  /** IP lists, CORS, direct response (route-policy.ts); undefined when the route has none (the common case). */
  readonly policy: RoutePolicy | undefined
  /** The Host sent upstream (route `hostHeader`, else the upstream's). */
  readonly hostHeader: HostHeaderPolicy
  /** `requestBuffering`: read the body before a slot is taken, up to `maxBytes`. */
  readonly requestBuffering: {
    readonly isEnabled: boolean
    readonly maxBytes: number
    readonly overLimit: 'stream' | 'refuse'
  }
  /** `responseBufferBytes`: read-ahead bound of one response (0 = none). */
  readonly responseBufferBytes: number
}

/**
 * An immutable snapshot built from one config: compiled routes, upstream pools and per-route
 * policies. The gateway holds exactly one current snapshot; a reload builds a new one and swaps the
 * reference, and each request uses the snapshot it started with.
 */
export interface Runtime {
  /** Short content hash of the config (stable across identical reloads). */
  readonly version: string
  readonly config: Config
  readonly router: Router<RouteContext>
  readonly upstreams: ReadonlyMap<string, Upstream>
  readonly trustedProxies: CidrSet
  readonly requestIdHeader: string
  readonly maxUrlBytes: number
  /** `server.underscoresInHeaders`: what happens to request header names containing `_`. */
  readonly underscoresInHeaders: UnderscorePolicy
  /** Ordered admission stages run after routing, before a backend is chosen (rate limit, auth, quota). */
  readonly admission: readonly AdmissionStage[]
  /** `server.securityHeaders`: fields on gateway-made responses (nosniff, HSTS over TLS). */
  readonly securityHeaders: SecurityHeaders
}

export interface RuntimeDeps {
  readonly now: () => number
  readonly random?: () => number
  readonly onHealthTransition?: UpstreamDeps['onHealthTransition']
  readonly onBreakerTransition?: BreakerTransitionListener
  /** Admission stages to install (later capabilities provide them). */
  readonly admission?: readonly AdmissionStage[]
}

/** Short content hash of a config, used as its version in logs, metrics and reload reports. */
export function configVersion(config: Config): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 12)
}

/**
 * Builds a runtime. Backends whose settings are unchanged from `previous` are carried over with their
 * pools (and warm connections); nothing in `previous` is modified. Throws only on a broken invariant
 * (the config was validated before).
 */
export function buildRuntime(config: Config, deps: RuntimeDeps, previous?: Runtime): Runtime {
  const reusable = new Map<string, Backend>()
  if (previous !== undefined) {
    for (const upstream of previous.upstreams.values()) {
      for (const backend of upstream.backends) reusable.set(`${backend.id}|${backend.reuseKey}`, backend)
    }
  }
  const created: Backend[] = []
  try {
    const upstreams = new Map<string, Upstream>()
    for (const upstreamConfig of config.upstreams) {
      const backends = upstreamConfig.backends.map((backendConfig) => {
        const { id, reuseKey } = backendIdentity(upstreamConfig, backendConfig)
        const kept = reusable.get(`${id}|${reuseKey}`)
        if (kept !== undefined) return kept
        const fresh = createBackend(upstreamConfig, backendConfig, deps.onBreakerTransition)
        created.push(fresh)
        return fresh
      })
      const upstream = new Upstream(upstreamConfig, backends, {
        now: deps.now,
        ...(deps.random === undefined ? {} : { random: deps.random }),
        ...(deps.onHealthTransition === undefined ? {} : { onHealthTransition: deps.onHealthTransition }),
      })
      const before = previous?.upstreams.get(upstreamConfig.id)
      if (before !== undefined) upstream.inheritHealth(before)
      upstreams.set(upstreamConfig.id, upstream)
    }
    const routes = config.routes.map((route) => {
      const upstream = route.upstream === undefined ? undefined : upstreams.get(route.upstream)
      if (upstream === undefined && route.respond === undefined)
        throw new Error(`invariant: route ${route.id} references a missing upstream`)
      const context: RouteContext = Object.freeze({
        id: route.id,
        upstream,
        maxBodyBytes: route.maxBodyBytes ?? config.server.maxBodyBytes,
        timeoutMs: route.timeoutMs,
        isWebSocketAllowed: route.websocket,
        websocketIdleTimeoutMs: route.websocketIdleTimeoutMs,
        retry: Object.freeze({
          maxRetries: route.retry.maxRetries,
          perTryTimeoutMs: route.retry.perTryTimeoutMs,
          backoffBaseMs: route.retry.backoffBaseMs,
          backoffMaxMs: route.retry.backoffMaxMs,
          retryOnStatuses: new Set(route.retry.retryOn),
          idempotencyKeyHeader: route.retry.idempotencyKeyHeader,
          maxReplayBodyBytes: route.retry.maxReplayBodyBytes,
        }),
        retryBudget: new RetryBudget({
          ratio: route.retry.budget.percent / 100,
          minRetriesPerSecond: route.retry.budget.minRetriesPerSecond,
          windowMs: route.retry.budget.windowMs,
        }),
        maxConcurrent: route.limits.maxConcurrent,
        load: { active: 0 },
        debugHeader: route.debugHeader,
        policy: compileRoutePolicy(route),
        hostHeader: hostHeaderPolicy(
          route,
          config.upstreams.find((u) => u.id === route.upstream),
        ),
        requestBuffering: Object.freeze({
          isEnabled: route.requestBuffering.enabled,
          maxBytes: route.requestBuffering.maxBytes,
          overLimit: route.requestBuffering.overLimit,
        }),
        responseBufferBytes: route.responseBufferBytes,
      })
      return toRouteSpec(route, context)
    })
    return Object.freeze({
      version: configVersion(config),
      config,
      router: compileRouter(routes),
      upstreams,
      trustedProxies: compileCidrs(config.server.trustedProxies),
      requestIdHeader: config.server.requestIdHeader,
      maxUrlBytes: config.server.maxUrlBytes,
      underscoresInHeaders: config.server.underscoresInHeaders,
      admission: deps.admission ?? [],
      securityHeaders: compileSecurityHeaders(config.server.securityHeaders),
    })
  } catch (err) {
    // No partial state: pools created for this attempt are destroyed, kept ones are untouched.
    for (const backend of created) void backend.pool.destroy()
    throw err
  }
}

/**
 * Retires `old` after `current` took over: backends not carried into `current` stop taking work and
 * their pools close once in-flight requests finish. Returns when they are closed.
 */
export async function retireRuntime(old: Runtime, current: Runtime | undefined): Promise<void> {
  const kept = new Set<Backend>()
  if (current !== undefined)
    for (const u of current.upstreams.values()) for (const b of u.backends) kept.add(b)
  const closing: Promise<void>[] = []
  for (const upstream of old.upstreams.values()) {
    closing.push(upstream.stopHealthChecks())
    const successor = current?.upstreams.get(upstream.id)
    if (successor !== undefined) upstream.transferQueued(successor)
    else upstream.failQueued(current === undefined ? 'GATEWAY_SHUTTING_DOWN' : 'UPSTREAM_QUEUE_TIMEOUT')
    for (const backend of upstream.backends) {
      if (kept.has(backend)) continue
      backend.isDraining = true
      closing.push(backend.pool.close())
    }
  }
  await Promise.all(closing)
}
