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
  /** Timestamp (seconds) of the head block the probe last read, for the wall-clock limit. */
  readonly headTimestampSec: number | undefined
  /** Refused until this time after disagreeing with the majority of endpoints (0 = never demoted). */
  readonly demotedUntil: number
}

/** A point the chain is known to have passed: bounds how far its head can plausibly have grown since. */
export interface HeadAnchor {
  readonly block: number
  readonly atMs: number
}

export interface RankingOptions {
  /** An endpoint this many blocks behind the best fresh head is refused until it catches up. */
  readonly maxHeadLagBlocks: number
  /** Head observations older than this are not compared. */
  readonly headFreshMs: number
  /** Latencies within the same bucket count as equal, so the configured order decides. */
  readonly latencyBucketMs: number
  /** An endpoint this many blocks ahead of the trusted head is suspect (not the others lagging). */
  readonly maxHeadSkewBlocks: number
  /** A head block whose timestamp is further than this in the future is not believed. */
  readonly maxBlockFutureMs: number
  /** Fastest plausible block rate: a head beyond an anchor plus this rate (plus the skew) is not believed. */
  readonly maxBlocksPerSecond: number
  /** Known-good points (the genesis block, the last trusted head). */
  readonly anchors: readonly HeadAnchor[]
}

/** Why an endpoint's head is not believed. */
export type SuspectReason = 'ahead' | 'future-block' | 'implausible-head'

/**
 * How an endpoint may be used right now:
 * - `usable`: breaker closed (or unverified: the client checks the chain id before first use);
 * - `trial`: breaker open but cooled down: one trial call may reconnect it;
 * - `cooling`: breaker open;
 * - `wrong-chain`: answered `eth_chainId` with another chain; refused until a re-check passes;
 * - `demoted`: disagreed with the majority on a verified read; refused for a while;
 * - `suspect`: its head is not believed (far ahead of the others, in the future, faster than any chain);
 * - `lagging`: its head is too far behind the trusted head.
 */
export type EndpointUsability =
  'usable' | 'trial' | 'cooling' | 'wrong-chain' | 'demoted' | 'suspect' | 'lagging'

export function createEndpointHealth(index: number, name: string): EndpointHealth {
  return {
    index,
    name,
    breaker: CLOSED_BREAKER,
    chainCheck: 'unverified',
    latencyEwmaMs: undefined,
    headBlock: undefined,
    headObservedAt: 0,
    headTimestampSec: undefined,
    demotedUntil: 0,
  }
}

/** EWMA with weight `alpha` on the new sample; the first sample seeds it. */
export function nextLatencyEwma(previous: number | undefined, sampleMs: number, alpha = 0.3): number {
  return previous === undefined ? sampleMs : previous + alpha * (sampleMs - previous)
}

const isFresh = (e: EndpointHealth, now: number, options: RankingOptions): boolean =>
  e.headBlock !== undefined && now - e.headObservedAt <= options.headFreshMs

/**
 * The wall-clock limit on one endpoint's head, independent of the others: its block may not be dated in
 * the future beyond `maxBlockFutureMs`, and it may not be further past any anchor than the fastest
 * plausible block rate allows. Undefined when the head passes (or is unknown).
 */
export function headSanity(
  e: EndpointHealth,
  now: number,
  options: RankingOptions,
): SuspectReason | undefined {
  if (e.headBlock === undefined) return undefined
  if (e.headTimestampSec !== undefined && e.headTimestampSec * 1000 > now + options.maxBlockFutureMs)
    return 'future-block'
  for (const a of options.anchors) {
    const grown = Math.ceil((Math.max(0, now - a.atMs) / 1000) * options.maxBlocksPerSecond)
    if (e.headBlock > a.block + grown + options.maxHeadSkewBlocks) return 'implausible-head'
  }
  return undefined
}

/**
 * The head the client believes: the lower median of the fresh, sane heads of endpoints not refused for
 * their chain or a disagreement. A lone endpoint cannot move it up: with two endpoints the lower head
 * wins, with three or more the middle one. Undefined when no head is known.
 */
export function trustedHead(
  endpoints: readonly EndpointHealth[],
  now: number,
  options: RankingOptions,
): number | undefined {
  const heads: number[] = []
  for (const e of endpoints) {
    if (e.chainCheck === 'wrong-chain' || e.demotedUntil > now || !isFresh(e, now, options)) continue
    if (headSanity(e, now, options) !== undefined) continue
    heads.push(e.headBlock!)
  }
  if (heads.length === 0) return undefined
  heads.sort((a, b) => a - b)
  return heads[Math.floor((heads.length - 1) / 2)]
}

/** Why this endpoint's fresh head is not believed, or undefined when it is (or unknown/stale). */
export function suspectReason(
  endpoint: EndpointHealth,
  endpoints: readonly EndpointHealth[],
  now: number,
  options: RankingOptions,
): SuspectReason | undefined {
  if (!isFresh(endpoint, now, options)) return undefined
  const insane = headSanity(endpoint, now, options)
  if (insane !== undefined) return insane
  const trusted = trustedHead(endpoints, now, options)
  return trusted !== undefined && endpoint.headBlock! - trusted > options.maxHeadSkewBlocks
    ? 'ahead'
    : undefined
}

/** Blocks this endpoint is behind the trusted head; 0 when either is unknown or stale. */
export function headLagBlocks(
  endpoint: EndpointHealth,
  endpoints: readonly EndpointHealth[],
  now: number,
  options: RankingOptions,
): number {
  if (!isFresh(endpoint, now, options)) return 0
  const trusted = trustedHead(endpoints, now, options)
  return trusted === undefined ? 0 : Math.max(0, trusted - endpoint.headBlock!)
}

export function endpointUsability(
  endpoint: EndpointHealth,
  endpoints: readonly EndpointHealth[],
  now: number,
  options: RankingOptions,
): EndpointUsability {
  if (endpoint.chainCheck === 'wrong-chain') return 'wrong-chain'
  if (endpoint.demotedUntil > now) return 'demoted'
  if (endpoint.breaker.phase !== 'closed')
    return isBreakerAdmitting(endpoint.breaker, now) ? 'trial' : 'cooling'
  if (suspectReason(endpoint, endpoints, now, options) !== undefined) return 'suspect'
  if (headLagBlocks(endpoint, endpoints, now, options) > options.maxHeadLagBlocks) return 'lagging'
  return 'usable'
}

/**
 * Indexes of the endpoints to try, best first: usable endpoints without recent failures, then usable
 * ones with failures, each group by latency bucket then configured order; finally endpoints whose
 * breaker admits a trial. Cooling, demoted, suspect, lagging and wrong-chain endpoints are not tried.
 */
export function rankEndpoints(
  endpoints: readonly EndpointHealth[],
  now: number,
  options: RankingOptions,
): number[] {
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
