import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import {
  constants as h2constants,
  createSecureServer as createH2SecureServer,
  createServer as createH2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
  type ServerHttp2Stream,
} from 'node:http2'
import {
  createServer as createNetServer,
  Socket as NetSocket,
  type AddressInfo,
  type Server as NetServer,
  type Socket,
} from 'node:net'
import type { Duplex } from 'node:stream'
import type { SecureContext, TLSSocket } from 'node:tls'
import type { ErrorCode } from '../errors/index.ts'
import type { ListenerConfig, ServerConfig } from '../config/index.ts'
import type { ConnectionTracker } from './connection-tracker.ts'
import { bindError } from './bind-error.ts'
import {
  Http2Sessions,
  markServerReset,
  type Http2AbuseReason,
  type Http2ResetLimit,
  type Http2SessionTimeouts,
} from './http2-sessions.ts'
import { ClientStreams } from './client-streams.ts'
import { buildServerTls, loadTlsMaterial, type ServerTlsState, type TlsMaterial } from './tls-material.ts'

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
  /**
   * A request's body stalled longer than `server.requestBodyIdleTimeoutMs`: answers it (408) and
   * returns true, or returns false when the request is not being handled (the listener then closes
   * the connection, HTTP/2: resets the stream).
   */
  readonly bodyTimeout?: (owner: IncomingMessage | ServerHttp2Stream) => boolean
  /** An HTTP/2 session was closed for abuse (rapid reset: GOAWAY ENHANCE_YOUR_CALM), e.g. for metrics. */
  readonly sessionAbuse?: (reason: Http2AbuseReason) => void
  /**
   * A request with `Expect: 100-continue` (Node's `checkContinue`): the handler sends the 100 itself
   * when it wants the body. Unset: Node answers 100 at once and `request` gets it.
   */
  readonly checkContinue?: RequestListener
  /**
   * A TLS connection on a listener with `clientAuth.mode: request` completed its handshake: whether its
   * client certificate verified (absent, or the OpenSSL reason), e.g. for a log line.
   */
  readonly clientCertificate?: (result: ClientCertificateResult) => void
}

/** The client-certificate verdict of one TLS connection (`clientAuth.mode: request`). */
export interface ClientCertificateResult {
  readonly listener: string
  readonly isAuthorized: boolean
  /** OpenSSL's reason when not authorized (e.g. `UNABLE_TO_VERIFY_LEAF_SIGNATURE`), or `NO_CERTIFICATE`. */
  readonly error?: string
  /** SHA-256 fingerprint of the certificate presented, if any. */
  readonly fingerprint256?: string
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
  /**
   * Replaces the TLS certificates (default and SNI), client CA and client-certificate mode for new
   * handshakes, all at once (hot reload), from material the caller loaded and checked
   * (`loadTlsMaterial`); open connections keep theirs. Every context is built before anything is
   * installed, so a throw leaves the current set serving.
   */
  setSecureContext?(material: TlsMaterial): void
  /**
   * Applies reloadable `server` settings to the running servers (hot reload): the connection cap, head
   * size, TLS handshake and body idle timeouts for new connections (HTTP/2: new streams); keep-alive,
   * header and request timeouts also for open connections (Node reads them at the next response end
   * and on its periodic connection check); HTTP/2 idle and PING intervals for open sessions too.
   */
  applyServerOptions(server: ServerConfig, maxConnections: number): void
}

/** Longest wait for the client's FIN after a parser-level refusal (lingering close, like nginx). */
const CLIENT_ERROR_LINGER_MS = 1000

// The HTTP/2 connection preface (RFC 9113 §3.4) starts with this: enough to tell h2c from HTTP/1.x.
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')

/**
 * Maps Node's parser errors to our codes (RFC 9110 statuses). Anything that is not an HTTP parser
 * error or Node's head timeout (a TLS handshake failure or timeout, a reset) gets no answer: there is
 * no HTTP exchange to answer on, and writing to a TLS socket that never finished its handshake would
 * keep it open.
 */
function clientErrorCode(err: NodeJS.ErrnoException): ErrorCode | undefined {
  const code = err.code ?? ''
  if (code === 'HPE_HEADER_OVERFLOW') return 'HEADERS_TOO_LARGE'
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'REQUEST_HEADER_TIMEOUT'
  // Control bytes (CR, LF, NUL, DEL, …) or spaces inside the request-target.
  if (code === 'HPE_INVALID_URL') return 'INVALID_PATH'
  return code.startsWith('HPE_') ? 'BAD_REQUEST' : undefined
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

function h2Timeouts(server: ServerConfig): Http2SessionTimeouts {
  return { idleTimeoutMs: server.http2IdleTimeoutMs, pingIntervalMs: server.http2PingIntervalMs }
}

function h2ResetLimit(server: ServerConfig): Http2ResetLimit {
  return { maxClientResets: server.http2MaxClientResets, windowMs: server.http2ClientResetWindowMs }
}

const kCurrentRequest = Symbol('litgate.currentRequest')
type RequestSocket = Socket & { [kCurrentRequest]?: IncomingMessage | null }

function closeStreamNoError(this: ServerHttp2Stream): void {
  if (!this.destroyed) this.close(h2constants.NGHTTP2_NO_ERROR)
}

function onSniffTimeout(this: Socket): void {
  this.destroy()
}

/** Node keeps the TLS handshake timeout under this symbol (read per connection); set for reload. */
function setHandshakeTimeout(server: NetServer, ms: number): void {
  for (const sym of Object.getOwnPropertySymbols(server)) {
    if (sym.description === 'handshake-timeout') (server as unknown as Record<symbol, number>)[sym] = ms
  }
}

function h2Options(server: ServerConfig) {
  return {
    maxSessionMemory: 32,
    maxHeaderListPairs: 256,
    settings: { maxHeaderListSize: server.maxHeaderBytes, maxConcurrentStreams: 256, enablePush: false },
    peerMaxConcurrentStreams: 256,
    // Node's own stream-flood bounds, explicit: streams refused over maxConcurrentStreams (REFUSED_STREAM)
    // and invalid frames a session may send before it is destroyed (the defaults). nghttp2's own limit on
    // received RST_STREAM (1000 at once, 33/s: GOAWAY INTERNAL_ERROR) stays as a backstop behind
    // server.http2MaxClientResets (Http2Sessions).
    maxSessionRejectedStreams: 100,
    maxSessionInvalidFrames: 1000,
  }
}

/** Node's SNI hook shape: the context for a server name, or none for the default certificate. */
type SniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void

function tlsServerOptions(
  state: ServerTlsState,
  alpn: string[],
  sni: SniCallback,
  handshakeTimeoutMs: number,
) {
  return {
    handshakeTimeout: handshakeTimeoutMs,
    ...state.options,
    requestCert: state.requestCert,
    rejectUnauthorized: state.rejectUnauthorized,
    ALPNProtocols: alpn,
    SNICallback: sni,
  }
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
  const sessions = new Http2Sessions(h2Timeouts(server), h2ResetLimit(server), handlers.sessionAbuse)
  let current = server
  const onSession = (session: Http2Session): void => {
    sessions.add(session)
    tracker.sessionOpened()
    session.once('close', () => tracker.sessionClosed())
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
  // Servers whose `timeout` is the HTTP/1.1 socket inactivity timeout (see onSocketTimeout).
  const idleTimed: Array<{ timeout: number }> = []
  const tlsServers: NetServer[] = []
  // While draining, HTTP/1.1 responses carry `Connection: close` so keep-alive clients move away.
  let isDraining = false

  // HTTP/1.1 responses in flight: when draining starts, those whose head is not written yet get
  // `Connection: close` too (not only requests that arrive after).
  const inflight1 = new Set<ServerResponse>()
  // Open HTTP/2 streams per client address across this listener's sessions (server.http2MaxStreamsPerClient).
  const clientStreams = new ClientStreams(server.http2MaxStreamsPerClient)
  const serve = (
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
    handler: RequestListener,
  ): void => {
    if (isDraining && req.httpVersionMajor === 1) (res as ServerResponse).shouldKeepAlive = false
    if (req.httpVersionMajor === 1) {
      const socket = req.socket as RequestSocket
      const res1 = res as ServerResponse
      tracker.requestStarted(socket)
      socket[kCurrentRequest] = req as IncomingMessage
      inflight1.add(res1)
      res.once('close', () => {
        inflight1.delete(res1)
        tracker.requestFinished(socket)
        if (socket[kCurrentRequest] === req) socket[kCurrentRequest] = null
      })
    } else if (req.httpVersionMajor === 2) {
      const stream = (req as Http2ServerRequest).stream
      const address = stream.session?.socket?.remoteAddress ?? ''
      if (!clientStreams.tryOpen(address)) {
        // RFC 9113 §8.7: REFUSED_STREAM says the request was not processed (safe for the client to retry).
        tracker.recordRefusedStream()
        stream.close(h2constants.NGHTTP2_REFUSED_STREAM)
        return
      }
      stream.once('close', () => clientStreams.close(address))
    }
    handler(req, res)
  }
  const onRequest: RequestListener = (req, res) => serve(req, res, handlers.request)
  const checkContinue = handlers.checkContinue
  const onCheckContinue: RequestListener | undefined =
    checkContinue === undefined ? undefined : (req, res) => serve(req, res, checkContinue)
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
    // HTTP/1.1 sockets are half-open capable: end() only sends our FIN, and a client that never sends
    // its own would keep the socket (and its slot under the cap). Keep reading (so the answer is not
    // lost to a reset), close on its FIN, destroy at a fixed deadline at the latest.
    socket.resume()
    const timer = setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS)
    timer.unref()
    socket.once('close', () => clearTimeout(timer))
  }
  const wire1 = (s: HttpServer): void => {
    s.on('request', onRequest)
    if (onCheckContinue !== undefined) s.on('checkContinue', onCheckContinue)
    s.on('upgrade', handlers.upgrade)
    s.on('clientError', onClientError)
    s.on('timeout', onSocketTimeout)
    s.timeout = server.requestBodyIdleTimeoutMs
    idleTimed.push(s)
    http1Servers.push(s)
    h1Parsers.push(s)
  }
  /**
   * The socket inactivity timeout of HTTP/1.1 connections (`server.timeout`, set to
   * `requestBodyIdleTimeoutMs`) lands here. Node would destroy the socket whenever it is quiet; we act
   * only while a request body is still arriving (slow-body protection: 408 through the request path,
   * or close) or when no request is in flight (keep-alive idle, where Node arms `keepAliveTimeout` on
   * the same timer: close). A complete request waiting for its upstream is left to the route's
   * deadline. HTTP/2 sessions (the secure server's `timeout` also reaches here for them) are handled
   * by Http2Sessions.
   */
  const onSocketTimeout = (socket: Socket | Http2Session): void => {
    if (!(socket instanceof NetSocket)) return
    const req = (socket as RequestSocket)[kCurrentRequest]
    // undefined: no request yet, the head timeout (408) owns the connection; null: between requests.
    if (req === null) socket.destroy()
    else if (req !== undefined && !req.complete && handlers.bodyTimeout?.(req) !== true) socket.destroy()
  }
  /**
   * HTTP/2 counterpart, armed only on streams that carry a request body: a stream whose body is still
   * arriving gets 408 (or is reset, CANCEL); one whose body is complete is left alone.
   */
  const onStreamBodyTimeout = function (this: ServerHttp2Stream): void {
    if (this.readableEnded || this.destroyed) return
    if (handlers.bodyTimeout?.(this) !== true) {
      markServerReset(this) // ours, not the client's: not counted as a client reset
      this.close(h2constants.NGHTTP2_CANCEL)
    }
    // RFC 9113 §8.1: a complete response before the request is complete, then RST_STREAM NO_ERROR
    // so the client stops sending (and the stream does not linger half-closed).
    else if (this.writableFinished) this.close(h2constants.NGHTTP2_NO_ERROR)
    else this.once('finish', closeStreamNoError)
  }
  const onStreamBody = (stream: ServerHttp2Stream): void => {
    if (!stream.endAfterHeaders) stream.setTimeout(current.requestBodyIdleTimeoutMs, onStreamBodyTimeout)
  }
  const wire2 = (s: NetServer & { updateSettings(settings: { maxHeaderListSize: number }): void }): void => {
    s.on('request', onRequest)
    // The secure server's HTTP/1.1 fallback emits it here too.
    if (onCheckContinue !== undefined) s.on('checkContinue', onCheckContinue)
    s.on('session', onSession)
    s.on('stream', sessions.onStream)
    s.on('stream', onStreamBody)
    h2Servers.push(s)
  }

  let outer: NetServer
  // The sniffing listener's HTTP/1.1 server: it never listens itself (see below).
  let inner: HttpServer | undefined
  let setSecureContext: Listener['setSecureContext']
  if (config.tls === undefined) {
    const h1 = createHttpServer(httpOptions(server))
    wire1(h1)
    if (!config.http2) {
      outer = h1
    } else {
      const h2 = createH2Server(h2Options(server))
      wire2(h2)
      inner = h1
      // One net server in front: route each connection by its first bytes.
      outer = createNetServer({ noDelay: true, pauseOnConnect: false }, (socket) => {
        // A connection that sends nothing is closed after the head timeout (it has not even started one).
        socket.setTimeout(current.headersTimeoutMs, onSniffTimeout)
        // Peek without consuming: read what arrived, put it back, then hand the socket over. Both
        // node:http and node:http2 pick up data left in the socket's buffer.
        socket.once('readable', () => {
          const chunk = socket.read() as Buffer | null
          if (chunk === null) {
            socket.destroy()
            return
          }
          socket.setTimeout(0)
          socket.off('timeout', onSniffTimeout)
          socket.unshift(chunk)
          const n = Math.min(chunk.length, H2_PREFACE.length)
          const isH2 = chunk.subarray(0, n).equals(H2_PREFACE.subarray(0, n))
          ;(isH2 ? h2 : h1).emit('connection', socket)
        })
        socket.on('error', () => socket.destroy())
      })
    }
  } else {
    // Every context (default and SNI) is built before the server exists; a reload builds a whole new
    // set and swaps this one reference, so a handshake sees either the old set or the new one.
    let tlsState = buildServerTls(loadTlsMaterial(config.tls, `listener ${config.name}`), config.name)
    const sni: SniCallback = (servername, cb) => cb(null, tlsState.sni.select(servername))
    const alpn = config.http2 ? ['h2', 'http/1.1'] : ['http/1.1']
    const tlsOptions = tlsServerOptions(tlsState, alpn, sni, server.tlsHandshakeTimeoutMs)
    let s: NetServer & {
      setSecureContext(options: ServerTlsState['options']): void
      requestCert: boolean
      rejectUnauthorized: boolean
    }
    if (!config.http2) {
      const h1 = createHttpsServer({ ...httpOptions(server), ...tlsOptions })
      wire1(h1)
      s = h1 as unknown as typeof s
    } else {
      const h2 = createH2SecureServer({
        ...h2Options(server),
        ...httpOptions(server),
        ...tlsOptions,
        allowHTTP1: true,
      })
      wire2(h2)
      h2.on('upgrade', handlers.upgrade)
      h2.on('clientError', onClientError)
      h2.on('timeout', onSocketTimeout)
      ;(h2 as unknown as { timeout: number }).timeout = server.requestBodyIdleTimeoutMs
      // Node's HTTP/1.1 fallback checks head/request timeouts on this interval (it defaults to 30 s).
      ;(h2 as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval =
        httpOptions(server).connectionsCheckingInterval
      idleTimed.push(h2 as unknown as { timeout: number })
      h1Parsers.push(h2 as unknown as (typeof h1Parsers)[number])
      s = h2 as unknown as typeof s
    }
    tlsServers.push(s)
    outer = s
    const onClientCertificate = handlers.clientCertificate
    if (onClientCertificate !== undefined) {
      s.on('secureConnection', (socket: TLSSocket) => {
        // Only `request` mode accepts unverified clients; under `require` every handshake that completes
        // has verified, and without clientAuth nothing was asked.
        if (!s.requestCert || s.rejectUnauthorized) return
        const peer = socket.getPeerCertificate()
        const hasCert = peer !== null && Object.keys(peer).length > 0
        const error = socket.authorized
          ? undefined
          : hasCert
            ? String(socket.authorizationError)
            : 'NO_CERTIFICATE'
        onClientCertificate({
          listener: config.name,
          isAuthorized: socket.authorized,
          ...(error === undefined ? {} : { error }),
          ...(hasCert ? { fingerprint256: peer.fingerprint256 } : {}),
        })
      })
    }
    setSecureContext = (material) => {
      const next = buildServerTls(material, config.name)
      s.setSecureContext(next.options)
      s.requestCert = next.requestCert
      s.rejectUnauthorized = next.rejectUnauthorized
      tlsState = next
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
  // Node arms its head/request timeout checker when an http.Server starts listening; the sniffing
  // listener's HTTP/1.1 server never listens (sockets are handed to it), so arm it here.
  inner?.emit('listening')

  const listener: Listener = {
    name: config.name,
    config,
    address: () => outer.address() as AddressInfo,
    stopAccepting: () =>
      new Promise<void>((resolve) => {
        isDraining = true
        for (const res of inflight1) if (!res.headersSent) res.shouldKeepAlive = false
        outer.close(() => resolve())
        // Clears the inner server's timeout checker (and closes its idle connections, as outer.close
        // does for the other listener kinds).
        inner?.close()
        sessions.stop()
        // close() waits for all connections; resolve as soon as the port is released instead.
        setImmediate(resolve)
      }),
    closeIdle: () => {
      for (const s of http1Servers) s.closeIdleConnections()
      for (const session of sessions.values()) session.close()
    },
    ...(setSecureContext === undefined ? {} : { setSecureContext }),
    applyServerOptions: (next, maxConnections) => {
      current = next
      outer.maxConnections = maxConnections
      clientStreams.setLimit(next.http2MaxStreamsPerClient)
      for (const s of idleTimed) s.timeout = next.requestBodyIdleTimeoutMs
      for (const s of tlsServers) setHandshakeTimeout(s, next.tlsHandshakeTimeoutMs)
      sessions.configure(h2Timeouts(next), h2ResetLimit(next))
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
