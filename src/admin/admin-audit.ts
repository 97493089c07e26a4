/**
 * The audit of admin actions: every write of the admin API (who — the token id —, what, the subject, the
 * state before and after, the request id, when) as one structured log line, and, when the gateway has a
 * database, one row of the append-only `audit_log` (entity `admin`, beside the subscription and payment
 * transitions of the same table: `GET /audit?subject=` shows an operator's revocation and the
 * subscription's own history together). `GET /audit` pages it by time range and subject.
 */
import type { Logger } from 'pino'
import { PROBLEM_CONTENT_TYPE, renderProblem } from '../errors/index.ts'
import type { AuditEntity, AuditEntry, AuditRepository } from '../storage/index.ts'
import type { AdminRole } from './admin-auth.ts'
import type { AdminAnswer, AdminRequest } from './admin-server.ts'

/** One admin write. */
export interface AdminAuditEntry {
  readonly at: Date
  /** The token id (`anonymous` on an unauthenticated loopback admin). */
  readonly actor: string
  readonly role: AdminRole
  /** The endpoint, e.g. `POST /reload`. */
  readonly action: string
  readonly path: string
  readonly requestId: string
  /** The answer's status: `done` below 400, `failed` from 400. */
  readonly status: number
  readonly subject: string
  readonly before?: Readonly<Record<string, unknown>>
  readonly after?: Readonly<Record<string, unknown>>
}

export interface AuditQuery {
  readonly since?: Date
  readonly until?: Date
  readonly subject?: string
  readonly entity?: AuditEntity
  readonly afterId?: bigint
  readonly limit: number
}

export interface AdminAudit {
  /** Logs the entry and appends it; never throws (a failed append is logged with the whole entry). */
  record(entry: AdminAuditEntry): Promise<void>
  /** One page, oldest first; absent without a database. */
  readonly query?: (q: AuditQuery) => Promise<AuditEntry[]>
}

export interface AdminAuditDeps {
  readonly log: Logger
  /** The storage's audit repository; absent: log lines only, no `GET /audit`. */
  readonly repository?: Pick<AuditRepository, 'append' | 'search'>
}

export function createAdminAudit(deps: AdminAuditDeps): AdminAudit {
  const { log, repository } = deps
  return {
    async record(entry) {
      const line = { audit: 'admin', ...entry, at: entry.at.toISOString() }
      log.info(line, 'admin action')
      if (repository === undefined) return
      try {
        await repository.append({
          entity: 'admin',
          entityId: entry.subject,
          fromState: null,
          toState: entry.status < 400 ? 'done' : 'failed',
          cause: entry.action,
          detail: {
            actor: entry.actor,
            role: entry.role,
            requestId: entry.requestId,
            path: entry.path,
            status: entry.status,
            ...(entry.before === undefined ? {} : { before: entry.before }),
            ...(entry.after === undefined ? {} : { after: entry.after }),
          },
        })
      } catch (err) {
        log.error(
          { ...line, code: 'STORAGE_UNAVAILABLE', err: (err as Error).message },
          'admin audit not stored',
        )
      }
    },
    ...(repository === undefined ? {} : { query: (q: AuditQuery) => repository.search(q) }),
  }
}

/** Largest page of `GET /audit`; the default is 100. */
export const MAX_AUDIT_PAGE = 500
const DEFAULT_AUDIT_PAGE = 100
const ENTITIES: ReadonlySet<string> = new Set(['subscription', 'payment', 'admin'])
const JSON_TYPE = 'application/json; charset=utf-8'

/** RFC 3339 (with a zone) or unix seconds. */
function parseTime(value: string): Date | undefined {
  if (/^\d{1,12}$/.test(value)) return new Date(Number(value) * 1000)
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/i.test(value)) return undefined
  const d = new Date(value)
  return Number.isNaN(d.getTime()) ? undefined : d
}

export function encodeAuditCursor(id: bigint): string {
  return Buffer.from(`audit:${id}`).toString('base64url')
}

function decodeAuditCursor(cursor: string): bigint | undefined {
  const m = /^audit:(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  return m === null ? undefined : BigInt(m[1] as string)
}

type Parsed =
  { readonly ok: true; readonly query: AuditQuery } | { readonly ok: false; readonly detail: string }

/** `since`, `until`, `subject`, `entity`, `cursor`, `limit` of `GET /audit`. */
export function parseAuditQuery(params: URLSearchParams): Parsed {
  const known = new Set(['since', 'until', 'subject', 'entity', 'cursor', 'limit'])
  for (const key of params.keys())
    if (!known.has(key)) return { ok: false, detail: `unknown parameter ${key}` }
  const q: { -readonly [K in keyof AuditQuery]: AuditQuery[K] } = { limit: DEFAULT_AUDIT_PAGE }
  for (const name of ['since', 'until'] as const) {
    const raw = params.get(name)
    if (raw === null) continue
    const d = parseTime(raw)
    if (d === undefined) return { ok: false, detail: `${name}: RFC 3339 time or unix seconds` }
    q[name] = d
  }
  const subject = params.get('subject')
  if (subject !== null) {
    if (subject.length < 1 || subject.length > 200)
      return { ok: false, detail: 'subject: 1 to 200 characters' }
    // Subscription ids are stored lowercase.
    q.subject = /^0x[0-9a-fA-F]+$/.test(subject) ? subject.toLowerCase() : subject
  }
  const entity = params.get('entity')
  if (entity !== null) {
    if (!ENTITIES.has(entity)) return { ok: false, detail: 'entity: subscription, payment or admin' }
    q.entity = entity as AuditEntity
  }
  const cursor = params.get('cursor')
  if (cursor !== null) {
    const id = decodeAuditCursor(cursor)
    if (id === undefined) return { ok: false, detail: 'cursor: not a cursor of this endpoint' }
    q.afterId = id
  }
  const limit = params.get('limit')
  if (limit !== null) {
    if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_AUDIT_PAGE)
      return { ok: false, detail: `limit: 1 to ${MAX_AUDIT_PAGE}` }
    q.limit = Number(limit)
  }
  return { ok: true, query: q }
}

/**
 * `GET /audit?since=&until=&subject=&entity=&cursor=&limit=`: entries oldest first, `nextCursor` set when
 * the page is full (pass it as `cursor` for the next page; null at the end).
 */
export function auditQueryRoute(audit: AdminAudit) {
  return async (_rest: string, req: AdminRequest): Promise<AdminAnswer> => {
    const parsed = parseAuditQuery(req.query)
    if (!parsed.ok)
      return {
        status: 400,
        type: PROBLEM_CONTENT_TYPE,
        body: renderProblem('ADMIN_QUERY_INVALID', req.requestId, parsed.detail),
      }
    const query = audit.query
    if (query === undefined) throw new Error('GET /audit without a queryable audit')
    // One more than asked: tells whether a next page exists without a second query.
    const rows = await query({ ...parsed.query, limit: parsed.query.limit + 1 })
    const page = rows.slice(0, parsed.query.limit)
    const last = page.at(-1)
    const body = {
      entries: page.map((e) => ({
        id: e.id.toString(),
        at: e.at.toISOString(),
        entity: e.entity,
        subject: e.entityId,
        fromState: e.fromState,
        toState: e.toState,
        cause: e.cause,
        detail: e.detail,
        chainTime: e.chainTime,
      })),
      nextCursor: rows.length > page.length && last !== undefined ? encodeAuditCursor(last.id) : null,
    }
    return { status: 200, type: JSON_TYPE, body: JSON.stringify(body) }
  }
}
