import { Pool } from 'undici'
import type { BackendConfig, UpstreamConfig } from '../config/index.ts'
import { parseBackendUrl } from '../config/index.ts'
import { readTlsFile } from '../net/index.ts'
import { CircuitBreaker, type BreakerState } from '../resilience/index.ts'

/**
 * One backend server: a bounded undici pool plus the counters the balancer and admission use.
 * Mutable counters are the only state; everything else is fixed at construction.
 */
export interface Backend {
  /** Stable id: `<upstream>/<origin>`; bounded, safe for logs and metric labels. */
  readonly id: string
  readonly origin: string
  readonly hostname: string
  readonly port: number
  /** `host[:port]` of the backend URL (Host for `hostHeader: backend`). */
  readonly authority: string
  readonly isTls: boolean
  /** TLS options for connections made outside the pool (WebSocket tunnels). */
  readonly tlsOptions: { rejectUnauthorized: boolean; ca?: Buffer; servername?: string }
  readonly connectTimeoutMs: number
  /** Longest wait for a response head once connected (used by tunnels outside the pool). */
  readonly headersTimeoutMs: number
  readonly weight: number
  /** Most requests in flight at once (HTTP/1.1: one per connection). */
  readonly maxActive: number
  readonly pool: Pool
  /** Requests currently dispatched to this backend. */
  active: number
  /** WebSocket tunnels currently open to this backend (not counted in `active`). */
  tunnels: number
  /** Set once the backend is removed from config: no new work, close when idle. */
  isDraining: boolean
  /** Key that identifies an equivalent backend across reloads (same origin and pool settings). */
  readonly reuseKey: string
  /** Failure-ratio breaker (absent when disabled). Survives reloads with the backend. */
  readonly breaker: CircuitBreaker | undefined
}

/** Reports breaker transitions (logs, metrics). */
export type BreakerTransitionListener = (
  backendId: string,
  from: BreakerState,
  to: BreakerState,
  reason: string,
) => void

/**
 * A backend's id and the key of the settings that, when unchanged across a reload, let its pool (and
 * its warm connections) be reused. Computed without opening anything.
 */
export function backendIdentity(
  upstream: UpstreamConfig,
  backend: BackendConfig,
): { id: string; reuseKey: string } {
  const parsed = parseBackendUrl(backend.url)
  if (typeof parsed === 'string') throw new TypeError(`invalid backend url: ${parsed}`) // validated earlier
  const id = `${upstream.id}/${parsed.hostname}:${parsed.port}`
  const reuseKey = JSON.stringify([
    parsed.origin,
    backend.weight,
    backend.maxConnections ?? upstream.pool.maxConnectionsPerBackend,
    upstream.protocol,
    upstream.pool.idleTimeoutMs,
    upstream.timeouts,
    upstream.tls ?? null,
    upstream.circuitBreaker,
  ])
  return { id, reuseKey }
}

/** Creates a backend and its connection pool (no connection is opened until the first request). */
export function createBackend(
  upstream: UpstreamConfig,
  backend: BackendConfig,
  onBreakerTransition?: BreakerTransitionListener,
): Backend {
  const parsed = parseBackendUrl(backend.url)
  if (typeof parsed === 'string') throw new TypeError(`invalid backend url: ${parsed}`) // validated earlier
  const isTls = parsed.protocol === 'https:'
  const isH2 = upstream.protocol === 'http2'
  const maxConnections = backend.maxConnections ?? upstream.pool.maxConnectionsPerBackend
  const tls = upstream.tls
  const tlsOptions = {
    rejectUnauthorized: tls?.rejectUnauthorized ?? true,
    ...(tls?.caFile === undefined
      ? {}
      : { ca: readTlsFile(tls.caFile, `upstream ${upstream.id}: tls.caFile`) }),
    ...(tls?.servername === undefined ? {} : { servername: tls.servername }),
  }
  const pool = new Pool(parsed.origin, {
    connections: maxConnections,
    pipelining: isH2 ? 100 : 1,
    connectTimeout: upstream.timeouts.connectMs,
    headersTimeout: upstream.timeouts.headersMs,
    bodyTimeout: upstream.timeouts.bodyIdleMs,
    keepAliveTimeout: upstream.pool.idleTimeoutMs,
    keepAliveMaxTimeout: upstream.pool.idleTimeoutMs,
    // Close our side 1 s before the backend's advertised Keep-Alive timeout, so we rarely race its close.
    keepAliveTimeoutThreshold: 1000,
    // We set our own limits at the edge; the upstream response head is bounded too.
    maxHeaderSize: 64 * 1024,
    strictContentLength: true,
    ...(isH2 ? { allowH2: true, ...(isTls ? {} : { useH2c: true }), maxConcurrentStreams: 100 } : {}),
    ...(isTls ? { connect: tlsOptions } : {}),
  })
  const identity = backendIdentity(upstream, backend)
  const cb = upstream.circuitBreaker
  const breaker = cb.enabled
    ? new CircuitBreaker(cb, (from, to, reason) => onBreakerTransition?.(identity.id, from, to, reason))
    : undefined
  return {
    ...identity,
    breaker,
    origin: parsed.origin,
    hostname: parsed.hostname,
    port: parsed.port,
    authority: parsed.authority,
    isTls,
    tlsOptions,
    connectTimeoutMs: upstream.timeouts.connectMs,
    headersTimeoutMs: upstream.timeouts.headersMs,
    weight: backend.weight,
    // An h2 connection multiplexes: allow up to 100 streams per connection.
    maxActive: isH2 ? maxConnections * 100 : maxConnections,
    pool,
    active: 0,
    tunnels: 0,
    isDraining: false,
  }
}
