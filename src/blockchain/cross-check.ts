/**
 * Pure helpers of the verified reads (rpc-client.ts): canonical forms of the answers two endpoints must
 * agree on (receipts, logs), the vote that decides which endpoint a disagreement demotes, and the lower
 * median used for quorum numbers. No I/O.
 */
import type { Address, Hex } from './types.ts'

/** What a verified read checks; the `check` label of the disagreement metric. */
export type CrossCheckKind = 'receipt' | 'logs' | 'tag' | 'call' | 'count'

/** A log as endpoints must agree on it (hex lower-cased, numbers as numbers). */
export interface ChainLog {
  readonly address: Address
  readonly topics: readonly Hex[]
  readonly data: Hex
  readonly blockNumber: number
  readonly blockHash: Hex
  readonly transactionHash: Hex
  readonly logIndex: number
  readonly removed: boolean
}

/** A transaction receipt as endpoints must agree on it. */
export interface ChainReceipt {
  readonly transactionHash: Hex
  readonly blockNumber: number
  readonly blockHash: Hex
  readonly status: 'success' | 'reverted'
  readonly from: Address
  readonly to: Address | null
  readonly contractAddress: Address | null
  readonly gasUsed: bigint
  readonly logs: readonly ChainLog[]
}

/** A block tag's block, confirmed by two endpoints at the same height. */
export interface VerifiedBlock {
  readonly number: number
  readonly hash: Hex
}

const lower = <T extends string>(v: unknown): T => (typeof v === 'string' ? v.toLowerCase() : '') as T
const num = (v: unknown): number => (typeof v === 'string' && v !== '' ? Number(BigInt(v)) : -1)

/** Canonical log from a node's JSON (unknown fields dropped, hex lower-cased). */
export function canonicalLog(raw: unknown): ChainLog {
  const r = (raw ?? {}) as Record<string, unknown>
  return {
    address: lower(r.address),
    topics: Array.isArray(r.topics) ? r.topics.map((t) => lower<Hex>(t)) : [],
    data: lower(r.data),
    blockNumber: num(r.blockNumber),
    blockHash: lower(r.blockHash),
    transactionHash: lower(r.transactionHash),
    logIndex: num(r.logIndex),
    removed: r.removed === true,
  }
}

/** Canonical logs, ordered by block then log index (nodes may return them in any order). */
export function canonicalLogs(raw: unknown): ChainLog[] {
  if (!Array.isArray(raw)) return []
  return raw.map(canonicalLog).sort((a, b) => a.blockNumber - b.blockNumber || a.logIndex - b.logIndex)
}

/** Canonical receipt, or null for "unknown transaction". */
export function canonicalReceipt(raw: unknown): ChainReceipt | null {
  if (raw === null || raw === undefined || typeof raw !== 'object') return null
  const r = raw as Record<string, unknown>
  return {
    transactionHash: lower(r.transactionHash),
    blockNumber: num(r.blockNumber),
    blockHash: lower(r.blockHash),
    status: r.status === '0x1' ? 'success' : 'reverted',
    from: lower(r.from),
    to: typeof r.to === 'string' ? lower(r.to) : null,
    contractAddress: typeof r.contractAddress === 'string' ? lower(r.contractAddress) : null,
    gasUsed: typeof r.gasUsed === 'string' ? BigInt(r.gasUsed) : 0n,
    logs: canonicalLogs(r.logs),
  }
}

/** A stable string of a canonical value (bigints as decimal) for equality checks. */
export function canonicalKey(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
}

/**
 * Given which pairs of answers agree (`agrees[i][j]`), the indexes outvoted by a strict majority: an answer
 * agreeing with fewer than half of the others, when the answers that are not outvoted are more than half of
 * all. Empty when nobody can be blamed (two answers that differ, or no majority).
 */
export function outvoted(agrees: readonly (readonly boolean[])[]): number[] {
  const m = agrees.length
  if (m < 3) return []
  const losers: number[] = []
  for (let i = 0; i < m; i++) {
    let count = 0
    for (let j = 0; j < m; j++) if (i !== j && agrees[i]?.[j] === true) count++
    if (count * 2 < m - 1) losers.push(i)
  }
  return (m - losers.length) * 2 > m ? losers : []
}

/** The lower median (the conservative middle: a lone high value never wins). */
export function lowerMedian(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor((sorted.length - 1) / 2)]
}
