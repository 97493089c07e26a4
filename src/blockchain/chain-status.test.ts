import assert from 'node:assert/strict'
import { test } from 'node:test'
import { summarizeChainStatus } from './chain-status.ts'
import type { EndpointStatus, RpcSnapshot } from './rpc-client.ts'
import type { TxSenderSnapshot } from './tx-sender.ts'

const healthy = (name: string): EndpointStatus => ({
  name,
  usability: 'usable',
  chainCheck: 'ok',
  breaker: 'closed',
  consecutiveFailures: 0,
  latencyMs: 5,
  headBlock: 10,
  headLagBlocks: 0,
  suspect: null,
  lastFailure: null,
  lastFailureAt: null,
})
const rpc = (state: RpcSnapshot['state'], endpoints: EndpointStatus[]): RpcSnapshot => ({
  state,
  chainId: 4441,
  headBlock: 10,
  usableEndpoints: endpoints.filter((e) => e.usability === 'usable').length,
  endpoints,
})
const sender = (isExceeded: boolean): TxSenderSnapshot => ({
  address: '0x0000000000000000000000000000000000000001',
  pendingTxs: 2,
  nextNonce: 7,
  feeCap: { isExceeded, baseFeePerGasWei: '1', capWei: '2', observedAt: 1 },
  feeBudgetSpentWei: '0',
})
const base = { chainId: 4441, chainName: 'LitVM LiteForge', confirmation: { tag: 'safe' } as const }

void test('all endpoints healthy and fees under the cap: up, accepting payments and able to send', () => {
  const s = summarizeChainStatus({
    ...base,
    rpc: rpc('up', [healthy('a'), healthy('b')]),
    sender: sender(false),
  })
  assert.equal(s.state, 'up')
  assert.deepEqual(s.reasons, [])
  assert.equal(s.acceptsPayments, true)
  assert.equal(s.canSend, true)
  assert.equal(s.confirmation, 'safe')
  assert.deepEqual(s.wallet, {
    address: '0x0000000000000000000000000000000000000001',
    pendingTxs: 2,
    nextNonce: 7,
  })
})

void test('one endpoint down or lagging or on the wrong chain: degraded with a reason each', () => {
  const s = summarizeChainStatus({
    ...base,
    rpc: rpc('degraded', [
      healthy('a'),
      { ...healthy('b'), usability: 'cooling', breaker: 'open' },
      { ...healthy('c'), usability: 'lagging', headLagBlocks: 40 },
      { ...healthy('d'), usability: 'wrong-chain', chainCheck: 'wrong-chain' },
      { ...healthy('e'), usability: 'suspect', suspect: 'ahead' },
      { ...healthy('f'), usability: 'demoted' },
    ]),
    sender: null,
  })
  assert.equal(s.state, 'degraded')
  assert.deepEqual(s.reasons, [
    'endpoint-down:b',
    'endpoint-lagging:c',
    'endpoint-wrong-chain:d',
    'endpoint-suspect:e',
    'endpoint-demoted:f',
  ])
  assert.equal(s.acceptsPayments, true)
  assert.equal(s.canSend, false, 'read-only without a signer')
})

void test('no usable endpoint: down, refusing payments', () => {
  const s = summarizeChainStatus({
    ...base,
    rpc: rpc('down', [{ ...healthy('a'), usability: 'cooling' }]),
    sender: sender(false),
  })
  assert.equal(s.state, 'down')
  assert.equal(s.reasons[0], 'no-usable-endpoint')
  assert.equal(s.acceptsPayments, false)
  assert.equal(s.canSend, false)
})

void test('base fee above the cap: degraded, payments accepted, own sends paused', () => {
  const s = summarizeChainStatus({ ...base, rpc: rpc('up', [healthy('a')]), sender: sender(true) })
  assert.equal(s.state, 'degraded')
  assert.deepEqual(s.reasons, ['fee-cap-exceeded'])
  assert.equal(s.acceptsPayments, true)
  assert.equal(s.canSend, false)
})

void test('the snapshot serialises to JSON', () => {
  const s = summarizeChainStatus({ ...base, rpc: rpc('up', [healthy('a')]), sender: sender(false) })
  assert.deepEqual(JSON.parse(JSON.stringify(s)).endpoints[0].name, 'a')
})
