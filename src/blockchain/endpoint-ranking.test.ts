import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CLOSED_BREAKER } from './circuit-breaker.ts'
import {
  bestHead,
  createEndpointHealth,
  endpointUsability,
  headLagBlocks,
  nextLatencyEwma,
  rankEndpoints,
  type EndpointHealth,
} from './endpoint-ranking.ts'

const options = { maxHeadLagBlocks: 5, headFreshMs: 10_000, latencyBucketMs: 50 }
const NOW = 100_000

function ep(index: number, patch: Partial<EndpointHealth> = {}): EndpointHealth {
  return { ...createEndpointHealth(index, `rpc${index}`), chainCheck: 'ok', ...patch }
}
const open = (openUntil: number) => ({ ...CLOSED_BREAKER, phase: 'open' as const, trips: 1, openUntil, consecutiveFailures: 3 })

void test('configured order decides between endpoints of similar latency', () => {
  const list = [ep(0, { latencyEwmaMs: 40 }), ep(1, { latencyEwmaMs: 10 }), ep(2, { latencyEwmaMs: 120 })]
  assert.deepEqual(rankEndpoints(list, NOW, options), [0, 1, 2])
})

void test('a clearly faster endpoint ranks first', () => {
  const list = [ep(0, { latencyEwmaMs: 300 }), ep(1, { latencyEwmaMs: 20 })]
  assert.deepEqual(rankEndpoints(list, NOW, options), [1, 0])
})

void test('endpoints with recent failures rank after healthy ones', () => {
  const list = [ep(0, { breaker: { ...CLOSED_BREAKER, consecutiveFailures: 1 } }), ep(1, { latencyEwmaMs: 400 })]
  assert.deepEqual(rankEndpoints(list, NOW, options), [1, 0])
})

void test('open breakers are skipped until their cooldown elapses, then tried last', () => {
  const list = [ep(0, { breaker: open(NOW + 1) }), ep(1)]
  assert.deepEqual(rankEndpoints(list, NOW, options), [1])
  assert.deepEqual(rankEndpoints(list, NOW + 1, options), [1, 0])
  assert.equal(endpointUsability(list[0]!, list, NOW, options), 'cooling')
  assert.equal(endpointUsability(list[0]!, list, NOW + 1, options), 'trial')
})

void test('wrong-chain endpoints are never ranked', () => {
  const list = [ep(0, { chainCheck: 'wrong-chain' }), ep(1)]
  assert.deepEqual(rankEndpoints(list, NOW, options), [1])
})

void test('unverified endpoints are ranked (verified on first use)', () => {
  const list = [createEndpointHealth(0, 'a')]
  assert.deepEqual(rankEndpoints(list, NOW, options), [0])
})

void test('an endpoint lagging more than the limit is refused; at the limit it is kept', () => {
  const list = [
    ep(0, { headBlock: 100, headObservedAt: NOW }),
    ep(1, { headBlock: 106, headObservedAt: NOW }),
    ep(2, { headBlock: 101, headObservedAt: NOW }),
  ]
  assert.equal(headLagBlocks(list[0]!, list, NOW, options), 6)
  assert.equal(endpointUsability(list[0]!, list, NOW, options), 'lagging')
  assert.equal(endpointUsability(list[2]!, list, NOW, options), 'usable')
  assert.deepEqual(rankEndpoints(list, NOW, options), [1, 2])
})

void test('stale head observations are not compared', () => {
  const list = [ep(0, { headBlock: 100, headObservedAt: NOW }), ep(1, { headBlock: 500, headObservedAt: NOW - 10_001 })]
  assert.equal(bestHead(list, NOW, options), 100)
  assert.equal(headLagBlocks(list[0]!, list, NOW, options), 0)
  assert.equal(headLagBlocks(list[1]!, list, NOW, options), 0)
})

void test('a wrong-chain endpoint does not set the best head', () => {
  const list = [ep(0, { headBlock: 100, headObservedAt: NOW }), ep(1, { chainCheck: 'wrong-chain', headBlock: 9_999, headObservedAt: NOW })]
  assert.equal(bestHead(list, NOW, options), 100)
})

void test('latency EWMA seeds with the first sample and moves by alpha', () => {
  assert.equal(nextLatencyEwma(undefined, 80), 80)
  assert.equal(nextLatencyEwma(100, 200, 0.25), 125)
})
