/**
 * The payment monitor's adapter: follows the chain with bounded `eth_getLogs` ranges through the chain
 * client's cross-checked reads, feeds the pure core (monitor-core.ts) and persists each step's effects and
 * cursor through the {@link MonitorStore} in one `apply`. docs/payment-monitor.md.
 */
import type { Logger } from 'pino'
import type { ChainLog, RpcClient } from '../../blockchain/index.ts'
import { decodeMonitorLogs, MONITORED_TOPICS } from './monitor-logs.ts'
import { stepMonitor, type MonitorCoreOptions, type StepResult } from './monitor-core.ts'
import type {
  Address,
  BlockPointer,
  BlockRef,
  ChainHeads,
  ExpectedQuote,
  Hex,
  MonitorEffect,
  MonitorLog,
  MonitorState,
  MonitorStore,
  ObservedBlock,
  QuoteLookup,
} from './types.ts'

/**
 * Port: what the follower reads from the chain. `logs` and `heads` must be the cross-checked reads
 * (`verifiedLogs`, `verifiedBlockTag`); `blocks` returns headers (hash, parent, timestamp). A header from
 * one endpoint cannot grant anything: every log's block hash is checked against it, and logs are verified.
 */
export interface MonitorChainSource {
  heads(): Promise<ChainHeads>
  /** Headers of blocks `from..to` (inclusive), ascending. */
  blocks(from: number, to: number): Promise<BlockRef[]>
  /** Logs of the monitored events of the contract over `from..to`. Rejects when the range is refused. */
  logs(from: number, to: number): Promise<readonly ChainLog[]>
}

/** The part of the chain client the RPC source uses. */
export type MonitorRpc = Pick<RpcClient, 'request' | 'verifiedLogs' | 'verifiedBlockTag'>

const hexOf = (n: number): string => `0x${n.toString(16)}`

function headerOf(raw: unknown, n: number): BlockRef {
  const b = raw as { number?: unknown; hash?: unknown; parentHash?: unknown; timestamp?: unknown } | null
  if (
    b === null ||
    typeof b.hash !== 'string' ||
    typeof b.parentHash !== 'string' ||
    typeof b.number !== 'string'
  ) {
    throw new Error(`eth_getBlockByNumber(${n}) returned no block`)
  }
  const number = Number(BigInt(b.number))
  if (number !== n) throw new Error(`eth_getBlockByNumber(${n}) returned block ${number}`)
  return {
    number,
    hash: b.hash.toLowerCase() as Hex,
    parentHash: b.parentHash.toLowerCase() as Hex,
    timestamp: typeof b.timestamp === 'string' ? Number(BigInt(b.timestamp)) : 0,
  }
}

/** A {@link MonitorChainSource} over the chain client (verified logs and tags; headers fetched 8 at a time). */
export function createRpcMonitorSource(rpc: MonitorRpc, contract: Address): MonitorChainSource {
  const tag = async (t: 'safe' | 'finalized'): Promise<BlockPointer | null> => {
    try {
      return await rpc.verifiedBlockTag(t)
    } catch (err) {
      // A node without the tag (pre-merge style) answers an error: the policy then cannot confirm.
      if (/not supported|unknown block|invalid block|not found/i.test(String((err as Error).message)))
        return null
      throw err
    }
  }
  return {
    async heads() {
      const [latest, safe, finalized] = await Promise.all([
        rpc.verifiedBlockTag('latest'),
        tag('safe'),
        tag('finalized'),
      ])
      return { latest, safe, finalized }
    },
    async blocks(from, to) {
      const out: BlockRef[] = []
      for (let n = from; n <= to; n += 8) {
        const batch = []
        for (let i = n; i <= Math.min(to, n + 7); i++) {
          batch.push(rpc.request('eth_getBlockByNumber', [hexOf(i), false]).then((raw) => headerOf(raw, i)))
        }
        out.push(...(await Promise.all(batch)))
      }
      return out
    },
    logs(from, to) {
      return rpc.verifiedLogs({ address: contract, topics: [MONITORED_TOPICS], fromBlock: from, toBlock: to })
    },
  }
}

/** True when an error says the provider refused the block range or result size (no standard code exists). */
export function isRangeRefusal(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const x = e as { message?: unknown; code?: unknown; cause?: unknown }
    if (x.code === -32005) return true
    if (
      typeof x.message === 'string' &&
      /block range|range (is )?too (large|wide|big)|too many (blocks|results|logs)|query returned more than|limit exceeded|exceeds? (the )?(max|limit)|response size|limited to (a )?[\d,]+ (block )?range/i.test(
        x.message,
      )
    ) {
      return true
    }
    e = x.cause
  }
  return false
}

export interface PaymentMonitorOptions extends MonitorCoreOptions {
  readonly contract: Address
  /** First block to scan on a fresh store (the contract's deployment block). */
  readonly startBlock: number
  /** Largest `eth_getLogs` range; halves on a refusal (down to 1) and doubles back after successes. */
  readonly maxRangeBlocks: number
  /** Pause between polls once caught up. */
  readonly pollIntervalMs: number
}

export interface PaymentMonitorDeps {
  readonly source: MonitorChainSource
  readonly store: MonitorStore
  readonly quotes: QuoteLookup
  readonly log: Logger
  /** Called after each committed step with the effects that store accepted in it. */
  readonly onCommitted?: (effects: readonly MonitorEffect[]) => void
}

export type PollOutcome =
  | {
      readonly type: 'committed'
      readonly effects: number
      readonly cursor: BlockPointer | null
      readonly caughtUp: boolean
    }
  | { readonly type: 'idle'; readonly caughtUp: boolean }
  | { readonly type: 'conflict' }
  | { readonly type: 'retry'; readonly reason: string }
  | { readonly type: 'halted'; readonly reason: string }

export interface PaymentMonitor {
  /** Loads the state from the store and checks the tags (warns when latest = safe = finalized). */
  start(): Promise<void>
  /** One iteration: read, step, commit. Rewinds are followed within the same poll. */
  poll(): Promise<PollOutcome>
  /** Polls until caught up with `latest` (or `maxPolls`), for tests and catch-up at start. */
  pollUntilCaughtUp(maxPolls?: number): Promise<PollOutcome>
  /** Starts the background loop (one poll at a time; `pollIntervalMs` between polls when caught up). */
  run(): void
  stop(): Promise<void>
  readonly rangeBlocks: number
  readonly halted: string | null
}

export function createPaymentMonitor(
  options: PaymentMonitorOptions,
  deps: PaymentMonitorDeps,
): PaymentMonitor {
  const { source, store, quotes } = deps
  const log = deps.log.child({ component: 'payment-monitor', chainId: options.chainId })
  let state: MonitorState | null = null
  let range = Math.max(1, options.maxRangeBlocks)
  let successes = 0
  let halted: string | null = null
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined
  let stopped = false

  const loadState = async (): Promise<MonitorState> => (state = await store.load(options.chainId))

  /** Highest block at or below `start` whose hash is the recorded one (the window's first block if none). */
  async function findAncestor(current: MonitorState, start: number): Promise<number> {
    const windowStart = current.blocks[0]?.number ?? 0
    for (let hi = start; hi >= windowStart; hi -= 8) {
      const lo = Math.max(windowStart, hi - 7)
      const headers = await source.blocks(lo, hi)
      for (let i = headers.length - 1; i >= 0; i--) {
        const h = headers[i]!
        if (current.blocks[h.number - windowStart]?.hash === h.hash) return h.number
      }
    }
    // None matches: re-reading the window's first block makes the core halt.
    return windowStart - 1
  }

  async function poll(): Promise<PollOutcome> {
    if (halted !== null) return { type: 'halted', reason: halted }
    const current = state ?? (await loadState())
    const heads = await source.heads()
    const cursor = current.cursor
    let from = cursor === null ? options.startBlock : cursor.number + 1
    if (cursor !== null && heads.latest.number <= cursor.number) {
      // No new block: re-read the head block when it is not the one recorded (the chain reorganised shorter).
      const w = current.blocks[0]?.number ?? 0
      const recorded = current.blocks[heads.latest.number - w]
      if (recorded === undefined || recorded.hash !== heads.latest.hash) from = heads.latest.number
    }
    for (let attempt = 0; attempt < 64; attempt++) {
      const to = Math.min(from + range - 1, heads.latest.number)
      let blocks: ObservedBlock[] = []
      let digests: Hex[] = []
      if (from <= to) {
        let logs: readonly ChainLog[]
        try {
          logs = await source.logs(from, to)
        } catch (err) {
          if (!isRangeRefusal(err) || range === 1) throw err
          range = Math.max(1, Math.floor(range / 2))
          successes = 0
          log.info({ from, to, rangeBlocks: range }, 'provider refused the log range; shrinking it')
          continue
        }
        if (++successes >= 4 && range < options.maxRangeBlocks) {
          range = Math.min(options.maxRangeBlocks, range * 2)
          successes = 0
        }
        const headers = await source.blocks(from, to)
        const byNumber = new Map(headers.map((h) => [h.number, { ...h, logs: [] as MonitorLog[] }]))
        const decoded = decodeMonitorLogs(logs, options.contract)
        if (decoded.undecodable > 0)
          log.error({ from, to, count: decoded.undecodable }, 'undecodable monitored logs')
        let inconsistent = false
        for (const l of decoded.logs) {
          const b = byNumber.get(l.blockNumber)
          if (b === undefined || b.hash !== l.blockHash) {
            inconsistent = true
            break
          }
          const { blockNumber: _n, blockHash: _h, ...monitorLog } = l
          b.logs.push(monitorLog as MonitorLog)
        }
        if (inconsistent)
          return { type: 'retry', reason: `logs and headers of ${from}..${to} disagree (chain moved)` }
        blocks = [...byNumber.values()].sort((a, b) => a.number - b.number)
        digests = [...new Set(decoded.logs.flatMap((l) => (l.type === 'payment' ? [l.digest] : [])))]
      }
      const found: ReadonlyMap<Hex, ExpectedQuote | null> =
        digests.length === 0 ? new Map() : await quotes.byDigests(digests)
      const result: StepResult = stepMonitor(current, { blocks, heads, quotes: found }, options)
      if (result.type === 'rewind') {
        // The first block does not link to the stored one below it: walk the headers back to the common
        // ancestor, then re-read logs from just above it (a header alone never grants: logs are verified).
        const ancestor = await findAncestor(current, from - 1)
        log.warn(
          { cursor, ancestor },
          'chain reorganised below the fetched range; re-reading from the common ancestor',
        )
        from = ancestor + 1
        continue
      }
      if (result.type === 'retry') return { type: 'retry', reason: result.reason }
      if (result.type === 'halt') {
        halted = result.reason
        log.error({ reason: result.reason }, 'payment monitor halted: reorg deeper than it can follow')
        return { type: 'halted', reason: result.reason }
      }
      const caughtUp = to >= heads.latest.number
      const c = result.commit
      if (
        c.effects.length === 0 &&
        c.records.length === 0 &&
        c.blocks.append.length === 0 &&
        c.blocks.rewindFrom === null &&
        c.blocks.pruneBelow === null
      ) {
        return { type: 'idle', caughtUp }
      }
      const outcome = await store.apply(options.chainId, c)
      if (!outcome.ok) {
        log.info({ storedVersion: outcome.storedVersion }, 'another monitor committed first; reloading')
        await loadState()
        return { type: 'conflict' }
      }
      state = result.state
      if (result.reorg !== null) {
        log.warn(
          { ancestor: result.reorg.ancestor, depth: result.reorg.depth },
          'chain reorganisation rewound',
        )
      }
      deps.onCommitted?.(c.effects)
      return { type: 'committed', effects: c.effects.length, cursor: result.state.cursor, caughtUp }
    }
    return { type: 'retry', reason: 'too many rewinds or range refusals in one poll' }
  }

  async function pollUntilCaughtUp(maxPolls = 1_000): Promise<PollOutcome> {
    let last: PollOutcome = { type: 'idle', caughtUp: false }
    for (let i = 0; i < maxPolls; i++) {
      last = await poll()
      if (last.type === 'halted') return last
      if ((last.type === 'committed' || last.type === 'idle') && last.caughtUp) return last
    }
    return last
  }

  function schedule(delayMs: number): void {
    if (stopped) return
    timer = setTimeout(() => {
      running = poll().then(
        (o) =>
          schedule((o.type === 'committed' || o.type === 'idle') && o.caughtUp ? options.pollIntervalMs : 0),
        (err: unknown) => {
          log.warn({ err }, 'payment monitor poll failed; retrying')
          schedule(options.pollIntervalMs)
        },
      )
    }, delayMs)
  }

  return {
    async start() {
      await loadState()
      const heads = await source.heads()
      const { latest, safe, finalized } = heads
      if (
        safe !== null &&
        finalized !== null &&
        safe.number === latest.number &&
        finalized.number === latest.number &&
        safe.hash === latest.hash &&
        finalized.hash === latest.hash
      ) {
        log.warn(
          { block: latest.number, policy: options.policy.tag },
          'rpc answers the same block for latest, safe and finalized: those tags give no reorg protection on this chain',
        )
      }
    },
    poll,
    pollUntilCaughtUp,
    run() {
      stopped = false
      schedule(0)
    },
    async stop() {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      await running
    },
    get rangeBlocks() {
      return range
    },
    get halted() {
      return halted
    },
  }
}
