import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { ERROR_CODES } from '../errors/index.ts'
import type { ReloadOutcome } from '../lifecycle/index.ts'
import { bindError } from '../net/index.ts'

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
}

/** A route under a path prefix, answered by another subsystem (no body is read). */
export interface AdminRoute {
  /** As listed in the 404 answer and the docs, e.g. `GET /litgate/v1/subscriptions/:id`. */
  readonly endpoint: string
  /** `POST` for an action (e.g. revoking tokens); default GET/HEAD. */
  readonly method?: 'POST'
  /** Paths starting with it (ending in `/`) go to `answer` with the rest of the path. */
  readonly prefix: string
  answer(rest: string): Promise<{ readonly status: number; readonly type: string; readonly body: string }>
}

/** A bound admin listener. */
export interface AdminServer {
  address(): AddressInfo
  close(): Promise<void>
}

const JSON_TYPE = 'application/json; charset=utf-8'

/**
 * The admin listener, separate from client traffic:
 *   GET  /metrics   Prometheus text format (computed at scrape time)
 *   GET  /healthz   200 while the process runs (liveness)
 *   GET  /readyz    200 when serving; 503 while starting or draining (readiness)
 *   GET  /status    JSON: state, config version, connections, last reload
 *   POST /reload    reload the config file; 200 with the outcome, or the failure code's status
 *   GET  <prefix>…  `deps.routes` of other subsystems (e.g. GET {base}/subscriptions/:id; POST for actions)
 * No authentication: bind it to loopback or a private interface (admin.host).
 */
export async function startAdminServer(options: AdminOptions, deps: AdminDeps): Promise<AdminServer> {
  const sockets = new Set<Socket>()
  const server: Server = createServer({ requireHostHeader: false }, (req, res) => {
    handle(req, res, deps).catch((err: unknown) => {
      deps.log.error({ err, code: 'INTERNAL_ERROR', path: req.url }, 'admin request failed')
      if (!res.headersSent) send(res, 500, JSON_TYPE, JSON.stringify({ code: 'INTERNAL_ERROR' }))
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
        for (const s of sockets) s.destroy()
      }),
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, deps: AdminDeps): Promise<void> {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const method = req.method ?? 'GET'
  req.resume() // no endpoint reads a body
  const isRead = method === 'GET' || method === 'HEAD'
  switch (path) {
    case '/metrics':
      if (!isRead) return notAllowed(res, 'GET, HEAD')
      return send(res, 200, deps.registry.contentType, await deps.registry.metrics())
    case '/healthz':
      if (!isRead) return notAllowed(res, 'GET, HEAD')
      return send(res, 200, 'text/plain; charset=utf-8', 'ok\n')
    case '/readyz': {
      if (!isRead) return notAllowed(res, 'GET, HEAD')
      const isReady = deps.isReady()
      if (url.includes('verbose')) {
        const body = JSON.stringify({ ready: isReady, ...deps.readyDetails?.() })
        return send(res, isReady ? 200 : 503, JSON_TYPE, body)
      }
      return send(res, isReady ? 200 : 503, 'text/plain; charset=utf-8', isReady ? 'ready\n' : 'not ready\n')
    }
    case '/status':
      if (!isRead) return notAllowed(res, 'GET, HEAD')
      return send(res, 200, JSON_TYPE, JSON.stringify(deps.status()))
    case '/reload': {
      if (method !== 'POST') return notAllowed(res, 'POST')
      const outcome = await deps.reload()
      const status = outcome.ok ? 200 : ERROR_CODES[outcome.code].status
      return send(res, status, JSON_TYPE, JSON.stringify(outcome))
    }
    default: {
      for (const route of deps.routes ?? []) {
        if (!path.startsWith(route.prefix)) continue
        if (route.method === 'POST' ? method !== 'POST' : !isRead)
          return notAllowed(res, route.method ?? 'GET, HEAD')
        const a = await route.answer(path.slice(route.prefix.length))
        return send(res, a.status, a.type, a.body)
      }
      const endpoints = [...ENDPOINTS, ...(deps.routes ?? []).map((r) => r.endpoint)]
      return send(res, 404, JSON_TYPE, JSON.stringify({ code: 'ROUTE_NOT_FOUND', endpoints }))
    }
  }
}

const ENDPOINTS = ['GET /metrics', 'GET /healthz', 'GET /readyz', 'GET /status', 'POST /reload']

function notAllowed(res: ServerResponse, allow: string): void {
  res.setHeader('allow', allow)
  send(res, 405, JSON_TYPE, JSON.stringify({ code: 'METHOD_NOT_ALLOWED' }))
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}
