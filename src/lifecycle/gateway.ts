import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { Config } from '../config/index.ts'
import {
  createRequestIdSource,
  createUpgradeHandler,
  ProxyHandler,
  rawProblemResponse,
  type ProxyDeps,
  type Tunnel,
} from '../http/index.ts'
import { ConnectionTracker, startListener, type ConnectionCounts, type Listener } from '../net/index.ts'
import { buildRuntime, retireRuntime, type AdmissionStage, type Runtime } from '../runtime/index.ts'

export interface GatewayDeps {
  readonly log: Logger
  /** Monotonic milliseconds (injected for tests). */
  readonly now?: () => number
  readonly admission?: readonly AdmissionStage[]
  /** Access log / metrics hook: one call per finished exchange. */
  readonly onExchangeEnd?: ProxyDeps['onExchangeEnd']
  /** Set to enable tracing spans (see ProxyDeps.tracer). */
  readonly tracer?: ProxyDeps['tracer']
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
  readonly #tracker: ConnectionTracker
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
    this.#runtime = buildRuntime(config, { now: this.#now, admission: this.#admission })
  }

  /** Builds the runtime and binds every listener; on any failure nothing stays bound. */
  static async start(config: Config, deps: GatewayDeps): Promise<Gateway> {
    const gateway = new Gateway(config, deps)
    try {
      await gateway.#bind(config)
    } catch (err) {
      await gateway.stop(0)
      throw err
    }
    gateway.#state = 'serving'
    deps.log.info({ version: gateway.#runtime.version, listeners: gateway.addresses() }, 'gateway serving')
    return gateway
  }

  async #bind(config: Config): Promise<void> {
    const requestIds = createRequestIdSource()
    const runtime = (): Runtime => this.#runtime
    const proxy = new ProxyHandler({
      runtime,
      requestIds,
      log: this.#log,
      ...(this.#deps.onExchangeEnd === undefined ? {} : { onExchangeEnd: this.#deps.onExchangeEnd }),
      ...(this.#deps.tracer === undefined ? {} : { tracer: this.#deps.tracer }),
    })
    const upgrade = createUpgradeHandler({
      runtime,
      requestIds,
      log: this.#log,
      tunnels: this.#tunnels,
      serveAsHttp: proxy.handle,
    })
    const handlers = {
      request: proxy.handle,
      upgrade,
      clientError: (code: Parameters<typeof rawProblemResponse>[0]) =>
        rawProblemResponse(code, this.#runtime.requestIdHeader, requestIds.next()),
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

  /**
   * Swaps in a new config: builds a complete runtime first (keeping pools of unchanged backends), then
   * swaps the one reference. In-flight requests finish on the snapshot they started with; removed
   * backends drain. Listener changes need a restart and are refused here. Throws (leaving the old
   * runtime serving) if anything fails.
   */
  async reload(config: Config): Promise<ReloadResult> {
    if (this.#state !== 'serving') throw new Error(`cannot reload while ${this.#state}`)
    const old = this.#runtime
    if (JSON.stringify(config.listeners) !== JSON.stringify(old.config.listeners)) {
      throw new Error('listener changes need a restart')
    }
    const next = buildRuntime(config, { now: this.#now, admission: this.#admission }, old)
    if (next.version === old.version) return { isChanged: false, version: old.version }
    this.#runtime = next
    void retireRuntime(old, next).catch((err: unknown) =>
      this.#log.warn({ err }, 'retiring old runtime failed'),
    )
    return { isChanged: true, version: next.version }
  }

  /**
   * Graceful stop: stop accepting, close idle keep-alive connections, let in-flight requests finish
   * until `deadlineMs`, then force-close what remains. Idempotent.
   */
  async stop(deadlineMs: number): Promise<StopResult> {
    if (this.#state === 'stopped') return { isForced: false, remainingAtDeadline: 0 }
    this.#state = 'draining'
    await Promise.all(this.#listeners.map((l) => l.stopAccepting()))
    for (const tunnel of this.#tunnels) tunnel.close()
    const started = this.#now()
    let remaining = this.#tracker.counts(this.#tunnels.size).open
    while (remaining > 0 && this.#now() - started < deadlineMs) {
      for (const l of this.#listeners) l.closeIdle()
      for (const socket of this.#tracker.sockets()) if (this.#tracker.isIdle(socket)) socket.end()
      await new Promise((r) => setTimeout(r, 25))
      remaining = this.#tracker.counts(this.#tunnels.size).open
    }
    const isForced = remaining > 0
    if (isForced) for (const socket of this.#tracker.sockets()) socket.destroy()
    await retireRuntime(this.#runtime, undefined)
    this.#state = 'stopped'
    return { isForced, remainingAtDeadline: remaining }
  }
}
