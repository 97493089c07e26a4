/**
 * The payment monitor's pure core: one step folds an observation of the chain (consecutive blocks with
 * their logs, the verified tags, the quotes the payments name) into the monitor state and returns the
 * effects to apply and the commit to persist with them. No I/O, no clock: time is the blocks' timestamps.
 * docs/payment-monitor.md describes the state machine.
 */
import type {
  BlockPointer,
  BlockRef,
  ChainHeads,
  ExpectedQuote,
  Hex,
  LogRecord,
  MonitorCommit,
  MonitorConfirmationPolicy,
  MonitorEffect,
  MonitorLog,
  MonitorState,
  ObservedBlock,
  PaymentAnomaly,
  PaymentLog,
  ReorgCause,
} from './types.ts'

export interface MonitorCoreOptions {
  readonly chainId: number
  readonly policy: MonitorConfirmationPolicy
  /** Most blocks kept for reorg detection; a reorg deeper than the window halts the monitor. */
  readonly maxTrackedBlocks: number
}

export interface Observation {
  /** Consecutive, parent-linked blocks; the first at or below `cursor + 1`. May be empty. */
  readonly blocks: readonly ObservedBlock[]
  readonly heads: ChainHeads
  /** The expected quote of every payment digest in `blocks` (null = unknown quote). */
  readonly quotes: ReadonlyMap<Hex, ExpectedQuote | null>
}

export type StepResult =
  | {
      readonly type: 'applied'
      readonly state: MonitorState
      readonly effects: readonly MonitorEffect[]
      readonly commit: MonitorCommit
      /** Set when the step rewound a reorg. */
      readonly reorg: { readonly ancestor: BlockPointer; readonly depth: number } | null
    }
  /** The first block does not link to the stored block below it: fetch again from `from`. */
  | { readonly type: 'rewind'; readonly from: number }
  /** The observation is unusable as it is (a gap, a broken link inside it): fetch again. */
  | { readonly type: 'retry'; readonly reason: string }
  /** A reorg reaches below the tracked window (or the finalized block): the monitor must stop. */
  | { readonly type: 'halt'; readonly reason: string }

/** The empty state of a monitor that has processed nothing. */
export function initialMonitorState(): MonitorState {
  return { cursor: null, blocks: [], records: new Map(), version: 0 }
}

/** The key of a log inclusion record: the payments table's unique (chainId, txHash, logIndex). */
export function recordKeyOf(chainId: number, log: Pick<MonitorLog, 'txHash' | 'logIndex'>): string {
  return `${chainId}:${log.txHash}:${log.logIndex}`
}

/** Why a payment must not activate, or null when it matches the quote the gateway signed. */
export function classifyPayment(payment: PaymentLog, quote: ExpectedQuote | null): PaymentAnomaly | null {
  if (quote === null) return 'unknown-quote'
  if (payment.payer.toLowerCase() !== quote.payer.toLowerCase()) return 'wrong-payer'
  if (payment.token.toLowerCase() !== quote.token.toLowerCase()) return 'wrong-token'
  if (payment.planId !== quote.planId) return 'wrong-plan'
  if (payment.amount < quote.amount) return 'underpaid'
  return null
}

/**
 * The highest block number at which a log counts as confirmed under the policy, given the heads and the
 * processed chain (its tip and the hashes recorded for it). A tag whose block is not on the processed chain
 * (another branch), or a `safe`/`finalized` tag above its tip (not yet linked to it), confirms nothing
 * this step.
 */
export function confirmedHeight(
  policy: MonitorConfirmationPolicy,
  heads: ChainHeads,
  tip: BlockPointer | null,
  hashAt: (n: number) => Hex | undefined,
): number {
  if (tip === null) return -1
  const onChain = (p: BlockPointer | null): number => {
    if (p === null) return -1
    // A tag above the tip cannot be checked to descend from it: nothing confirms until the tip reaches it.
    if (p.number > tip.number) return -1
    const h = hashAt(p.number)
    return h !== undefined && h !== p.hash ? -1 : p.number
  }
  switch (policy.tag) {
    case 'latest': {
      // Depth is counted on the processed chain itself: a monitor behind `latest` still confirms what has
      // N blocks on top of it there (a later reorg of those blocks is rewound like any other).
      const latest = heads.latest.number > tip.number ? tip.number : onChain(heads.latest)
      // `confirmations` counts the payment's own block (1 = confirmed at inclusion), as the chain client does.
      return latest < 0 ? -1 : latest - Math.max(1, policy.confirmations) + 1
    }
    case 'safe':
      return onChain(heads.safe)
    case 'finalized':
      return onChain(heads.finalized)
  }
}

function effectBase(
  type: string,
  record: LogRecord,
  at: number,
): {
  key: string
  recordKey: string
  chainId: number
  txHash: Hex
  logIndex: number
  blockNumber: number
  blockHash: Hex
  at: number
} {
  return {
    key: `${type}:${record.key}:${record.blockHash}`,
    recordKey: record.key,
    chainId: record.chainId,
    txHash: record.log.txHash,
    logIndex: record.log.logIndex,
    blockNumber: record.blockNumber,
    blockHash: record.blockHash,
    at,
  }
}

/** Folds one observation into the state. Never throws for chain behaviour; throws on a caller's bug. */
export function stepMonitor(state: MonitorState, obs: Observation, options: MonitorCoreOptions): StepResult {
  const { chainId } = options
  const blocks = obs.blocks
  for (let i = 1; i < blocks.length; i++) {
    const prev = blocks[i - 1]!
    const cur = blocks[i]!
    if (cur.number !== prev.number + 1 || cur.parentHash !== prev.hash) {
      return { type: 'retry', reason: `blocks ${prev.number} and ${cur.number} do not link` }
    }
  }
  const stored = state.blocks
  const windowStart = stored.length === 0 ? -1 : stored[0]!.number
  const hashAt = (n: number): Hex | undefined =>
    windowStart < 0 || n < windowStart || n - windowStart >= stored.length
      ? undefined
      : stored[n - windowStart]!.hash

  let forkIndex = blocks.length // index of the first new block in `blocks`
  let rewindFrom: number | null = null
  const first = blocks[0]
  if (first !== undefined && state.cursor !== null) {
    const cursor = state.cursor
    if (first.number > cursor.number + 1) {
      return { type: 'retry', reason: `block ${first.number} leaves a gap after the cursor ${cursor.number}` }
    }
    if (first.number <= windowStart) {
      // Only the window's first block can be checked without its parent; it must match.
      if (first.number < windowStart || hashAt(first.number) !== first.hash) {
        return {
          type: 'halt',
          reason: `reorg at block ${first.number}, below the tracked window (from ${windowStart})`,
        }
      }
    } else {
      const parent = hashAt(first.number - 1)
      if (parent !== undefined && parent !== first.parentHash) {
        const depth = cursor.number - first.number + 2
        return { type: 'rewind', from: Math.max(windowStart, cursor.number + 1 - depth * 2) }
      }
    }
    forkIndex = blocks.findIndex((b) => hashAt(b.number) !== b.hash)
    if (forkIndex < 0) forkIndex = blocks.length
    const fork = blocks[forkIndex]
    if (fork !== undefined && fork.number <= cursor.number) rewindFrom = fork.number
  } else if (first !== undefined) {
    forkIndex = 0
  }

  const records = new Map(state.records)
  const changed = new Map<string, LogRecord>()
  const effects: MonitorEffect[] = []
  const put = (r: LogRecord): void => {
    records.set(r.key, r)
    changed.set(r.key, r)
  }
  const atTime = blocks.at(-1)?.timestamp ?? stored.at(-1)?.timestamp ?? 0

  // 1. Rewind: every unsettled log at or above the fork point leaves the canonical chain.
  let chain = stored
  let reorg: { ancestor: BlockPointer; depth: number } | null = null
  if (rewindFrom !== null) {
    const ancestorRef = chain[rewindFrom - 1 - windowStart]
    if (ancestorRef === undefined) {
      return {
        type: 'halt',
        reason: `reorg at block ${rewindFrom} has no common ancestor in the tracked window`,
      }
    }
    const ancestor = { number: ancestorRef.number, hash: ancestorRef.hash }
    reorg = { ancestor, depth: state.cursor!.number - ancestor.number }
    chain = chain.slice(0, rewindFrom - windowStart)
    const removed = [...records.values()]
      .filter((r) => r.blockNumber >= rewindFrom && r.status !== 'reorged')
      .sort((a, b) => a.blockNumber - b.blockNumber || a.log.logIndex - b.log.logIndex)
    for (const r of removed) {
      if (r.status === 'final') {
        return { type: 'halt', reason: `reorg removes block ${r.blockNumber}, which held a final log` }
      }
      const cause: ReorgCause = {
        type: 'reorg',
        ancestor,
        removedBlock: { number: r.blockNumber, hash: r.blockHash },
      }
      effects.push({ ...effectBase('mark-reorged', r, atTime), type: 'mark-reorged', cause })
      if (r.applied) {
        const log = r.log
        if (log.type === 'payment') {
          effects.push({
            ...effectBase('deactivate-subscription', r, atTime),
            type: 'deactivate-subscription',
            payment: log,
            cause,
          })
        } else {
          const type = log.type === 'cancellation' ? 'revert-cancellation' : 'revert-revocation'
          effects.push({ ...effectBase(type, r, atTime), type, subscriptionId: log.subscriptionId, cause })
        }
      }
      put({ ...r, status: 'reorged', applied: false })
    }
  }

  // 2. Append the new blocks and record the logs in them (seen).
  const append = blocks.slice(forkIndex)
  const appendedRefs: BlockRef[] = []
  for (const b of append) {
    appendedRefs.push({ number: b.number, hash: b.hash, parentHash: b.parentHash, timestamp: b.timestamp })
    for (const log of b.logs) {
      const key = recordKeyOf(chainId, log)
      const existing = records.get(key)
      if (existing !== undefined && existing.status !== 'reorged') continue // duplicate delivery
      let anomaly: PaymentAnomaly | null = null
      if (log.type === 'payment') {
        const quote = obs.quotes.get(log.digest)
        if (quote === undefined) throw new Error(`observation lacks the quote lookup of digest ${log.digest}`)
        anomaly = classifyPayment(log, quote)
      }
      const r: LogRecord = {
        key,
        chainId,
        blockNumber: b.number,
        blockHash: b.hash,
        log,
        status: 'seen',
        anomaly,
        applied: false,
        settled: false,
      }
      put(r)
      if (log.type === 'payment') {
        effects.push({
          ...effectBase('record-payment', r, b.timestamp),
          type: 'record-payment',
          payment: log,
          anomaly,
        })
      }
    }
  }
  chain = [...chain, ...appendedRefs]
  const tipRef = chain.at(-1)
  const cursor: BlockPointer | null =
    tipRef === undefined ? state.cursor : { number: tipRef.number, hash: tipRef.hash }
  const base = chain[0]?.number ?? 0
  const chainHash = (n: number): Hex | undefined => chain[n - base]?.hash

  // 3. Confirm and finalize against the heads.
  const confirmAt = confirmedHeight(options.policy, obs.heads, cursor, chainHash)
  const finalAt = confirmedHeight({ tag: 'finalized' }, obs.heads, cursor, chainHash)
  const ordered = [...records.values()].sort(
    (a, b) => a.blockNumber - b.blockNumber || a.log.logIndex - b.log.logIndex,
  )
  for (let r of ordered) {
    if (r.status === 'reorged') continue
    if (r.status === 'seen' && (r.blockNumber <= confirmAt || r.blockNumber <= finalAt)) {
      effects.push({ ...effectBase('mark-confirmed', r, atTime), type: 'mark-confirmed' })
      const log = r.log
      if (log.type === 'payment') {
        if (r.anomaly === null) {
          effects.push({
            ...effectBase('activate-subscription', r, atTime),
            type: 'activate-subscription',
            payment: log,
            isCreation: log.subscriptionId === log.digest,
          })
        } else {
          effects.push({
            ...effectBase('flag-anomaly', r, atTime),
            type: 'flag-anomaly',
            payment: log,
            anomaly: r.anomaly,
          })
        }
      } else if (log.type === 'cancellation') {
        effects.push({
          ...effectBase('record-cancellation', r, atTime),
          type: 'record-cancellation',
          cancellation: log,
        })
      } else {
        effects.push({
          ...effectBase('record-revocation', r, atTime),
          type: 'record-revocation',
          revocation: log,
        })
      }
      r = { ...r, status: 'confirmed', applied: log.type !== 'payment' || r.anomaly === null }
      put(r)
    }
    if (r.status === 'confirmed' && r.blockNumber <= finalAt) {
      effects.push({ ...effectBase('mark-final', r, atTime), type: 'mark-final' })
      r = { ...r, status: 'final' }
      put(r)
    }
  }

  // 4. Settle what can no longer change; prune blocks below the finalized one and over the window bound.
  // Below the window a reorg halts the monitor instead of rewinding, so a confirmed record there is as
  // settled as a final one (chains without a finalized tag would otherwise keep every record loaded).
  let pruneBelow: number | null = null
  const keepFrom = Math.max(finalAt, (cursor?.number ?? 0) - options.maxTrackedBlocks + 1)
  for (const r of records.values()) {
    const belowFinal = r.blockNumber <= finalAt && (r.status === 'final' || r.status === 'reorged')
    const belowWindow = r.blockNumber < keepFrom && (r.status === 'confirmed' || r.status === 'reorged')
    if (belowFinal || belowWindow) {
      records.delete(r.key)
      changed.set(r.key, { ...r, settled: true })
    }
  }
  if (chain.length > 0 && chain[0]!.number < keepFrom) {
    chain = chain.slice(keepFrom - chain[0]!.number)
    pruneBelow = keepFrom
  }

  const version = state.version + 1
  const next: MonitorState = { cursor, blocks: chain, records, version }
  return {
    type: 'applied',
    state: next,
    effects,
    reorg,
    commit: {
      expectedVersion: state.version,
      version,
      cursor,
      blocks: { rewindFrom, append: appendedRefs, pruneBelow },
      records: [...changed.values()],
      effects,
    },
  }
}
