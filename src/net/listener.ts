import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import {
  createSecureServer as createH2SecureServer,
  createServer as createH2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
} from 'node:http2'
import {
  createServer as createNetServer,
  type AddressInfo,
  type Server as NetServer,
  type Socket,
} from 'node:net'
import type { Duplex } from 'node:stream'
import type { ErrorCode } from '../errors/index.ts'
import type { ListenerConfig, ServerConfig } from '../config/index.ts'
import type { ConnectionTracker } from './connection-tracker.ts'
import { bindError } from './bind-error.ts'
import { loadTlsMaterial } from './tls-material.ts'

export type RequestListener = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
) => void
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

export interface ListenerHandlers {
  readonly request: RequestListener
  readonly upgrade: UpgradeListener
  /**
   * Answers an error raised before a request object exists (Node's `clientError`): returns the raw
   * problem response to write, and reports the refusal (log line, metrics). Called only when the
   * socket is writable and no response was started on it.
   */
  readonly clientError: (
    code: ErrorCode,
    socket: Duplex,
    err: NodeJS.ErrnoException & { rawPacket?: Buffer },
  ) => string
}

/** A bound listener. */
export interface Listener {
  readonly name: string
  readonly config: ListenerConfig
  address(): AddressInfo
  /** Stops accepting; existing connections are left to the caller's drain. */
  stopAccepting(): Promise<void>
  /** Asks idle HTTP/1.1 connections to close and HTTP/2 sessions to GOAWAY. */
  closeIdle(): void
  /** Replaces the TLS certificate/key for new handshakes (hot reload). */
  setSecureContext?(tls: NonNullable<ListenerConfig['tls']>): void
  /**
   * Applies reloadable `server` settings to the running servers (hot reload): the connection cap and
   * head size for new connections; keep-alive, header and request timeouts also for open connections
   * (Node reads them at the next response end and on its periodic connection check).
   */
  applyServerOptions(server: ServerConfig, maxConnections: number): void
}

// The HTTP/2 connection preface (RFC 9113 §3.4) starts with this: enough to tell h2c from HTTP/1.x.
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')

/** Maps Node's parser errors to our codes (RFC 9110 statuses). */
function clientErrorCode(err: NodeJS.ErrnoException): ErrorCode | undefined {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'HEADERS_TOO_LARGE'
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'REQUEST_HEADER_TIMEOUT'
    case 'ECONNRESET':
    case 'EPIPE':
      return undefined
    default:
      return 'BAD_REQUEST'
  }
}

function httpOptions(server: ServerConfig) {
  return {
    maxHeaderSize: server.maxHeaderBytes,
    headersTimeout: server.headersTimeoutMs,
    requestTimeout: server.requestBodyTimeoutMs,
    keepAliveTimeout: server.keepAliveTimeoutMs,
    // Checks headers/request timeouts of all connections on one shared interval (no timer per request).
    connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(server.headersTimeoutMs / 4))),
    requireHostHeader: false,
    joinDuplicateHeaders: false,
    noDelay: true,
    highWaterMark: 64 * 1024,
  }
}

function h2Options(server: ServerConfig) {
  return {
    maxSessionMemory: 32,
    maxHeaderListPairs: 256,
    settings: { maxHeaderListSize: server.maxHeaderBytes, maxConcurrentStreams: 256, enablePush: false },
    peerMaxConcurrentStreams: 256,
  }
}

function tlsOptions(name: string, tls: NonNullable<ListenerConfig['tls']>, alpn: string[]) {
  return { ...loadTlsMaterial(tls, `listener ${name}`), ALPNProtocols: alpn }
}

/**
 * Binds one listener. Shape by config:
 * - cleartext HTTP/1.1; with `http2`: h2c prior-knowledge and HTTP/1.1 on the same port (preface sniffing);
 * - TLS HTTP/1.1; with `http2`: ALPN h2 with HTTP/1.1 fallback.
 * Every accepted socket passes the shared connection tracker (global cap) first.
 */
export async function startListener(
  config: ListenerConfig,
  server: ServerConfig,
  handlers: ListenerHandlers,
  tracker: ConnectionTracker,
): Promise<Listener> {
  const sessions = new Set<Http2Session>()
  const onSession = (session: Http2Session): void => {
    sessions.add(session)
    tracker.sessionOpened()
    session.once('close', () => {
      sessions.delete(session)
      tracker.sessionClosed()
    })
  }
  const http1Servers: HttpServer[] = []
  // Servers that parse HTTP/1.1 (including the h2 secure server's HTTP/1.1 fallback) and HTTP/2 servers,
  // for applyServerOptions.
  const h1Parsers: Array<{
    keepAliveTimeout: number
    headersTimeout: number
    requestTimeout: number
    maxHeaderSize?: number
  }> = []
  const h2Servers: Array<{ updateSettings(settings: { maxHeaderListSize: number }): void }> = []
  // While draining, HTTP/1.1 responses carry `Connection: close` so keep-alive clients move away.
  let isDraining = false

  // HTTP/1.1 responses in flight: when draining starts, those whose head is not written yet get
  // `Connection: close` too (not only requests that arrive after).
  const inflight1 = new Set<ServerResponse>()
  const onRequest: RequestListener = (req, res) => {
    if (isDraining && req.httpVersionMajor === 1) (res as ServerResponse).shouldKeepAlive = false
    if (req.httpVersionMajor === 1) {
      const socket = req.socket
      const res1 = res as ServerResponse
      tracker.requestStarted(socket)
      inflight1.add(res1)
      res.once('close', () => {
        inflight1.delete(res1)
        tracker.requestFinished(socket)
      })
    }
    handlers.request(req, res)
  }
  const onClientError = (err: NodeJS.ErrnoException, socket: Duplex): void => {
    const code = clientErrorCode(err)
    if (
      code === undefined ||
      !socket.writable ||
      (socket as Socket & { _httpMessage?: unknown })._httpMessage
    ) {
      socket.destroy()
      return
    }
    socket.end(handlers.clientError(code, socket, err))
  }
  const wire1 = (s: HttpServer): void => {
    s.on('request', onRequest)
    s.on('upgrade', handlers.upgrade)
    s.on('clientError', onClientError)
    http1Servers.push(s)
    h1Parsers.push(s)
  }

  let outer: NetServer
  let setSecureContext: Listener['setSecureContext']
  if (config.tls === undefined) {
    const h1 = createHttpServer(httpOptions(server))
    wire1(h1)
    if (!config.http2) {
      outer = h1
    } else {
      const h2 = createH2Server(h2Options(server))
      h2Servers.push(h2)
      h2.on('request', onRequest)
      h2.on('session', onSession)
      // One net server in front: route each connection by its first bytes.
      outer = createNetServer({ noDelay: true, pauseOnConnect: false }, (socket) => {
        // Peek without consuming: read what arrived, put it back, then hand the socket over. Both
        // node:http and node:http2 pick up data left in the socket's buffer.
        socket.once('readable', () => {
          const chunk = socket.read() as Buffer | null
          if (chunk === null) {
            socket.destroy()
            return
          }
          socket.unshift(chunk)
          const n = Math.min(chunk.length, H2_PREFACE.length)
          const isH2 = chunk.subarray(0, n).equals(H2_PREFACE.subarray(0, n))
          ;(isH2 ? h2 : h1).emit('connection', socket)
        })
        socket.on('error', () => socket.destroy())
      })
    }
  } else {
    const tls = config.tls
    if (!config.http2) {
      const s = createHttpsServer({ ...httpOptions(server), ...tlsOptions(config.name, tls, ['http/1.1']) })
      wire1(s)
      outer = s
      setSecureContext = (t) => s.setSecureContext(tlsOptions(config.name, t, ['http/1.1']))
    } else {
      const s = createH2SecureServer({
        ...h2Options(server),
        ...httpOptions(server),
        ...tlsOptions(config.name, tls, ['h2', 'http/1.1']),
        allowHTTP1: true,
      })
      s.on('request', onRequest)
      s.on('session', onSession)
      s.on('upgrade', handlers.upgrade)
      s.on('clientError', onClientError)
      h1Parsers.push(s as unknown as (typeof h1Parsers)[number])
      h2Servers.push(s)
      outer = s
      setSecureContext = (t) => s.setSecureContext(tlsOptions(config.name, t, ['h2', 'http/1.1']))
    }
  }
  outer.on('connection', (socket: Socket) => {
    if (tracker.admit(socket)) socket.on('error', () => socket.destroy())
  })
  // Node's own server-level cap backs ours up (counts sockets of this listener only). With one listener
  // it is reached together with ours and drops the socket before 'connection': count it as refused too.
  outer.maxConnections = tracker.maxConnections
  outer.on('drop', () => tracker.recordDropped())

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(bindError(err, `listener ${config.name}`, config.host, config.port))
    outer.once('error', onError)
    outer.listen({ host: config.host, port: config.port, backlog: 1024 }, () => {
      outer.off('error', onError)
      resolve()
    })
  })

  const listener: Listener = {
    name: config.name,
    config,
    address: () => outer.address() as AddressInfo,
    stopAccepting: () =>
      new Promise<void>((resolve) => {
        isDraining = true
        for (const res of inflight1) if (!res.headersSent) res.shouldKeepAlive = false
        outer.close(() => resolve())
        // close() waits for all connections; resolve as soon as the port is released instead.
        setImmediate(resolve)
      }),
    closeIdle: () => {
      for (const s of http1Servers) s.closeIdleConnections()
      for (const session of sessions) session.close()
    },
    ...(setSecureContext === undefined ? {} : { setSecureContext }),
    applyServerOptions: (next, maxConnections) => {
      outer.maxConnections = maxConnections
      for (const s of h1Parsers) {
        s.keepAliveTimeout = next.keepAliveTimeoutMs
        s.headersTimeout = next.headersTimeoutMs
        s.requestTimeout = next.requestBodyTimeoutMs
        s.maxHeaderSize = next.maxHeaderBytes
      }
      for (const s of h2Servers) s.updateSettings({ maxHeaderListSize: next.maxHeaderBytes })
    },
  }
  return listener
}
