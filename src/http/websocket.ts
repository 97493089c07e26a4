import { request as httpRequest, ServerResponse, type IncomingMessage, type ClientRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Duplex } from 'node:stream'
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import { ERROR_CODES, type ErrorCode } from '../errors/index.ts'
import { normalizePath } from '../routing/index.ts'
import { resolveClientAddress } from '../security/index.ts'
import type { ExchangeSummary } from './proxy.ts'
import { applyAdmissionGrant, isAdmissionGrant, type RouteContext, type Runtime } from '../runtime/index.ts'
import type { Backend, Upstream } from '../upstream/index.ts'
import { appendGatewayHeaders, isHopByHop, scanRequestHead } from './headers.ts'
import { checkRequestHead, splitAbsoluteForm } from './request-checks.ts'
import { FrameBoundaryTracker, closeFrame } from './websocket-frames.ts'
import { rawProblemBodyBytes, rawProblemResponse } from './problem-response.ts'
import { isValidRequestId, type RequestIdSource } from './request-id.ts'
import { classifyUpstreamError } from './upstream-errors.ts'
import { decideRoutePolicy, rawAnswer, upstreamHost } from './route-policy.ts'
import { STATUS_CODES } from 'node:http'

export interface UpgradeDeps {
  readonly runtime: () => Runtime
  readonly requestIds: RequestIdSource
  readonly log: Logger
  /** Live tunnels, for shutdown (close 1001) and connection-state counts. */
  readonly tunnels: Set<Tunnel>
  /** Called once per upgrade request when it ends (refused, failed, or tunnel closed), like HTTP exchanges. */
  readonly onExchangeEnd?: (summary: ExchangeSummary) => void
  /** Serves a request whose Upgrade is not for WebSocket (e.g. h2c) as plain HTTP/1.1. */
  readonly serveAsHttp: (req: IncomingMessage, res: ServerResponse) => void
}

/** A client socket spliced to a backend socket after a successful 101. */
export interface Tunnel {
  readonly requestId: string
  readonly routeId: string
  readonly client: Duplex
  readonly upstream: Socket
  /** Ends both sides (FIN; the WebSocket close handshake is the peers' business). */
  close(): void
  /**
   * Shutdown: stops relaying backend→client at the next frame boundary, sends the client a close frame
   * 1001 (Going Away), then ends both sides. Falls back to `close()` if no boundary comes within 1 s.
   */
  goingAway(): void
}

/** Most bytes a client may send before the backend's 101 that the gateway holds for it. */
const MAX_EARLY_BYTES = 64 * 1024

/** Longest time a refused upgrade's connection stays half-open waiting for the client's FIN. */
const LINGER_MS = 2000

/**
 * Closes a connection we answered without tunnelling it (refusal, relayed non-101, failure). node:http
 * hands upgrade sockets over with `allowHalfOpen`, so `end()` alone only sends our FIN: a client that
 * never closes its half would hold the socket (and its fd) forever. Like nginx's lingering close: keep
 * discarding what the client sends so our answer is not lost to a reset, close on its FIN, and destroy
 * after LINGER_MS at the latest (a fixed deadline, not an idle timer a chatty client could extend).
 */
function lingerClose(socket: Duplex): void {
  socket.resume()
  const timer = setTimeout(() => socket.destroy(), LINGER_MS)
  timer.unref()
  socket.once('close', () => clearTimeout(timer))
}

/** Writes `data` and closes the connection (see lingerClose). */
function endAndClose(socket: Duplex, data: string | Buffer): void {
  socket.end(data)
  lingerClose(socket)
}

/**
 * HTTP/1.1 `Upgrade: websocket` requests: routed like any request, then relayed to a backend over a
 * fresh connection. On 101 the two sockets are piped both ways (pipe() gives backpressure), with an
 * idle timeout and close propagated in both directions. A refused upgrade relays the backend's answer.
 */
export function createUpgradeHandler(
  deps: UpgradeDeps,
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    const upgrade = req.headers.upgrade
    const isWebSocket = typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket'
    if (!isWebSocket) {
      // RFC 9110 §7.8: a server may ignore Upgrade. Without a body we can answer over HTTP/1.1 (this
      // is what `curl --http2` on cleartext gets); with one, the body bytes are already consumed.
      const hasBody =
        req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined
      if (!hasBody && head.length === 0) {
        const res = new ServerResponse(req)
        res.assignSocket(socket as Socket)
        res.shouldKeepAlive = false
        res.once('finish', () => {
          socket.end()
          lingerClose(socket)
        })
        deps.serveAsHttp(req, res)
        return
      }
    }
    const runtime = deps.runtime()
    const scanned = scanRequestHead(req.rawHeaders, runtime.requestIdHeader, runtime.underscoresInHeaders)
    const requestId =
      scanned.requestId !== undefined && isValidRequestId(scanned.requestId)
        ? scanned.requestId
        : deps.requestIds.next()
    const record: TunnelRecord = {
      deps,
      startedAt: performance.now(),
      requestId,
      configVersion: runtime.version,
      clientAddress: resolveClientAddress(
        req.socket.remoteAddress ?? '',
        scanned.xForwardedFor,
        runtime.trustedProxies,
      ),
      httpVersion: req.httpVersion,
      method: req.method ?? 'GET',
      host: scanned.host,
      rawPath: req.url ?? '',
      path: undefined,
      traceparent: typeof req.headers['traceparent'] === 'string' ? req.headers['traceparent'] : undefined,
      routeId: undefined,
      backendId: undefined,
    }
    const isTls = (req.socket as { encrypted?: boolean }).encrypted === true
    const refuse = (code: ErrorCode, headers?: Readonly<Record<string, string>>, members?: string): void => {
      const hsts = isTls ? runtime.securityHeaders.hstsLine : ''
      const response = rawProblemResponse(code, runtime.requestIdHeader, requestId, hsts, headers, members)
      endAndClose(socket, response)
      endRecord(record, ERROR_CODES[code].status, code, 0, rawProblemBodyBytes(response))
    }
    socket.on('error', () => socket.destroy())
    if (!isWebSocket) return refuse('UPGRADE_NOT_ALLOWED')
    const headRefusal = checkRequestHead(scanned, req.httpVersionMajor, runtime.underscoresInHeaders)
    if (headRefusal !== undefined) return refuse(headRefusal)

    if (req.url === undefined || req.url.length > runtime.maxUrlBytes) return refuse('URI_TOO_LONG')
    // Absolute-form (RFC 9112 §3.2.2): the target's authority is the host, as on the request path.
    const absolute = req.url.charCodeAt(0) === 47 /* / */ ? undefined : splitAbsoluteForm(req.url)
    if (absolute === 'invalid') return refuse('INVALID_HOST')
    if (absolute !== undefined) {
      scanned.host = absolute.authority
    }
    const target = normalizePath(absolute === undefined ? req.url : absolute.target)
    if (!target.ok) return refuse('INVALID_PATH')
    record.path = target.path + target.query
    if (scanned.host === undefined) return refuse('INVALID_HOST')
    const match = runtime.router.match(scanned.host, target.path, req.method ?? 'GET', (name) => {
      const v = req.headers[name]
      return Array.isArray(v) ? v.join(', ') : v
    })
    if (!match.ok) {
      if (match.reason === 'invalid-host') return refuse('INVALID_HOST')
      return refuse(match.reason === 'method-not-allowed' ? 'METHOD_NOT_ALLOWED' : 'ROUTE_NOT_FOUND')
    }
    const route = match.target
    record.routeId = route.id
    const policy = route.policy
    if (policy !== undefined) {
      // IP lists first, then a direct response answers the upgrade itself (closing the connection).
      const decision = decideRoutePolicy(policy, req.method ?? 'GET', req.headers, record.clientAddress)
      if (decision !== undefined) {
        if ('refuse' in decision) return refuse(decision.refuse)
        const security = runtime.securityHeaders
        const bytes = rawAnswer(
          decision.answer,
          req.method === 'HEAD',
          runtime.requestIdHeader,
          requestId,
          isTls ? security.tlsLines : security.cleartextLines,
        )
        endAndClose(socket, bytes)
        const bodyBytes = req.method === 'HEAD' ? 0 : (decision.answer.body?.length ?? 0)
        return endRecord(record, decision.answer.status, undefined, 0, bodyBytes)
      }
    }
    const upstream = route.upstream
    if (upstream === undefined) return refuse('UPGRADE_NOT_ALLOWED') // invariant: a route without one answers itself
    if (!route.isWebSocketAllowed) return refuse('UPGRADE_NOT_ALLOWED')

    const proceed = (): void => {
      const backend = upstream.pickForTunnel()
      if (backend === undefined) return refuse('NO_HEALTHY_BACKEND')
      record.backendId = backend.id
      openTunnel(
        record,
        deps,
        runtime,
        route,
        backend,
        req,
        socket,
        head,
        requestId,
        target.path + target.query,
        scanned,
      )
    }
    if (runtime.admission.length === 0) return proceed()
    const request = {
      requestId,
      routeId: route.id,
      method: req.method ?? 'GET',
      path: target.path,
      clientAddress: record.clientAddress,
      headers: req.headers,
      isUpgrade: true,
    }
    void (async () => {
      try {
        for (const stage of runtime.admission) {
          const result = await stage(request)
          if (result === undefined) continue
          if (!isAdmissionGrant(result)) return refuse(result.code, result.headers, result.problemMembers)
          scanned.forward = applyAdmissionGrant(scanned.forward, result)
        }
        proceed()
      } catch (err) {
        deps.log.error({ err, requestId }, 'admission stage failed')
        refuse('INTERNAL_ERROR')
      }
    })()
  }
}

function openTunnel(
  record: TunnelRecord,
  deps: UpgradeDeps,
  runtime: Runtime,
  route: RouteContext,
  backend: Backend,
  req: IncomingMessage,
  client: Duplex,
  clientHead: Buffer,
  requestId: string,
  path: string,
  scanned: ReturnType<typeof scanRequestHead>,
): void {
  const upstream = route.upstream as Upstream // checked by the caller
  let isReleased = false
  // What the access log reports for this upgrade; set by whichever path ends it, read by release().
  const outcome: {
    status: number
    code: ErrorCode | undefined
    socket: Socket | undefined
    /** Body bytes of the gateway's own problem answer, if it wrote one. */
    problemBytes: number
  } = {
    status: 499,
    code: 'CLIENT_ABORTED',
    socket: undefined,
    problemBytes: 0,
  }
  const release = (): void => {
    if (isReleased) return
    isReleased = true
    upstream.releaseTunnel(backend)
    const up = outcome.socket
    endRecord(
      record,
      outcome.status,
      outcome.code,
      up === undefined ? 0 : up.bytesWritten,
      (up === undefined ? 0 : up.bytesRead) + outcome.problemBytes,
    )
  }
  const headers = scanned.forward.slice()
  headers.push('connection', 'Upgrade', 'upgrade', 'websocket')
  appendGatewayHeaders(
    headers,
    scanned,
    req.socket as { remoteAddress?: string; encrypted?: boolean },
    runtime.trustedProxies,
    upstreamHost(route.hostHeader, scanned.host, backend),
    runtime.requestIdHeader,
    requestId,
  )
  const options = {
    host: backend.hostname,
    port: backend.port,
    method: req.method ?? 'GET',
    path,
    headers,
    agent: false as const,
    timeout: backend.connectTimeoutMs,
    ...(backend.isTls ? backend.tlsOptions : {}),
  }
  const upReq: ClientRequest = backend.isTls ? httpsRequest(options) : httpRequest(options)
  let isSettled = false
  // Until the backend answers, keep reading the client: node:http hands the socket over paused, and a
  // paused socket never reports the client's FIN, so a client that went away would hold both
  // connections until the upstream timeout. Bytes a client sends before the 101 are kept (bounded)
  // and forwarded in order after clientHead.
  const early: Buffer[] = []
  let earlyBytes = 0
  const onEarlyData = (chunk: Buffer): void => {
    early.push(chunk)
    earlyBytes += chunk.length
    if (earlyBytes >= MAX_EARLY_BYTES) client.pause() // back to not noticing FIN; the timeout still applies
  }
  const onEarlyEnd = (): void => {
    if (isSettled) return
    isSettled = true
    upReq.destroy()
    release()
    client.destroy()
  }
  const stopWatchingClient = (): void => {
    client.off('data', onEarlyData)
    client.off('end', onEarlyEnd)
  }
  client.on('data', onEarlyData)
  client.once('end', onEarlyEnd)
  const fail = (code: ErrorCode): void => {
    if (isSettled) return
    isSettled = true
    stopWatchingClient()
    outcome.status = ERROR_CODES[code].status
    outcome.code = code
    const response = client.destroyed
      ? undefined
      : rawProblemResponse(code, runtime.requestIdHeader, requestId)
    if (response !== undefined) outcome.problemBytes = rawProblemBodyBytes(response)
    release()
    upReq.destroy()
    if (response !== undefined) endAndClose(client, response)
  }
  client.once('close', () => {
    if (!isSettled) {
      isSettled = true
      upReq.destroy()
      release()
    }
  })
  // Until connected the socket timeout is the connect timeout; after, the wait for the 101 (or any
  // answer) is bounded by the response-header timeout.
  let isConnected = false
  upReq.on('socket', (s) => {
    const onConnect = (): void => {
      isConnected = true
      upReq.setTimeout(backend.headersTimeoutMs)
    }
    if ((s as Socket).connecting) s.once(backend.isTls ? 'secureConnect' : 'connect', onConnect)
    else onConnect()
  })
  upReq.on('timeout', () => fail(isConnected ? 'UPSTREAM_HEADERS_TIMEOUT' : 'UPSTREAM_CONNECT_TIMEOUT'))
  upReq.on('error', (err) => {
    deps.log.warn({ requestId, backendId: backend.id, err: err.message }, 'websocket upstream failure')
    fail(classifyUpstreamError(err))
  })
  upReq.on('response', (res) => {
    // Refused upgrade: relay the backend's answer, then close both connections.
    if (isSettled) return res.destroy()
    isSettled = true
    stopWatchingClient()
    outcome.status = res.statusCode ?? 502
    outcome.code = undefined
    let out = `HTTP/1.1 ${res.statusCode ?? 502} ${STATUS_CODES[res.statusCode ?? 502] ?? ''}\r\n`
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      const name = res.rawHeaders[i] as string
      const lower = name.toLowerCase()
      if (isHopByHop(lower) || lower === runtime.requestIdHeader) continue
      out += `${name}: ${res.rawHeaders[i + 1] as string}\r\n`
    }
    out += `${runtime.requestIdHeader}: ${requestId}\r\nconnection: close\r\n\r\n`
    client.write(out)
    res.pipe(client)
    // pipe() ends our side once the body is relayed; then close the connection (see lingerClose).
    client.once('finish', () => lingerClose(client))
    res.on('error', () => client.destroy())
    res.on('end', release)
    res.on('close', release)
  })
  upReq.on('upgrade', (res, upSocket, upHead) => {
    if (isSettled) {
      upSocket.destroy()
      return
    }
    isSettled = true
    stopWatchingClient()
    upReq.setTimeout(0)
    outcome.status = 101
    outcome.code = undefined
    outcome.socket = upSocket
    let out = 'HTTP/1.1 101 Switching Protocols\r\n'
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      const name = res.rawHeaders[i] as string
      if (name.toLowerCase() === runtime.requestIdHeader) continue
      out += `${name}: ${res.rawHeaders[i + 1] as string}\r\n`
    }
    out += `${runtime.requestIdHeader}: ${requestId}\r\n\r\n`
    client.write(out)
    if (upHead.length > 0) client.write(upHead)
    if (clientHead.length > 0) upSocket.write(clientHead)
    for (const chunk of early) upSocket.write(chunk)
    splice(deps, route, client, upSocket, requestId, release, upHead)
  })
  upReq.end()
}

function splice(
  deps: UpgradeDeps,
  route: RouteContext,
  client: Duplex,
  upstream: Socket,
  requestId: string,
  release: () => void,
  upHead: Buffer,
): void {
  // Backend→client bytes are relayed by hand (not pipe) so frame boundaries can be followed: a close
  // frame may only be injected between frames (RFC 6455 §5.4).
  const frames = new FrameBoundaryTracker()
  frames.feed(upHead)
  let isGoingAway = false
  const sendGoingAway = (before: Buffer | undefined): void => {
    upstream.off('data', relay)
    if (before !== undefined && before.length > 0) client.write(before)
    client.end(closeFrame(1001))
    upstream.end()
  }
  const relay = (chunk: Buffer): void => {
    if (isGoingAway) {
      const at = frames.feedUntilBoundary(chunk)
      if (at === -1) {
        client.write(chunk) // still inside the frame that was in flight
        return
      }
      sendGoingAway(chunk.subarray(0, at))
      return
    }
    frames.feed(chunk)
    if (!client.write(chunk)) upstream.pause()
  }
  const tunnel: Tunnel = {
    requestId,
    routeId: route.id,
    client,
    upstream,
    close() {
      client.end()
      upstream.end()
    },
    goingAway() {
      if (isGoingAway) return
      isGoingAway = true
      if (frames.isBroken) return tunnel.close()
      if (frames.isAtBoundary) return sendGoingAway(undefined)
      upstream.resume()
      // A backend that stalls mid-frame must not hold shutdown: plain FIN after 1 s.
      setTimeout(() => {
        if (!isClosed) tunnel.close()
      }, 1000).unref()
    },
  }
  deps.tunnels.add(tunnel)
  let isClosed = false
  const teardown = (): void => {
    if (isClosed) return
    isClosed = true
    deps.tunnels.delete(tunnel)
    client.destroy()
    upstream.destroy()
    release()
  }
  const clientSocket = client as Socket
  clientSocket.setNoDelay?.(true)
  upstream.setNoDelay(true)
  // Idle timeout: no traffic either way for the configured time closes the tunnel.
  clientSocket.setTimeout?.(route.websocketIdleTimeoutMs, teardown)
  upstream.setTimeout(route.websocketIdleTimeoutMs, teardown)
  client.on('error', teardown)
  upstream.on('error', teardown)
  client.on('close', teardown)
  upstream.on('close', teardown)
  client.pipe(upstream)
  upstream.on('data', relay)
  client.on('drain', () => upstream.resume())
  upstream.on('end', () => {
    if (!isGoingAway) client.end()
  })
}

/** What the access log needs about one upgrade request, filled in as it goes. */
interface TunnelRecord {
  readonly deps: UpgradeDeps
  readonly startedAt: number
  readonly requestId: string
  readonly configVersion: string
  readonly clientAddress: string
  readonly httpVersion: string
  readonly method: string
  readonly host: string | undefined
  readonly rawPath: string
  path: string | undefined
  readonly traceparent: string | undefined
  routeId: string | undefined
  backendId: string | undefined
}

/**
 * Reports an ended upgrade like an HTTP exchange: status 101 for a tunnel that ran (bytes are what
 * crossed the tunnel: client→backend in, backend→client out), the relayed status of a refused upgrade,
 * or the gateway's own status and code.
 */
function endRecord(
  r: TunnelRecord,
  status: number,
  code: ErrorCode | undefined,
  bytesIn: number,
  bytesOut: number,
): void {
  const onEnd = r.deps.onExchangeEnd
  if (onEnd === undefined) return
  onEnd({
    requestId: r.requestId,
    traceparent: r.traceparent,
    configVersion: r.configVersion,
    clientAddress: r.clientAddress,
    httpVersion: r.httpVersion,
    method: r.method,
    host: r.host,
    rawPath: r.rawPath,
    path: r.path,
    routeId: r.routeId,
    backendId: r.backendId,
    status,
    code,
    attempts: r.backendId === undefined ? 0 : 1,
    attemptLog: undefined,
    bytesIn,
    bytesOut,
    ttfbMs: undefined,
    durationMs: performance.now() - r.startedAt,
  })
}
