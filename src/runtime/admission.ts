import type { IncomingHttpHeaders } from 'node:http'
import type { ErrorCode } from '../errors/index.ts'

/** What an admission stage may look at: the routed request, never its body. */
export interface AdmissionRequest {
  readonly requestId: string
  readonly routeId: string
  readonly method: string
  readonly path: string
  readonly clientAddress: string
  readonly headers: IncomingHttpHeaders
  readonly isUpgrade: boolean
}

/** A refusal: the edge renders it as problem+json with the code's status and these extra headers. */
export interface AdmissionRefusal {
  readonly code: ErrorCode
  readonly headers?: Readonly<Record<string, string>>
  /**
   * Extra RFC 9457 members appended to the problem body, pre-serialised as the inside of a JSON object
   * (`"plans":[…],"quote":{…}`), so a stage can precompute them at config load. Must not repeat a standard
   * member (`type`, `title`, `status`, `code`, `requestId`).
   */
  readonly problemMembers?: string
}

/**
 * An admission with changes to the request head forwarded upstream (e.g. the access-token stage: the
 * subscription id and plan set, the client's Authorization removed). Stages after it still run; the
 * changes of every grant apply, in stage order. Precompute grants: stages should return shared objects.
 */
export interface AdmissionGrant {
  readonly grant: true
  /** Lower-case field names removed from the forwarded head (any case matches). */
  readonly removeHeaders: readonly string[]
  /** Flat `[name, value, …]` fields added; a field of the same name the client sent is removed first. */
  readonly setHeaders: readonly string[]
  /** Whom the request is admitted for (the access-token check: subscription id and plan name). */
  readonly subject?: { readonly subscriptionId: string; readonly plan: string }
  /** Told how the exchange ended (QoS metering); at most one per request, the last grant's wins. */
  readonly meter?: ExchangeMeter
}

/** How an admitted exchange ended, as the proxy counted it (bodies only, as they flowed). */
export interface ExchangeOutcome {
  /** An upstream answered (a response head came back) on at least one attempt. */
  readonly reachedUpstream: boolean
  /** Request body bytes read from the client. */
  readonly bytesIn: number
  /** Response body bytes relayed from the upstream to the client (gateway-made bodies excluded). */
  readonly bytesOut: number
  readonly status: number
}

/**
 * A per-request hook of an admission stage (QoS metering): `responseHeaders` are added to a proxied
 * response head (flat `[name, value, …]`), `end` is called exactly once when the exchange finishes.
 */
export interface ExchangeMeter {
  readonly responseHeaders: readonly string[] | undefined
  end(outcome: ExchangeOutcome): void
}

/** Whether a stage's result admits with head changes (rather than refusing). */
export function isAdmissionGrant(result: AdmissionRefusal | AdmissionGrant): result is AdmissionGrant {
  return (result as AdmissionGrant).grant === true
}

/**
 * Applies a grant to a flat `[name, value, …]` forwarded head (in place when nothing is removed; the
 * filtered copy otherwise). Names compared case-insensitively.
 */
export function applyAdmissionGrant(forward: string[], grant: AdmissionGrant): string[] {
  const drop = new Set(grant.removeHeaders)
  for (let i = 0; i < grant.setHeaders.length; i += 2) drop.add((grant.setHeaders[i] as string).toLowerCase())
  let out = forward
  for (let i = 0; i < forward.length; i += 2) {
    if (drop.has((forward[i] as string).toLowerCase())) {
      out = []
      for (let j = 0; j < forward.length; j += 2) {
        const name = forward[j] as string
        if (!drop.has(name.toLowerCase())) out.push(name, forward[j + 1] as string)
      }
      break
    }
  }
  for (const field of grant.setHeaders) out.push(field)
  return out
}

/**
 * A stage of the admission pipeline (per-IP limit, access token check, subscription quota…). Runs
 * after routing and before a backend is chosen, in order; the first refusal wins. Returns undefined
 * to admit (or an AdmissionGrant to admit with head changes). May be async (one Redis round trip at
 * most, by house rule).
 */
export type AdmissionStage = (
  request: AdmissionRequest,
) => AdmissionRefusal | AdmissionGrant | undefined | Promise<AdmissionRefusal | AdmissionGrant | undefined>
