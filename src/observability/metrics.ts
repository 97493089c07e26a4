import { Counter, Gauge, collectDefaultMetrics, type Registry } from 'prom-client'
import type { ExchangeSummary, SlowClientSnapshot } from '../http/index.ts'
import { FastCounter, FastHistogram, type CounterSeries, type HistogramSeries } from './fast-metrics.ts'
import { ERROR_CODES, type ErrorCode } from '../errors/index.ts'

/** What the metrics read at scrape time about one backend (see upstream-stats.ts for the adapter). */
export interface BackendStats {
  readonly id: string
  /** healthy, recovering, ejected, draining (from the health tracker when present). */
  readonly state: string
  /** closed, open, half-open. */
  readonly breakerState: string
  readonly active: number
  readonly maxActive: number
  readonly tunnels: number
  readonly isDraining: boolean
}

/** What the metrics read at scrape time about one upstream. */
export interface UpstreamStats {
  readonly id: string
  readonly queueDepth: number
  readonly backends: readonly BackendStats[]
}

/** Read at scrape time: the gateway's state. Nothing here is computed per request. */
export interface GatewayStatsSource {
  state(): string
  configVersion(): string
  connections(): {
    readonly open: number
    readonly active: number
    readonly idle: number
    readonly upgraded: number
    readonly rejected: number
  }
  upstreams(): Iterable<UpstreamStats>
  /** Slow-client protection: buffered bytes now and its counters (Gateway.slowClients). */
  slowClients?(): SlowClientSnapshot
}

export interface GatewayMetricsOptions {
  /** Also export prom-client's process/runtime metrics (CPU, memory, event-loop lag, GC). */
  readonly processMetrics?: boolean
}

export type ReloadResultLabel = 'success' | 'unchanged' | 'failure'

const GATEWAY_STATES = ['starting', 'serving', 'draining', 'stopped'] as const
const HEALTH_STATES = ['healthy', 'recovering', 'ejected', 'draining'] as const
const BREAKER_STATES = ['closed', 'open', 'half_open'] as const
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const
/** Route label for exchanges that never matched a route (404, 400…): keeps the label set bounded. */
export const UNROUTED = '_unrouted'
const NO_BACKEND = '_none'
// Seconds, 1 ms to 10 s. Few buckets on purpose: the per-route histogram dominates the scrape size
// (routes × (buckets + 3) series).
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * The gateway's Prometheus metric families, on an injected registry (never the global default).
 * Per request: `observeExchange` (a few counter/histogram updates). Everything else (connections,
 * backend health, pools, breaker, config version) is read in collect() callbacks at scrape time.
 * Label values are bounded: route id, backend id, upstream id, status class, reason code, state.
 */
export class GatewayMetrics {
  readonly registry: Registry
  readonly #requests: FastCounter
  readonly #duration: FastHistogram
  readonly #ttfb: FastHistogram
  readonly #failures: Counter<'route' | 'code'>
  readonly #upstreamErrors: Counter<'backend' | 'code'>
  readonly #attemptFailures: Counter<'backend' | 'code'>
  readonly #retries: Counter<'route'>
  readonly #budgetExhausted: Counter<'route'>
  readonly #healthTransitions: Counter<'upstream' | 'backend' | 'to'>
  readonly #breakerTransitions: Counter<'backend' | 'to'>
  readonly #bytes: FastCounter
  readonly #reloads: Counter<'result' | 'code'>
  readonly #lastReloadOk: Gauge
  readonly #lastReloadAt: Gauge
  readonly #shutdowns: Counter<'result'>
  readonly #http2Abuse: Counter<'reason'>
  #source: GatewayStatsSource | undefined

  constructor(registry: Registry, options: GatewayMetricsOptions = {}) {
    this.registry = registry
    const registers = [registry]
    // Reads `this.#source` lazily: the gateway is bound after the metrics exist (it needs the hooks).
    const source = (): GatewayStatsSource | undefined => this.#source

    // The four families updated on every request use pre-resolved series (fast-metrics.ts).
    this.#requests = new FastCounter({
      name: 'litgate_requests_total',
      help: 'Finished client requests by route and status class (499 = client went away).',
      registers,
    })
    this.#duration = new FastHistogram({
      name: 'litgate_request_duration_seconds',
      help: 'Time from request start to the end of the response, by route.',
      buckets: LATENCY_BUCKETS,
      registers,
    })
    this.#ttfb = new FastHistogram({
      name: 'litgate_upstream_ttfb_seconds',
      help: 'Time from request start to the upstream response head (time to first byte), by upstream.',
      buckets: LATENCY_BUCKETS,
      registers,
    })
    this.#failures = new Counter({
      name: 'litgate_request_failures_total',
      help: 'Gateway-made failures by route and reason code (docs/errors.md).',
      labelNames: ['route', 'code'],
      registers,
    })
    this.#upstreamErrors = new Counter({
      name: 'litgate_upstream_errors_total',
      help: 'Upstream-side failures by backend and reason code (connect, reset, timeouts, queue).',
      labelNames: ['backend', 'code'],
      registers,
    })
    this.#attemptFailures = new Counter({
      name: 'litgate_upstream_attempt_failures_total',
      help:
        'Failed upstream attempts by backend and reason code, retried ones included (what outlier ' +
        'detection counts: an upstream error code, or 5xx for a 5xx response).',
      labelNames: ['backend', 'code'],
      registers,
    })
    this.#retries = new Counter({
      name: 'litgate_retries_total',
      help: 'Extra upstream attempts beyond the first, by route.',
      labelNames: ['route'],
      registers,
    })
    this.#budgetExhausted = new Counter({
      name: 'litgate_retry_budget_exhausted_total',
      help: 'Retries not made because the route retry budget was spent.',
      labelNames: ['route'],
      registers,
    })
    this.#http2Abuse = new Counter({
      name: 'litgate_http2_sessions_closed_total',
      help: 'HTTP/2 sessions the gateway closed for abuse (rapid_reset: GOAWAY ENHANCE_YOUR_CALM after server.http2MaxClientResets).',
      labelNames: ['reason'],
      registers,
    })
    this.#healthTransitions = new Counter({
      name: 'litgate_backend_health_transitions_total',
      help: 'Backend health state changes, by the state entered.',
      labelNames: ['upstream', 'backend', 'to'],
      registers,
    })
    this.#breakerTransitions = new Counter({
      name: 'litgate_backend_breaker_transitions_total',
      help: 'Circuit breaker state changes, by the state entered (to="open": the breaker tripped).',
      labelNames: ['backend', 'to'],
      registers,
    })
    this.#bytes = new FastCounter({
      name: 'litgate_body_bytes_total',
      help: 'Body bytes relayed, by route and direction (in = request, out = response).',
      registers,
    })
    this.#reloads = new Counter({
      name: 'litgate_reloads_total',
      help: 'Reload attempts by result (success, unchanged, failure) and reason code of a failure.',
      labelNames: ['result', 'code'],
      registers,
    })
    this.#lastReloadOk = new Gauge({
      name: 'litgate_config_last_reload_successful',
      help: '1 when the last reload attempt succeeded (or none was made), 0 when it failed.',
      registers,
    })
    this.#lastReloadOk.set(1)
    this.#lastReloadAt = new Gauge({
      name: 'litgate_config_last_reload_success_timestamp_seconds',
      help: 'Unix time of the last successful config load (start or reload).',
      registers,
    })
    this.#lastReloadAt.set(Date.now() / 1000)
    this.#shutdowns = new Counter({
      name: 'litgate_shutdowns_total',
      help: 'Graceful stops by result (drained, forced).',
      labelNames: ['result'],
      registers,
    })

    new Gauge({
      name: 'litgate_config_info',
      help: 'The active config version (content hash) as a label; value 1.',
      labelNames: ['version'],
      registers,
      collect() {
        this.reset()
        const s = source()
        if (s !== undefined) this.set({ version: s.configVersion() }, 1)
      },
    })
    new Gauge({
      name: 'litgate_gateway_state',
      help: 'Gateway lifecycle state (1 for the current state).',
      labelNames: ['state'],
      registers,
      collect() {
        const current = source()?.state()
        for (const state of GATEWAY_STATES) this.set({ state }, state === current ? 1 : 0)
      },
    })
    new Gauge({
      name: 'litgate_connections',
      help: 'Open client connections by state (open = all; active, idle, upgraded partition it).',
      labelNames: ['state'],
      registers,
      collect() {
        const s = source()
        if (s === undefined) return
        const c = s.connections()
        this.set({ state: 'open' }, c.open)
        this.set({ state: 'active' }, c.active)
        this.set({ state: 'idle' }, c.idle)
        this.set({ state: 'upgraded' }, c.upgraded)
      },
    })
    new Counter({
      name: 'litgate_connections_rejected_total',
      help: 'Client connections closed on accept because server.maxConnections was reached.',
      registers,
      collect() {
        const s = source()
        if (s === undefined) return
        this.reset()
        this.inc(s.connections().rejected)
      },
    })
    new Gauge({
      name: 'litgate_backend_health',
      help: 'Backend health state (1 for the current state).',
      labelNames: ['upstream', 'backend', 'state'],
      registers,
      collect() {
        this.reset()
        const s = source()
        if (s === undefined) return
        for (const u of s.upstreams()) {
          for (const b of u.backends) {
            for (const state of HEALTH_STATES)
              this.set({ upstream: u.id, backend: b.id, state }, state === b.state ? 1 : 0)
            // A state outside the known set still shows (bounded: it comes from a closed union upstream).
            if (!(HEALTH_STATES as readonly string[]).includes(b.state))
              this.set({ upstream: u.id, backend: b.id, state: b.state }, 1)
          }
        }
      },
    })
    new Gauge({
      name: 'litgate_backend_breaker_state',
      help: 'Circuit breaker state per backend (1 for the current state).',
      labelNames: ['upstream', 'backend', 'state'],
      registers,
      collect() {
        this.reset()
        const s = source()
        if (s === undefined) return
        for (const u of s.upstreams()) {
          for (const b of u.backends) {
            const current = b.breakerState.replace('-', '_')
            for (const state of BREAKER_STATES)
              this.set({ upstream: u.id, backend: b.id, state }, state === current ? 1 : 0)
          }
        }
      },
    })
    // Per-backend gauges read at scrape time.
    const perBackendGauge = (name: string, help: string, read: (b: BackendStats) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['upstream', 'backend'],
        registers,
        collect() {
          this.reset()
          const s = source()
          if (s === undefined) return
          for (const u of s.upstreams())
            for (const b of u.backends) this.set({ upstream: u.id, backend: b.id }, read(b))
        },
      })
    }
    perBackendGauge('litgate_backend_active_requests', 'Requests in flight per backend.', (b) => b.active)
    perBackendGauge(
      'litgate_backend_capacity_requests',
      'Most requests in flight per backend (pool connections × streams per connection).',
      (b) => b.maxActive,
    )
    perBackendGauge(
      'litgate_backend_websocket_tunnels',
      'Open WebSocket tunnels per backend.',
      (b) => b.tunnels,
    )
    new Gauge({
      name: 'litgate_upstream_pool_utilisation_ratio',
      help: 'Requests in flight / capacity over the non-draining backends of an upstream.',
      labelNames: ['upstream'],
      registers,
      collect() {
        this.reset()
        const s = source()
        if (s === undefined) return
        for (const u of s.upstreams()) {
          let active = 0
          let capacity = 0
          for (const b of u.backends) {
            if (b.isDraining) continue
            active += b.active
            capacity += b.maxActive
          }
          this.set({ upstream: u.id }, capacity === 0 ? 0 : active / capacity)
        }
      },
    })
    new Gauge({
      name: 'litgate_upstream_queue_depth',
      help: 'Requests waiting for a free backend slot, per upstream.',
      labelNames: ['upstream'],
      registers,
      collect() {
        this.reset()
        const s = source()
        if (s === undefined) return
        for (const u of s.upstreams()) this.set({ upstream: u.id }, u.queueDepth)
      },
    })
    const slow = (): SlowClientSnapshot | undefined => source()?.slowClients?.()
    new Gauge({
      name: 'litgate_buffered_bytes',
      help: 'Bytes of request bodies and read-ahead responses the gateway holds now, by store (memory, temp_file).',
      labelNames: ['store'],
      registers,
      collect() {
        const s = slow()
        if (s === undefined) return
        this.set({ store: 'memory' }, s.memoryBytes)
        this.set({ store: 'temp_file' }, s.tempFileBytes)
      },
    })
    new Counter({
      name: 'litgate_request_body_spills_total',
      help: 'Request bodies written to a temp file (server.buffering.tempDir) instead of memory.',
      registers,
      collect() {
        const s = slow()
        if (s === undefined) return
        this.reset()
        this.inc(s.spills)
      },
    })
    new Counter({
      name: 'litgate_body_buffer_exhausted_total',
      help: 'Request bodies that fit neither buffer budget, by what happened (refused with 503, or streamed).',
      labelNames: ['action'],
      registers,
      collect() {
        const s = slow()
        if (s === undefined) return
        this.reset()
        this.inc({ action: 'refused' }, s.bufferRefusals)
        this.inc({ action: 'streamed' }, s.bufferBypasses)
      },
    })
    new Counter({
      name: 'litgate_slow_client_aborts_total',
      help:
        'Exchanges ended for a slow client, by reason: slow_body (408), slow_read (response cut), ' +
        'slot_share (429, or a response cut, when the client IP held its share of upstream slots).',
      labelNames: ['reason'],
      registers,
      collect() {
        const s = slow()
        if (s === undefined) return
        this.reset()
        this.inc({ reason: 'slow_body' }, s.slowBodyAborts)
        this.inc({ reason: 'slow_read' }, s.slowReadAborts)
        this.inc({ reason: 'slot_share' }, s.shareRefusals)
      },
    })
    new Counter({
      name: 'litgate_http2_streams_refused_total',
      help: 'HTTP/2 streams refused (REFUSED_STREAM) because the client address had server.http2MaxStreamsPerClient open.',
      registers,
      collect() {
        const s = slow()
        if (s === undefined) return
        this.reset()
        this.inc(s.refusedStreams)
      },
    })
    // prom-client's names already start with `process_` / `nodejs_`: the prefix adds only `litgate_`
    // (litgate_process_cpu_seconds_total, litgate_nodejs_eventloop_lag_seconds, …).
    if (options.processMetrics === true) collectDefaultMetrics({ register: registry, prefix: 'litgate_' })
  }

  /** Binds the gateway whose state the scrape-time metrics read. */
  /** An HTTP/2 session closed for abuse (the gateway's `onHttp2Abuse` hook). */
  readonly observeHttp2Abuse = (reason: string): void => {
    this.#http2Abuse.inc({ reason })
  }

  bind(source: GatewayStatsSource): void {
    this.#source = source
  }

  /** The per-request part, called from the `onExchangeEnd` hook. */
  readonly observeExchange = (s: ExchangeSummary): void => {
    const route = s.routeId ?? UNROUTED
    const series = this.#routeSeries(route)
    const sc = statusClassIndex(s.status)
    ;(series.requests[sc] ??= this.#requests.series({ route, status_class: STATUS_CLASSES[sc] as string }))
      .value++
    series.duration.observe(s.durationMs / 1000)
    if (s.ttfbMs !== undefined && s.backendId !== undefined) {
      this.#ttfbSeries(upstreamOf(s.backendId)).observe(s.ttfbMs / 1000)
    }
    if (s.attempts > 1) this.#retries.inc({ route }, s.attempts - 1)
    if (s.bytesIn > 0) (series.bytesIn ??= this.#bytes.series({ route, direction: 'in' })).value += s.bytesIn
    if (s.bytesOut > 0)
      (series.bytesOut ??= this.#bytes.series({ route, direction: 'out' })).value += s.bytesOut
    const attemptLog = (s as { readonly attemptLog?: readonly { readonly verdict: string }[] | undefined })
      .attemptLog
    if (attemptLog !== undefined) {
      for (const a of attemptLog) if (a.verdict === 'budget-exhausted') this.#budgetExhausted.inc({ route })
    }
    const code = s.code
    if (code !== undefined) {
      this.#failures.inc({ route, code })
      if (ERROR_CODES[code].source === 'upstream')
        this.#upstreamErrors.inc({ backend: s.backendId ?? NO_BACKEND, code })
    }
  }

  /** Counts one failed upstream attempt (wired to the gateway's onAttemptFailure; failure path only). */
  readonly observeAttemptFailure = (backendId: string, code: string): void => {
    this.#attemptFailures.inc({ backend: backendId, code })
  }

  /** Counts a backend health transition (wired to the runtime's onHealthTransition). */
  observeHealthTransition(upstream: string, backend: string, to: string): void {
    this.#healthTransitions.inc({ upstream, backend, to })
  }

  /** Counts a circuit breaker transition (wired to the runtime's onBreakerTransition). */
  observeBreakerTransition(backend: string, to: string): void {
    this.#breakerTransitions.inc({ backend, to: to.replace('-', '_') })
  }

  /** Counts a reload attempt. */
  observeReload(result: ReloadResultLabel, code?: ErrorCode): void {
    this.#reloads.inc({ result, code: code ?? '' })
    this.#lastReloadOk.set(result === 'failure' ? 0 : 1)
    if (result === 'success') this.#lastReloadAt.set(Date.now() / 1000)
  }

  /** Counts a finished graceful stop. */
  observeShutdown(isForced: boolean): void {
    this.#shutdowns.inc({ result: isForced ? 'forced' : 'drained' })
  }

  /** Drops per-route series of routes that no longer exist (after a reload), keeping cardinality bounded. */
  // Per-route label handles, resolved once (prom-client hashes the label object on every call
  // otherwise: ~9 µs per request for the handful of updates above).
  readonly #perRoute = new Map<string, RouteSeries>()
  readonly #perUpstreamTtfb = new Map<string, HistogramSeries>()

  #routeSeries(route: string): RouteSeries {
    let series = this.#perRoute.get(route)
    if (series === undefined) {
      series = {
        // Series are created on first use, so a route exports only the status classes it has seen.
        requests: [undefined, undefined, undefined, undefined, undefined],
        duration: this.#duration.series({ route }),
        bytesIn: undefined,
        bytesOut: undefined,
      }
      this.#perRoute.set(route, series)
    }
    return series
  }

  #ttfbSeries(upstream: string): HistogramSeries {
    let h = this.#perUpstreamTtfb.get(upstream)
    if (h === undefined) {
      h = this.#ttfb.series({ upstream })
      this.#perUpstreamTtfb.set(upstream, h)
    }
    return h
  }

  forgetRoutes(removed: Iterable<string>): void {
    for (const route of removed) {
      this.#perRoute.delete(route)
      for (const status_class of STATUS_CLASSES) this.#requests.remove({ route, status_class })
      this.#duration.remove({ route })
      this.#retries.remove({ route })
      this.#budgetExhausted.remove({ route })
      this.#bytes.remove({ route, direction: 'in' })
      this.#bytes.remove({ route, direction: 'out' })
      for (const code of Object.keys(ERROR_CODES)) this.#failures.remove({ route, code })
    }
  }
}

interface RouteSeries {
  /** One slot per STATUS_CLASSES entry, same order; filled on first use. */
  readonly requests: Array<CounterSeries | undefined>
  readonly duration: HistogramSeries
  bytesIn: CounterSeries | undefined
  bytesOut: CounterSeries | undefined
}

function statusClassIndex(status: number): number {
  if (status >= 500) return 4
  if (status >= 400) return 3
  if (status >= 300) return 2
  if (status >= 200) return 1
  return 0
}

/** Backend ids are `<upstream>/<host>:<port>` (src/upstream/backend.ts). */
function upstreamOf(backendId: string): string {
  const slash = backendId.indexOf('/')
  return slash === -1 ? backendId : backendId.slice(0, slash)
}
