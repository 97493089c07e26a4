import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { JsonRpcError } from '../../blockchain/index.ts'
import { GatewayError } from '../../errors/index.ts'
import { createPaymentMonitor, isRangeRefusal, type MonitorChainSource } from './chain-follower.ts'
import { createMemoryMonitorStore } from './memory-monitor-store.ts'
import {
  classifyPayment,
  confirmedHeight,
  initialMonitorState,
  stepMonitor,
  type MonitorCoreOptions,
} from './monitor-core.ts'
import type { Address, BlockRef, Hex, MonitorState, ObservedBlock, PaymentLog } from './types.ts'

const h = (n: number): Hex => `0x${n.toString(16).padStart(64, '0')}`
const a = (n: number): Address => `0x${n.toString(16).padStart(40, '0')}`
const opts: MonitorCoreOptions = {
  chainId: 1,
  policy: { tag: 'latest', confirmations: 2 },
  maxTrackedBlocks: 3,
}

function chainOf(from: number, to: number, salt = 0, parentOfFirst?: Hex): ObservedBlock[] {
  const out: ObservedBlock[] = []
  for (let n = from; n <= to; n++) {
    const parentHash =
      n === from && parentOfFirst !== undefined
        ? parentOfFirst
        : n === 0
          ? h(0)
          : h(1_000 * (n === from ? 0 : salt) + n - 1 + 1)
    out.push({ number: n, hash: h(1_000 * salt + n + 1), parentHash, timestamp: 100 + n, logs: [] })
  }
  return out
}
const heads = (b: BlockRef, safe: BlockRef | null = null) => ({
  latest: { number: b.number, hash: b.hash },
  safe: safe === null ? null : { number: safe.number, hash: safe.hash },
  finalized: null,
})

function applied(state: MonitorState, blocks: ObservedBlock[], safe: BlockRef | null = null): MonitorState {
  const r = stepMonitor(
    state,
    { blocks, heads: heads(blocks.at(-1) ?? state.blocks.at(-1)!, safe), quotes: new Map() },
    opts,
  )
  assert.equal(r.type, 'applied')
  return r.type === 'applied' ? r.state : state
}

const payment: PaymentLog = {
  type: 'payment',
  txHash: h(7),
  logIndex: 0,
  digest: h(9),
  subscriptionId: h(9),
  payer: a(1),
  beneficiary: a(1),
  token: a(2),
  amount: 100n,
  planId: 3,
  start: 0,
  end: 10,
}

describe('monitor core', () => {
  it('classifies a payment against its quote: unknown, wrong payer, token, plan, underpaid, or matching', () => {
    const q = { payer: a(1), amount: 100n, planId: 3, token: a(2) }
    assert.equal(classifyPayment(payment, null), 'unknown-quote')
    assert.equal(classifyPayment(payment, { ...q, payer: a(5) }), 'wrong-payer')
    assert.equal(classifyPayment(payment, { ...q, token: a(5) }), 'wrong-token')
    assert.equal(classifyPayment(payment, { ...q, planId: 4 }), 'wrong-plan')
    assert.equal(classifyPayment(payment, { ...q, amount: 101n }), 'underpaid')
    assert.equal(classifyPayment(payment, q), null)
    assert.equal(classifyPayment({ ...payment, amount: 150n }, q), null, 'overpaying is not an anomaly')
  })

  it('halts on a reorg below the tracked window instead of guessing an ancestor', () => {
    let s = applied(initialMonitorState(), chainOf(0, 5))
    assert.deepEqual(
      s.blocks.map((b) => b.number),
      [3, 4, 5],
      'window bounded by maxTrackedBlocks',
    )
    // Block 3 itself replaced: the window's first block no longer matches.
    const other = chainOf(3, 6, 7, h(99))
    const r = stepMonitor(s, { blocks: other, heads: heads(other.at(-1)!), quotes: new Map() }, opts)
    assert.equal(r.type, 'halt')
    // A first block that does not link to the stored parent asks for an earlier read.
    s = applied(initialMonitorState(), chainOf(0, 2))
    const fork = chainOf(2, 3, 5, h(77))
    assert.deepEqual(stepMonitor(s, { blocks: fork, heads: heads(fork.at(-1)!), quotes: new Map() }, opts), {
      type: 'rewind',
      from: 0,
    })
  })

  it('settles confirmed records that fall below the tracked window (no finalized tag): state stays bounded', () => {
    const blocks = chainOf(0, 6)
    blocks[1] = { ...blocks[1]!, logs: [payment] }
    const quotes = new Map([[payment.digest, { payer: a(1), amount: 100n, planId: 3, token: a(2) }]])
    const r = stepMonitor(initialMonitorState(), { blocks, heads: heads(blocks[6]!), quotes }, opts)
    assert.equal(r.type, 'applied')
    if (r.type !== 'applied') return
    assert.equal(r.state.records.size, 0, 'nothing left loaded')
    assert.deepEqual(
      r.commit.records.map((x) => [x.status, x.settled, x.applied]),
      [['confirmed', true, true]],
    )
    assert.deepEqual(r.commit.blocks.pruneBelow, 4)
  })

  it('a safe tag on another branch confirms nothing', () => {
    const policy = { tag: 'safe' as const }
    const blocks = chainOf(0, 3)
    blocks[1] = { ...blocks[1]!, logs: [payment] }
    const quotes = new Map([[payment.digest, { payer: a(1), amount: 100n, planId: 3, token: a(2) }]])
    const foreignSafe = { number: 2, hash: h(4242) }
    const r = stepMonitor(
      initialMonitorState(),
      { blocks, heads: { latest: blocks[3]!, safe: foreignSafe, finalized: null }, quotes },
      { ...opts, policy },
    )
    assert.equal(r.type, 'applied')
    assert.deepEqual(
      r.type === 'applied' ? r.effects.map((e) => e.type) : [],
      ['record-payment'],
      'seen only: the tag does not descend from the processed chain',
    )
    const ok = stepMonitor(
      initialMonitorState(),
      { blocks, heads: { latest: blocks[3]!, safe: blocks[2]!, finalized: null }, quotes },
      { ...opts, policy },
    )
    assert.deepEqual(ok.type === 'applied' ? ok.effects.map((e) => e.type) : [], [
      'record-payment',
      'mark-confirmed',
      'activate-subscription',
    ])
  })
})

describe('confirmation height', () => {
  const tip = { number: 10, hash: h(10) }
  const at = (n: number): Hex | undefined => (n <= 10 ? h(n) : undefined)
  it('counts latest confirmations on the processed chain, including the payment block', () => {
    const ahead = { latest: { number: 50, hash: h(50) }, safe: null, finalized: null }
    assert.equal(confirmedHeight({ tag: 'latest', confirmations: 1 }, ahead, tip, at), 10)
    assert.equal(confirmedHeight({ tag: 'latest', confirmations: 3 }, ahead, tip, at), 8)
    const here = { latest: { number: 10, hash: h(10) }, safe: null, finalized: null }
    assert.equal(confirmedHeight({ tag: 'latest', confirmations: 3 }, here, tip, at), 8)
    const forked = { latest: { number: 10, hash: h(999) }, safe: null, finalized: null }
    assert.equal(confirmedHeight({ tag: 'latest', confirmations: 3 }, forked, tip, at), -1)
  })
  it('takes a tag only at or below the tip and on the processed chain', () => {
    const heads = (n: number, hash: Hex) => ({
      latest: { number: 60, hash: h(60) },
      safe: { number: n, hash },
      finalized: null,
    })
    assert.equal(confirmedHeight({ tag: 'safe' }, heads(7, h(7)), tip, at), 7)
    assert.equal(confirmedHeight({ tag: 'safe' }, heads(7, h(70)), tip, at), -1)
    assert.equal(confirmedHeight({ tag: 'safe' }, heads(11, h(11)), tip, at), -1)
    assert.equal(confirmedHeight({ tag: 'finalized' }, heads(7, h(7)), tip, at), -1, 'no finalized tag')
  })
})

describe('memory monitor store', () => {
  it('refuses a commit computed from another version and writes nothing; skips effect keys it has', async () => {
    const store = createMemoryMonitorStore()
    const blocks = chainOf(0, 1)
    blocks[1] = { ...blocks[1]!, logs: [payment] }
    const quotes = new Map([[payment.digest, { payer: a(1), amount: 100n, planId: 3, token: a(2) }]])
    const r = stepMonitor(
      initialMonitorState(),
      { blocks, heads: heads(blocks[1]!), quotes },
      { ...opts, policy: { tag: 'latest', confirmations: 1 } },
    )
    assert.equal(r.type, 'applied')
    if (r.type !== 'applied') return
    assert.deepEqual(await store.apply(1, { ...r.commit, expectedVersion: 5 }), {
      ok: false,
      reason: 'version-conflict',
      storedVersion: 0,
    })
    assert.equal(store.effects(1).length, 0)
    assert.equal((await store.load(1)).cursor, null)
    assert.deepEqual(await store.apply(1, r.commit), { ok: true, applied: 3, duplicates: 0 })
    // The same effects again (another monitor's identical step) under the new version: all skipped.
    assert.deepEqual(await store.apply(1, { ...r.commit, expectedVersion: 1, version: 2 }), {
      ok: true,
      applied: 0,
      duplicates: 3,
    })
    assert.equal(store.effects(1).filter((e) => e.type === 'activate-subscription').length, 1)
    const loaded = await store.load(1)
    assert.equal(loaded.cursor?.hash, blocks[1]!.hash)
    assert.equal(loaded.records.size, 1)
  })
})

describe('chain follower', () => {
  it('recognises range refusals through the chain client’s error wrapping, and nothing else', () => {
    const wrap = (e: JsonRpcError) =>
      new GatewayError('CHAIN_RPC_ERROR', `eth_getLogs failed: JSON-RPC error ${e.code}: ${e.message}`, {
        cause: e,
      })
    assert.equal(
      isRangeRefusal(wrap(new JsonRpcError(-32005, 'query returned more than 10000 results'))),
      true,
    )
    assert.equal(isRangeRefusal(wrap(new JsonRpcError(-32600, 'block range too large'))), true)
    assert.equal(isRangeRefusal(new Error('exceed maximum block range: 5000')), true)
    assert.equal(isRangeRefusal(wrap(new JsonRpcError(-32000, 'header not found'))), false)
    assert.equal(isRangeRefusal(new GatewayError('CHAIN_RPC_TIMEOUT', 'eth_getLogs timed out')), false)
  })

  it('shrinks the log range when the provider refuses it and grows it back when it accepts again', async () => {
    const blocks = chainOf(0, 200)
    let limit = 5
    const asked: number[] = []
    const source: MonitorChainSource = {
      heads: async () => ({ latest: blocks.at(-1)!, safe: null, finalized: null }),
      blocks: async (from, to) => blocks.slice(from, to + 1),
      logs: async (from, to) => {
        asked.push(to - from + 1)
        if (to - from + 1 > limit)
          throw new Error('eth_getLogs failed: JSON-RPC error -32600: block range too large')
        return []
      },
    }
    const m = createPaymentMonitor(
      {
        ...opts,
        maxTrackedBlocks: 1_000,
        contract: a(3),
        startBlock: 0,
        maxRangeBlocks: 32,
        pollIntervalMs: 1,
      },
      {
        source,
        store: createMemoryMonitorStore(),
        quotes: { byDigests: async () => new Map() },
        log: pino({ level: 'silent' }),
      },
    )
    await m.start()
    await m.poll()
    assert.equal(m.rangeBlocks, 4, '32 → 16 → 8 → 4')
    assert.deepEqual(asked.slice(0, 4), [32, 16, 8, 4])
    limit = 1_000
    const outcome = await m.pollUntilCaughtUp()
    assert.equal(outcome.type === 'committed' && outcome.cursor?.number, 200)
    assert.equal(m.rangeBlocks, 32, 'grown back to the maximum')
  })
})
