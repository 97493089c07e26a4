/**
 * JSON-RPC client over several HTTP endpoints with failover (the I/O adapter around the pure ranking,
 * breaker, backoff and failure-classification modules).
 *
 * - Every attempt has a deadline; a call has an overall deadline.
 * - Idempotent reads fail over at once to the next ranked endpoint and retry an endpoint already tried only
 *   after a full-jitter exponential backoff. Non-idempotent calls are sent once (to another endpoint only
 *   when the first provably never received them). `eth_sendRawTransaction` has its own `broadcast`.
 * - Each endpoint has a circuit breaker; its chain id and genesis hash are verified before first use, on
 *   every reconnect (after its breaker opened) and every `identityRecheckMs`; a background probe tracks
 *   heads, believes only the lower median of sane heads (a lone endpoint far ahead is suspect, not the
 *   others lagging), refuses lagging endpoints and reconnects dead ones with growing cooldowns.
 * - Verified reads (`verifiedReceipt`, `verifiedLogs`, `verifiedBlockTag`, `verifiedCall`) ask two endpoints
 *   and compare; on disagreement the others vote, the outvoted endpoint is demoted and the call fails with
 *   CHAIN_ENDPOINTS_DISAGREE.
 * - URLs never leave this module: logs, errors, metrics and snapshots name endpoints by configured name.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Dispatcher } from 'undici'
import { Agent, request as undiciRequest } from 'undici'
import { keccak256 } from 'viem'
import { GatewayError, isGatewayError } from '../errors/index.ts'
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
  canonicalKey,
  canonicalLogs,
  canonicalReceipt,
  lowerMedian,
  outvoted,
  type ChainLog,
  type ChainReceipt,
  type CrossCheckKind,
  type VerifiedBlock,
} from './cross-check.ts'
import {
  createEndpointHealth,
  endpointUsability,
  headLagBlocks,
  nextLatencyEwma,
  rankEndpoints,
  suspectReason,
  trustedHead,
  type ChainCheck,
  type EndpointHealth,
  type EndpointUsability,
  type HeadAnchor,
  type RankingOptions,
  type SuspectReason,
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
import type { Address, ChainDeps, Hex } from './types.ts'

export interface RpcClientOptions {
  readonly chainId: number
  /** Expected hash of block 0; learned from the majority of endpoints at start when absent. */
  readonly genesisHash?: Hex
  readonly endpoints: readonly RpcEndpointConfig[]
  readonly tuning: RpcTuning
}

/** An `eth_getLogs` filter over a closed range of block numbers (tags would differ between endpoints). */
export interface VerifiedLogFilter {
  readonly address?: Address | readonly Address[]
  readonly topics?: readonly (Hex | readonly Hex[] | null)[]
  readonly fromBlock: number
  readonly toBlock: number
}

/** A read-only call evaluated at one block number on every endpoint asked. */
export interface VerifiedCallRequest {
  readonly to: Address
  readonly data: Hex
  readonly from?: Address
  /** Block to evaluate at; by default the `latest` block both endpoints agree on. */
  readonly blockNumber?: number
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
  /** Why the endpoint's head is not believed (null when it is). */
  readonly suspect: SuspectReason | null
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
  /**
   * A transaction receipt both endpoints asked agree on (same block hash, status, logs); null while the
   * transaction is unknown or not yet seen by both. With one endpoint configured, that endpoint's answer.
   * Rejects with CHAIN_ENDPOINTS_DISAGREE on a disagreement, CHAIN_UNAVAILABLE without a second endpoint.
   */
  verifiedReceipt(hash: Hex, options?: RpcRequestOptions): Promise<ChainReceipt | null>
  /** `eth_getLogs` over a closed block range, identical on two endpoints (ask at or below a verified tag). */
  verifiedLogs(filter: VerifiedLogFilter, options?: RpcRequestOptions): Promise<ChainLog[]>
  /** The block of a tag, as the lower of two endpoints' answers with the same hash at that height. */
  verifiedBlockTag(tag: 'latest' | 'safe' | 'finalized', options?: RpcRequestOptions): Promise<VerifiedBlock>
  /** `eth_call` result identical on two endpoints at the same block (access checks). */
  verifiedCall(call: VerifiedCallRequest, options?: RpcRequestOptions): Promise<Hex>
  /**
   * The account's transaction count at `tag` from a quorum of endpoints (the lower median of a majority of
   * the usable ones): one endpoint cannot push the nonce up.
   */
  agreedTransactionCount(
    address: Address,
    tag: 'latest' | 'pending',
    options?: RpcRequestOptions,
  ): Promise<number>
  /** Probes every endpoint once; throws CHAIN_WRONG_ID if every endpoint serves another chain. Starts the timers. */
  start(): Promise<void>
  /** One health-probe round (identity of unverified endpoints, heads, reconnect trials). */
  probe(): Promise<void>
  /** One identity round: chain id and genesis hash of every reachable endpoint, verified ones included. */
  recheckIdentity(): Promise<void>
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
  /** Hash and timestamp of block 0 as this endpoint reported it. */
  genesis: { readonly hash: Hex; readonly timestampSec: number } | undefined
  lastFailure: string | null
  lastFailureAt: number | null
  lastUsability: EndpointUsability | undefined
}

type AttemptResult =
  { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly failure: RpcFailure }

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
    genesis: undefined,
    lastFailure: null,
    lastFailureAt: null,
    lastUsability: undefined,
  }
}

function describeFailure(f: RpcFailure): string {
  if (f.kind === 'http' || (f.kind === 'rate-limited' && f.status !== undefined))
    return `${f.kind} ${f.status}`
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
  if (options.endpoints.length === 0)
    throw new GatewayError('CHAIN_CONFIG_INVALID', 'no RPC endpoint configured')
  const endpoints = options.endpoints.map(toRuntime)
  const staticRanking = {
    maxHeadLagBlocks: tuning.maxHeadLagBlocks,
    headFreshMs: Math.max(2 * tuning.probeIntervalMs, 10_000),
    latencyBucketMs: tuning.latencyBucketMs,
    maxHeadSkewBlocks: tuning.maxHeadSkewBlocks,
    maxBlockFutureMs: tuning.maxBlockFutureMs,
    maxBlocksPerSecond: tuning.maxBlocksPerSecond,
  }
  /** Genesis (once known) and the last trusted head bound how far a head can plausibly be. */
  let genesisAnchor: HeadAnchor | undefined
  let headAnchor: HeadAnchor | undefined
  let ranking: RankingOptions = { ...staticRanking, anchors: [] }
  let expectedGenesis: Hex | undefined = options.genesisHash?.toLowerCase() as Hex | undefined
  const setAnchors = (): void => {
    ranking = { ...staticRanking, anchors: [genesisAnchor, headAnchor].filter((a) => a !== undefined) }
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
  let rechecking: Promise<void> | undefined
  let timer: NodeJS.Timeout | undefined
  let identityTimer: NodeJS.Timeout | undefined

  const healths = (): EndpointHealth[] => endpoints.map((e) => e.health)

  function refresh(): void {
    const now = clock.now()
    const all = healths()
    const trusted = trustedHead(all, now, ranking)
    // Only a head checked against the genesis anchor may become an anchor itself (else a lone liar at start
    // could set an anchor so high that the rate limit never bites again).
    if (
      trusted !== undefined &&
      genesisAnchor !== undefined &&
      (headAnchor === undefined || trusted > headAnchor.block)
    ) {
      headAnchor = { block: trusted, atMs: now }
      setAnchors()
    }
    let usable = 0
    for (const ep of endpoints) {
      const u = endpointUsability(ep.health, all, now, ranking)
      // For the state, an endpoint with a recent failure is not healthy yet (the next success or probe decides).
      const isUsable =
        u === 'usable' && ep.health.chainCheck === 'ok' && ep.health.breaker.consecutiveFailures === 0
      if (isUsable) usable++
      const lag = headLagBlocks(ep.health, all, now, ranking)
      metrics.endpointUsable.set({ endpoint: ep.name }, isUsable ? 1 : 0)
      metrics.endpointBreaker.set({ endpoint: ep.name }, breakerPhaseValue(ep.health.breaker.phase))
      metrics.endpointHeadLag.set({ endpoint: ep.name }, lag)
      if (ep.health.headBlock !== undefined)
        metrics.endpointHead.set({ endpoint: ep.name }, ep.health.headBlock)
      if (u !== ep.lastUsability) {
        if (u === 'lagging') {
          metrics.endpointRefused.inc({ endpoint: ep.name, reason: 'lagging' })
          log.warn(
            { endpoint: ep.name, lagBlocks: lag, maxLagBlocks: tuning.maxHeadLagBlocks },
            'rpc endpoint lagging; refused until it catches up',
          )
        } else if (u === 'suspect') {
          metrics.endpointRefused.inc({ endpoint: ep.name, reason: 'suspect' })
          log.error(
            {
              endpoint: ep.name,
              reason: suspectReason(ep.health, all, now, ranking),
              headBlock: ep.health.headBlock,
              trustedHead: trusted ?? null,
            },
            'rpc endpoint head not believed; refused as suspect',
          )
        } else if (ep.lastUsability === 'lagging') {
          log.info({ endpoint: ep.name, lagBlocks: lag }, 'rpc endpoint caught up')
        } else if (ep.lastUsability === 'suspect' || ep.lastUsability === 'demoted') {
          log.info({ endpoint: ep.name, was: ep.lastUsability }, 'rpc endpoint back in rotation')
        }
        ep.lastUsability = u
      }
    }
    const next: RpcState = usable === 0 ? 'down' : usable === endpoints.length ? 'up' : 'degraded'
    if (next !== state && hasStarted) {
      if (next === 'down')
        log.error(
          { endpoints: endpoints.length },
          'chain unavailable: no usable RPC endpoint; payment features degraded',
        )
      else if (state === 'down') log.info({ usable, endpoints: endpoints.length }, 'chain available again')
      else log.warn({ usable, endpoints: endpoints.length, state: next }, 'chain connectivity changed')
    }
    state = next
    metrics.chainState.set(state === 'up' ? 2 : state === 'degraded' ? 1 : 0)
  }

  function recordOutcome(
    ep: EndpointRuntime,
    method: string,
    startedAt: number,
    result: AttemptResult,
  ): void {
    const now = clock.now()
    const elapsedMs = Math.max(0, now - startedAt)
    const outcome = result.ok ? 'ok' : result.failure.kind.replace('-', '_')
    metrics.rpcDuration.observe({ endpoint: ep.name, method: methodLabel(method), outcome }, elapsedMs / 1000)
    const h = ep.health
    if (result.ok || result.failure.kind === 'rpc-error') {
      ep.health = {
        ...h,
        breaker: onBreakerSuccess(h.breaker),
        latencyEwmaMs: nextLatencyEwma(h.latencyEwmaMs, elapsedMs),
      }
      return
    }
    const failure = result.failure
    if (failure.kind === 'aborted') {
      // The caller gave up: say nothing about the endpoint, but free a half-open trial slot.
      if (h.breaker.phase === 'half-open')
        ep.health = { ...h, breaker: { ...h.breaker, phase: 'open', openUntil: now, isTrialInFlight: false } }
      return
    }
    if (!isEndpointFault(failure)) return
    metrics.rpcFailures.inc({ endpoint: ep.name, kind: failure.kind.replace('-', '_') })
    ep.lastFailure = describeFailure(failure)
    ep.lastFailureAt = now
    const breaker = onBreakerFailure(h.breaker, now, breakerOptions, random)
    const hasTripped = breaker.phase === 'open' && h.breaker.phase !== 'open'
    // A tripped endpoint must prove its chain id again when it comes back (it may be a different node now).
    ep.health = {
      ...h,
      breaker,
      chainCheck: hasTripped && h.chainCheck === 'ok' ? 'unverified' : h.chainCheck,
    }
    if (hasTripped) {
      log.warn(
        {
          endpoint: ep.name,
          failure: ep.lastFailure,
          trips: breaker.trips,
          cooldownMs: breaker.openUntil - now,
        },
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
  async function attempt(
    ep: EndpointRuntime,
    method: string,
    params: readonly unknown[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<AttemptResult> {
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
        result =
          text === undefined
            ? { ok: false, failure: { kind: 'invalid-response', delivery: 'yes' } }
            : parseResponse(text, id)
      }
    } catch (err) {
      result = {
        ok: false,
        failure: classifyFetchError(err, {
          isTimedOut: timeout.aborted,
          isCallerAborted: signal?.aborted ?? false,
        }),
      }
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

  /** Refuses an endpoint that serves another chain (or changed to one): loud log and metric. */
  function refuseIdentity(
    ep: EndpointRuntime,
    reason: 'wrong_chain' | 'wrong_genesis',
    detail: Record<string, unknown>,
  ): 'wrong-chain' {
    if (ep.health.chainCheck !== 'wrong-chain') {
      const wasVerified = ep.health.chainCheck === 'ok'
      log.error(
        { endpoint: ep.name, reason, wasVerified, ...detail },
        wasVerified
          ? 'rpc endpoint changed chain; removed from rotation'
          : 'rpc endpoint serves the wrong chain; refused',
      )
    }
    metrics.endpointRefused.inc({ endpoint: ep.name, reason })
    metrics.rpcFailures.inc({ endpoint: ep.name, kind: reason })
    ep.lastFailure =
      reason === 'wrong_chain'
        ? `wrong chain ${String(detail.reportedChainId ?? 'unknown')}`
        : 'wrong genesis block'
    ep.lastFailureAt = clock.now()
    ep.health = { ...ep.health, chainCheck: 'wrong-chain' }
    return 'wrong-chain'
  }

  /**
   * Checks `eth_chainId` and the genesis block's hash; single-flight per endpoint. Null when verified.
   * Runs once per (re)connection (`ensureVerified`) and every `identityRecheckMs` (`recheckIdentity`).
   */
  function checkIdentity(ep: EndpointRuntime, timeoutMs: number): Promise<RpcFailure | 'wrong-chain' | null> {
    ep.verifying ??= (async (): Promise<RpcFailure | 'wrong-chain' | null> => {
      const r = await attempt(ep, 'eth_chainId', [], timeoutMs)
      if (!r.ok) return r.failure
      let reported: number | undefined
      try {
        reported = typeof r.result === 'string' ? Number(BigInt(r.result)) : undefined
      } catch {
        reported = undefined
      }
      if (reported !== chainId)
        return refuseIdentity(ep, 'wrong_chain', {
          expectedChainId: chainId,
          reportedChainId: reported ?? null,
        })
      const g = await attempt(ep, 'eth_getBlockByNumber', ['0x0', false], timeoutMs)
      if (!g.ok) return g.failure
      const block = g.result as { hash?: unknown; timestamp?: unknown } | null
      if (block === null || typeof block.hash !== 'string' || typeof block.timestamp !== 'string') {
        return refuseIdentity(ep, 'wrong_genesis', {
          expectedGenesis: expectedGenesis ?? null,
          reportedGenesis: null,
        })
      }
      const hash = block.hash.toLowerCase() as Hex
      ep.genesis = { hash, timestampSec: Number(BigInt(block.timestamp)) }
      if (expectedGenesis !== undefined && hash !== expectedGenesis) {
        return refuseIdentity(ep, 'wrong_genesis', { expectedGenesis, reportedGenesis: hash })
      }
      if (
        expectedGenesis === undefined &&
        endpoints.some((o) => o !== ep && o.genesis !== undefined && o.genesis.hash !== hash)
      ) {
        // No genesis settled yet and the endpoints disagree on it: none is trusted until a majority decides
        // (settleGenesis); whoever answered first must not win the race.
        if (ep.health.chainCheck === 'ok') ep.health = { ...ep.health, chainCheck: 'unverified' }
        return { kind: 'invalid-response', delivery: 'yes' }
      }
      if (ep.health.chainCheck !== 'ok') {
        const wasRefused = ep.health.chainCheck === 'wrong-chain'
        ep.health = { ...ep.health, chainCheck: 'ok' }
        log.info({ endpoint: ep.name, chainId, wasRefused }, 'rpc endpoint verified')
      }
      return null
    })().finally(() => {
      ep.verifying = undefined
      refresh()
    })
    return ep.verifying
  }

  function ensureVerified(
    ep: EndpointRuntime,
    timeoutMs: number,
  ): Promise<RpcFailure | 'wrong-chain' | null> {
    return ep.health.chainCheck === 'ok' ? Promise.resolve(null) : checkIdentity(ep, timeoutMs)
  }

  /**
   * Fixes the expected genesis from the endpoints' reports when it is not configured: the hash a strict
   * majority reports (one endpoint alone: its own). Endpoints reporting another are refused.
   */
  function settleGenesis(): void {
    if (expectedGenesis === undefined) {
      const reports = endpoints.filter((e) => e.genesis !== undefined).map((e) => e.genesis!.hash)
      const counts = new Map<Hex, number>()
      for (const h of reports) counts.set(h, (counts.get(h) ?? 0) + 1)
      for (const [hash, count] of counts) if (count * 2 > reports.length) expectedGenesis = hash
      if (expectedGenesis === undefined && reports.length > 0) {
        log.error(
          { endpoints: reports.length },
          'rpc endpoints disagree on the genesis block; none trusted until a majority agrees',
        )
      }
    }
    for (const ep of endpoints) {
      if (ep.genesis === undefined || ep.health.chainCheck === 'wrong-chain') continue
      if (expectedGenesis === undefined) {
        // No majority yet: nothing is verified against a genesis nobody agrees on.
        if (ep.health.chainCheck === 'ok') ep.health = { ...ep.health, chainCheck: 'unverified' }
      } else if (ep.genesis.hash !== expectedGenesis) {
        refuseIdentity(ep, 'wrong_genesis', { expectedGenesis, reportedGenesis: ep.genesis.hash })
      } else if (genesisAnchor === undefined) {
        genesisAnchor = { block: 0, atMs: ep.genesis.timestampSec * 1000 }
        setAnchors()
      }
    }
    refresh()
  }

  function recheckIdentity(): Promise<void> {
    rechecking ??= (async () => {
      const now = clock.now()
      await Promise.all(
        endpoints.map(async (ep) => {
          if (endpointUsability(ep.health, healths(), now, ranking) === 'cooling') return
          await checkIdentity(ep, tuning.timeoutMs)
        }),
      )
      settleGenesis()
    })().finally(() => {
      rechecking = undefined
    })
    return rechecking
  }

  function unavailableSummary(): string {
    const now = clock.now()
    return endpoints
      .map((ep) => `${ep.name}: ${endpointUsability(ep.health, healths(), now, ranking)}`)
      .join(', ')
  }

  async function request<T>(
    method: string,
    params: readonly unknown[] = [],
    opts: RpcRequestOptions = {},
  ): Promise<T> {
    if (isClosed) throw new GatewayError('CHAIN_UNAVAILABLE', 'chain client closed')
    const kind = methodKind(method)
    if (kind === 'broadcast') {
      const r = await broadcast(params[0] as Hex, opts)
      if (r.outcome === 'accepted')
        return (params[0] === undefined ? undefined : hashOfAccepted(params[0] as Hex)) as T
      if (r.outcome === 'rejected')
        throw new GatewayError('CHAIN_RPC_ERROR', rpcErrorMessage(method, r.error), { cause: r.error })
      throw r.error
    }
    const deadline =
      clock.now() + (opts.deadlineMs ?? tuning.timeoutMs * tuning.maxAttempts + tuning.backoffMaxMs)
    const maxAttempts = kind === 'read' ? tuning.maxAttempts : endpoints.length
    const failures: string[] = []
    const tried = new Set<number>()
    let timeouts = 0
    try {
      for (let attempts = 0; attempts < maxAttempts;) {
        const now = clock.now()
        if (now >= deadline) break
        const ranked = rankEndpoints(healths(), now, ranking)
        let idx = ranked.find((i) => !tried.has(i))
        if (idx === undefined) {
          // Every usable endpoint was tried: only reads retry, after a full-jitter backoff.
          idx = ranked[0]
          if (idx === undefined || kind !== 'read') break
          const delay = fullJitterBackoffMs(
            attempts - 1,
            { baseMs: tuning.backoffBaseMs, maxMs: tuning.backoffMaxMs },
            random,
          )
          if (now + delay >= deadline) break
          const isAborted = await sleep(
            delay,
            false,
            opts.signal === undefined ? {} : { signal: opts.signal },
          ).catch(() => true)
          if (isAborted) break
        }
        tried.add(idx)
        attempts++
        const ep = endpoints[idx]!
        const verified = await ensureVerified(ep, Math.min(tuning.timeoutMs, deadline - clock.now()))
        if (verified !== null) {
          failures.push(
            `${ep.name}: ${verified === 'wrong-chain' ? 'wrong chain' : describeFailure(verified)}`,
          )
          if (verified !== 'wrong-chain' && verified.kind === 'timeout') timeouts++
          continue
        }
        const r = await attempt(
          ep,
          method,
          params,
          Math.min(tuning.timeoutMs, deadline - clock.now()),
          opts.signal,
        )
        if (r.ok) {
          if (failures.length > 0)
            log.info(
              { endpoint: ep.name, method, failedAttempts: failures.length },
              'rpc call served after failover',
            )
          return r.result as T
        }
        const f = r.failure
        if (f.kind === 'rpc-error' && f.rpcError !== undefined) {
          throw new GatewayError('CHAIN_RPC_ERROR', rpcErrorMessage(method, f.rpcError), {
            cause: f.rpcError,
          })
        }
        if (f.kind === 'aborted')
          throw new GatewayError('CHAIN_RPC_TIMEOUT', `${method} aborted by the caller`)
        if (f.kind === 'timeout') timeouts++
        failures.push(`${ep.name}: ${describeFailure(f)}`)
        metrics.failovers.inc({ endpoint: ep.name })
        log.warn(
          { endpoint: ep.name, method, failure: describeFailure(f), attempt: attempts },
          'rpc attempt failed',
        )
        // Non-idempotent calls move on only if the node provably never received them.
        if (kind !== 'read' && f.delivery !== 'no') break
      }
    } finally {
      refresh()
    }
    if (opts.signal?.aborted === true)
      throw new GatewayError('CHAIN_RPC_TIMEOUT', `${method} aborted by the caller`)
    if (failures.length === 0)
      throw new GatewayError(
        'CHAIN_UNAVAILABLE',
        `no usable RPC endpoint for ${method} (${unavailableSummary()})`,
      )
    if (timeouts === failures.length || (timeouts > 0 && clock.now() >= deadline)) {
      throw new GatewayError('CHAIN_RPC_TIMEOUT', `${method} timed out (${failures.join('; ')})`)
    }
    throw new GatewayError(
      'CHAIN_UNAVAILABLE',
      `${method} failed on every endpoint tried (${failures.join('; ')})`,
    )
  }

  // viem expects eth_sendRawTransaction to return the hash: keccak256 of the signed bytes is exactly that.
  function hashOfAccepted(raw: Hex): Hex {
    return keccak256(raw)
  }

  async function broadcast(raw: Hex, opts: RpcRequestOptions = {}): Promise<BroadcastResult> {
    if (isClosed)
      return { outcome: 'not-sent', error: new GatewayError('CHAIN_UNAVAILABLE', 'chain client closed') }
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
          failures.push(
            `${ep.name}: ${verified === 'wrong-chain' ? 'wrong chain' : describeFailure(verified)}`,
          )
          continue
        }
        const r = await attempt(
          ep,
          method,
          [raw],
          Math.min(tuning.timeoutMs, deadline - clock.now()),
          opts.signal,
        )
        if (r.ok) return { outcome: 'accepted', endpoint: ep.name }
        const f = r.failure
        if (f.kind === 'rpc-error' && f.rpcError !== undefined) {
          if (ALREADY_KNOWN.test(f.rpcError.message)) return { outcome: 'accepted', endpoint: ep.name }
          return { outcome: 'rejected', endpoint: ep.name, error: f.rpcError, wasMaybeDelivered }
        }
        if (f.delivery !== 'no') wasMaybeDelivered = true
        if (f.kind === 'timeout') sawTimeout = true
        failures.push(`${ep.name}: ${describeFailure(f)}`)
        log.warn(
          { endpoint: ep.name, method, failure: describeFailure(f), wasMaybeDelivered },
          'broadcast attempt failed',
        )
        if (f.kind === 'aborted') break
        metrics.failovers.inc({ endpoint: ep.name })
      }
    } finally {
      refresh()
    }
    const detail =
      failures.length === 0 ? `no usable RPC endpoint (${unavailableSummary()})` : failures.join('; ')
    if (wasMaybeDelivered) {
      return {
        outcome: 'unknown',
        error: new GatewayError(
          sawTimeout ? 'CHAIN_RPC_TIMEOUT' : 'CHAIN_UNAVAILABLE',
          `broadcast outcome unknown (${detail})`,
        ),
      }
    }
    return {
      outcome: 'not-sent',
      error: new GatewayError('CHAIN_UNAVAILABLE', `broadcast failed (${detail})`),
    }
  }

  /** Reads the endpoint's latest block: its number and timestamp feed the head vote and the wall-clock limit. */
  async function probeHead(ep: EndpointRuntime): Promise<RpcFailure | null> {
    const r = await attempt(ep, 'eth_getBlockByNumber', ['latest', false], tuning.timeoutMs)
    if (!r.ok) return r.failure
    const b = r.result as { number?: unknown; timestamp?: unknown } | null
    if (b === null || typeof b.number !== 'string' || typeof b.timestamp !== 'string')
      return { kind: 'invalid-response', delivery: 'yes' }
    ep.health = {
      ...ep.health,
      headBlock: Number(BigInt(b.number)),
      headTimestampSec: Number(BigInt(b.timestamp)),
      headObservedAt: clock.now(),
    }
    return null
  }

  // ---- verified reads ---------------------------------------------------------------------------------

  type Answer =
    { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly rpcError: JsonRpcError }
  interface Vote<A> {
    readonly ep: EndpointRuntime
    readonly value: A
  }

  /** One call on one given endpoint (identity verified first); endpoint faults throw, node errors are answers. */
  async function askOn(
    ep: EndpointRuntime,
    method: string,
    params: readonly unknown[],
    deadline: number,
  ): Promise<Answer> {
    const remaining = (): number => Math.max(1, Math.min(tuning.timeoutMs, deadline - clock.now()))
    const verified = await ensureVerified(ep, remaining())
    if (verified !== null) {
      throw new GatewayError(
        'CHAIN_UNAVAILABLE',
        `${ep.name}: ${verified === 'wrong-chain' ? 'wrong chain' : describeFailure(verified)}`,
      )
    }
    const r = await attempt(ep, method, params, remaining())
    if (r.ok) return { ok: true, result: r.result }
    if (r.failure.kind === 'rpc-error' && r.failure.rpcError !== undefined)
      return { ok: false, rpcError: r.failure.rpcError }
    throw new GatewayError(
      r.failure.kind === 'timeout' ? 'CHAIN_RPC_TIMEOUT' : 'CHAIN_UNAVAILABLE',
      `${ep.name}: ${describeFailure(r.failure)}`,
    )
  }

  /** The result of an answer, or the node's error as CHAIN_RPC_ERROR. */
  function resultOf(method: string, a: Answer): unknown {
    if (a.ok) return a.result
    throw new GatewayError('CHAIN_RPC_ERROR', rpcErrorMessage(method, a.rpcError), { cause: a.rpcError })
  }

  function demote(ep: EndpointRuntime, check: CrossCheckKind): void {
    const now = clock.now()
    ep.health = { ...ep.health, demotedUntil: now + tuning.demoteMs }
    ep.lastFailure = `disagreed on ${check}`
    ep.lastFailureAt = now
    metrics.endpointRefused.inc({ endpoint: ep.name, reason: 'disagreed' })
    log.error(
      { endpoint: ep.name, check, demotedForMs: tuning.demoteMs },
      'rpc endpoint disagreed with the majority; demoted',
    )
  }

  /**
   * Asks two endpoints (more when one fails) and returns both answers when `agree` holds. Otherwise every
   * other usable endpoint is asked, an endpoint outvoted by a strict majority is demoted, and the call
   * fails with CHAIN_ENDPOINTS_DISAGREE (a disagreement is never resolved silently).
   */
  async function crossCheck<A>(
    check: CrossCheckKind,
    what: string,
    ask: (ep: EndpointRuntime, deadline: number) => Promise<A>,
    agree: (a: Vote<A>, b: Vote<A>, deadline: number) => Promise<boolean>,
    opts: RpcRequestOptions,
  ): Promise<readonly [Vote<A>, Vote<A>]> {
    if (isClosed) throw new GatewayError('CHAIN_UNAVAILABLE', 'chain client closed')
    const deadline =
      clock.now() + (opts.deadlineMs ?? tuning.timeoutMs * tuning.maxAttempts + tuning.backoffMaxMs)
    const candidates = rankEndpoints(healths(), clock.now(), ranking).map((i) => endpoints[i]!)
    const votes: Vote<A>[] = []
    const failures: string[] = []
    let next = 0
    const collect = async (want: number): Promise<void> => {
      while (votes.length < want && next < candidates.length && clock.now() < deadline) {
        const batch = candidates.slice(next, next + (want - votes.length))
        next += batch.length
        const settled = await Promise.allSettled(
          batch.map(async (ep) => ({ ep, value: await ask(ep, deadline) })),
        )
        for (const s of settled) {
          if (s.status === 'fulfilled') votes.push(s.value)
          else if (isGatewayError(s.reason) && s.reason.code !== 'CHAIN_RPC_ERROR')
            failures.push(s.reason.message)
          else throw s.reason
        }
      }
    }
    try {
      await collect(2)
      if (votes.length < 2) {
        throw new GatewayError(
          'CHAIN_UNAVAILABLE',
          `${what}: needs two endpoints to cross-check, ${votes.length} answered (${failures.join('; ') || unavailableSummary()})`,
        )
      }
      const [a, b] = votes as [Vote<A>, Vote<A>]
      if (await agree(a, b, deadline)) return [a, b]
      metrics.disagreements.inc({ check })
      await collect(candidates.length)
      const matrix: boolean[][] = votes.map(() => votes.map(() => false))
      for (let i = 0; i < votes.length; i++) {
        for (let j = i + 1; j < votes.length; j++) {
          const same = i === 0 && j === 1 ? false : await agree(votes[i]!, votes[j]!, deadline)
          matrix[i]![j] = same
          matrix[j]![i] = same
        }
      }
      const losers = outvoted(matrix).map((i) => votes[i]!.ep)
      for (const ep of losers) demote(ep, check)
      log.error(
        { check, endpoints: votes.map((v) => v.ep.name), demoted: losers.map((e) => e.name) },
        losers.length === 0
          ? 'rpc endpoints disagree; no majority to tell which one lies'
          : 'rpc endpoints disagree',
      )
      throw new GatewayError(
        'CHAIN_ENDPOINTS_DISAGREE',
        `${what}: endpoints ${votes.map((v) => v.ep.name).join(', ')} disagree` +
          (losers.length === 0 ? ' (no majority)' : `; demoted ${losers.map((e) => e.name).join(', ')}`),
      )
    } finally {
      refresh()
    }
  }

  /** Whether `ep` lacks block `n` (it is behind): its null receipt is then "not yet", not a contradiction. */
  async function isBehind(ep: EndpointRuntime, n: number, deadline: number): Promise<boolean> {
    const a = await askOn(ep, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false], deadline)
    return a.ok && a.result === null
  }

  async function hashAt(ep: EndpointRuntime, n: number, deadline: number): Promise<Hex | null> {
    const a = await askOn(ep, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false], deadline)
    const b = a.ok ? (a.result as { hash?: unknown } | null) : null
    return typeof b?.hash === 'string' ? (b.hash.toLowerCase() as Hex) : null
  }

  async function verifiedReceipt(hash: Hex, opts: RpcRequestOptions = {}): Promise<ChainReceipt | null> {
    const method = 'eth_getTransactionReceipt'
    if (endpoints.length === 1) return canonicalReceipt(await request(method, [hash], opts))
    const [a, b] = await crossCheck<ChainReceipt | null>(
      'receipt',
      `receipt ${hash}`,
      async (ep, deadline) => canonicalReceipt(resultOf(method, await askOn(ep, method, [hash], deadline))),
      async (x, y, deadline) => {
        if (x.value !== null && y.value !== null) return canonicalKey(x.value) === canonicalKey(y.value)
        if (x.value === null && y.value === null) return true
        const [none, some] = x.value === null ? [x, y] : [y, x]
        return isBehind(none.ep, some.value!.blockNumber, deadline)
      },
      opts,
    )
    return a.value === null || b.value === null ? null : a.value
  }

  async function verifiedLogs(filter: VerifiedLogFilter, opts: RpcRequestOptions = {}): Promise<ChainLog[]> {
    const method = 'eth_getLogs'
    if (
      !Number.isSafeInteger(filter.fromBlock) ||
      !Number.isSafeInteger(filter.toBlock) ||
      filter.fromBlock < 0 ||
      filter.toBlock < filter.fromBlock
    ) {
      throw new GatewayError(
        'CHAIN_RPC_ERROR',
        `verifiedLogs needs a closed block range, got ${filter.fromBlock}..${filter.toBlock}`,
      )
    }
    const params = [
      {
        ...(filter.address === undefined ? {} : { address: filter.address }),
        ...(filter.topics === undefined ? {} : { topics: filter.topics }),
        fromBlock: `0x${filter.fromBlock.toString(16)}`,
        toBlock: `0x${filter.toBlock.toString(16)}`,
      },
    ]
    if (endpoints.length === 1) return canonicalLogs(await request(method, params, opts))
    const [a] = await crossCheck<ChainLog[]>(
      'logs',
      `logs ${filter.fromBlock}..${filter.toBlock}`,
      async (ep, deadline) => canonicalLogs(resultOf(method, await askOn(ep, method, params, deadline))),
      async (x, y) => canonicalKey(x.value) === canonicalKey(y.value),
      opts,
    )
    return a.value
  }

  async function verifiedBlockTag(
    tag: 'latest' | 'safe' | 'finalized',
    opts: RpcRequestOptions = {},
  ): Promise<VerifiedBlock> {
    const method = 'eth_getBlockByNumber'
    const blockOf = (raw: unknown): VerifiedBlock => {
      const b = raw as { number?: unknown; hash?: unknown } | null
      if (b === null || typeof b.number !== 'string' || typeof b.hash !== 'string') {
        throw new GatewayError('CHAIN_RPC_ERROR', `${method}(${tag}) returned no block`)
      }
      return { number: Number(BigInt(b.number)), hash: b.hash.toLowerCase() as Hex }
    }
    if (endpoints.length === 1) return blockOf(await request(method, [tag, false], opts))
    const bound = Math.max(tuning.maxHeadSkewBlocks, tuning.maxHeadLagBlocks)
    const [a, b] = await crossCheck<VerifiedBlock>(
      'tag',
      `block tag ${tag}`,
      async (ep, deadline) => blockOf(resultOf(method, await askOn(ep, method, [tag, false], deadline))),
      async (x, y, deadline) => {
        if (Math.abs(x.value.number - y.value.number) > bound) return false
        if (x.value.number === y.value.number) return x.value.hash === y.value.hash
        const [low, high] = x.value.number < y.value.number ? [x, y] : [y, x]
        return (await hashAt(high.ep, low.value.number, deadline)) === low.value.hash
      },
      opts,
    )
    // The lower of the two: one endpoint alone cannot move a tag forward.
    return a.value.number <= b.value.number ? a.value : b.value
  }

  async function verifiedCall(call: VerifiedCallRequest, opts: RpcRequestOptions = {}): Promise<Hex> {
    const method = 'eth_call'
    const blockNumber = call.blockNumber ?? (await verifiedBlockTag('latest', opts)).number
    const params = [
      { to: call.to, data: call.data, ...(call.from === undefined ? {} : { from: call.from }) },
      `0x${blockNumber.toString(16)}`,
    ]
    if (endpoints.length === 1) return request<Hex>(method, params, opts)
    const keyOf = (a: Answer): string =>
      a.ok
        ? `ok:${String(a.result).toLowerCase()}`
        : `error:${a.rpcError.code}:${canonicalKey(a.rpcError.data ?? null)}`
    const [a] = await crossCheck<Answer>(
      'call',
      `eth_call at block ${blockNumber}`,
      (ep, deadline) => askOn(ep, method, params, deadline),
      async (x, y) => keyOf(x.value) === keyOf(y.value),
      opts,
    )
    return resultOf(method, a.value) as Hex
  }

  async function agreedTransactionCount(
    address: Address,
    tag: 'latest' | 'pending',
    opts: RpcRequestOptions = {},
  ): Promise<number> {
    const method = 'eth_getTransactionCount'
    if (endpoints.length === 1) return Number(BigInt(await request<string>(method, [address, tag], opts)))
    const deadline = clock.now() + (opts.deadlineMs ?? tuning.timeoutMs * 2)
    const candidates = rankEndpoints(healths(), clock.now(), ranking).map((i) => endpoints[i]!)
    const settled = await Promise.allSettled(
      candidates.map(async (ep) =>
        Number(BigInt(resultOf(method, await askOn(ep, method, [address, tag], deadline)) as string)),
      ),
    )
    refresh()
    const counts = settled.filter((r) => r.status === 'fulfilled').map((r) => r.value)
    const needed = Math.floor(candidates.length / 2) + 1
    const agreed = lowerMedian(counts)
    if (agreed === undefined) {
      throw new GatewayError('CHAIN_UNAVAILABLE', `transaction count of ${address}: no endpoint answered`)
    }
    // Fewer than a majority answered (endpoints down): the lower median of those that did, said loudly.
    // A wrong count costs liveness, never funds: too high leaves a gap the monitor reports, too low is refused.
    if (counts.length < needed)
      log.warn({ answered: counts.length, needed, tag }, 'transaction count without a quorum of endpoints')
    return agreed
  }

  function probe(): Promise<void> {
    probing ??= (async () => {
      const now = clock.now()
      await Promise.all(
        endpoints.map(async (ep) => {
          if (endpointUsability(ep.health, healths(), now, ranking) === 'cooling') return
          const verified = await ensureVerified(ep, tuning.timeoutMs)
          const failure = verified === null ? await probeHead(ep) : verified
          if (failure !== null && failure !== 'wrong-chain')
            log.debug({ endpoint: ep.name, failure: describeFailure(failure) }, 'rpc probe failed')
        }),
      )
      settleGenesis()
    })().finally(() => {
      probing = undefined
    })
    return probing
  }

  return {
    request,
    broadcast,
    verifiedReceipt,
    verifiedLogs,
    verifiedBlockTag,
    verifiedCall,
    agreedTransactionCount,
    probe,
    recheckIdentity,
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
      // Coarse and unref'd: an endpoint that starts serving another chain is caught within one interval.
      identityTimer ??= setInterval(() => {
        recheckIdentity().catch((err: unknown) => log.error({ err }, 'rpc identity re-check failed'))
      }, tuning.identityRecheckMs)
      identityTimer.unref()
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
        suspect: suspectReason(ep.health, all, now, ranking) ?? null,
        lastFailure: ep.lastFailure,
        lastFailureAt: ep.lastFailureAt,
      }))
      return {
        state,
        chainId,
        headBlock: trustedHead(all, now, ranking) ?? null,
        usableEndpoints: list.filter(
          (e) => e.usability === 'usable' && e.chainCheck === 'ok' && e.consecutiveFailures === 0,
        ).length,
        endpoints: list,
      }
    },
    async close(): Promise<void> {
      isClosed = true
      if (timer !== undefined) clearInterval(timer)
      if (identityTimer !== undefined) clearInterval(identityTimer)
      await agent.destroy()
    },
  }
}
