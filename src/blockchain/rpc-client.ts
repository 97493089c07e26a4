/**
 * JSON-RPC client over several HTTP endpoints with failover (the I/O adapter around the pure ranking,
 * breaker, backoff and failure-classification modules).
 *
 * - Every attempt has a deadline; a call has an overall deadline.
 * - Idempotent reads fail over at once to the next ranked endpoint and retry an endpoint already tried only
 *   after a full-jitter exponential backoff. Non-idempotent calls are sent once (to another endpoint only
 *   when the first provably never received them). `eth_sendRawTransaction` has its own `broadcast`.
 * - Each endpoint has a circuit breaker; its chain id is verified before first use and again on every
 *   reconnect (after its breaker opened); a background probe tracks heads, refuses lagging endpoints and
 *   reconnects dead ones with growing cooldowns.
 * - URLs never leave this module: logs, errors, metrics and snapshots name endpoints by configured name.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Dispatcher } from 'undici'
import { Agent, request as undiciRequest } from 'undici'
import { keccak256 } from 'viem'
import { GatewayError } from '../errors/index.ts'
import { fullJitterBackoffMs } from './backoff.ts'
import type { RpcEndpointConfig, RpcTuning } from './chain-config.ts'
import type { ChainMetrics } from './chain-metrics.ts'
import {
  breakerPhaseValue,
  onBreakerAttempt,
  onBreakerFailure,
  onBreakerSuccess,
  type BreakerPhase,
} from './circuit-breaker.ts'
import {
  bestHead,
  createEndpointHealth,
  endpointUsability,
  headLagBlocks,
  nextLatencyEwma,
  rankEndpoints,
  type ChainCheck,
  type EndpointHealth,
  type EndpointUsability,
  type RankingOptions,
} from './endpoint-ranking.ts'
import {
  JsonRpcError,
  classifyFetchError,
  classifyHttpStatus,
  classifyRpcError,
  isEndpointFault,
  methodKind,
  methodLabel,
  type RpcFailure,
} from './rpc-failure.ts'
import type { ChainDeps, Hex } from './types.ts'

export interface RpcClientOptions {
  readonly chainId: number
  readonly endpoints: readonly RpcEndpointConfig[]
  readonly tuning: RpcTuning
}

export interface RpcClientDeps extends ChainDeps {
  readonly metrics: ChainMetrics
}

export interface RpcRequestOptions {
  /** Budget of the whole call across attempts and backoff, in ms from now. */
  readonly deadlineMs?: number
  readonly signal?: AbortSignal
}

/** Outcome of broadcasting a signed transaction: expected failures are values. */
export type BroadcastResult =
  /** A node accepted it (or already knew it). */
  | { readonly outcome: 'accepted'; readonly endpoint: string }
  /** A node refused it with a JSON-RPC error (nonce too low, underpriced, insufficient funds...). */
  | {
      readonly outcome: 'rejected'
      readonly endpoint: string
      readonly error: JsonRpcError
      /** An earlier attempt to another endpoint may have delivered it (so "nonce too low" may be ours). */
      readonly wasMaybeDelivered: boolean
    }
  /** No node received it. */
  | { readonly outcome: 'not-sent'; readonly error: GatewayError }
  /** Some node may have received it (timeout, reset): track it by hash. */
  | { readonly outcome: 'unknown'; readonly error: GatewayError }

/** Connectivity of the chain as seen through the endpoints. */
export type RpcState = 'up' | 'degraded' | 'down'

export interface EndpointStatus {
  readonly name: string
  readonly usability: EndpointUsability
  readonly chainCheck: ChainCheck
  readonly breaker: BreakerPhase
  readonly consecutiveFailures: number
  readonly latencyMs: number | null
  readonly headBlock: number | null
  readonly headLagBlocks: number
  readonly lastFailure: string | null
  readonly lastFailureAt: number | null
}

export interface RpcSnapshot {
  readonly state: RpcState
  readonly chainId: number
  readonly headBlock: number | null
  readonly usableEndpoints: number
  readonly endpoints: readonly EndpointStatus[]
}

export interface RpcClient {
  /** Sends a JSON-RPC call with failover; rejects with a GatewayError (CHAIN_*). */
  request<T = unknown>(method: string, params?: readonly unknown[], options?: RpcRequestOptions): Promise<T>
  /** Broadcasts a signed transaction to the best endpoint(s). Never throws for expected failures. */
  broadcast(rawTransaction: Hex, options?: RpcRequestOptions): Promise<BroadcastResult>
  /** Probes every endpoint once; throws CHAIN_WRONG_ID if every endpoint serves another chain. Starts the probe timer. */
  start(): Promise<void>
  /** One health-probe round (chain id of unverified endpoints, heads, reconnect trials). */
  probe(): Promise<void>
  snapshot(): RpcSnapshot
  close(): Promise<void>
}

interface EndpointRuntime {
  readonly name: string
  /** URL without userinfo; credentials move to the Authorization header. Never logged. */
  readonly origin: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  health: EndpointHealth
  verifying: Promise<RpcFailure | 'wrong-chain' | null> | undefined
  lastFailure: string | null
  lastFailureAt: number | null
  lastUsability: EndpointUsability | undefined
}

type AttemptResult = { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly failure: RpcFailure }

const ALREADY_KNOWN = /already known|known transaction|already imported|alreadyknown|already exists/i

function toRuntime(config: RpcEndpointConfig, index: number): EndpointRuntime {
  const url = new URL(config.http)
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' }
  if (url.username !== '' || url.password !== '') {
    const user = decodeURIComponent(url.username)
    const pass = decodeURIComponent(url.password)
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`
    url.username = ''
    url.password = ''
  }
  return {
    name: config.name,
    origin: url.origin,
    path: `${url.pathname}${url.search}`,
    headers,
    health: createEndpointHealth(index, config.name),
    verifying: undefined,
    lastFailure: null,
    lastFailureAt: null,
    lastUsability: undefined,
  }
}

function describeFailure(f: RpcFailure): string {
  if (f.kind === 'http' || (f.kind === 'rate-limited' && f.status !== undefined)) return `${f.kind} ${f.status}`
  if (f.errCode !== undefined) return `${f.kind} ${f.errCode}`
  return f.kind
}

/** The node's own message, bounded; node messages carry no URLs or keys. */
function rpcErrorMessage(method: string, e: JsonRpcError): string {
  return `${method} failed: JSON-RPC error ${e.code}: ${e.message.slice(0, 200)}`
}

export function createRpcClient(options: RpcClientOptions, deps: RpcClientDeps): RpcClient {
  const { tuning, chainId } = options
  const { clock, metrics } = deps
  const log = deps.log.child({ component: 'chain-rpc' })
  const random = deps.random ?? Math.random
  if (options.endpoints.length === 0) throw new GatewayError('CHAIN_CONFIG_INVALID', 'no RPC endpoint configured')
  const endpoints = options.endpoints.map(toRuntime)
  const ranking: RankingOptions = {
    maxHeadLagBlocks: tuning.maxHeadLagBlocks,
    headFreshMs: Math.max(2 * tuning.probeIntervalMs, 10_000),
    latencyBucketMs: tuning.latencyBucketMs,
  }
  const breakerOptions = {
    failureThreshold: tuning.breakerFailureThreshold,
    openBaseMs: tuning.breakerOpenBaseMs,
    openMaxMs: tuning.breakerOpenMaxMs,
  }
  const agent = new Agent({
    connections: 32,
    keepAliveTimeout: 4_000,
    connect: { timeout: tuning.timeoutMs },
  })
  let nextId = 1
  let state: RpcState = 'down'
  let hasStarted = false
  let isClosed = false
  let probing: Promise<void> | undefined
  let timer: NodeJS.Timeout | undefined

  const healths = (): EndpointHealth[] => endpoints.map((e) => e.health)

  function refresh(): void {
    const now = clock.now()
    const all = healths()
    let usable = 0
    for (const ep of endpoints) {
      const u = endpointUsability(ep.health, all, now, ranking)
      // For the state, an endpoint with a recent failure is not healthy yet (the next success or probe decides).
      const isUsable = u === 'usable' && ep.health.chainCheck === 'ok' && ep.health.breaker.consecutiveFailures === 0
      if (isUsable) usable++
      const lag = headLagBlocks(ep.health, all, now, ranking)
      metrics.endpointUsable.set({ endpoint: ep.name }, isUsable ? 1 : 0)
      metrics.endpointBreaker.set({ endpoint: ep.name }, breakerPhaseValue(ep.health.breaker.phase))
      metrics.endpointHeadLag.set({ endpoint: ep.name }, lag)
      if (ep.health.headBlock !== undefined) metrics.endpointHead.set({ endpoint: ep.name }, ep.health.headBlock)
      if (u !== ep.lastUsability) {
        if (u === 'lagging') {
          metrics.endpointRefused.inc({ endpoint: ep.name, reason: 'lagging' })
          log.warn({ endpoint: ep.name, lagBlocks: lag, maxLagBlocks: tuning.maxHeadLagBlocks }, 'rpc endpoint lagging; refused until it catches up')
        } else if (ep.lastUsability === 'lagging') {
          log.info({ endpoint: ep.name, lagBlocks: lag }, 'rpc endpoint caught up')
        }
        ep.lastUsability = u
      }
    }
    const next: RpcState = usable === 0 ? 'down' : usable === endpoints.length ? 'up' : 'degraded'
    if (next !== state && hasStarted) {
      if (next === 'down') log.error({ endpoints: endpoints.length }, 'chain unavailable: no usable RPC endpoint; payment features degraded')
      else if (state === 'down') log.info({ usable, endpoints: endpoints.length }, 'chain available again')
      else log.warn({ usable, endpoints: endpoints.length, state: next }, 'chain connectivity changed')
    }
    state = next
    metrics.chainState.set(state === 'up' ? 2 : state === 'degraded' ? 1 : 0)
  }

  function recordOutcome(ep: EndpointRuntime, method: string, startedAt: number, result: AttemptResult): void {
    const now = clock.now()
    const elapsedMs = Math.max(0, now - startedAt)
    const outcome = result.ok ? 'ok' : result.failure.kind.replace('-', '_')
    metrics.rpcDuration.observe({ endpoint: ep.name, method: methodLabel(method), outcome }, elapsedMs / 1000)
    const h = ep.health
    if (result.ok || result.failure.kind === 'rpc-error') {
      ep.health = { ...h, breaker: onBreakerSuccess(h.breaker), latencyEwmaMs: nextLatencyEwma(h.latencyEwmaMs, elapsedMs) }
      return
    }
    const failure = result.failure
    if (failure.kind === 'aborted') {
      // The caller gave up: say nothing about the endpoint, but free a half-open trial slot.
      if (h.breaker.phase === 'half-open') ep.health = { ...h, breaker: { ...h.breaker, phase: 'open', openUntil: now, isTrialInFlight: false } }
      return
    }
    if (!isEndpointFault(failure)) return
    metrics.rpcFailures.inc({ endpoint: ep.name, kind: failure.kind.replace('-', '_') })
    ep.lastFailure = describeFailure(failure)
    ep.lastFailureAt = now
    const breaker = onBreakerFailure(h.breaker, now, breakerOptions, random)
    const hasTripped = breaker.phase === 'open' && h.breaker.phase !== 'open'
    // A tripped endpoint must prove its chain id again when it comes back (it may be a different node now).
    ep.health = { ...h, breaker, chainCheck: hasTripped && h.chainCheck === 'ok' ? 'unverified' : h.chainCheck }
    if (hasTripped) {
      log.warn(
        { endpoint: ep.name, failure: ep.lastFailure, trips: breaker.trips, cooldownMs: breaker.openUntil - now },
        'rpc endpoint circuit opened',
      )
    }
  }

  async function readBody(body: Dispatcher.ResponseData['body']): Promise<string | undefined> {
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of body) {
      const buf = chunk as Buffer
      size += buf.length
      if (size > tuning.maxResponseBytes) {
        body.destroy()
        return undefined
      }
      chunks.push(buf)
    }
    return Buffer.concat(chunks).toString('utf8')
  }

  /** One attempt of one call on one endpoint; never throws. */
  async function attempt(ep: EndpointRuntime, method: string, params: readonly unknown[], timeoutMs: number, signal?: AbortSignal): Promise<AttemptResult> {
    const startedAt = clock.now()
    ep.health = { ...ep.health, breaker: onBreakerAttempt(ep.health.breaker, startedAt) }
    const timeout = AbortSignal.timeout(Math.max(1, timeoutMs))
    const combined = signal === undefined ? timeout : AbortSignal.any([timeout, signal])
    const id = nextId++
    let result: AttemptResult
    try {
      const res = await undiciRequest(`${ep.origin}${ep.path}`, {
        method: 'POST',
        headers: ep.headers,
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
        signal: combined,
        dispatcher: agent,
      })
      if (res.statusCode !== 200) {
        await res.body.dump().catch(() => undefined)
        result = { ok: false, failure: classifyHttpStatus(res.statusCode) }
      } else {
        const text = await readBody(res.body)
        result = text === undefined ? { ok: false, failure: { kind: 'invalid-response', delivery: 'yes' } } : parseResponse(text, id)
      }
    } catch (err) {
      result = { ok: false, failure: classifyFetchError(err, { isTimedOut: timeout.aborted, isCallerAborted: signal?.aborted ?? false }) }
    }
    recordOutcome(ep, method, startedAt, result)
    if (result.ok && method === 'eth_blockNumber' && typeof result.result === 'string') {
      ep.health = { ...ep.health, headBlock: Number(BigInt(result.result)), headObservedAt: clock.now() }
    }
    return result
  }

  function parseResponse(text: string, id: number): AttemptResult {
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch {
      return { ok: false, failure: { kind: 'invalid-response', delivery: 'yes' } }
    }
    if (doc === null || typeof doc !== 'object' || (doc as { id?: unknown }).id !== id) {
      return { ok: false, failure: { kind: 'invalid-response', delivery: 'yes' } }
    }
    const d = doc as { result?: unknown; error?: { code?: unknown; message?: unknown; data?: unknown } }
    if (d.error !== undefined && d.error !== null) {
      const code = typeof d.error.code === 'number' ? d.error.code : -32603
      const message = typeof d.error.message === 'string' ? d.error.message : 'unknown error'
      const failure = classifyRpcError(new JsonRpcError(code, message, d.error.data))
      return { ok: false, failure }
    }
    if (!('result' in d)) return { ok: false, failure: { kind: 'invalid-response', delivery: 'yes' } }
    return { ok: true, result: d.result }
  }

  /** Checks `eth_chainId` once per (re)connection; single-flight per endpoint. Null when verified. */
  function ensureVerified(ep: EndpointRuntime, timeoutMs: number): Promise<RpcFailure | 'wrong-chain' | null> {
    if (ep.health.chainCheck === 'ok') return Promise.resolve(null)
    ep.verifying ??= (async (): Promise<RpcFailure | 'wrong-chain' | null> => {
      const r = await attempt(ep, 'eth_chainId', [], timeoutMs)
      if (!r.ok) return r.failure
      let reported: number | undefined
      try {
        reported = typeof r.result === 'string' ? Number(BigInt(r.result)) : undefined
      } catch {
        reported = undefined
      }
      if (reported === chainId) {
        const wasRefused = ep.health.chainCheck === 'wrong-chain'
        ep.health = { ...ep.health, chainCheck: 'ok' }
        log.info({ endpoint: ep.name, chainId, wasRefused }, 'rpc endpoint verified')
        return null
      }
      if (ep.health.chainCheck !== 'wrong-chain') {
        log.error({ endpoint: ep.name, expectedChainId: chainId, reportedChainId: reported ?? null }, 'rpc endpoint serves the wrong chain; refused')
      }
      metrics.endpointRefused.inc({ endpoint: ep.name, reason: 'wrong_chain' })
      metrics.rpcFailures.inc({ endpoint: ep.name, kind: 'wrong_chain' })
      ep.lastFailure = `wrong chain ${reported ?? 'unknown'}`
      ep.lastFailureAt = clock.now()
      ep.health = { ...ep.health, chainCheck: 'wrong-chain' }
      return 'wrong-chain'
    })().finally(() => {
      ep.verifying = undefined
      refresh()
    })
    return ep.verifying
  }

  function unavailableSummary(): string {
    const now = clock.now()
    return endpoints.map((ep) => `${ep.name}: ${endpointUsability(ep.health, healths(), now, ranking)}`).join(', ')
  }

  async function request<T>(method: string, params: readonly unknown[] = [], opts: RpcRequestOptions = {}): Promise<T> {
    if (isClosed) throw new GatewayError('CHAIN_UNAVAILABLE', 'chain client closed')
    const kind = methodKind(method)
    if (kind === 'broadcast') {
      const r = await broadcast(params[0] as Hex, opts)
      if (r.outcome === 'accepted') return (params[0] === undefined ? undefined : hashOfAccepted(params[0] as Hex)) as T
      if (r.outcome === 'rejected') throw new GatewayError('CHAIN_RPC_ERROR', rpcErrorMessage(method, r.error), { cause: r.error })
      throw r.error
    }
    const deadline = clock.now() + (opts.deadlineMs ?? tuning.timeoutMs * tuning.maxAttempts + tuning.backoffMaxMs)
    const maxAttempts = kind === 'read' ? tuning.maxAttempts : endpoints.length
    const failures: string[] = []
    const tried = new Set<number>()
    let timeouts = 0
    try {
      for (let attempts = 0; attempts < maxAttempts; ) {
        const now = clock.now()
        if (now >= deadline) break
        const ranked = rankEndpoints(healths(), now, ranking)
        let idx = ranked.find((i) => !tried.has(i))
        if (idx === undefined) {
          // Every usable endpoint was tried: only reads retry, after a full-jitter backoff.
          idx = ranked[0]
          if (idx === undefined || kind !== 'read') break
          const delay = fullJitterBackoffMs(attempts - 1, { baseMs: tuning.backoffBaseMs, maxMs: tuning.backoffMaxMs }, random)
          if (now + delay >= deadline) break
          const isAborted = await sleep(delay, false, opts.signal === undefined ? {} : { signal: opts.signal }).catch(() => true)
          if (isAborted) break
        }
        tried.add(idx)
        attempts++
        const ep = endpoints[idx]!
        const verified = await ensureVerified(ep, Math.min(tuning.timeoutMs, deadline - clock.now()))
        if (verified !== null) {
          failures.push(`${ep.name}: ${verified === 'wrong-chain' ? 'wrong chain' : describeFailure(verified)}`)
          if (verified !== 'wrong-chain' && verified.kind === 'timeout') timeouts++
          continue
        }
        const r = await attempt(ep, method, params, Math.min(tuning.timeoutMs, deadline - clock.now()), opts.signal)
        if (r.ok) {
          if (failures.length > 0) log.info({ endpoint: ep.name, method, failedAttempts: failures.length }, 'rpc call served after failover')
          return r.result as T
        }
        const f = r.failure
        if (f.kind === 'rpc-error' && f.rpcError !== undefined) {
          throw new GatewayError('CHAIN_RPC_ERROR', rpcErrorMessage(method, f.rpcError), { cause: f.rpcError })
        }
        if (f.kind === 'aborted') throw new GatewayError('CHAIN_RPC_TIMEOUT', `${method} aborted by the caller`)
        if (f.kind === 'timeout') timeouts++
        failures.push(`${ep.name}: ${describeFailure(f)}`)
        metrics.failovers.inc({ endpoint: ep.name })
        log.warn({ endpoint: ep.name, method, failure: describeFailure(f), attempt: attempts }, 'rpc attempt failed')
        // Non-idempotent calls move on only if the node provably never received them.
        if (kind !== 'read' && f.delivery !== 'no') break
      }
    } finally {
      refresh()
    }
    if (opts.signal?.aborted === true) throw new GatewayError('CHAIN_RPC_TIMEOUT', `${method} aborted by the caller`)
    if (failures.length === 0) throw new GatewayError('CHAIN_UNAVAILABLE', `no usable RPC endpoint for ${method} (${unavailableSummary()})`)
    if (timeouts === failures.length || (timeouts > 0 && clock.now() >= deadline)) {
      throw new GatewayError('CHAIN_RPC_TIMEOUT', `${method} timed out (${failures.join('; ')})`)
    }
    throw new GatewayError('CHAIN_UNAVAILABLE', `${method} failed on every endpoint tried (${failures.join('; ')})`)
  }

  // viem expects eth_sendRawTransaction to return the hash: keccak256 of the signed bytes is exactly that.
  function hashOfAccepted(raw: Hex): Hex {
    return keccak256(raw)
  }

  async function broadcast(raw: Hex, opts: RpcRequestOptions = {}): Promise<BroadcastResult> {
    if (isClosed) return { outcome: 'not-sent', error: new GatewayError('CHAIN_UNAVAILABLE', 'chain client closed') }
    const method = 'eth_sendRawTransaction'
    const deadline = clock.now() + (opts.deadlineMs ?? tuning.timeoutMs * 2)
    const failures: string[] = []
    let wasMaybeDelivered = false
    let sawTimeout = false
    try {
      for (const idx of rankEndpoints(healths(), clock.now(), ranking)) {
        const remaining = deadline - clock.now()
        if (remaining <= 0) break
        const ep = endpoints[idx]!
        const verified = await ensureVerified(ep, Math.min(tuning.timeoutMs, remaining))
        if (verified !== null) {
          failures.push(`${ep.name}: ${verified === 'wrong-chain' ? 'wrong chain' : describeFailure(verified)}`)
          continue
        }
        const r = await attempt(ep, method, [raw], Math.min(tuning.timeoutMs, deadline - clock.now()), opts.signal)
        if (r.ok) return { outcome: 'accepted', endpoint: ep.name }
        const f = r.failure
        if (f.kind === 'rpc-error' && f.rpcError !== undefined) {
          if (ALREADY_KNOWN.test(f.rpcError.message)) return { outcome: 'accepted', endpoint: ep.name }
          return { outcome: 'rejected', endpoint: ep.name, error: f.rpcError, wasMaybeDelivered }
        }
        if (f.delivery !== 'no') wasMaybeDelivered = true
        if (f.kind === 'timeout') sawTimeout = true
        failures.push(`${ep.name}: ${describeFailure(f)}`)
        log.warn({ endpoint: ep.name, method, failure: describeFailure(f), wasMaybeDelivered }, 'broadcast attempt failed')
        if (f.kind === 'aborted') break
        metrics.failovers.inc({ endpoint: ep.name })
      }
    } finally {
      refresh()
    }
    const detail = failures.length === 0 ? `no usable RPC endpoint (${unavailableSummary()})` : failures.join('; ')
    if (wasMaybeDelivered) {
      return { outcome: 'unknown', error: new GatewayError(sawTimeout ? 'CHAIN_RPC_TIMEOUT' : 'CHAIN_UNAVAILABLE', `broadcast outcome unknown (${detail})`) }
    }
    return { outcome: 'not-sent', error: new GatewayError('CHAIN_UNAVAILABLE', `broadcast failed (${detail})`) }
  }

  function probe(): Promise<void> {
    probing ??= (async () => {
      const now = clock.now()
      await Promise.all(
        endpoints.map(async (ep) => {
          if (endpointUsability(ep.health, healths(), now, ranking) === 'cooling') return
          const verified = await ensureVerified(ep, tuning.timeoutMs)
          const failure = verified === null ? await attempt(ep, 'eth_blockNumber', [], tuning.timeoutMs).then((r) => (r.ok ? null : r.failure)) : verified
          if (failure !== null && failure !== 'wrong-chain') log.debug({ endpoint: ep.name, failure: describeFailure(failure) }, 'rpc probe failed')
        }),
      )
      refresh()
    })().finally(() => {
      probing = undefined
    })
    return probing
  }

  return {
    request,
    broadcast,
    probe,
    async start(): Promise<void> {
      await probe()
      hasStarted = true
      refresh()
      log.info({ chainId, state, endpoints: endpoints.map((e) => e.name) }, 'chain rpc client started')
      if (endpoints.every((e) => e.health.chainCheck === 'wrong-chain')) {
        throw new GatewayError('CHAIN_WRONG_ID', `every RPC endpoint serves a chain other than ${chainId}`)
      }
      timer ??= setInterval(() => {
        probe().catch((err: unknown) => log.error({ err }, 'rpc probe failed'))
      }, tuning.probeIntervalMs)
      timer.unref()
    },
    snapshot(): RpcSnapshot {
      const now = clock.now()
      const all = healths()
      const list: EndpointStatus[] = endpoints.map((ep) => ({
        name: ep.name,
        usability: endpointUsability(ep.health, all, now, ranking),
        chainCheck: ep.health.chainCheck,
        breaker: ep.health.breaker.phase,
        consecutiveFailures: ep.health.breaker.consecutiveFailures,
        latencyMs: ep.health.latencyEwmaMs === undefined ? null : Math.round(ep.health.latencyEwmaMs),
        headBlock: ep.health.headBlock ?? null,
        headLagBlocks: headLagBlocks(ep.health, all, now, ranking),
        lastFailure: ep.lastFailure,
        lastFailureAt: ep.lastFailureAt,
      }))
      return {
        state,
        chainId,
        headBlock: bestHead(all, now, ranking) ?? null,
        usableEndpoints: list.filter((e) => e.usability === 'usable' && e.chainCheck === 'ok' && e.consecutiveFailures === 0).length,
        endpoints: list,
      }
    },
    async close(): Promise<void> {
      isClosed = true
      if (timer !== undefined) clearInterval(timer)
      await agent.destroy()
    },
  }
}
