import { mkdirSync } from 'node:fs'
import type { AddressInfo, Socket } from 'node:net'
import type { Logger } from 'pino'
import type { Config, ListenerConfig } from '../config/index.ts'
import { GatewayError } from '../errors/index.ts'
import {
  answerClientError,
  createRequestIdSource,
  createUpgradeHandler,
  ProxyHandler,
  SlowClients,
  type ProxyDeps,
  type SlowClientSnapshot,
  type Tunnel,
} from '../http/index.ts'
import {
  ConnectionTracker,
  loadTlsMaterial,
  startListener,
  type ConnectionCounts,
  type Listener,
  type ListenerHandlers,
  type TlsMaterial,
} from '../net/index.ts'
import { formatChange, restartBoundChanges, type FieldChange } from './reload-fields.ts'
import {
  compilePerIpPlan,
  createPerIpStage,
  MemoryLimiterStore,
  type LimiterHooks,
  type LimiterStore,
} from '../limits/index.ts'
import {
  buildRuntime,
  configVersion,
  retireRuntime,
  type AdmissionStage,
  type Runtime,
  type RuntimeDeps,
} from '../runtime/index.ts'

export interface GatewayDeps {
  readonly log: Logger
  /** Process id, reported in the `gateway serving` line (main passes process.pid). */
  readonly pid?: number
  /** Monotonic milliseconds (injected for tests). */
  readonly now?: () => number
  readonly admission?: readonly AdmissionStage[]
  /** The gateway's own endpoints on the client listeners, tried before routing (see ProxyDeps.localEndpoints). */
  readonly localEndpoints?: ProxyDeps['localEndpoints']
  /** Access log / metrics hook: one call per finished exchange. */
  readonly onExchangeEnd?: ProxyDeps['onExchangeEnd']
  /** Every failed upstream attempt, retried or not (see ProxyDeps.onAttemptFailure), e.g. for metrics. */
  readonly onAttemptFailure?: ProxyDeps['onAttemptFailure']
  /** Set to enable tracing spans (see ProxyDeps.tracer). */
  readonly tracer?: ProxyDeps['tracer']
  /** Backend health transitions (also logged here), e.g. for metrics. */
  readonly onHealthTransition?: RuntimeDeps['onHealthTransition']
  /** Circuit breaker transitions (also logged here), e.g. for metrics. */
  readonly onBreakerTransition?: RuntimeDeps['onBreakerTransition']
  /**
   * Where per-IP rate limit state lives (`rateLimit`), and its metrics hooks. main.ts passes the store
   * `rateLimit.store` names (the Redis one needs its client). Absent: a memory store is created on first
   * need from `rateLimit.maxTrackedKeys` (and closed on stop); `store: redis` without one fails start.
   */
  readonly rateLimit?: { readonly store: LimiterStore; readonly hooks?: LimiterHooks }
  /** An HTTP/2 session was closed for abuse (rapid reset: GOAWAY ENHANCE_YOUR_CALM), e.g. for metrics. */
  readonly onHttp2Abuse?: ListenerHandlers['sessionAbuse']
  /**
   * Closes a WebSocket tunnel during shutdown. Default: `tunnel.goingAway()` (close frame 1001 to the
   * client at the next frame boundary, then FIN both ways).
   */
  readonly closeTunnel?: (tunnel: Tunnel) => void
}

/** Lifecycle of a gateway process (explicit; see docs/architecture.md). */
export type GatewayState = 'starting' | 'serving' | 'draining' | 'stopped'

export interface StopResult {
  /** True when the drain deadline passed and remaining connections were force-closed. */
  readonly isForced: boolean
  readonly remainingAtDeadline: number
}

export interface ReloadResult {
  readonly isChanged: boolean
  readonly version: string
  readonly previousVersion: string
  /** Listeners whose TLS certificate/key were re-read (also on an unchanged config: files rotated in place). */
  readonly tlsReloaded: readonly string[]
}

/**
 * A reload refused because restart-bound fields changed (see reload-fields.ts); `changes` names each
 * with its running and its new value. Nothing was applied.
 */
export class RestartRequiredError extends GatewayError {
  readonly changes: readonly FieldChange[]

  constructor(changes: readonly FieldChange[]) {
    super(
      'CONFIG_RESTART_REQUIRED',
      `restart required to apply: ${changes.map(formatChange).join('; ')} (nothing was applied)`,
    )
    this.changes = changes
  }
}

/**
 * A running gateway: listeners, the current runtime snapshot (one reference, swapped atomically on
 * reload), connection tracking and drain. Two gateways can run in one process (tests do).
 */
export class Gateway {
  readonly #log: Logger
  readonly #now: () => number
  readonly #admission: readonly AdmissionStage[]
  readonly #deps: GatewayDeps
  /** The limiter's store: injected, or a memory store this gateway created (and closes) on first need. */
  #limiterStore: LimiterStore | undefined
  #isLimiterStoreOwned = false
  readonly #tracker: ConnectionTracker
  readonly #slowClients: SlowClients
  readonly #tunnels = new Set<Tunnel>()
  readonly #listeners: Listener[] = []
  #runtime: Runtime
  #state: GatewayState = 'starting'

  private constructor(config: Config, deps: GatewayDeps) {
    this.#log = deps.log
    this.#now = deps.now ?? (() => performance.now())
    this.#admission = deps.admission ?? []
    this.#deps = deps
    this.#tracker = new ConnectionTracker(config.server.maxConnections)
    this.#limiterStore = deps.rateLimit?.store
    prepareTempDir(config)
    this.#slowClients = new SlowClients(config.server, this.#now)
    this.#runtime = buildRuntime(config, this.#runtimeDeps(config))
  }

  /**
   * The admission stages of a runtime built from `config`: the per-IP limit first (cheapest, and it must
   * hold before anything that costs more), then the injected ones. No stage when no route is limited.
   */
  #admissionFor(config: Config): readonly AdmissionStage[] {
    const plan = compilePerIpPlan(config.rateLimit, config.routes)
    if (plan.isEmpty) return this.#admission
    if (this.#limiterStore === undefined) {
      if (config.rateLimit.store === 'redis')
        throw new GatewayError(
          'CONFIG_INVALID',
          'rateLimit.store "redis": no Redis limiter store was provided (litgate run creates it from rateLimit.redis)',
        )
      this.#limiterStore = new MemoryLimiterStore({ maxKeys: config.rateLimit.maxTrackedKeys })
      this.#isLimiterStoreOwned = true
    }
    const hooks = this.#deps.rateLimit?.hooks
    const stage = createPerIpStage(plan, {
      store: this.#limiterStore,
      log: this.#log,
      ...(hooks === undefined ? {} : { hooks }),
    })
    return stage === undefined ? this.#admission : [stage, ...this.#admission]
  }

  /** Runtime dependencies: clock, admission stages, and health/breaker transitions logged with their reason. */
  #runtimeDeps(config: Config): RuntimeDeps {
    const log = this.#log
    return {
      now: this.#now,
      admission: this.#admissionFor(config),
      onHealthTransition: (upstreamId, t) => {
        log.warn(
          { upstream: upstreamId, backendId: t.backendId, from: t.from, to: t.to, reason: t.reason },
          'backend state change',
        )
        this.#deps.onHealthTransition?.(upstreamId, t)
      },
      onBreakerTransition: (backendId, from, to, reason) => {
        log.warn({ backendId, from, to, reason }, 'circuit breaker state change')
        this.#deps.onBreakerTransition?.(backendId, from, to, reason)
      },
    }
  }

  /** Builds the runtime and binds every listener; on any failure nothing stays bound. */
  static async start(config: Config, deps: GatewayDeps): Promise<Gateway> {
    const gateway = new Gateway(config, deps)
    try {
      await gateway.#bind(config)
      for (const upstream of gateway.#runtime.upstreams.values()) upstream.startHealthChecks()
    } catch (err) {
      await gateway.stop(0)
      throw err
    }
    gateway.#state = 'serving'
    deps.log.info(
      { pid: deps.pid, version: gateway.#runtime.version, listeners: gateway.addresses() },
      'gateway serving',
    )
    return gateway
  }

  async #bind(config: Config): Promise<void> {
    const requestIds = createRequestIdSource()
    const runtime = (): Runtime => this.#runtime
    const proxy = new ProxyHandler({
      runtime,
      requestIds,
      log: this.#log,
      slowClients: this.#slowClients,
      ...(this.#deps.onExchangeEnd === undefined ? {} : { onExchangeEnd: this.#deps.onExchangeEnd }),
      ...(this.#deps.onAttemptFailure === undefined ? {} : { onAttemptFailure: this.#deps.onAttemptFailure }),
      ...(this.#deps.tracer === undefined ? {} : { tracer: this.#deps.tracer }),
      ...(this.#deps.localEndpoints === undefined ? {} : { localEndpoints: this.#deps.localEndpoints }),
    })
    const upgrade = createUpgradeHandler({
      runtime,
      requestIds,
      log: this.#log,
      tunnels: this.#tunnels,
      serveAsHttp: proxy.handle,
      ...(this.#deps.onExchangeEnd === undefined ? {} : { onExchangeEnd: this.#deps.onExchangeEnd }),
    })
    const refusals = {
      runtime,
      requestIds,
      ...(this.#deps.onExchangeEnd === undefined ? {} : { onExchangeEnd: this.#deps.onExchangeEnd }),
    }
    const handlers: ListenerHandlers = {
      request: proxy.handle,
      upgrade,
      clientError: (code, socket, err) =>
        answerClientError(refusals, code, { socket: socket as Socket, rawPacket: err.rawPacket }),
      bodyTimeout: proxy.timeOutBody,
      sessionAbuse: (reason) => {
        this.#log.warn({ reason }, 'http2 session closed: ENHANCE_YOUR_CALM')
        this.#deps.onHttp2Abuse?.(reason)
      },
      checkContinue: proxy.handleExpectContinue,
      clientCertificate: (r) => {
        // `clientAuth.mode: request`: the connection is accepted either way; the verdict is logged.
        const fields = {
          listener: r.listener,
          clientCertAuthorized: r.isAuthorized,
          clientCertError: r.error,
          clientCertFingerprint256: r.fingerprint256,
        }
        if (r.isAuthorized) this.#log.debug(fields, 'tls client certificate verified')
        else this.#log.info(fields, 'tls client certificate not verified')
      },
    }
    for (const listenerConfig of config.listeners) {
      this.#listeners.push(await startListener(listenerConfig, config.server, handlers, this.#tracker))
    }
  }

  get state(): GatewayState {
    return this.#state
  }

  /** The current runtime snapshot. */
  get runtime(): Runtime {
    return this.#runtime
  }

  /** Bound addresses by listener name. */
  addresses(): Record<string, AddressInfo> {
    const out: Record<string, AddressInfo> = {}
    for (const l of this.#listeners) out[l.name] = l.address()
    return out
  }

  connections(): ConnectionCounts {
    return this.#tracker.counts(this.#tunnels.size)
  }

  /** Slow-client protection now: buffered bytes (memory, temp files) and what it counted since start. */
  slowClients(): SlowClientSnapshot {
    return { ...this.#slowClients.snapshot(), refusedStreams: this.#tracker.refusedStreams }
  }

  /** True while serving: config loaded, listeners bound, not draining (the `/readyz` answer). */
  isReady(): boolean {
    return this.#state === 'serving'
  }

  /**
   * Swaps in a new config, all or nothing:
   * 1. refuse changes to fields bound at start (reload-fields.ts RESTART_BOUND: listener addresses and
   *    protocols, admin, tracing, reload triggers), naming each changed field; TLS files may change;
   * 2. load and check every listener's TLS certificate/key (also on an unchanged config, so
   *    certificates rotated in place are picked up);
   * 3. build a complete runtime (keeping pools of unchanged backends); if this throws, whatever it
   *    created is destroyed;
   * 4. swap the one reference, install the TLS contexts, retire the old runtime (removed backends drain).
   * In-flight requests finish on the snapshot they started with. Throws a GatewayError (code
   * RELOAD_NOT_SERVING, CONFIG_RESTART_REQUIRED or RELOAD_FAILED) and leaves the old runtime serving
   * if any step before the swap fails.
   */
  async reload(config: Config): Promise<ReloadResult> {
    if (this.#state !== 'serving')
      throw new GatewayError('RELOAD_NOT_SERVING', `cannot reload while ${this.#state}`)
    const old = this.#runtime
    const changes = restartBoundChanges(old.config, config)
    if (changes.length > 0) throw new RestartRequiredError(changes)
    const tls = this.#prepareTls(config.listeners)
    try {
      prepareTempDir(config)
    } catch (err) {
      throw new GatewayError('RELOAD_FAILED', (err as Error).message, { cause: err })
    }
    const isUnchanged = configVersion(config) === old.version
    let next: Runtime = old
    if (!isUnchanged) {
      try {
        next = buildRuntime(config, this.#runtimeDeps(config), old)
      } catch (err) {
        throw new GatewayError('RELOAD_FAILED', `building the runtime failed: ${(err as Error).message}`, {
          cause: err,
        })
      }
    }
    const tlsReloaded: string[] = []
    for (const { listener, tls: t } of tls) {
      try {
        listener.setSecureContext?.(t)
        tlsReloaded.push(listener.name)
      } catch (err) {
        // The material was loaded and checked above; building its contexts failing here would be an
        // OpenSSL surprise. That listener keeps its current set.
        this.#log.error(
          { listener: listener.name, code: 'RELOAD_FAILED', err: (err as Error).message },
          'tls reload failed',
        )
      }
    }
    if (isUnchanged)
      return { isChanged: false, version: old.version, previousVersion: old.version, tlsReloaded }
    this.#runtime = next
    // Socket-level settings of the running listeners: new connections, and existing ones where Node
    // reads the value per request (keep-alive after the next response, header/request timeouts).
    this.#tracker.setMaxConnections(config.server.maxConnections)
    this.#slowClients.configure(config.server)
    for (const l of this.#listeners) l.applyServerOptions(config.server, this.#tracker.maxConnections)
    for (const upstream of next.upstreams.values()) upstream.startHealthChecks()
    void retireRuntime(old, next).catch((err: unknown) =>
      this.#log.warn({ err, code: 'RELOAD_FAILED' }, 'retiring old runtime failed'),
    )
    return { isChanged: true, version: next.version, previousVersion: old.version, tlsReloaded }
  }

  /**
   * Reads and checks the TLS material of every TLS listener (all of them before any is installed, so one
   * bad file refuses the whole reload); throws RELOAD_FAILED naming the listener, field and file.
   */
  #prepareTls(configs: readonly ListenerConfig[]): { listener: Listener; tls: TlsMaterial }[] {
    const out: { listener: Listener; tls: TlsMaterial }[] = []
    for (const c of configs) {
      if (c.tls === undefined) continue
      const listener = this.#listeners.find((l) => l.name === c.name)
      if (listener?.setSecureContext === undefined) continue
      let material: TlsMaterial
      try {
        // The same loader as start-up and `litgate validate` (names the file at fault, never key material).
        material = loadTlsMaterial(c.tls, `listener ${c.name}`)
      } catch (err) {
        const reason = err instanceof GatewayError ? `${err.code}: ${err.message}` : (err as Error).message
        throw new GatewayError('RELOAD_FAILED', `cannot load TLS certificate/key: ${reason}`, { cause: err })
      }
      out.push({ listener, tls: material })
    }
    return out
  }

  /**
   * Graceful stop, idempotent:
   * 1. state → draining (readiness false), listeners stop accepting (ports released);
   * 2. WebSocket tunnels are closed (see GatewayDeps.closeTunnel);
   * 3. until `deadlineMs`: idle HTTP/1.1 keep-alive connections are closed, HTTP/2 sessions get GOAWAY
   *    (in-flight streams finish), responses still to be written carry `Connection: close`, and
   *    connections that never sent a byte are ended;
   * 4. whatever is still open at the deadline is destroyed (`isForced`).
   * Then the runtime is retired (upstream pools close once their requests finished).
   */
  async stop(deadlineMs: number): Promise<StopResult> {
    if (this.#state === 'stopped') return { isForced: false, remainingAtDeadline: 0 }
    this.#state = 'draining'
    await Promise.all(this.#listeners.map((l) => l.stopAccepting()))
    const closeTunnel = this.#deps.closeTunnel ?? ((t: Tunnel) => t.goingAway())
    for (const tunnel of this.#tunnels) closeTunnel(tunnel)
    const started = this.#now()
    let remaining = this.#tracker.counts(this.#tunnels.size).open
    while (remaining > 0 && this.#now() - started < deadlineMs) {
      for (const l of this.#listeners) l.closeIdle()
      // Only sockets that never sent a byte are ours to end here (no request can be in flight on them).
      // Every other socket belongs to an HTTP/1.1 server or an HTTP/2 session (closeIdle above) or a
      // tunnel: ending the raw socket of a TLS or h2 connection would cut its in-flight responses.
      for (const socket of this.#tracker.sockets()) {
        if (socket.bytesRead === 0 && this.#tracker.isIdle(socket)) socket.end()
      }
      await new Promise((r) => setTimeout(r, 25))
      remaining = this.#tracker.counts(this.#tunnels.size).open
    }
    const isForced = remaining > 0
    if (isForced) for (const socket of this.#tracker.sockets()) socket.destroy()
    await retireRuntime(this.#runtime, undefined)
    if (this.#isLimiterStoreOwned) await this.#limiterStore?.close()
    this.#slowClients.watch.stop()
    this.#state = 'stopped'
    return { isForced, remainingAtDeadline: remaining }
  }
}

/** Creates `server.buffering.tempDir` (private to the gateway) when set; throws naming it when it cannot. */
function prepareTempDir(config: Config): void {
  const dir = config.server.buffering.tempDir
  if (dir === undefined) return
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new Error(
      `server.buffering.tempDir ${JSON.stringify(dir)}: ${(err as NodeJS.ErrnoException).code ?? 'unusable'}`,
      {
        cause: err,
      },
    )
  }
}
