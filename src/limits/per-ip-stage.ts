import type { Logger } from 'pino'
import type { RateLimitConfig, RateLimitPolicyConfig, RouteConfig } from '../config/index.ts'
import type { ErrorCode } from '../errors/index.ts'
import { addressKey } from '../security/index.ts'
import { ceilSeconds, gcraPolicy, type GcraDecision, type GcraPolicy } from './gcra.ts'
import type { LimiterStore } from './store.ts'

/** One policy as the request path uses it: the GCRA parameters plus everything precomputed for the wire. */
export interface CompiledLimit {
  readonly gcra: GcraPolicy
  /** Namespace of the policy's keys in the store (`ip|` global, `ip@<route>|` for a route's own limit). */
  readonly keyPrefix: string
  /** This policy's `RateLimit-Policy` member, e.g. `"ip";q=100;w=60`. */
  readonly policyField: string
  /** `"violated-policies":["ip"]`, the problem body's extension member (draft-ietf-httpapi-ratelimit-headers). */
  readonly problemMembers: string
}

/** The per-IP limits of one config, compiled once per runtime (a reload compiles a new one). */
export interface PerIpPlan {
  /** `rateLimit.perIp`, for every route without its own. */
  readonly global: CompiledLimit | undefined
  /** Routes with `rateLimit.perIp`: their own limit, or null for `"off"`. */
  readonly byRoute: ReadonlyMap<string, CompiledLimit | null>
  readonly ipv6PrefixLength: number
  /** Redis failure: admit (`allow`, fail open) or refuse with 503 (`deny`, fail closed). */
  readonly onError: 'allow' | 'deny'
  /** True when no route is limited (no stage is installed). */
  readonly isEmpty: boolean
}

/** Policy name of `rateLimit.perIp` in RateLimit-Policy / RateLimit and metrics. */
export const GLOBAL_POLICY_NAME = 'ip'

/** Policy name of a route's own `rateLimit.perIp` (route ids are bounded by the config: a fine label). */
export function routePolicyName(routeId: string): string {
  return `ip-${routeId}`
}

function compileLimit(name: string, keyPrefix: string, c: RateLimitPolicyConfig): CompiledLimit {
  const gcra = gcraPolicy(name, c.requests, c.windowSeconds, c.burst ?? c.requests)
  // Structured Field strings (RFC 9651 §3.3.3): names here are letters, digits, "-", "." and "_".
  return Object.freeze({
    gcra,
    keyPrefix,
    policyField: `"${name}";q=${gcra.quota};w=${gcra.windowSeconds}`,
    problemMembers: `"violated-policies":["${name}"]`,
  })
}

/** Compiles `rateLimit` and the routes' overrides. Pure; the config was validated before. */
export function compilePerIpPlan(rateLimit: RateLimitConfig, routes: readonly RouteConfig[]): PerIpPlan {
  const global =
    rateLimit.perIp === undefined ? undefined : compileLimit(GLOBAL_POLICY_NAME, 'ip|', rateLimit.perIp)
  const byRoute = new Map<string, CompiledLimit | null>()
  for (const route of routes) {
    const own = route.rateLimit?.perIp
    if (own === undefined) continue
    byRoute.set(
      route.id,
      own === 'off' ? null : compileLimit(routePolicyName(route.id), `ip@${route.id}|`, own),
    )
  }
  const plan = {
    global,
    byRoute,
    ipv6PrefixLength: rateLimit.ipv6PrefixLength,
    onError: rateLimit.redis?.onError ?? 'allow',
    isEmpty: false,
  }
  plan.isEmpty = routes.every((r) => limitFor(plan, r.id) === undefined)
  return Object.freeze(plan)
}

/** The limit that applies to a route: its own, none (`"off"`), or the global one. */
export function limitFor(plan: PerIpPlan, routeId: string): CompiledLimit | undefined {
  const own = plan.byRoute.get(routeId)
  return own === undefined ? plan.global : (own ?? undefined)
}

/** What the stage reads from a routed request (a structural subset of the runtime's AdmissionRequest). */
export interface LimitedRequest {
  readonly routeId: string
  /** After trusted-proxy resolution (resolveClientAddress). */
  readonly clientAddress: string
}

/** A refusal in the shape of the runtime's AdmissionRefusal. */
export interface LimitRefusal {
  readonly code: ErrorCode
  readonly headers?: Readonly<Record<string, string>>
  readonly problemMembers?: string
}

/** Observability hooks (metrics); each is optional. */
export interface LimiterHooks {
  /** A request was refused with 429 under `policy`. */
  readonly onLimited?: (policy: string) => void
  /** The store could not decide; the request was admitted (fail open) or refused (fail closed). */
  readonly onStoreError?: (action: 'allowed' | 'refused') => void
}

export interface PerIpStageDeps {
  readonly store: LimiterStore
  readonly log: Logger
  readonly hooks?: LimiterHooks
  /** Milliseconds, for spacing out the store-failure log line. Default performance.now. */
  readonly nowMs?: () => number
}

/** At most one `rate limit store failed` line per this interval (an outage fails every request). */
const ERROR_LOG_INTERVAL_MS = 10_000

/** The 429 answer: when the next request fits, the policy, and its state now (r=0). */
export function limitedRefusal(limit: CompiledLimit, d: GcraDecision): LimitRefusal {
  return {
    code: 'RATE_LIMITED',
    headers: {
      // RFC 9110 §10.2.3, rounded up: a client that waits exactly this long is admitted.
      'retry-after': String(Math.max(1, ceilSeconds(d.retryAfterUs))),
      'ratelimit-policy': limit.policyField,
      // r: units left now; t: seconds until the full burst is available again.
      ratelimit: `"${limit.gcra.name}";r=${d.remaining};t=${ceilSeconds(d.resetUs)}`,
    },
    problemMembers: limit.problemMembers,
  }
}

const UNAVAILABLE: LimitRefusal = Object.freeze({ code: 'RATE_LIMIT_UNAVAILABLE' })

/**
 * The per-client-IP admission stage for one runtime, or undefined when no route is limited (so an
 * unlimited config pays nothing). One store decision per request of a limited route: synchronous for
 * the memory store, one Redis round trip for the shared one. Store failures are logged (spaced out),
 * counted, and answered by the plan's fail-open/fail-closed choice; they never throw.
 */
export function createPerIpStage(
  plan: PerIpPlan,
  deps: PerIpStageDeps,
): ((request: LimitedRequest) => LimitRefusal | undefined | Promise<LimitRefusal | undefined>) | undefined {
  if (plan.isEmpty) return undefined
  const { store, log } = deps
  const hooks = deps.hooks ?? {}
  const nowMs = deps.nowMs ?? (() => performance.now())
  let lastLogAt = -Infinity
  let suppressed = 0
  const onFailure = (err: unknown): LimitRefusal | undefined => {
    const refused = plan.onError === 'deny'
    hooks.onStoreError?.(refused ? 'refused' : 'allowed')
    const now = nowMs()
    if (now - lastLogAt >= ERROR_LOG_INTERVAL_MS) {
      log.error(
        {
          code: 'RATE_LIMIT_UNAVAILABLE',
          store: store.kind,
          action: refused ? 'refused' : 'allowed',
          suppressed,
          err: (err as Error).message,
        },
        'rate limit store failed',
      )
      lastLogAt = now
      suppressed = 0
    } else suppressed++
    return refused ? UNAVAILABLE : undefined
  }
  const settle = (limit: CompiledLimit, d: GcraDecision): LimitRefusal | undefined => {
    if (d.isAllowed) return undefined
    hooks.onLimited?.(limit.gcra.name)
    return limitedRefusal(limit, d)
  }
  return (request) => {
    const limit = limitFor(plan, request.routeId)
    if (limit === undefined) return undefined
    const key = limit.keyPrefix + addressKey(request.clientAddress, plan.ipv6PrefixLength)
    let decision: GcraDecision | Promise<GcraDecision>
    try {
      decision = store.take(key, limit.gcra)
    } catch (err) {
      return onFailure(err)
    }
    if (decision instanceof Promise)
      return decision.then(
        (d) => settle(limit, d),
        (err: unknown) => onFailure(err),
      )
    return settle(limit, decision)
  }
}
