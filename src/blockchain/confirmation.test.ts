import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decideTxProgress, type SeenReceipt, type TrackedTxState, type TxObservation } from './confirmation.ts'

const A = '0xaaaa' as const
const B = '0xbbbb' as const
const receiptIn = (blockNumber: number, blockHash: `0x${string}`): SeenReceipt => ({
  transactionHash: '0x01',
  blockNumber,
  blockHash,
  status: 'success',
})
const tx = (patch: Partial<TrackedTxState> = {}): TrackedTxState => ({ nonce: 7, lastBroadcastAt: 1_000, included: null, ...patch })
const obs = (patch: Partial<TxObservation> = {}): TxObservation => ({
  receipt: null,
  canonicalBlockHash: null,
  headBlock: 100,
  tagBlock: null,
  isKnown: true,
  minedNonce: 7,
  ...patch,
})
const latest2 = { tag: 'latest', confirmations: 2 } as const
const options = { stuckAfterMs: 30_000 }

void test('a transaction in the head block has one confirmation and waits for the second', () => {
  const p = decideTxProgress(tx(), obs({ receipt: receiptIn(100, A), canonicalBlockHash: A, minedNonce: 8 }), latest2, 2_000, options)
  assert.deepEqual(p, { kind: 'included', receipt: receiptIn(100, A), confirmations: 1 })
})

void test('confirmed once the latest+N depth is reached', () => {
  const p = decideTxProgress(tx(), obs({ receipt: receiptIn(99, A), canonicalBlockHash: A, minedNonce: 8 }), latest2, 2_000, options)
  assert.equal(p.kind, 'confirmed')
})

void test('with the safe tag, confirmed only when the safe block covers the receipt', () => {
  const base = { receipt: receiptIn(99, A), canonicalBlockHash: A, minedNonce: 8 }
  assert.equal(decideTxProgress(tx(), obs({ ...base, tagBlock: 98 }), { tag: 'safe' }, 0, options).kind, 'included')
  assert.equal(decideTxProgress(tx(), obs({ ...base, tagBlock: 99 }), { tag: 'safe' }, 0, options).kind, 'confirmed')
  assert.equal(decideTxProgress(tx(), obs({ ...base, tagBlock: null }), { tag: 'finalized' }, 0, options).kind, 'included')
})

void test('a receipt whose block is no longer canonical is ignored', () => {
  const p = decideTxProgress(tx(), obs({ receipt: receiptIn(100, A), canonicalBlockHash: B }), latest2, 2_000, options)
  assert.equal(p.kind, 'pending')
})

void test('a receipt that vanished after inclusion is a reorg, to be re-awaited', () => {
  const seen = receiptIn(100, A)
  const p = decideTxProgress(tx({ included: seen }), obs({ isKnown: false }), latest2, 2_000, options)
  assert.deepEqual(p, { kind: 'reorged', previous: seen, receipt: null })
})

void test('a receipt that moved to another block is a reorg carrying the new inclusion', () => {
  const seen = receiptIn(100, A)
  const moved = receiptIn(101, B)
  const p = decideTxProgress(tx({ included: seen }), obs({ receipt: moved, canonicalBlockHash: B, headBlock: 101 }), latest2, 2_000, options)
  assert.deepEqual(p, { kind: 'reorged', previous: seen, receipt: moved })
})

void test('the same inclusion seen again progresses normally', () => {
  const seen = receiptIn(100, A)
  const p = decideTxProgress(tx({ included: seen }), obs({ receipt: seen, canonicalBlockHash: A, headBlock: 101 }), latest2, 2_000, options)
  assert.equal(p.kind, 'confirmed')
})

void test('unknown to the node with its nonce unused: dropped', () => {
  assert.equal(decideTxProgress(tx(), obs({ isKnown: false }), latest2, 2_000, options).kind, 'dropped')
})

void test('nonce consumed without any of our receipts: replaced by someone else', () => {
  assert.equal(decideTxProgress(tx(), obs({ minedNonce: 8 }), latest2, 2_000, options).kind, 'replaced')
})

void test('pending until stuckAfterMs since the last broadcast, then stuck', () => {
  assert.equal(decideTxProgress(tx(), obs(), latest2, 30_999, options).kind, 'pending')
  assert.equal(decideTxProgress(tx(), obs(), latest2, 31_000, options).kind, 'stuck')
})
