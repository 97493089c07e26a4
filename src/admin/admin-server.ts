import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { ERROR_CODES, PROBLEM_CONTENT_TYPE, renderProblem, type ErrorCode } from '../errors/index.ts'
import type { ReloadOutcome } from '../lifecycle/index.ts'
import { bindError } from '../net/index.ts'
import {
  ANONYMOUS,
  roleAllows,
  type AdminActor,
  type AdminCredentials,
  type AdminRole,
} from './admin-auth.ts'
import { auditQueryRoute, type AdminAudit } from './admin-audit.ts'
import {
  subscriptionDetailRoute,
  subscriptionListRoute,
  type AdminSubscriptionStore,
} from './admin-subscriptions.ts'

export interface AdminOptions {
  readonly host: string
  readonly port: number
}

/** What the admin endpoints read and do. */
export interface AdminDeps {
  readonly log: Logger
  readonly registry: Registry
  /** `/readyz`: config loaded, listeners bound, not draining. */
  isReady(): boolean
  /**
   * `/readyz?verbose`: subsystem details that do not decide readiness (the proxy serves while the chain
   * is down; payments degrade), e.g. `{ chain: { state: 'degraded', … } }`.
   */
  readyDetails?(): Record<string, unknown>
  /** `/status`: a small JSON snapshot (state, version, connections, last reload). */
  status(): Record<string, unknown>
  /** `POST /reload`: reloads from the config file the process was started with. */
  reload(): Promise<ReloadOutcome>
  /** Routes owned by other subsystems (e.g. `GET {base}/subscriptions/:id`), matched by prefix. */
  readonly routes?: readonly AdminRoute[]
  /**
   * The tokens (read on every request, so a reload swaps them atomically). Absent or without tokens:
   * every endpoint is open, which main.ts allows only on a loopback address (assertAdminExposure).
   */
  credentials?(): AdminCredentials
  /** Where every write is recorded (and `GET /audit` answered from, when it can be queried). */
  readonly audit?: AdminAudit
  /** The stored subscriptions: `GET /subscriptions` and `GET /subscriptions/:id` (with a database only). */
  readonly subscriptions?: AdminSubscriptionStore
}

/** The request an admin route answers. */
export interface AdminRequest {
  readonly requestId: string
  readonly actor: AdminActor
  readonly query: URLSearchParams
}

/** What the audit records of a write beyond who/what/when: the subject and the state before and after. */
export interface AdminAuditFacts {
  /** What the action was about: a subscription id, a token family id, `config`. */
  readonly subject: string
  readonly before?: Readonly<Record<string, unknown>>
  readonly after?: Readonly<Record<string, unknown>>
}

export interface AdminAnswer {
  readonly status: number
  readonly type: string
  readonly body: string
  /** Writes: the audit facts (subject `-` when absent). */
  readonly audit?: AdminAuditFacts
}

/** A route under a path prefix, answered by another subsystem (no body is read). */
export interface AdminRoute {
  /** As listed in the 404 answer and the docs, e.g. `GET /litgate/v1/subscriptions/:id`. */
  readonly endpoint: string
  /** `POST` for an action (e.g. revoking tokens); default GET/HEAD. */
  readonly method?: 'POST'
  /** Paths starting with it (ending in `/`) go to `answer` with the rest of the path. */
  readonly prefix: string
  /** The least role that may call it; default `read` for GET, `operate` for POST. */
  readonly role?: AdminRole
  answer(rest: string, request: AdminRequest): Promise<AdminAnswer>
}

/**
 * One entry of the admin route table. Every endpoint of the listener is one entry (the built-in ones and
 * those of other subsystems), so the authorisation test can walk them all.
 */
export interface AdminRouteEntry {
  /** `GET /status`, `POST /reload`, `GET /litgate/v1/subscriptions/:id`. */
  readonly endpoint: string
  readonly method: 'GET' | 'POST'
  /** The exact path, or the prefix when `isPrefix`. */
  readonly path: string
  readonly isPrefix: boolean
  /** The least role that may call it. */
  readonly role: AdminRole
  /** May be opened to callers without a token through `admin.openPaths`. */
  readonly isOpenable: boolean
  answer(rest: string, request: AdminRequest): Promise<AdminAnswer>
}

/** A bound admin listener. */
export interface AdminServer {
  address(): AddressInfo
  /** The route table, in match order. */
  readonly routes: readonly AdminRouteEntry[]
  close(): Promise<void>
}

const JSON_TYPE = 'application/json; charset=utf-8'
const TEXT_TYPE = 'text/plain; charset=utf-8'
const REALM = 'Bearer realm="litgate-admin"'

const text = (status: number, body: string): AdminAnswer => ({ status, type: TEXT_TYPE, body })
const json = (status: number, body: unknown): AdminAnswer => ({
  status,
  type: JSON_TYPE,
  body: JSON.stringify(body),
})

/**
 * The route table of the admin listener:
 *   GET  /metrics   Prometheus text format (computed at scrape time)          read (openable)
 *   GET  /healthz   200 while the process runs (liveness)                      read (openable)
 *   GET  /readyz    200 when serving; 503 while starting or draining          read (openable)
 *   GET  /status    JSON: state, config version, connections, last reload     read
 *   POST /reload    reload the config file; 200 with the outcome              operate
 *   GET  /audit     the audit log by time range and subject (when stored)      read
 *   GET  /subscriptions[/:id]  stored subscriptions, one with its audit (db)    read
 *   …               `deps.routes` of other subsystems (GET read, POST operate unless they say)
 */
export function adminRouteTable(deps: AdminDeps): AdminRouteEntry[] {
  const table: AdminRouteEntry[] = [
    builtin('GET', '/metrics', 'read', true, async () => ({
      status: 200,
      type: deps.registry.contentType,
      body: await deps.registry.metrics(),
    })),
    builtin('GET', '/healthz', 'read', true, () => Promise.resolve(text(200, 'ok\n'))),
    builtin('GET', '/readyz', 'read', true, (_rest, req) => {
      const isReady = deps.isReady()
      if (req.query.has('verbose'))
        return Promise.resolve(json(isReady ? 200 : 503, { ready: isReady, ...deps.readyDetails?.() }))
      return Promise.resolve(text(isReady ? 200 : 503, isReady ? 'ready\n' : 'not ready\n'))
    }),
    builtin('GET', '/status', 'read', false, () => Promise.resolve(json(200, deps.status()))),
    builtin('POST', '/reload', 'operate', false, async () => {
      const outcome = await deps.reload()
      const status = outcome.ok ? 200 : ERROR_CODES[outcome.code].status
      return {
        ...json(status, outcome),
        audit: {
          subject: 'config',
          before: { version: outcome.ok ? outcome.previousVersion : outcome.version },
          after: outcome.ok
            ? { version: outcome.version, isChanged: outcome.isChanged }
            : { version: outcome.version, code: outcome.code },
        },
      }
    }),
  ]
  if (deps.audit?.query !== undefined) {
    const route = auditQueryRoute(deps.audit)
    table.push(builtin('GET', '/audit', 'read', false, route))
  }
  if (deps.subscriptions !== undefined) {
    table.push(builtin('GET', '/subscriptions', 'read', false, subscriptionListRoute(deps.subscriptions)))
    table.push({
      endpoint: 'GET /subscriptions/:id',
      method: 'GET',
      path: '/subscriptions/',
      isPrefix: true,
      role: 'read',
      isOpenable: false,
      answer: subscriptionDetailRoute(deps.subscriptions, deps.audit),
    })
  }
  for (const r of deps.routes ?? []) {
    const method = r.method ?? 'GET'
    table.push({
      endpoint: r.endpoint,
      method,
      path: r.prefix,
      isPrefix: true,
      role: r.role ?? (method === 'POST' ? 'operate' : 'read'),
      isOpenable: false,
      answer: (rest, req) => r.answer(rest, req),
    })
  }
  return table
}

function builtin(
  method: 'GET' | 'POST',
  path: string,
  role: AdminRole,
  isOpenable: boolean,
  answer: AdminRouteEntry['answer'],
): AdminRouteEntry {
  return { endpoint: `${method} ${path}`, method, path, isPrefix: false, role, isOpenable, answer }
}

/**
 * The admin listener, separate from client traffic. With `admin.tokens` set, every endpoint but those
 * in `admin.openPaths` needs `Authorization: Bearer <token>` of a role at least the endpoint's: 401
 * (with `WWW-Authenticate`) for a missing or unknown token, 403 for a role too low, both RFC 9457
 * problems with the request id (also in `x-request-id`). Every POST is an audited action (deps.audit).
 */
export async function startAdminServer(options: AdminOptions, deps: AdminDeps): Promise<AdminServer> {
  const routes = adminRouteTable(deps)
  const sockets = new Set<Socket>()
  const server: Server = createServer({ requireHostHeader: false }, (req, res) => {
    const requestId = randomUUID()
    res.setHeader('x-request-id', requestId)
    handle(req, res, requestId, routes, deps).catch((err: unknown) => {
      deps.log.error(
        { err, code: 'INTERNAL_ERROR', path: pathOf(req.url), requestId },
        'admin request failed',
      )
      if (!res.headersSent) sendProblem(res, 'INTERNAL_ERROR', requestId)
      else res.destroy()
    })
  })
  server.keepAliveTimeout = 5000
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(bindError(err, 'admin listener', options.host, options.port))
    server.once('error', onError)
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', onError)
      resolve()
    })
  })
  deps.log.info({ address: server.address() }, 'admin listening')
  return {
    address: () => server.address() as AddressInfo,
    routes,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
        for (const s of sockets) s.destroy()
      }),
  }
}

function pathOf(url: string | undefined): string {
  const u = url ?? '/'
  const q = u.indexOf('?')
  return q === -1 ? u : u.slice(0, q)
}

function match(routes: readonly AdminRouteEntry[], path: string): AdminRouteEntry[] {
  return routes.filter((r) => (r.isPrefix ? path.startsWith(r.path) : path === r.path))
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  routes: readonly AdminRouteEntry[],
  deps: AdminDeps,
): Promise<void> {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1))
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET')
  req.resume() // no endpoint reads a body
  const candidates = match(routes, path)
  const credentials = deps.credentials?.()
  const isOpenPath = candidates.some((r) => r.isOpenable && credentials?.openPaths.has(r.path) === true)
  let actor: AdminActor = ANONYMOUS
  if (credentials?.isEnabled === true && !isOpenPath) {
    const found = credentials.authenticate(req.headers.authorization)
    if (found === undefined) {
      deps.log.warn(
        {
          code: 'ADMIN_UNAUTHORIZED',
          method,
          path,
          requestId,
          hasToken: req.headers.authorization !== undefined,
        },
        'admin request refused',
      )
      res.setHeader(
        'www-authenticate',
        req.headers.authorization === undefined ? REALM : `${REALM}, error="invalid_token"`,
      )
      return sendProblem(res, 'ADMIN_UNAUTHORIZED', requestId, 'send Authorization: Bearer <admin token>')
    }
    actor = found
  }
  if (candidates.length === 0) {
    const endpoints = routes.map((r) => r.endpoint)
    return sendProblem(
      res,
      'ROUTE_NOT_FOUND',
      requestId,
      undefined,
      `"endpoints":${JSON.stringify(endpoints)}`,
    )
  }
  const route = candidates.find((r) => r.method === method)
  if (route === undefined) {
    res.setHeader(
      'allow',
      [...new Set(candidates.map((r) => (r.method === 'GET' ? 'GET, HEAD' : r.method)))].join(', '),
    )
    return sendProblem(res, 'METHOD_NOT_ALLOWED', requestId)
  }
  if (!isOpenPath && !roleAllows(actor.role, route.role)) {
    deps.log.warn(
      {
        code: 'ADMIN_FORBIDDEN',
        method,
        path,
        requestId,
        actor: actor.id,
        role: actor.role,
        needs: route.role,
      },
      'admin request refused',
    )
    return sendProblem(
      res,
      'ADMIN_FORBIDDEN',
      requestId,
      `${route.endpoint} needs role ${route.role}; token ${actor.id} has ${actor.role}`,
    )
  }
  const answer = await route.answer(route.isPrefix ? path.slice(route.path.length) : '', {
    requestId,
    actor,
    query,
  })
  if (route.method === 'POST') {
    await deps.audit?.record({
      at: new Date(),
      actor: actor.id,
      role: actor.role,
      action: route.endpoint,
      path,
      requestId,
      status: answer.status,
      subject: answer.audit?.subject ?? '-',
      ...(answer.audit?.before === undefined ? {} : { before: answer.audit.before }),
      ...(answer.audit?.after === undefined ? {} : { after: answer.audit.after }),
    })
  }
  send(res, answer.status, answer.type, answer.body)
}

function sendProblem(
  res: ServerResponse,
  code: ErrorCode,
  requestId: string,
  detail?: string,
  members?: string,
): void {
  send(res, ERROR_CODES[code].status, PROBLEM_CONTENT_TYPE, renderProblem(code, requestId, detail, members))
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}
