/**
 * Operator listings of subscriptions from the database (the stored rows, every instance's view):
 * `GET /subscriptions?owner=&beneficiary=&planId=&state=&expiresFrom=&expiresBefore=&cursor=&limit=` and
 * `GET /subscriptions/:id` with the subject's audit history (its transitions and the admin actions on it).
 * The request path's own view of one subscription (from its cache, with the derived state) is the
 * subsystem route `GET {basePath}/subscriptions/:id`.
 */
import { PROBLEM_CONTENT_TYPE, renderProblem, type ErrorCode } from '../errors/index.ts'
import type { Hex, SubscriptionFilter, SubscriptionRecord, SubscriptionRepository } from '../storage/index.ts'
import { encodeAuditCursor, type AdminAudit } from './admin-audit.ts'
import type { AdminAnswer, AdminRequest } from './admin-server.ts'

export type AdminSubscriptionStore = Pick<SubscriptionRepository, 'search' | 'get'>

export const MAX_SUBSCRIPTION_PAGE = 500
const DEFAULT_PAGE = 100
/** Audit entries shown with one subscription; the rest through `GET /audit?subject=&cursor=`. */
const HISTORY_PAGE = 100
const STATES: ReadonlySet<string> = new Set(['pending', 'active', 'expired', 'revoked', 'cancelled'])
const ADDRESS = /^0x[0-9a-fA-F]{40}$/
const ID = /^0x[0-9a-fA-F]{64}$/
const JSON_TYPE = 'application/json; charset=utf-8'

const problem = (code: ErrorCode, status: number, requestId: string, detail: string): AdminAnswer => ({
  status,
  type: PROBLEM_CONTENT_TYPE,
  body: renderProblem(code, requestId, detail),
})

/** RFC 3339 (with a zone) or unix seconds, as unix seconds. */
function parseSeconds(value: string): number | undefined {
  if (/^\d{1,12}$/.test(value)) return Number(value)
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/i.test(value)) return undefined
  const ms = Date.parse(value)
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000)
}

const encodeCursor = (id: Hex): string => Buffer.from(`sub:${id}`).toString('base64url')

function decodeCursor(cursor: string): Hex | undefined {
  const m = /^sub:(0x[0-9a-f]{64})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  return m === null ? undefined : (m[1] as Hex)
}

type Parsed =
  { readonly ok: true; readonly filter: SubscriptionFilter } | { readonly ok: false; readonly detail: string }

export function parseSubscriptionQuery(params: URLSearchParams): Parsed {
  const known = new Set([
    'owner',
    'beneficiary',
    'planId',
    'state',
    'expiresFrom',
    'expiresBefore',
    'cursor',
    'limit',
  ])
  for (const key of params.keys())
    if (!known.has(key)) return { ok: false, detail: `unknown parameter ${key}` }
  const f: { -readonly [K in keyof SubscriptionFilter]: SubscriptionFilter[K] } = { limit: DEFAULT_PAGE }
  for (const name of ['owner', 'beneficiary'] as const) {
    const v = params.get(name)
    if (v === null) continue
    if (!ADDRESS.test(v)) return { ok: false, detail: `${name}: a 0x address (40 hex digits)` }
    f[name] = v.toLowerCase() as Hex
  }
  const planId = params.get('planId')
  if (planId !== null) {
    if (!/^\d{1,5}$/.test(planId) || Number(planId) > 65535)
      return { ok: false, detail: 'planId: 0 to 65535' }
    f.planId = Number(planId)
  }
  const state = params.get('state')
  if (state !== null) {
    if (!STATES.has(state)) return { ok: false, detail: `state: one of ${[...STATES].join(', ')}` }
    f.state = state as SubscriptionFilter['state'] & string
  }
  for (const [name, key] of [
    ['expiresFrom', 'endFrom'],
    ['expiresBefore', 'endBefore'],
  ] as const) {
    const v = params.get(name)
    if (v === null) continue
    const sec = parseSeconds(v)
    if (sec === undefined) return { ok: false, detail: `${name}: RFC 3339 time or unix seconds` }
    f[key] = sec
  }
  const cursor = params.get('cursor')
  if (cursor !== null) {
    const id = decodeCursor(cursor)
    if (id === undefined) return { ok: false, detail: 'cursor: not a cursor of this endpoint' }
    f.afterId = id
  }
  const limit = params.get('limit')
  if (limit !== null) {
    if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_SUBSCRIPTION_PAGE)
      return { ok: false, detail: `limit: 1 to ${MAX_SUBSCRIPTION_PAGE}` }
    f.limit = Number(limit)
  }
  return { ok: true, filter: f }
}

function describe(s: SubscriptionRecord) {
  return {
    id: s.id,
    owner: s.owner,
    beneficiary: s.beneficiary,
    planId: s.planId,
    token: s.token,
    start: s.startAt,
    end: s.endAt,
    state: s.state,
    version: s.version,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  }
}

/** `GET /subscriptions`: one page by id, `nextCursor` when more may follow. */
export function subscriptionListRoute(store: AdminSubscriptionStore) {
  return async (_rest: string, req: AdminRequest): Promise<AdminAnswer> => {
    const parsed = parseSubscriptionQuery(req.query)
    if (!parsed.ok) return problem('ADMIN_QUERY_INVALID', 400, req.requestId, parsed.detail)
    const rows = await store.search({ ...parsed.filter, limit: parsed.filter.limit + 1 })
    const page = rows.slice(0, parsed.filter.limit)
    const last = page.at(-1)
    const body = {
      subscriptions: page.map(describe),
      nextCursor: rows.length > page.length && last !== undefined ? encodeCursor(last.id) : null,
    }
    return { status: 200, type: JSON_TYPE, body: JSON.stringify(body) }
  }
}

/** `GET /subscriptions/:id`: the stored row and the first page of its audit history (oldest first). */
export function subscriptionDetailRoute(store: AdminSubscriptionStore, audit: AdminAudit | undefined) {
  return async (rest: string, req: AdminRequest): Promise<AdminAnswer> => {
    if (!ID.test(rest))
      return problem('SUBSCRIPTION_ID_INVALID', 400, req.requestId, 'id must be 0x followed by 64 hex digits')
    const id = rest.toLowerCase() as Hex
    const row = await store.get(id)
    if (row === undefined)
      return problem('SUBSCRIPTION_NOT_FOUND', 404, req.requestId, `no subscription ${id}`)
    const history =
      audit?.query === undefined ? [] : await audit.query({ subject: id, limit: HISTORY_PAGE + 1 })
    const shown = history.slice(0, HISTORY_PAGE)
    const last = shown.at(-1)
    const body = {
      subscription: describe(row),
      audit: shown.map((e) => ({
        id: e.id.toString(),
        at: e.at.toISOString(),
        entity: e.entity,
        fromState: e.fromState,
        toState: e.toState,
        cause: e.cause,
        detail: e.detail,
        chainTime: e.chainTime,
      })),
      // Continue with GET /audit?subject=<id>&cursor=<this>.
      auditNextCursor:
        history.length > shown.length && last !== undefined ? encodeAuditCursor(last.id) : null,
    }
    return { status: 200, type: JSON_TYPE, body: JSON.stringify(body) }
  }
}
