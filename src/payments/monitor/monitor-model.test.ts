// Model-based property tests of the payment monitor: a simulated chain (blocks, transactions carrying the
// PaymentProcessor's real ABI-encoded logs, reorgs of any depth above the finalized block that drop or
// re-include transactions, moving safe/finalized tags), the real chain follower and core over it, an
// in-memory store shared by two monitors, restarts that rebuild the monitor from the store only,
// duplicated log deliveries and providers that refuse large ranges. After every poll: nothing activates
// unless its block is canonical at the policy height and it matches its quote; no inclusion activates
// twice; one digest is never active twice at once. After the chain settles the store's derived state equals
// the reference computed from the final canonical chain.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { encodeAbiParameters, encodeEventTopics } from 'viem'
import fc from '../../../test/helpers/fast-check.ts'
import type { ChainLog } from '../../blockchain/index.ts'
import { paymentProcessorAbi } from '../../contracts/index.ts'
import { createPaymentMonitor, type MonitorChainSource, type PaymentMonitor } from './chain-follower.ts'
import { createMemoryMonitorStore, type MemoryMonitorStore } from './memory-monitor-store.ts'
import { classifyPayment, recordKeyOf } from './monitor-core.ts'
import type {
  Address,
  BlockRef,
  ExpectedQuote,
  Hex,
  MonitorConfirmationPolicy,
  MonitorEffect,
  MonitorLog,
  QuoteLookup,
} from './types.ts'

const CHAIN_ID = 31337
const CONTRACT = '0x00000000000000000000000000000000000000cc' as Address
const TOKEN = '0x00000000000000000000000000000000000000aa' as Address
const silent = pino({ level: 'silent' })
const hex32 = (n: number): Hex => `0x${n.toString(16).padStart(64, '0')}`
const addr = (n: number): Address => `0x${n.toString(16).padStart(40, '0')}`

type LogBody = MonitorLog extends infer L
  ? L extends MonitorLog
    ? Omit<L, 'txHash' | 'logIndex'>
    : never
  : never
interface Tx {
  readonly hash: Hex
  readonly logs: readonly LogBody[]
}
interface SimBlock extends BlockRef {
  readonly txs: readonly Tx[]
}

const QUOTES = 6
const quoteDigest = (i: number): Hex => hex32(0xd000 + i)
const quoteOf = (i: number): ExpectedQuote => ({
  payer: addr(0x100 + i),
  amount: 1_000n,
  planId: 1,
  token: TOKEN,
})

const EVENT = {
  payment: 'PaymentReceived',
  cancellation: 'SubscriptionCancelled',
  revocation: 'SubscriptionRevoked',
}
function encode(log: LogBody): { topics: Hex[]; data: Hex } {
  const name = EVENT[log.type]
  const event = (
    paymentProcessorAbi as readonly {
      type: string
      name?: string
      inputs?: readonly { name: string; type: string; indexed?: boolean }[]
    }[]
  ).find((x) => x.type === 'event' && x.name === name)!
  const args = log as unknown as Record<string, unknown>
  const indexed = Object.fromEntries(
    event.inputs!.filter((i) => i.indexed === true).map((i) => [i.name, args[i.name]]),
  )
  const topics = encodeEventTopics({
    abi: paymentProcessorAbi,
    eventName: name,
    args: indexed,
  } as never) as Hex[]
  const rest = event.inputs!.filter((i) => i.indexed !== true)
  const data = encodeAbiParameters(rest as never, rest.map((i) => args[i.name]) as never)
  return { topics, data }
}

/** A simulated chain with a mempool; reorgs never reach the finalized block. */
class World {
  blocks: SimBlock[] = []
  mempool: Tx[] = []
  safe = 0
  finalized = 0
  private counter = 1
  maxRange = Infinity
  duplicateLogs = false
  refusals = 0
  constructor() {
    this.blocks.push({
      number: 0,
      hash: hex32(this.counter++),
      parentHash: hex32(0),
      timestamp: 1_000,
      txs: [],
    })
  }
  get latest(): SimBlock {
    return this.blocks.at(-1)!
  }
  submit(kind: number, quote: number): void {
    const hash = hex32(0x7000_0000 + this.counter++)
    const digest = kind === 1 ? hex32(0xeeee_0000 + this.counter++) : quoteDigest(quote)
    const q = quoteOf(quote)
    let log: LogBody
    if (kind <= 3) {
      log = {
        type: 'payment',
        digest,
        subscriptionId: digest,
        payer: kind === 2 ? addr(0x999) : q.payer,
        beneficiary: q.payer,
        token: TOKEN,
        amount: kind === 3 ? q.amount - 1n : q.amount,
        planId: 1,
        start: 1_000,
        end: 2_000,
      }
    } else if (kind === 4) {
      log = { type: 'cancellation', subscriptionId: quoteDigest(quote), by: q.payer }
    } else {
      log = { type: 'revocation', subscriptionId: quoteDigest(quote), by: addr(0x5), end: 1_500 }
    }
    // Sometimes two logs in one transaction.
    this.mempool.push({
      hash,
      logs:
        kind === 0 && quote % 2 === 1
          ? [log, { ...log, digest: quoteDigest((quote + 1) % QUOTES) } as LogBody]
          : [log],
    })
  }
  mine(count: number, take: number, rotate: number): void {
    for (let i = 0; i < count; i++) {
      if (this.mempool.length > 0 && rotate > 0) {
        const r = rotate % this.mempool.length
        this.mempool = [...this.mempool.slice(r), ...this.mempool.slice(0, r)]
      }
      // The contract refuses a quote paid twice (QuoteAlreadyPaid): such a transaction reverts, no log.
      const paid = new Set(
        this.blocks.flatMap((b) =>
          b.txs.flatMap((t) => t.logs.flatMap((l) => (l.type === 'payment' ? [l.digest] : []))),
        ),
      )
      const txs = this.mempool.splice(0, take).map((tx) => {
        const logs = tx.logs.filter((l) => l.type !== 'payment' || !paid.has(l.digest))
        if (logs.length !== tx.logs.length) return { hash: tx.hash, logs: [] }
        for (const l of logs) if (l.type === 'payment') paid.add(l.digest)
        return tx
      })
      const parent = this.latest
      this.blocks.push({
        number: parent.number + 1,
        hash: hex32(this.counter++),
        parentHash: parent.hash,
        timestamp: parent.timestamp + 2,
        txs,
      })
    }
  }
  reorg(depth: number, newCount: number, reinclude: boolean, take: number, rotate: number): void {
    const d = Math.min(depth, this.latest.number - this.finalized)
    if (d <= 0) return
    const dropped = this.blocks.splice(this.blocks.length - d, d)
    if (this.safe > this.latest.number) this.safe = this.latest.number
    if (reinclude) this.mempool.unshift(...dropped.flatMap((b) => b.txs))
    this.mine(newCount, take, rotate)
  }
  tags(safeUp: number, finalUp: number): void {
    this.safe = Math.min(this.latest.number, this.safe + safeUp)
    this.finalized = Math.min(this.safe, this.finalized + finalUp)
  }
  logsOf(b: SimBlock): { log: MonitorLog; encoded: ChainLog }[] {
    let logIndex = 0
    return b.txs.flatMap((tx) =>
      tx.logs.map((body) => {
        const log = { ...body, txHash: tx.hash, logIndex: logIndex++ } as MonitorLog
        const { topics, data } = encode(body)
        return {
          log,
          encoded: {
            address: CONTRACT,
            topics: topics.map((t) => t.toLowerCase() as Hex),
            data: data.toLowerCase() as Hex,
            blockNumber: b.number,
            blockHash: b.hash,
            transactionHash: tx.hash,
            logIndex: log.logIndex,
            removed: false,
          },
        }
      }),
    )
  }
  source(): MonitorChainSource {
    const ptr = (n: number) => ({ number: n, hash: this.blocks[n]!.hash })
    return {
      heads: async () => ({
        latest: ptr(this.latest.number),
        safe: ptr(this.safe),
        finalized: ptr(this.finalized),
      }),
      blocks: async (from, to) =>
        this.blocks
          .slice(from, to + 1)
          .map(({ number, hash, parentHash, timestamp }) => ({ number, hash, parentHash, timestamp })),
      logs: async (from, to) => {
        if (to - from + 1 > this.maxRange) {
          this.refusals++
          throw new Error(
            `eth_getLogs failed: JSON-RPC error -32600: block range too large (max ${this.maxRange})`,
          )
        }
        const out = this.blocks.slice(from, to + 1).flatMap((b) => this.logsOf(b).map((x) => x.encoded))
        return this.duplicateLogs ? [...out, ...out] : out
      },
    }
  }
}

const quotes: QuoteLookup = {
  byDigests: async (digests) => {
    const m = new Map<Hex, ExpectedQuote | null>()
    for (const d of digests) {
      const i = Number(BigInt(d)) - 0xd000
      m.set(d, i >= 0 && i < QUOTES ? quoteOf(i) : null)
    }
    return m
  },
}

function policyHeight(policy: MonitorConfirmationPolicy, w: World): number {
  const base =
    policy.tag === 'latest'
      ? w.latest.number - policy.confirmations + 1
      : policy.tag === 'safe'
        ? w.safe
        : w.finalized
  return Math.max(base, w.finalized)
}

/** The state the store's effects add up to: active inclusions, recorded cancellations and revocations. */
function derived(effects: readonly MonitorEffect[]): {
  active: Set<string>
  cancelled: Set<string>
  revoked: Set<string>
} {
  const active = new Set<string>()
  const cancelled = new Set<string>()
  const revoked = new Set<string>()
  for (const e of effects) {
    const k = `${e.recordKey}@${e.blockHash}`
    if (e.type === 'activate-subscription') active.add(k)
    else if (e.type === 'deactivate-subscription') active.delete(k)
    else if (e.type === 'record-cancellation') cancelled.add(k)
    else if (e.type === 'revert-cancellation') cancelled.delete(k)
    else if (e.type === 'record-revocation') revoked.add(k)
    else if (e.type === 'revert-revocation') revoked.delete(k)
  }
  return { active, cancelled, revoked }
}

/** The same sets computed from the canonical chain up to `height`. */
function reference(
  w: World,
  height: number,
): { active: Set<string>; cancelled: Set<string>; revoked: Set<string> } {
  const active = new Set<string>()
  const cancelled = new Set<string>()
  const revoked = new Set<string>()
  for (const b of w.blocks.slice(0, height + 1)) {
    for (const { log } of w.logsOf(b)) {
      const k = `${recordKeyOf(CHAIN_ID, log)}@${b.hash}`
      if (log.type === 'payment') {
        const i = Number(BigInt(log.digest)) - 0xd000
        if (classifyPayment(log, i >= 0 && i < QUOTES ? quoteOf(i) : null) === null) active.add(k)
      } else if (log.type === 'cancellation') cancelled.add(k)
      else revoked.add(k)
    }
  }
  return { active, cancelled, revoked }
}

/** Checks the invariants over the whole effect log and the effects new since `seen`. */
function checkInvariants(
  store: MemoryMonitorStore,
  seen: number,
  w: World,
  policy: MonitorConfirmationPolicy,
): number {
  const effects = store.effects(CHAIN_ID)
  const height = policyHeight(policy, w)
  for (const e of effects.slice(seen)) {
    if (e.type !== 'activate-subscription') continue
    const b = w.blocks[e.blockNumber]
    assert.equal(b?.hash, e.blockHash, `activated ${e.recordKey} from a block that is not canonical`)
    assert.ok(
      e.blockNumber <= height,
      `activated ${e.recordKey} at ${e.blockNumber} above the policy height ${height}`,
    )
    const i = Number(BigInt(e.payment.digest)) - 0xd000
    assert.equal(
      classifyPayment(e.payment, i >= 0 && i < QUOTES ? quoteOf(i) : null),
      null,
      'activated an anomaly',
    )
  }
  const activations = new Map<string, number>()
  const activeByRecord = new Map<string, string>()
  const activeDigests = new Map<Hex, string>()
  for (const e of effects) {
    const k = `${e.recordKey}@${e.blockHash}`
    if (e.type === 'activate-subscription') {
      activations.set(k, (activations.get(k) ?? 0) + 1)
      assert.equal(activations.get(k), 1, `${k} activated twice`)
      assert.equal(activeByRecord.get(e.recordKey), undefined, `${e.recordKey} active in two blocks`)
      activeByRecord.set(e.recordKey, k)
      assert.equal(
        activeDigests.get(e.payment.digest),
        undefined,
        `digest ${e.payment.digest} active twice at once`,
      )
      activeDigests.set(e.payment.digest, k)
    } else if (e.type === 'deactivate-subscription') {
      assert.equal(activeByRecord.get(e.recordKey), k, `deactivated ${k} that was not active`)
      activeByRecord.delete(e.recordKey)
      activeDigests.delete(e.payment.digest)
    }
  }
  return effects.length
}

type Op =
  | { t: 'submit'; kind: number; quote: number }
  | { t: 'mine'; count: number; take: number; rotate: number }
  | { t: 'reorg'; depth: number; newCount: number; reinclude: boolean; take: number; rotate: number }
  | { t: 'tags'; safeUp: number; finalUp: number }
  | { t: 'poll'; which: 0 | 1 }
  | { t: 'restart'; which: 0 | 1 }
  | { t: 'duplicates'; on: boolean }
  | { t: 'maxRange'; max: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('submit' as const),
      // 0 valid payment, 1 unknown quote, 2 wrong payer, 3 underpaid, 4 cancellation, 5 revocation.
      kind: fc.oneof(fc.constant(0), fc.nat({ max: 5 })),
      quote: fc.nat({ max: QUOTES - 1 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('mine' as const),
      count: fc.integer({ min: 1, max: 4 }),
      take: fc.integer({ min: 1, max: 3 }),
      rotate: fc.nat({ max: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('reorg' as const),
      depth: fc.integer({ min: 1, max: 12 }),
      newCount: fc.integer({ min: 0, max: 6 }),
      reinclude: fc.boolean(),
      take: fc.integer({ min: 0, max: 3 }),
      rotate: fc.nat({ max: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('tags' as const),
      safeUp: fc.nat({ max: 4 }),
      finalUp: fc.nat({ max: 2 }),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({ t: fc.constant('poll' as const), which: fc.constantFrom(0 as const, 1 as const) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('restart' as const),
      which: fc.constantFrom(0 as const, 1 as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('duplicates' as const), on: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('maxRange' as const), max: fc.integer({ min: 1, max: 6 }) }),
  },
)

const policyArb: fc.Arbitrary<MonitorConfirmationPolicy> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      tag: fc.constant('latest' as const),
      confirmations: fc.integer({ min: 1, max: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ tag: 'safe' as const }) },
  { weight: 1, arbitrary: fc.constant({ tag: 'finalized' as const }) },
)

const stats = {
  runs: 0,
  polls: 0,
  reorgs: 0,
  restarts: 0,
  activations: 0,
  deactivations: 0,
  reactivations: 0,
  conflicts: 0,
  refusals: 0,
}

async function runModel(
  policy: MonitorConfirmationPolicy,
  ops: readonly Op[],
  maxRangeBlocks: number,
): Promise<void> {
  const w = new World()
  const store = createMemoryMonitorStore()
  const make = async (): Promise<PaymentMonitor> => {
    const m = createPaymentMonitor(
      {
        chainId: CHAIN_ID,
        policy,
        maxTrackedBlocks: 10_000,
        contract: CONTRACT,
        startBlock: 0,
        maxRangeBlocks,
        pollIntervalMs: 1,
      },
      { source: w.source(), store, quotes, log: silent },
    )
    await m.start()
    return m
  }
  const monitors = [await make(), await make()]
  let seen = 0
  const poll = async (m: PaymentMonitor): Promise<void> => {
    const o = await m.poll()
    stats.polls++
    if (o.type === 'conflict') stats.conflicts++
    assert.notEqual(o.type, 'halted', `monitor halted: ${o.type === 'halted' ? o.reason : ''}`)
    seen = checkInvariants(store, seen, w, policy)
  }
  for (const op of ops) {
    switch (op.t) {
      case 'submit':
        w.submit(op.kind, op.quote)
        break
      case 'mine':
        w.mine(op.count, op.take, op.rotate)
        break
      case 'reorg':
        w.reorg(op.depth, op.newCount, op.reinclude, op.take, op.rotate)
        stats.reorgs++
        break
      case 'tags':
        w.tags(op.safeUp, op.finalUp)
        break
      case 'poll':
        await poll(monitors[op.which]!)
        break
      case 'restart':
        monitors[op.which] = await make()
        stats.restarts++
        break
      case 'duplicates':
        w.duplicateLogs = op.on
        break
      case 'maxRange':
        w.maxRange = op.max
        break
    }
  }
  // Settle: everything left in the mempool mined, enough blocks on top, tags caught up, monitors caught up.
  w.mine(4, 100, 0)
  w.tags(1_000, 1_000)
  for (let i = 0; i < 200; i++) {
    await poll(monitors[i % 2]!)
    const cursor = (await store.load(CHAIN_ID)).cursor
    if (cursor?.hash === w.latest.hash && i > 2) break
  }
  assert.equal((await store.load(CHAIN_ID)).cursor?.hash, w.latest.hash, 'monitor caught up with the chain')
  const got = derived(store.effects(CHAIN_ID))
  const want = reference(w, policyHeight(policy, w))
  assert.deepEqual([...got.active].sort(), [...want.active].sort(), 'active payments = reference')
  assert.deepEqual([...got.cancelled].sort(), [...want.cancelled].sort(), 'cancellations = reference')
  assert.deepEqual([...got.revoked].sort(), [...want.revoked].sort(), 'revocations = reference')
  // Every record is settled: final on the canonical chain, reorged elsewhere.
  for (const r of store.records(CHAIN_ID)) {
    const canonical = w.blocks[r.blockNumber]?.hash === r.blockHash
    // Final on the canonical chain (or confirmed and settled once below the tracked window), reorged elsewhere.
    const settledBelowWindow = r.status === 'confirmed' && r.settled
    assert.equal(
      settledBelowWindow ? 'final' : r.status,
      canonical ? 'final' : 'reorged',
      `${r.key} at ${r.blockNumber}`,
    )
  }
  const all = store.effects(CHAIN_ID)
  stats.activations += all.filter((e) => e.type === 'activate-subscription').length
  stats.deactivations += all.filter((e) => e.type === 'deactivate-subscription').length
  const activatedRecords = all.filter((e) => e.type === 'activate-subscription').map((e) => e.recordKey)
  stats.reactivations += activatedRecords.length - new Set(activatedRecords).size
  stats.refusals += w.refusals
  stats.runs++
}

describe('payment monitor model', () => {
  const runs = 1_000
  it('never activates without a confirmed, canonical, matching payment; never twice; converges to the chain', async () => {
    await fc.assert(
      fc.asyncProperty(
        policyArb,
        fc.array(opArb, { minLength: 5, maxLength: 60 }),
        fc.integer({ min: 1, max: 16 }),
        runModel,
      ),
      { numRuns: runs },
    )
    process.stdout.write(`# monitor model: ${JSON.stringify(stats)}\n`)
    assert.ok(
      stats.reorgs > 0 && stats.deactivations > 0 && stats.restarts > 0 && stats.conflicts > 0,
      JSON.stringify(stats),
    )
  })
  it('deactivates what a reorg removes after activation and converges when it comes back (latest policy)', async () => {
    const before = { ...stats }
    // Every run starts with confirmed payments, then reorgs of any depth above the finalized block.
    const prefix: Op[] = [
      { t: 'submit', kind: 0, quote: 0 },
      { t: 'submit', kind: 0, quote: 2 },
      { t: 'submit', kind: 4, quote: 0 },
      { t: 'mine', count: 1, take: 3, rotate: 0 },
      { t: 'mine', count: 4, take: 0, rotate: 0 },
      { t: 'poll', which: 0 },
    ]
    const reorgArb = fc.record({
      t: fc.constant('reorg' as const),
      depth: fc.integer({ min: 1, max: 8 }),
      newCount: fc.integer({ min: 0, max: 6 }),
      reinclude: fc.boolean(),
      take: fc.integer({ min: 0, max: 3 }),
      rotate: fc.nat({ max: 3 }),
    })
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.oneof(opArb, reorgArb), { minLength: 3, maxLength: 30 }),
        fc.integer({ min: 1, max: 16 }),
        (confirmations, ops, range) => runModel({ tag: 'latest', confirmations }, [...prefix, ...ops], range),
      ),
      { numRuns: Math.ceil(runs / 2) },
    )
    const d = Object.fromEntries(
      Object.entries(stats).map(([k, v]) => [k, v - before[k as keyof typeof stats]]),
    )
    process.stdout.write(`# monitor model after activation: ${JSON.stringify(d)}\n`)
    assert.ok((d.deactivations ?? 0) > 0 && (d.reactivations ?? 0) > 0, JSON.stringify(d))
  })
})
