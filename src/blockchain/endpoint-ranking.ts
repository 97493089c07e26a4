/**
 * Health bookkeeping and ranking of RPC endpoints: pure functions of endpoint records and `now`.
 * The RPC client (rpc-client.ts) owns the records and feeds observations in.
 */
import { CLOSED_BREAKER, isBreakerAdmitting, type BreakerState } from './circuit-breaker.ts'

/** Result of comparing an endpoint's `eth_chainId` with the configured chain. */
export type ChainCheck = 'unverified' | 'ok' | 'wrong-chain'

export interface EndpointHealth {
  /** Position in the configuration (the operator's priority). */
  readonly index: number
  /** Operator-given name: the only identifier used in logs and metric labels (never the URL). */
  readonly name: string
  readonly breaker: BreakerState
  readonly chainCheck: ChainCheck
  /** Exponentially weighted moving average of successful call latency. */
  readonly latencyEwmaMs: number | undefined
  /** Last head block number seen from this endpoint. */
  readonly headBlock: number | undefined
  /** When `headBlock` was observed (0 = never). */
  readonly headObservedAt: number
}

export interface RankingOptions {
  /** An endpoint this many blocks behind the best fresh head is refused until it catches up. */
  readonly maxHeadLagBlocks: number
  /** Head observations older than this are not compared. */
  readonly headFreshMs: number
  /** Latencies within the same bucket count as equal, so the configured order decides. */
  readonly latencyBucketMs: number
}

/**
 * How an endpoint may be used right now:
 * - `usable`: breaker closed (or unverified: the client checks the chain id before first use);
 * - `trial`: breaker open but cooled down: one trial call may reconnect it;
 * - `cooling`: breaker open;
 * - `wrong-chain`: answered `eth_chainId` with another chain; refused until a re-check passes;
 * - `lagging`: its head is too far behind the others.
 */
export type EndpointUsability = 'usable' | 'trial' | 'cooling' | 'wrong-chain' | 'lagging'

export function createEndpointHealth(index: number, name: string): EndpointHealth {
  return {
    index,
    name,
    breaker: CLOSED_BREAKER,
    chainCheck: 'unverified',
    latencyEwmaMs: undefined,
    headBlock: undefined,
    headObservedAt: 0,
  }
}

/** EWMA with weight `alpha` on the new sample; the first sample seeds it. */
export function nextLatencyEwma(previous: number | undefined, sampleMs: number, alpha = 0.3): number {
  return previous === undefined ? sampleMs : previous + alpha * (sampleMs - previous)
}

/** Highest fresh head among endpoints serving the right chain, or undefined when none is known. */
export function bestHead(endpoints: readonly EndpointHealth[], now: number, options: RankingOptions): number | undefined {
  let best: number | undefined
  for (const e of endpoints) {
    if (e.chainCheck === 'wrong-chain' || e.headBlock === undefined) continue
    if (now - e.headObservedAt > options.headFreshMs) continue
    if (best === undefined || e.headBlock > best) best = e.headBlock
  }
  return best
}

/** Blocks this endpoint is behind the best fresh head; 0 when either is unknown or stale. */
export function headLagBlocks(
  endpoint: EndpointHealth,
  endpoints: readonly EndpointHealth[],
  now: number,
  options: RankingOptions,
): number {
  if (endpoint.headBlock === undefined || now - endpoint.headObservedAt > options.headFreshMs) return 0
  const best = bestHead(endpoints, now, options)
  return best === undefined ? 0 : Math.max(0, best - endpoint.headBlock)
}

export function endpointUsability(
  endpoint: EndpointHealth,
  endpoints: readonly EndpointHealth[],
  now: number,
  options: RankingOptions,
): EndpointUsability {
  if (endpoint.chainCheck === 'wrong-chain') return 'wrong-chain'
  if (endpoint.breaker.phase !== 'closed') return isBreakerAdmitting(endpoint.breaker, now) ? 'trial' : 'cooling'
  if (headLagBlocks(endpoint, endpoints, now, options) > options.maxHeadLagBlocks) return 'lagging'
  return 'usable'
}

/**
 * Indexes of the endpoints to try, best first: usable endpoints without recent failures, then usable
 * ones with failures, each group by latency bucket then configured order; finally endpoints whose
 * breaker admits a trial. Cooling, lagging and wrong-chain endpoints are not tried.
 */
export function rankEndpoints(endpoints: readonly EndpointHealth[], now: number, options: RankingOptions): number[] {
  const usable: EndpointHealth[] = []
  const trials: EndpointHealth[] = []
  for (const e of endpoints) {
    const u = endpointUsability(e, endpoints, now, options)
    if (u === 'usable') usable.push(e)
    else if (u === 'trial') trials.push(e)
  }
  const bucket = (e: EndpointHealth): number =>
    e.latencyEwmaMs === undefined ? 0 : Math.floor(e.latencyEwmaMs / options.latencyBucketMs)
  usable.sort(
    (a, b) =>
      Number(a.breaker.consecutiveFailures > 0) - Number(b.breaker.consecutiveFailures > 0) ||
      bucket(a) - bucket(b) ||
      a.index - b.index,
  )
  trials.sort((a, b) => a.breaker.openUntil - b.breaker.openUntil || a.index - b.index)
  return [...usable, ...trials].map((e) => e.index)
}
