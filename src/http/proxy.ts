import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import { constants as h2constants } from 'node:http2'
import { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { Logger } from 'pino'
import {
  context as otelContext,
  isSpanContextValid,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api'
import { GatewayError, type ErrorCode } from '../errors/index.ts'
import { normalizePath } from '../routing/index.ts'
import { resolveClientAddress } from '../security/index.ts'
import {
  applyAdmissionGrant,
  isAdmissionGrant,
  type AdmissionRefusal,
  type ExchangeMeter,
  type RouteContext,
  type RoutePolicy,
  type Runtime,
} from '../runtime/index.ts'
import type { AcquireCallback, Backend, ClientShare, Upstream } from '../upstream/index.ts'
import {
  appendGatewayHeaders,
  buildResponseHeaders,
  scanRequestHead,
  type ScannedRequestHead,
} from './headers.ts'
import { BodyLimit } from './body-limit.ts'
import { planBody } from './body-plan.ts'
import { BodyBuffer, type BodyBufferResult, type BufferedBody } from './request-buffer.ts'
import { ResponseReadAhead } from './response-read-ahead.ts'
import type { SlowClients } from './slow-clients.ts'
import type { TransferKind, WatchedTransfer, WatchEntry } from './transfer-rate.ts'
import { RETRY_AFTER_SECONDS, sendProblem, type AnyResponse } from './problem-response.ts'
import { checkRequestHead, splitAbsoluteForm } from './request-checks.ts'
import { isValidRequestId, type RequestIdSource } from './request-id.ts'
import { classifyUpstreamError } from './upstream-errors.ts'
import {
  decideRoutePolicy,
  decorateProxiedHead,
  matchPreflight,
  sendAnswer,
  securityFieldsFor,
  upstreamHost,
} from './route-policy.ts'
import {
  fullJitterBackoff,
  parseRetryAfter,
  phaseOf,
  shouldRetry,
  type AttemptPhase,
  type RetryVerdict,
} from '../resilience/index.ts'

export type AnyRequest = IncomingMessage | Http2ServerRequest

/** Collaborators of the request path, injected by the gateway. */
export interface ProxyDeps {
  /** The current runtime snapshot; read once per request. */
  readonly runtime: () => Runtime
  readonly requestIds: RequestIdSource
  readonly log: Logger
  /** Called when an exchange finishes (any outcome), for logs and metrics. */
  readonly onExchangeEnd?: (exchange: ExchangeSummary) => void
  /**
   * Called for every failed upstream attempt, retried or not, with the reason the backend's health
   * counts it for: an upstream error code (docs/errors.md) or `5xx` for a 5xx response.
   */
  readonly onAttemptFailure?: (backendId: string, reason: AttemptFailureReason) => void
  /**
   * Set only when tracing is enabled: a SERVER span per routed request, continued from the client's
   * W3C trace context and injected into the upstream request. Absent = zero cost.
   */
  readonly tracer?: Tracer
  /**
   * The gateway's own endpoints (e.g. the paid layer's quote API under `paidAccess.basePath`), tried before
   * routing. Returns true when it answered the request. `clientAddress` resolves X-Forwarded-For through the
   * trusted proxies (computed only when called). Such requests are not routed, proxied or access-logged.
   */
  readonly localEndpoints?: LocalEndpoints
  /** Slow-client protection shared by all requests: buffer budgets, minimum-rate watch, counters. */
  readonly slowClients: SlowClients
}

/** See ProxyDeps.localEndpoints. */
export type LocalEndpoints = (
  req: AnyRequest,
  res: AnyResponse,
  context: { readonly requestId: string; readonly clientAddress: () => string },
) => boolean

/** Why an upstream attempt counted as a failure of its backend (a bounded set: metric label). */
export type AttemptFailureReason = ErrorCode | '5xx'

/** What is known about a finished exchange (for the access log and metrics). Built only when a hook is set. */
export interface ExchangeSummary {
  readonly requestId: string
  /**
   * W3C traceparent: the one sent upstream when tracing is on (the gateway's span, in the client's
   * trace or a new one), else as received (propagated unchanged), if any.
   */
  readonly traceparent: string | undefined
  readonly configVersion: string
  readonly clientAddress: string
  readonly httpVersion: string
  readonly method: string
  /** Host (or `:authority`) as received, also when invalid; undefined when absent. Unbounded. */
  readonly host: string | undefined
  /** The request-target as received (not for metric labels: unbounded). */
  readonly rawPath: string
  /** Normalised path plus query; undefined when the target was refused before normalisation succeeded. */
  readonly path: string | undefined
  readonly routeId: string | undefined
  readonly backendId: string | undefined
  /** Status sent to the client (499 when the client went away first). */
  readonly status: number
  /** Reason code of a gateway-made failure, undefined on success. */
  readonly code: ErrorCode | undefined
  readonly attempts: number
  /** Every attempt that did not end the exchange, and the last one; undefined for a single clean attempt. */
  readonly attemptLog: readonly AttemptRecord[] | undefined
  /** Request body bytes forwarded (declared Content-Length, or counted when chunked). */
  readonly bytesIn: number
  /** Response body bytes written to the client: relayed ones, or the gateway's problem document. */
  readonly bytesOut: number
  /** From request start to the upstream response head; undefined when none arrived. */
  readonly ttfbMs: number | undefined
  readonly durationMs: number
}

/** One attempt to a backend, for the access log and the opt-in debug header. */
export interface AttemptRecord {
  readonly backendId: string
  readonly phase: AttemptPhase | 'response'
  /** Reason code of a failure, or the upstream status. */
  readonly outcome: ErrorCode | number
  readonly durationMs: number
  /** Why it was or was not retried. */
  readonly verdict: RetryVerdict | 'final'
}

/** Longest Retry-After (or backoff) the gateway waits out itself on a route without a deadline. */
const MAX_RETRY_AFTER_WITHOUT_DEADLINE_MS = 2000

const CLOSE: Readonly<Record<string, string>> = Object.freeze({ connection: 'close' })

/** The exchange a request belongs to (set once per request; read only when its body times out). */
const kExchange = Symbol('litgate.exchange')
type ExchangeOwner = { [kExchange]?: Exchange }
/** Set on a request whose `Expect: 100-continue` is ours to answer (the listener's checkContinue). */
const kContinuePending = Symbol('litgate.continuePending')
type ContinueOwner = { [kContinuePending]?: boolean }

// RFC 9110 §9.2.2: idempotent methods.
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])

/**
 * The request pipeline for HTTP/1.1 and HTTP/2 (compat API), in order:
 * request id → target checks (length, normalisation) → host → route → admission stages →
 * body limit → backend slot (bounded queue) → forward (streamed both ways) → response head rewrite.
 * Every gateway-made error is an RFC 9457 problem with the request id.
 */
export class ProxyHandler {
  readonly #deps: ProxyDeps
  /** Reads request headers for route header matchers; bound to the request being routed (synchronous). */
  readonly #headerReader = {
    req: undefined as AnyRequest | undefined,
    get: (name: string): string | undefined => {
      const value = this.#headerReader.req?.headers[name]
      return Array.isArray(value) ? value.join(', ') : value
    },
  }

  constructor(deps: ProxyDeps) {
    this.#deps = deps
  }

  /**
   * The listener found the body of a request (HTTP/1.1: its IncomingMessage, HTTP/2: its stream) stalled (`server.requestBodyIdleTimeoutMs`): answers 408
   * REQUEST_BODY_TIMEOUT if no response was started (the connection is closed after it), else breaks
   * the response. Returns false when `req` is not an exchange of ours still running (the caller then
   * closes the connection itself).
   */
  readonly timeOutBody = (owner: object): boolean => {
    const exchange = (owner as ExchangeOwner)[kExchange]
    if (exchange === undefined || exchange.isDone) return false
    exchange.timeOutBody()
    return true
  }

  /**
   * `checkContinue` listener: a request with `Expect: 100-continue`. The 100 is sent only when the
   * gateway starts reading the body (RFC 9110 §10.1.1), so a request refused before that (404, 413,
   * admission) never makes the client send its body.
   */
  readonly handleExpectContinue = (req: AnyRequest, res: AnyResponse): void => {
    ;(req as ContinueOwner)[kContinuePending] = true
    this.handle(req, res)
  }

  /** `request` listener for node:http / node:https / node:http2 (compat) servers. */
  readonly handle = (req: AnyRequest, res: AnyResponse): void => {
    const runtime = this.#deps.runtime()
    const head = scanRequestHead(req.rawHeaders, runtime.requestIdHeader, runtime.underscoresInHeaders)
    const requestId =
      head.requestId !== undefined && isValidRequestId(head.requestId)
        ? head.requestId
        : this.#deps.requestIds.next()
    const local = this.#deps.localEndpoints
    if (local !== undefined) {
      const clientAddress = () =>
        resolveClientAddress(req.socket?.remoteAddress ?? '', head.xForwardedFor, runtime.trustedProxies)
      if (local(req, res, { requestId, clientAddress })) {
        // The gateway's own endpoints read their (small) bodies themselves.
        writeContinue(req, res)
        return
      }
    }
    const exchange = new Exchange(this.#deps, runtime, req, res, head, requestId)
    // HTTP/1.1: on the request; HTTP/2: on its stream (what the listener's timeout sees).
    ;(('stream' in req ? req.stream : req) as object as ExchangeOwner)[kExchange] = exchange

    let url = req.url ?? ''
    const method = req.method ?? 'GET'
    exchange.rawPath = url
    exchange.host = head.host
    const refusal = checkRequestHead(head, req.httpVersionMajor, runtime.underscoresInHeaders)
    // A malformed head says the client is broken or hostile: answer, then close an HTTP/1.1 connection.
    if (refusal !== undefined) return exchange.fail(refusal, req.httpVersionMajor === 1 ? CLOSE : undefined)
    if (url.length > runtime.maxUrlBytes) return exchange.fail('URI_TOO_LONG')
    // Not origin-form: absolute-form (RFC 9112 §3.2.2) carries the host; anything else fails normalisation.
    if (url.charCodeAt(0) !== 47 /* / */ && head.authority === undefined) {
      const absolute = splitAbsoluteForm(url)
      if (absolute === 'invalid') return exchange.fail('INVALID_HOST', CLOSE)
      if (absolute !== undefined) {
        head.host = absolute.authority
        exchange.host = absolute.authority
        url = absolute.target
      }
    }
    const target = normalizePath(url)
    if (!target.ok) return exchange.fail('INVALID_PATH')
    // Unchanged by normalisation (the common case): reuse the received string instead of concatenating.
    // (The query is passed through untouched, so equal lengths plus an equal path prefix mean equal strings.)
    exchange.path =
      target.path.length + target.query.length === url.length && url.startsWith(target.path)
        ? url
        : target.path + target.query
    if (head.host === undefined) return exchange.fail('INVALID_HOST')

    // The router normalises the host itself (and says when it is invalid).
    this.#headerReader.req = req
    let match = runtime.router.match(head.host, target.path, method, this.#headerReader.get)
    if (method === 'OPTIONS') {
      match = matchPreflight(
        runtime.router,
        match,
        req.headers,
        head.host,
        target.path,
        this.#headerReader.get,
      )
    }
    this.#headerReader.req = undefined
    if (!match.ok) {
      if (match.reason === 'invalid-host') return exchange.fail('INVALID_HOST')
      if (match.reason === 'method-not-allowed') {
        return exchange.fail(
          'METHOD_NOT_ALLOWED',
          match.allow === undefined ? undefined : { allow: match.allow.join(', ') },
        )
      }
      return exchange.fail('ROUTE_NOT_FOUND')
    }
    exchange.route = match.target
    // IP lists, CORS preflight, direct response (route-policy.ts): answered here, never proxied.
    if (match.target.policy !== undefined && exchange.applyPolicy(match.target.policy)) return

    const cl = head.contentLength
    if (cl !== undefined && Number(cl) > match.target.maxBodyBytes) return exchange.fail('PAYLOAD_TOO_LARGE')

    if (runtime.admission.length > 0) {
      exchange.admit()
      return
    }
    exchange.acquire()
  }
}

/**
 * One client request on its way through the gateway: implements undici's dispatch handler (the
 * response path) and the upstream's acquire callback (admission to a backend slot).
 */
class Exchange implements Dispatcher.DispatchHandler, AcquireCallback, WatchedTransfer {
  readonly #deps: ProxyDeps
  readonly #runtime: Runtime
  readonly #req: AnyRequest
  readonly #res: AnyResponse
  readonly #head: ScannedRequestHead
  readonly requestId: string
  readonly #startedAt = performance.now()
  route: RouteContext | undefined
  rawPath = ''
  /** Set once normalisation succeeded (always before routing). */
  path: string | undefined = undefined
  host: string | undefined = undefined
  #backend: Backend | undefined
  #upstream: Upstream | undefined
  #controller: Dispatcher.DispatchController | undefined
  #body: Readable | null = null
  #attempts = 0
  #isResponseStarted = false
  #isDone = false
  #code: ErrorCode | undefined
  #deadline: NodeJS.Timeout | undefined
  #isQueued = false
  #bytesOut = 0
  #ttfbMs: number | undefined
  #bodyLimit: BodyLimit | undefined
  #lastBackendId: string | undefined
  #span: Span | undefined
  #traceContext: Context | undefined
  #retries = 0
  #tried: Set<Backend> | undefined
  #attemptLog: AttemptRecord[] | undefined
  #attemptStartedAt = 0
  #perTryTimer: NodeJS.Timeout | undefined
  #retryTimer: NodeJS.Timeout | undefined
  /** Set while an attempt we aborted ourselves (to retry) winds down: its error is expected. */
  #isAbandoning = false
  /** The whole body, read before a slot was taken (memory and/or temp file). */
  #buffered: BufferedBody | undefined
  /** Buffering in progress. */
  #bodyBuffer: BodyBuffer | undefined
  /** What buffering read of a body that then went on unbuffered (sent first). */
  #prefix: BufferedBody | undefined
  /** The body was buffered under the retry policy's rule (`#shouldBufferBody`): it may be replayed. */
  #isReplayEligible = false
  #requestWatch: WatchEntry | undefined
  #responseWatch: WatchEntry | undefined
  #readAhead: ResponseReadAhead | undefined
  #isDrainArmed = false
  #isPausedForClient = false
  /** The client share this exchange holds slots in, and how many (streamed body, paused response). */
  #share: ClientShare | undefined
  #shareHeld = 0
  #isCountedOnRoute = false
  #client: string | undefined
  /** Told how the exchange ended (a QoS-metered admission); undefined for most requests. */
  #meter: ExchangeMeter | undefined
  /** An upstream sent a response head on some attempt (what QoS metering counts). */
  #isUpstreamAnswered = false
  /** Response body bytes relayed from upstreams (bytesOut without gateway-made bodies). */
  #relayedBytes = 0

  constructor(
    deps: ProxyDeps,
    runtime: Runtime,
    req: AnyRequest,
    res: AnyResponse,
    head: ScannedRequestHead,
    requestId: string,
  ) {
    this.#deps = deps
    this.#runtime = runtime
    this.#req = req
    this.#res = res
    this.#head = head
    this.requestId = requestId
  }

  /** Answers with a gateway-made problem and finishes the exchange. */
  fail(code: ErrorCode, headers?: Record<string, string>, problemMembers?: string): void {
    this.#code = code
    this.#bodyBuffer?.abort()
    this.#bodyBuffer = undefined
    const res = this.#res
    if (res.headersSent) {
      // Mid-response failure: the only honest signal left is to break the stream.
      res.destroy()
    } else {
      const req = this.#req
      const hasUnreadBody = !('stream' in req) && !req.readableEnded && this.#mayHaveBody()
      // An unread HTTP/1.1 body would hold the connection: answer, then close it instead of reading it.
      let extra = hasUnreadBody ? { ...headers, connection: 'close' } : headers
      const hsts = this.#runtime.securityHeaders.hsts
      if (hsts !== undefined && this.#isTls()) extra = { ...extra, 'strict-transport-security': hsts }
      const bodyBytes = sendProblem(
        res,
        code,
        this.#runtime.requestIdHeader,
        this.requestId,
        extra,
        problemMembers,
      )
      // RFC 9110 §9.3.2: a HEAD response carries no content (Node drops it).
      if (req.method !== 'HEAD') this.#bytesOut += bodyBytes
      if (!req.readableEnded) req.resume()
    }
    this.#finish(this.#res.statusCode)
  }

  get isDone(): boolean {
    return this.#isDone
  }

  /** Applies the route's operator policy; true when it answered the request (refusal or gateway answer). */
  applyPolicy(policy: RoutePolicy): boolean {
    const req = this.#req
    const decision = decideRoutePolicy(policy, req.method ?? 'GET', req.headers, this.#clientAddress())
    if (decision === undefined) return false
    if ('refuse' in decision) {
      this.fail(decision.refuse)
      return true
    }
    const hasUnreadBody = !('stream' in req) && !req.readableEnded && this.#mayHaveBody()
    this.#bytesOut += sendAnswer(
      this.#res,
      decision.answer,
      req.method === 'HEAD',
      this.#runtime.requestIdHeader,
      this.requestId,
      securityFieldsFor(this.#runtime.securityHeaders, this.#isTls()),
      hasUnreadBody ? CLOSE : undefined,
    )
    if (!req.readableEnded) req.resume()
    this.#finish(this.#res.statusCode)
    return true
  }

  /**
   * The client stopped sending its body: answer 408 (or break a started response) and drop the
   * upstream attempt without counting it against the backend (the client is at fault).
   */
  timeOutBody(code: 'REQUEST_BODY_TIMEOUT' | 'REQUEST_BODY_TOO_SLOW' = 'REQUEST_BODY_TIMEOUT'): void {
    if (this.#isDone) return
    if (this.#isQueued) {
      ;(this.#upstream as Upstream).cancel(this)
      this.#isQueued = false
    }
    const controller = this.#controller
    // Its error is expected: onResponseError only returns the backend slot.
    if (controller !== undefined) this.#isAbandoning = true
    clearTimeout(this.#retryTimer)
    this.#bodyBuffer?.abort()
    this.fail(code)
    controller?.abort(new GatewayError(code))
  }

  /** Runs the admission stages in order; the first refusal answers. */
  admit(): void {
    const route = this.route as RouteContext
    const request = {
      requestId: this.requestId,
      routeId: route.id,
      method: this.#req.method ?? 'GET',
      path: this.path as string,
      clientAddress: this.#clientAddress(),
      headers: this.#req.headers,
      isUpgrade: false,
    }
    const stages = this.#runtime.admission
    const run = async (): Promise<AdmissionRefusal | undefined> => {
      for (const stage of stages) {
        const result = await stage(request)
        if (result === undefined) continue
        if (!isAdmissionGrant(result)) return result
        // Admitted with head changes (subscription headers set, Authorization stripped).
        this.#head.forward = applyAdmissionGrant(this.#head.forward, result)
        if (result.meter !== undefined) {
          // Finished meanwhile (its end already ran): release the reservation now, or it would never be.
          if (this.#isDone)
            result.meter.end({
              reachedUpstream: false,
              bytesIn: 0,
              bytesOut: 0,
              status: this.#res.statusCode,
            })
          else this.#meter = result.meter
        }
      }
      return undefined
    }
    run().then(
      (refusal) => {
        if (this.#isDone) return
        if (refusal !== undefined)
          this.fail(
            refusal.code,
            refusal.headers as Record<string, string> | undefined,
            refusal.problemMembers,
          )
        else this.acquire()
      },
      (err: unknown) => {
        this.#deps.log.error({ err, requestId: this.requestId }, 'admission stage failed')
        if (!this.#isDone) this.fail('INTERNAL_ERROR')
      },
    )
  }

  /** Load shedding, retry accounting and (when retries need it) body buffering, then a backend slot. */
  acquire(): void {
    const route = this.route as RouteContext
    const upstream = route.upstream
    // A direct-response route is answered by its policy before admission: never here.
    if (upstream === undefined) return this.fail('INTERNAL_ERROR')
    this.#upstream = upstream
    this.#res.once('close', this.#onClientClose)
    if (this.#deps.onExchangeEnd !== undefined) this.#clientAddress() // while the socket is attached
    if (route.maxConcurrent !== undefined) {
      if (route.load.active >= route.maxConcurrent) return this.fail('ROUTE_CONCURRENCY_LIMIT')
      route.load.active++
      this.#isCountedOnRoute = true
    }
    const tracer = this.#deps.tracer
    if (tracer !== undefined && this.#span === undefined) this.#startSpan(tracer, route)
    if (route.timeoutMs !== undefined && this.#deadline === undefined) {
      this.#deadline = setTimeout(this.#onDeadline, route.timeoutMs)
    }
    route.retryBudget.recordRequest(performance.now())
    this.#share = upstream.clientShare
    if (this.#share.isFull(this.#clientAddress())) return this.#refuseShare()
    this.#isReplayEligible = this.#shouldBufferBody(route)
    const cl = this.#head.contentLength
    const plan = planBody({
      hasBody: this.#mayHaveBody(),
      declaredBytes: cl === undefined ? undefined : Number(cl),
      buffering: route.requestBuffering,
      isReplayEligible: this.#isReplayEligible,
      maxReplayBodyBytes: route.retry.maxReplayBodyBytes,
    })
    if (plan.kind === 'buffer') return this.#bufferBody(route, plan.maxBytes)
    if (plan.kind === 'refuse') return this.fail('PAYLOAD_TOO_LARGE')
    if (plan.kind === 'stream') return this.#streamBody()
    this.#acquireBackend()
  }

  #acquireBackend(): void {
    this.#retryTimer = undefined
    if (this.#isDone) return
    this.#isQueued = true
    ;(this.#upstream as Upstream).acquire(this, this.#tried)
  }

  /** A small body on a route that may retry it is read first, so it can be sent again. */
  #shouldBufferBody(route: RouteContext): boolean {
    const max = route.retry.maxReplayBodyBytes
    if (max === 0 || route.retry.maxRetries === 0 || !this.#mayHaveBody()) return false
    const cl = this.#head.contentLength
    if (cl === undefined || Number(cl) > max) return false
    return IDEMPOTENT.has(this.#req.method ?? 'GET') || this.#hasIdempotencyKey(route)
  }

  /** Reads the body before a slot is taken (slow senders cost no upstream slot); see BodyBuffer. */
  #bufferBody(route: RouteContext, maxBytes: number): void {
    const cl = this.#head.contentLength
    const slow = this.#deps.slowClients
    const settings = slow.settings
    const buffer = new BodyBuffer(
      this.#req,
      {
        maxBytes,
        maxBodyBytes: route.maxBodyBytes,
        declaredBytes: cl === undefined ? undefined : Number(cl),
      },
      {
        memory: slow.memory,
        disk: slow.disk,
        requestMemoryBytes: settings.requestMemoryBytes,
        tempDir: settings.tempDir,
        onSpill: slow.onSpill,
      },
      this.#onBuffered,
    )
    this.#bodyBuffer = buffer
    buffer.start()
    if (this.#bodyBuffer === undefined) return // reported at once (nothing to read)
    writeContinue(this.#req, this.#res)
    this.#requestWatch = slow.watch.add(this, 'request')
  }

  readonly #onBuffered = (result: BodyBufferResult): void => {
    this.#bodyBuffer = undefined
    this.#deps.slowClients.watch.remove(this.#requestWatch)
    this.#requestWatch = undefined
    if (this.#isDone) {
      if (result.kind === 'buffered') result.body.dispose()
      else if (result.kind !== 'too-large' && result.kind !== 'failed') result.prefix.dispose()
      return
    }
    const route = this.route as RouteContext
    switch (result.kind) {
      case 'buffered':
        this.#buffered = result.body
        return this.#acquireBackend()
      case 'too-large':
        return this.fail('PAYLOAD_TOO_LARGE')
      case 'failed':
        return this.fail('CLIENT_ABORTED')
      case 'over-limit':
        if (route.requestBuffering.isEnabled && route.requestBuffering.overLimit === 'refuse') {
          result.prefix.dispose()
          return this.fail('PAYLOAD_TOO_LARGE')
        }
        break
      case 'exhausted':
        if (this.#deps.slowClients.settings.onExhausted === 'refuse') {
          result.prefix.dispose()
          this.#deps.slowClients.counts.bufferRefusals++
          return this.fail('BUFFER_CAPACITY_EXHAUSTED')
        }
        this.#deps.slowClients.counts.bufferBypasses++
        break
      case 'over-memory':
        break
    }
    this.#prefix = result.prefix
    this.#streamBody()
  }

  /**
   * The body goes upstream as it arrives: the slot it takes waits on the client, so it counts in the
   * client's share of the upstream, and the minimum body rate applies.
   */
  #streamBody(): void {
    if (!this.#holdShare()) return this.#refuseShare()
    const req = this.#req
    const route = this.route as RouteContext
    const prefix = this.#prefix
    const limited = new BodyLimit(route.maxBodyBytes, prefix?.size ?? 0)
    this.#bodyLimit = limited
    req.on('error', (err) => limited.destroy(err))
    // Once the client sent it all, this slot no longer waits on the client.
    req.once('end', this.#onBodyEnd)
    const rest = req.pipe(limited)
    this.#body = prefix === undefined ? rest : concatBody(prefix, rest)
    writeContinue(req, this.#res)
    this.#requestWatch = this.#deps.slowClients.watch.add(this, 'request')
    this.#acquireBackend()
  }

  readonly #onBodyEnd = (): void => {
    this.#deps.slowClients.watch.remove(this.#requestWatch)
    this.#requestWatch = undefined
    this.#releaseShare()
  }

  /** Takes one client-bound slot of the client's share; false when the share is full. */
  #holdShare(): boolean {
    const share = this.#share
    if (share === undefined || !share.tryHold(this.#clientAddress())) return false
    this.#shareHeld++
    return true
  }

  #releaseShare(): void {
    if (this.#shareHeld === 0) return
    this.#shareHeld--
    ;(this.#share as ClientShare).release(this.#clientAddress())
  }

  #refuseShare(): void {
    this.#deps.slowClients.counts.shareRefusals++
    this.fail('CLIENT_SLOT_LIMIT', { 'retry-after': RETRY_AFTER_SECONDS })
  }

  // --- WatchedTransfer (minimum rates, checked by the shared TransferWatch)

  transferredBytes(kind: TransferKind): number {
    if (kind === 'response') return this.#bytesOut - this.#res.writableLength
    return this.#bodyLimit?.seen ?? this.#bodyBuffer?.receivedBytes ?? 0
  }

  isWaitingOnClient(kind: TransferKind): boolean {
    if (kind === 'response') return !this.#res.destroyed && this.#res.writableLength > 0
    // Nothing the client sent is left unread: it is the client we wait for (not our queue or backend).
    const req = this.#req
    return !req.complete && req.readableLength === 0 && this.#bodyBuffer?.isHeldBack !== true
  }

  onTooSlow(kind: TransferKind): void {
    const slow = this.#deps.slowClients
    if (kind === 'request') {
      slow.counts.slowBodyAborts++
      if (this.#isDone) return
      this.timeOutBody('REQUEST_BODY_TOO_SLOW')
      closeH2StreamAfterAnswer(this.#req)
      return
    }
    slow.counts.slowReadAborts++
    this.#responseWatch = undefined
    this.#cutResponse('RESPONSE_READ_TOO_SLOW')
  }

  /** Ends a started response for a reason of the client's (slow reader): the upstream attempt too. */
  #cutResponse(code: ErrorCode): void {
    if (this.#isDone) {
      // The backend is done and its slot free: only the client's buffered rest is dropped.
      this.#res.destroy()
      return
    }
    const controller = this.#controller
    if (controller !== undefined) this.#isAbandoning = true
    this.fail(code)
    controller?.abort(new GatewayError(code))
  }

  #hasIdempotencyKey(route: RouteContext): boolean {
    const name = route.retry.idempotencyKeyHeader
    return name !== undefined && this.#req.headers[name] !== undefined
  }

  // --- AcquireCallback

  onBackend(backend: Backend): void {
    this.#isQueued = false
    if (this.#isDone) {
      ;(this.#upstream as Upstream).release(backend)
      return
    }
    this.#backend = backend
    this.#lastBackendId = backend.id
    this.#dispatch(backend)
  }

  onRequeued(upstream: Upstream): void {
    this.#upstream = upstream
  }

  onUnavailable(code: ErrorCode): void {
    this.#isQueued = false
    if (!this.#isDone) this.fail(code)
  }

  // --- undici DispatchHandler

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    if (this.#isDone) controller.abort(new GatewayError('CLIENT_ABORTED'))
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (this.#isDone) {
      controller.abort(new GatewayError('CLIENT_ABORTED'))
      return
    }
    if (statusCode < 200) return // 1xx informational: not relayed (101 goes through the upgrade path)
    clearTimeout(this.#perTryTimer)
    this.#isUpstreamAnswered = true
    const backend = this.#backend as Backend
    const upstream = this.#upstream as Upstream
    if (statusCode >= 500) {
      upstream.report(backend, '5xx')
      this.#deps.onAttemptFailure?.(backend.id, '5xx')
    } else {
      upstream.report(backend, 'success')
    }
    const route = this.route as RouteContext
    if (statusCode >= 500 && route.retry.retryOnStatuses.has(statusCode)) {
      const retryAfter =
        statusCode === 503 ? parseRetryAfter(firstValue(headers['retry-after']), Date.now()) : undefined
      if (this.#tryRetry(statusCode, 'post-send', retryAfter)) {
        this.#isAbandoning = true
        controller.abort(new GatewayError('UPSTREAM_RESET'))
        return
      }
    }
    this.#isResponseStarted = true
    this.#ttfbMs = performance.now() - this.#startedAt
    const out = decorateProxiedHead(
      buildResponseHeaders(headers, this.#runtime.requestIdHeader, this.requestId),
      route,
      this.#runtime.securityHeaders,
      this.#req,
    )
    if (route.debugHeader) {
      this.#logAttempt(backend, 'response', statusCode, 'final')
      out.push('x-litgate-attempts', renderAttempts(this.#attemptLog as AttemptRecord[]))
    } else if (this.#attemptLog !== undefined) {
      this.#logAttempt(backend, 'response', statusCode, 'final')
    }
    const metered = this.#meter?.responseHeaders
    if (metered !== undefined) for (const field of metered) out.push(field)
    const res = this.#res
    if ('stream' in res) {
      res.writeHead(statusCode, flatToObject(out))
    } else {
      res.writeHead(statusCode, out)
    }
    if (this.#responseWatch === undefined) {
      const slow = this.#deps.slowClients
      if (route.responseBufferBytes > 0)
        this.#readAhead = new ResponseReadAhead(slow.memory, route.responseBufferBytes)
      this.#responseWatch = slow.watch.add(this, 'response')
      // The client may still be reading after the exchange finished (read-ahead): watched until it closes.
      res.once('close', this.#onResponseClosed)
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#isDone) return
    this.#bytesOut += chunk.length
    this.#relayedBytes += chunk.length
    const res = this.#res
    if ((res as ServerResponse).write(chunk)) return
    if (!this.#isDrainArmed) {
      this.#isDrainArmed = true
      res.once('drain', this.#onDrain)
    }
    // Read ahead of a slow client while the response fits its bound and the memory budget.
    if (this.#readAhead?.tryAbsorb(res.writableLength) === true) return
    // The backend now waits on the client: that slot counts in the client's share.
    if (!this.#holdShare()) {
      this.#deps.slowClients.counts.shareRefusals++
      return this.#cutResponse('CLIENT_SLOT_LIMIT')
    }
    this.#isPausedForClient = true
    controller.pause()
  }

  onResponseEnd(): void {
    this.#releaseBackend()
    if (this.#isDone) return
    this.#res.end()
    this.#finish(this.#res.statusCode)
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    clearTimeout(this.#perTryTimer)
    const backend = this.#backend
    const upstream = this.#upstream as Upstream
    if (this.#isAbandoning) {
      // We aborted this attempt to retry it; the retry is already scheduled.
      this.#isAbandoning = false
      this.#releaseBackend()
      return
    }
    if (this.#isDone) {
      if (backend !== undefined) upstream.reportCancelled(backend)
      this.#releaseBackend()
      return
    }
    const code = err instanceof GatewayError ? err.code : classifyUpstreamError(err)
    if (
      backend !== undefined &&
      code !== 'CLIENT_ABORTED' &&
      code !== 'PAYLOAD_TOO_LARGE' &&
      code !== 'BAD_REQUEST'
    ) {
      upstream.report(backend, 'gateway-error')
      this.#deps.onAttemptFailure?.(backend.id, code)
    }
    if (!this.#isResponseStarted && this.#tryRetry(code, phaseOf(code), undefined)) {
      this.#releaseBackend()
      return
    }
    this.#releaseBackend()
    if (code !== 'CLIENT_ABORTED') {
      this.#deps.log.warn(
        {
          requestId: this.requestId,
          backendId: backend?.id,
          code,
          err: err.message,
          attempts: this.#attempts,
        },
        'upstream failure',
      )
    }
    this.fail(code)
  }

  /**
   * Decides whether the failed attempt is retried (safety rules, then the route's budget and the
   * deadline) and, if so, schedules the next attempt on another backend after a jittered backoff.
   */
  #tryRetry(outcome: ErrorCode | number, phase: AttemptPhase, retryAfterMs: number | undefined): boolean {
    const route = this.route as RouteContext
    const backend = this.#backend as Backend
    const policy = route.retry
    let verdict: RetryVerdict | 'yes' = shouldRetry({
      policy,
      method: this.#req.method ?? 'GET',
      hasIdempotencyKey: this.#hasIdempotencyKey(route),
      // Unchanged rule: no body, or one buffered because the retry policy asked for it.
      isBodyReplayable:
        this.#buffered !== undefined
          ? this.#isReplayEligible
          : this.#body === null && this.#prefix === undefined,
      outcome,
      phase,
      retriesSoFar: this.#retries,
      isResponseStarted: this.#isResponseStarted,
    })
    const backoff = fullJitterBackoff(this.#retries, policy.backoffBaseMs, policy.backoffMaxMs, Math.random)
    const delay = retryAfterMs === undefined ? backoff : Math.max(backoff, retryAfterMs)
    if (verdict === 'yes') {
      // Retry-After is honoured only within the route deadline, or within a short cap without one
      // (a long wait is better left to the client, which gets the 503 and its Retry-After).
      const budgetMs =
        route.timeoutMs === undefined
          ? MAX_RETRY_AFTER_WITHOUT_DEADLINE_MS
          : route.timeoutMs - (performance.now() - this.#startedAt)
      if (delay >= budgetMs) verdict = 'deadline'
    }
    if (verdict === 'yes' && !route.retryBudget.tryAcquire(performance.now())) verdict = 'budget-exhausted'
    this.#logAttempt(backend, phase, outcome, verdict === 'yes' ? 'retried' : verdict)
    if (verdict !== 'yes') return false
    this.#retries++
    ;(this.#tried ??= new Set()).add(backend)
    if (delay > 0) {
      this.#retryTimer = setTimeout(this.#retryNow, delay)
    } else {
      queueMicrotask(this.#retryNow)
    }
    return true
  }

  readonly #retryNow = (): void => this.#acquireBackend()

  #logAttempt(
    backend: Backend,
    phase: AttemptRecord['phase'],
    outcome: ErrorCode | number,
    verdict: AttemptRecord['verdict'],
  ): void {
    ;(this.#attemptLog ??= []).push({
      backendId: backend.id,
      phase,
      outcome,
      durationMs: Math.round((performance.now() - this.#attemptStartedAt) * 10) / 10,
      verdict,
    })
  }

  // --- internals

  #dispatch(backend: Backend): void {
    this.#attempts++
    this.#attemptStartedAt = performance.now()
    const req = this.#req
    const route = this.route as RouteContext
    if (route.retry.perTryTimeoutMs !== undefined) {
      this.#perTryTimer = setTimeout(this.#onPerTryTimeout, route.retry.perTryTimeoutMs)
    }
    const head = this.#head
    const traceContext = this.#traceContext
    const headers = traceContext === undefined ? head.forward.slice() : withoutTraceHeaders(head.forward)
    if (traceContext !== undefined) {
      const carrier: Record<string, string> = {}
      propagation.inject(traceContext, carrier)
      for (const name in carrier) headers.push(name, carrier[name] as string)
    }
    appendGatewayHeaders(
      headers,
      head,
      req.socket as { remoteAddress?: string; encrypted?: boolean },
      this.#runtime.trustedProxies,
      upstreamHost(route.hostHeader, head.host, backend),
      this.#runtime.requestIdHeader,
      this.requestId,
    )
    // A buffered chunked (or HTTP/2 length-less) body goes upstream with its length (as nginx does).
    const buffered = this.#buffered
    if (buffered !== undefined && head.contentLength === undefined)
      headers.push('content-length', String(buffered.size))
    backend.pool.dispatch(
      {
        origin: backend.origin,
        path: this.path as string,
        method: req.method as Dispatcher.HttpMethod,
        headers,
        body: this.#buffered?.payload() ?? this.#body,
      },
      this,
    )
  }

  #startSpan(tracer: Tracer, route: RouteContext): void {
    const parent = propagation.extract(otelContext.active(), this.#req.headers)
    const method = this.#req.method ?? 'GET'
    const span = tracer.startSpan(
      `${method} ${route.id}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': method,
          'url.path': this.path as string,
          'litgate.route': route.id,
          'litgate.request_id': this.requestId,
        },
      },
      parent,
    )
    this.#span = span
    this.#traceContext = trace.setSpan(parent, span)
  }

  /** The request came over TLS (HTTP/2: the session's socket). */
  #isTls(): boolean {
    return (this.#req.socket as { encrypted?: boolean } | null)?.encrypted === true
  }

  #mayHaveBody(): boolean {
    const req = this.#req
    if ('stream' in req) return !req.stream.endAfterHeaders
    const head = this.#head
    return head.hasTransferEncoding || (head.contentLength !== undefined && head.contentLength !== '0')
  }

  /** The client as the gateway believes it (trusted proxy chain walked); computed once. */
  #clientAddress(): string {
    if (this.#client === undefined) {
      // Read while the socket is attached: after the response ends Node may detach it (req.socket null).
      const peer = this.#req.socket?.remoteAddress ?? ''
      this.#client = resolveClientAddress(peer, this.#head.xForwardedFor, this.#runtime.trustedProxies)
    }
    return this.#client
  }

  #releaseBackend(): void {
    const backend = this.#backend
    if (backend === undefined) return
    this.#backend = undefined
    this.#controller = undefined
    ;(this.#upstream as Upstream).release(backend)
  }

  /** Request body bytes read from the client (streamed, buffered, or declared when piped whole). */
  #bytesIn(): number {
    const cl = this.#head.contentLength
    return (
      this.#bodyLimit?.seen ??
      this.#buffered?.size ??
      (this.#body !== null && cl !== undefined ? Number(cl) : 0)
    )
  }

  #finish(status: number): void {
    if (this.#isDone) return
    this.#isDone = true
    if (this.#deadline !== undefined) clearTimeout(this.#deadline)
    clearTimeout(this.#perTryTimer)
    clearTimeout(this.#retryTimer)
    if (this.#isCountedOnRoute) (this.route as RouteContext).load.active--
    this.#res.off('close', this.#onClientClose)
    this.#bodyBuffer?.abort()
    this.#bodyBuffer = undefined
    this.#deps.slowClients.watch.remove(this.#requestWatch)
    this.#requestWatch = undefined
    this.#buffered?.dispose()
    this.#prefix?.dispose()
    while (this.#shareHeld > 0) this.#releaseShare()
    const span = this.#span
    if (span !== undefined) {
      span.setAttribute('http.response.status_code', status)
      if (this.#lastBackendId !== undefined) span.setAttribute('litgate.backend', this.#lastBackendId)
      if (this.#code !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: this.#code })
      span.end()
    }
    const onEnd = this.#deps.onExchangeEnd
    const meter = this.#meter
    if (meter !== undefined) {
      this.#meter = undefined
      meter.end({
        reachedUpstream: this.#isUpstreamAnswered,
        bytesIn: this.#bytesIn(),
        bytesOut: this.#relayedBytes,
        status,
      })
    }
    if (onEnd !== undefined) {
      const req = this.#req
      const tp = (span === undefined ? undefined : traceparentOf(span)) ?? req.headers['traceparent']
      onEnd({
        requestId: this.requestId,
        traceparent: typeof tp === 'string' ? tp : undefined,
        configVersion: this.#runtime.version,
        clientAddress: this.#clientAddress(),
        httpVersion: req.httpVersion,
        method: req.method ?? 'GET',
        host: this.host,
        rawPath: this.rawPath,
        path: this.path,
        routeId: this.route?.id,
        backendId: this.#lastBackendId,
        status,
        code: this.#code,
        attempts: this.#attempts,
        attemptLog: this.#attemptLog,
        bytesIn: this.#bytesIn(),
        bytesOut: this.#bytesOut,
        ttfbMs: this.#ttfbMs,
        durationMs: performance.now() - this.#startedAt,
      })
    }
  }

  readonly #onDrain = (): void => {
    this.#isDrainArmed = false
    this.#readAhead?.releaseAll()
    if (!this.#isPausedForClient) return
    this.#isPausedForClient = false
    this.#releaseShare()
    this.#controller?.resume()
  }

  readonly #onResponseClosed = (): void => {
    this.#readAhead?.releaseAll()
    this.#deps.slowClients.watch.remove(this.#responseWatch)
  }

  /** Client went away before we finished: abort the upstream request so its connection is not leaked. */
  readonly #onClientClose = (): void => {
    if (this.#isDone) return
    this.#code = 'CLIENT_ABORTED'
    if (this.#isQueued) {
      ;(this.#upstream as Upstream).cancel(this)
      this.#isQueued = false
    }
    const controller = this.#controller
    this.#finish(499)
    // onResponseError follows (now or later) and returns the backend slot.
    if (controller !== undefined) controller.abort(new GatewayError('CLIENT_ABORTED'))
  }

  readonly #onPerTryTimeout = (): void => {
    this.#perTryTimer = undefined
    this.#controller?.abort(new GatewayError('UPSTREAM_HEADERS_TIMEOUT'))
  }

  readonly #onDeadline = (): void => {
    this.#deadline = undefined
    if (this.#isDone) return
    const controller = this.#controller
    if (this.#isQueued) (this.#upstream as Upstream).cancel(this)
    this.#isQueued = false
    if (controller !== undefined) controller.abort(new GatewayError('REQUEST_DEADLINE_EXCEEDED'))
    else this.fail('REQUEST_DEADLINE_EXCEEDED')
  }
}

/** Sends the 100 (Continue) a request with `Expect: 100-continue` waits for, once, when its body is wanted. */
function writeContinue(req: AnyRequest, res: AnyResponse): void {
  const owner = req as ContinueOwner
  if (owner[kContinuePending] !== true) return
  owner[kContinuePending] = false
  if (!res.headersSent && !res.writableEnded) res.writeContinue()
}

/** HTTP/2: after answering a request whose body is still arriving, reset its stream (NO_ERROR, RFC 9113 §8.1). */
function closeH2StreamAfterAnswer(req: AnyRequest): void {
  if (!('stream' in req)) return
  const stream = req.stream
  if (stream.destroyed || stream.readableEnded) return
  const close = (): void => {
    if (!stream.destroyed) stream.close(h2constants.NGHTTP2_NO_ERROR)
  }
  if (stream.writableFinished) close()
  else stream.once('finish', close)
}

/** A body that went on unbuffered: the buffered prefix first, then the rest as it arrives. */
function concatBody(prefix: BufferedBody, rest: Readable): Readable {
  async function* all(): AsyncGenerator<Buffer> {
    yield* prefix.stream() as AsyncIterable<Buffer>
    yield* rest as AsyncIterable<Buffer>
  }
  return Readable.from(all(), { objectMode: false })
}

/** The W3C traceparent naming `span` (version 00); undefined for a non-recording span without context. */
function traceparentOf(span: Span): string | undefined {
  const c = span.spanContext()
  if (!isSpanContextValid(c)) return undefined
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 1) === 1 ? '01' : '00'}`
}

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}

/** `x-litgate-attempts`: `backend;phase;outcome;ms;verdict` per attempt, comma-separated. */
function renderAttempts(log: readonly AttemptRecord[]): string {
  return log.map((a) => `${a.backendId};${a.phase};${a.outcome};${a.durationMs}ms;${a.verdict}`).join(', ')
}

function withoutTraceHeaders(flat: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < flat.length; i += 2) {
    const name = (flat[i] as string).toLowerCase()
    if (name !== 'traceparent' && name !== 'tracestate') out.push(flat[i] as string, flat[i + 1] as string)
  }
  return out
}

function flatToObject(flat: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string
    const value = flat[i + 1] as string
    const prev = out[name]
    if (prev === undefined) out[name] = value
    else if (Array.isArray(prev)) prev.push(value)
    else out[name] = [prev, value]
  }
  return out
}

export type { ServerResponse, Http2ServerResponse }
