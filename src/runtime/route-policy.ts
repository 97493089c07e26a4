import type { RouteConfig, UpstreamConfig } from '../config/index.ts'
import { compileCors, compileIpAccess, type CorsPolicy, type IpAccess } from '../security/index.ts'

/** A route's fixed answer (`routes[].respond`), ready to write. */
export interface DirectResponse {
  readonly status: number
  /** The operator's fields (lower-case names), with `content-type` defaulted when there is a body. */
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
}

/**
 * The Host sent upstream (`hostHeader`): the client's (`preserve`), the backend URL's own authority
 * (`backend`), or a fixed value.
 */
export type HostHeaderPolicy = 'preserve' | 'backend' | { readonly fixed: string }

/** The operator policy of a route, checked after routing and before anything is proxied. */
export interface RoutePolicy {
  readonly ipAccess: IpAccess | undefined
  readonly cors: CorsPolicy | undefined
  readonly direct: DirectResponse | undefined
}

/** Compiles a route's operator policy; undefined when it has none (the request path then skips it). */
export function compileRoutePolicy(route: RouteConfig): RoutePolicy | undefined {
  const ipAccess = compileIpAccess(route.ipAllow, route.ipDeny)
  const cors = route.cors === undefined ? undefined : compileCors(route.cors)
  const direct = route.respond === undefined ? undefined : compileDirectResponse(route.respond)
  if (ipAccess === undefined && cors === undefined && direct === undefined) return undefined
  return Object.freeze({ ipAccess, cors, direct })
}

function compileDirectResponse(respond: NonNullable<RouteConfig['respond']>): DirectResponse {
  const body = Buffer.from(respond.body, 'utf8')
  const headers: Record<string, string> = { ...respond.headers }
  if (body.length > 0 && headers['content-type'] === undefined)
    headers['content-type'] = 'text/plain; charset=utf-8'
  return Object.freeze({ status: respond.status, headers: Object.freeze(headers), body })
}

/** The route's Host policy: its own `hostHeader`, else its upstream's (default `preserve`). */
export function hostHeaderPolicy(route: RouteConfig, upstream: UpstreamConfig | undefined): HostHeaderPolicy {
  return route.hostHeader ?? upstream?.hostHeader ?? 'preserve'
}
