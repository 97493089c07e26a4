/**
 * `GET {base}/subscriptions/:id` on the admin listener (and, through src/tokens, on the client listener for
 * the holder of an access token of that subscription): answers from the
 * request-path cache (falling back to the store on a miss), 400 for a malformed id, 404 for an unknown one
 * (RFC 9457 problems). The object plugs into the admin server's `routes` (structurally: prefix, endpoint,
 * answer), so this module does not depend on the admin subsystem.
 */
import { randomUUID } from 'node:crypto'
import { PROBLEM_CONTENT_TYPE, renderProblem } from '../errors/index.ts'
import { isAccessAllowed, type SubscriptionCache } from './access.ts'
import { deriveState } from './state-machine.ts'
import type { Bytes32 } from './types.ts'

export interface SubscriptionLookupOptions {
  /** The gateway's own base path (`paidAccess.basePath`, default `/litgate/v1`). */
  readonly basePath: string
  /** Degraded-mode grace after `end` while the chain is unreachable. */
  readonly graceMs: number
}

export interface SubscriptionLookupDeps {
  readonly cache: SubscriptionCache
  /** Wall-clock ms (the request path's approximation of chain time). */
  readonly nowMs: () => number
  readonly isChainHealthy: () => boolean
}

export interface SubscriptionLookupAnswer {
  readonly status: number
  readonly type: string
  readonly body: string
}

/** A route for the admin server: requests whose path starts with `prefix` go to `answer(rest)`. */
export interface SubscriptionLookupRoute {
  readonly endpoint: string
  readonly prefix: string
  answer(rest: string): Promise<SubscriptionLookupAnswer>
}

const ID = /^0x[0-9a-fA-F]{64}$/
const JSON_TYPE = 'application/json; charset=utf-8'

export function createSubscriptionLookup(
  options: SubscriptionLookupOptions,
  deps: SubscriptionLookupDeps,
): SubscriptionLookupRoute {
  const base = options.basePath.endsWith('/') ? options.basePath.slice(0, -1) : options.basePath
  if (!base.startsWith('/'))
    throw new Error(`subscription lookup basePath must start with "/", got ${options.basePath}`)
  const problem = (code: 'SUBSCRIPTION_ID_INVALID' | 'SUBSCRIPTION_NOT_FOUND', detail: string) => ({
    status: code === 'SUBSCRIPTION_ID_INVALID' ? 400 : 404,
    type: PROBLEM_CONTENT_TYPE,
    body: renderProblem(code, randomUUID(), detail),
  })
  return {
    endpoint: `GET ${base}/subscriptions/:id`,
    prefix: `${base}/subscriptions/`,
    async answer(rest) {
      if (!ID.test(rest)) {
        return problem('SUBSCRIPTION_ID_INVALID', 'id must be 0x followed by 64 hex digits')
      }
      const id = rest.toLowerCase() as Bytes32
      const row = await deps.cache.get(id)
      if (row === undefined || row.chainStatus === null) {
        // A pending row is not a subscription yet: same answer as an unknown id.
        return problem('SUBSCRIPTION_NOT_FOUND', `no subscription ${id}`)
      }
      const nowMs = deps.nowMs()
      const isChainHealthy = deps.isChainHealthy()
      const body = JSON.stringify({
        id: row.id,
        state: deriveState(row.chainStatus, row.endSec, Math.floor(nowMs / 1000), row.operatorHold !== null),
        owner: row.owner,
        beneficiary: row.beneficiary,
        planId: row.planId,
        token: row.token,
        start: row.startSec,
        end: row.endSec,
        chainStatus: row.chainStatus,
        accessAllowed: isAccessAllowed(row, nowMs, {
          graceMs: options.graceMs,
          chainHealthy: isChainHealthy,
        }),
        chainReachable: isChainHealthy,
        version: row.version,
      })
      return { status: 200, type: JSON_TYPE, body }
    },
  }
}
