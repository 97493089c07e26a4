/**
 * `GET {base}/usage/:id`: a subscription's QoS windows now, per policy `used` / `limit` / reset. Served to
 * operators on the admin listener and, on the client listener, to the holder of an access token for that
 * subscription (tokens/token-http.ts does the token check, then calls `answer`).
 */
import { randomUUID } from 'node:crypto'
import { PROBLEM_CONTENT_TYPE, renderProblem } from '../errors/index.ts'
import { quotaWindows, POLICY, type QuotaLimits } from './limits.ts'
import type { QuotaStore } from './store.ts'
import type { UsageTotals } from '../storage/index.ts'

export interface UsageRouteDeps {
  readonly store: QuotaStore
  /** The row of a subscription id (lower-case), or undefined when unknown. */
  subscription(
    id: string,
  ): Promise<{ readonly planId: number; readonly startSec: number; readonly endSec: number } | undefined>
  /** The compiled limits of an on-chain plan id (undefined: not sold here, or not ready). */
  limitsForPlanId(planId: number): QuotaLimits | undefined
  readonly nowMs: () => number
  /** Persisted periods, newest first (the operators' view on the admin listener); absent: not shown. */
  history?(id: string): Promise<readonly UsageTotals[]>
}

export interface UsageRoute {
  readonly endpoint: string
  readonly prefix: string
  answer(rest: string): Promise<{ readonly status: number; readonly type: string; readonly body: string }>
}

const ID = /^0x[0-9a-fA-F]{64}$/
const JSON_TYPE = 'application/json; charset=utf-8'
const iso = (sec: number): string => new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')

export function createUsageRoute(basePath: string, deps: UsageRouteDeps): UsageRoute {
  const problem = (code: 'SUBSCRIPTION_ID_INVALID' | 'SUBSCRIPTION_NOT_FOUND', detail: string) => ({
    status: code === 'SUBSCRIPTION_ID_INVALID' ? 400 : 404,
    type: PROBLEM_CONTENT_TYPE,
    body: renderProblem(code, randomUUID(), detail),
  })
  return {
    endpoint: `GET ${basePath}/usage/:id`,
    prefix: `${basePath}/usage/`,
    async answer(rest) {
      if (!ID.test(rest)) return problem('SUBSCRIPTION_ID_INVALID', 'id must be 0x followed by 64 hex digits')
      const id = rest.toLowerCase()
      const row = await deps.subscription(id)
      const limits = row === undefined ? undefined : deps.limitsForPlanId(row.planId)
      if (row === undefined || limits === undefined)
        return problem('SUBSCRIPTION_NOT_FOUND', `no metered subscription ${id}`)
      const nowSec = deps.nowMs() / 1000
      const w = quotaWindows(row.startSec, limits.periodSec, nowSec)
      const u = await deps.store.usage(id, limits, w)
      const reset = (endSec: number) => ({
        resetsAt: iso(endSec),
        resetSeconds: Math.max(0, Math.ceil(endSec - nowSec)),
      })
      const body = JSON.stringify({
        subscriptionId: id,
        plan: limits.plan,
        windows: [
          {
            policy: POLICY.rps,
            limit: limits.rps.quota,
            burst: limits.rps.burst,
            remaining: u.rpsRemaining,
          },
          { policy: POLICY.daily, used: u.dayUsed, limit: limits.perDay ?? null, ...reset(w.day.endSec) },
          {
            policy: POLICY.monthly,
            used: u.monthUsed,
            limit: limits.perMonth ?? null,
            ...reset(w.month.endSec),
          },
          {
            policy: POLICY.bytes,
            used: u.periodBytesIn + u.periodBytesOut,
            limit: limits.bytesPerPeriod ?? null,
            ...reset(w.period.endSec),
          },
          { policy: POLICY.streams, used: u.streams, limit: limits.concurrentStreams ?? null },
        ],
        period: {
          index: w.period.index,
          start: iso(w.period.endSec - limits.periodSec),
          end: iso(w.period.endSec),
          requests: u.periodRequests,
          bytesIn: u.periodBytesIn,
          bytesOut: u.periodBytesOut,
        },
        ...(deps.history === undefined
          ? {}
          : {
              periods: (await deps.history(id)).map((p) => ({
                start: iso(p.periodStartSec),
                end: iso(p.periodEndSec),
                plan: p.plan,
                requests: p.requests,
                bytesIn: p.bytesIn,
                bytesOut: p.bytesOut,
                flushedAt: new Date(p.updatedAtMs).toISOString(),
              })),
            }),
      })
      return { status: 200, type: JSON_TYPE, body }
    },
  }
}
