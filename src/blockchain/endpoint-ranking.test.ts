import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CLOSED_BREAKER } from './circuit-breaker.ts'
import {
  createEndpointHealth,
  endpointUsability,
  headLagBlocks,
  headSanity,
  nextLatencyEwma,
  rankEndpoints,
  suspectReason,
  trustedHead,
  type EndpointHealth,
  type RankingOptions,
} from './endpoint-ranking.ts'

const options: RankingOptions = {
  maxHeadLagBlocks: 5,
  headFreshMs: 10_000,
  latencyBucketMs: 50,
  maxHeadSkewBlocks: 5,
  maxBlockFutureMs: 60_000,
  maxBlocksPerSecond: 10,
  anchors: [],
}
const NOW = 100_000

function ep(index: number, patch: Partial<EndpointHealth> = {}): EndpointHealth {
  return { ...createEndpointHealth(index, `rpc${index}`), chainCheck: 'ok', ...patch }
}
const open = (openUntil: number) => ({
  ...CLOSED_BREAKER,
  phase: 'open' as const,
  trips: 1,
  openUntil,
  consecutiveFailures: 3,
})

void test('configured order decides between endpoints of similar latency', () => {
  const list = [ep(0, { latencyEwmaMs: 40 }), ep(1, { latencyEwmaMs: 10 }), ep(2, { latencyEwmaMs: 120 })]
  assert.deepEqual(rankEndpoints(list, NOW, options), [0, 1, 2])
})

void test('a clearly faster endpoint ranks first', () => {
  const list = [ep(0, { latencyEwmaMs: 300 }), ep(1, { latencyEwmaMs: 20 })]
  assert.deepEqual(rankEndpoints(list, NOW, options), [1, 0])
})

void test('endpoints with recent failures rank after healthy ones', () => {
  const list = [
    ep(0, { breaker: { ...CLOSED_BREAKER, consecutiveFailures: 1 } }),
    ep(1, { latencyEwmaMs: 400 }),
  ]
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

void test('an endpoint lagging more than the limit behind the median is refused; at the limit it is kept', () => {
  const list = [
    ep(0, { headBlock: 100, headObservedAt: NOW }),
    ep(1, { headBlock: 106, headObservedAt: NOW }),
    ep(2, { headBlock: 106, headObservedAt: NOW }),
    ep(3, { headBlock: 101, headObservedAt: NOW }),
  ]
  assert.equal(trustedHead(list, NOW, options), 101, 'lower median of 100, 101, 106, 106')
  const three = [list[0]!, list[1]!, list[2]!]
  assert.equal(trustedHead(three, NOW, options), 106)
  assert.equal(headLagBlocks(list[0]!, three, NOW, options), 6)
  assert.equal(endpointUsability(list[0]!, three, NOW, options), 'lagging')
  assert.deepEqual(rankEndpoints(three, NOW, options), [1, 2])
  const atLimit = [ep(0, { headBlock: 101, headObservedAt: NOW }), list[1]!, list[2]!]
  assert.equal(endpointUsability(atLimit[0]!, atLimit, NOW, options), 'usable')
})

void test('a lone endpoint far ahead is suspect; the others are not lagging', () => {
  const liar = ep(2, { headBlock: 1_000_000_000, headObservedAt: NOW })
  const three = [
    ep(0, { headBlock: 100, headObservedAt: NOW }),
    ep(1, { headBlock: 101, headObservedAt: NOW }),
    liar,
  ]
  assert.equal(trustedHead(three, NOW, options), 101)
  assert.equal(suspectReason(liar, three, NOW, options), 'ahead')
  assert.equal(endpointUsability(liar, three, NOW, options), 'suspect')
  assert.equal(endpointUsability(three[0]!, three, NOW, options), 'usable')
  assert.deepEqual(rankEndpoints(three, NOW, options), [0, 1])
  // With two endpoints the lower head wins: one endpoint alone never moves the head up.
  const two = [ep(0, { headBlock: 100, headObservedAt: NOW }), ep(1, { headBlock: 130, headObservedAt: NOW })]
  assert.equal(trustedHead(two, NOW, options), 100)
  assert.equal(endpointUsability(two[1]!, two, NOW, options), 'suspect')
  assert.equal(endpointUsability(two[0]!, two, NOW, options), 'usable')
  // Within the skew bound both are believed.
  const close = [
    ep(0, { headBlock: 100, headObservedAt: NOW }),
    ep(1, { headBlock: 105, headObservedAt: NOW }),
  ]
  assert.deepEqual(rankEndpoints(close, NOW, options), [0, 1])
})

void test('wall-clock limit: a head dated in the future or grown faster than any chain is not believed', () => {
  const future = ep(0, { headBlock: 100, headObservedAt: NOW, headTimestampSec: (NOW + 60_001) / 1000 })
  assert.equal(headSanity(future, NOW, options), 'future-block')
  assert.equal(endpointUsability(future, [future], NOW, options), 'suspect', 'alone, it is still refused')
  assert.equal(trustedHead([future], NOW, options), undefined)
  const present = ep(0, { headBlock: 100, headObservedAt: NOW, headTimestampSec: (NOW + 59_000) / 1000 })
  assert.equal(headSanity(present, NOW, options), undefined)
  // Anchor: block 1000 seen 10 s ago; at 10 blocks/s plus a skew of 5, 1105 is the most believable.
  const anchored = { ...options, anchors: [{ block: 1_000, atMs: NOW - 10_000 }] }
  assert.equal(headSanity(ep(0, { headBlock: 1_105, headObservedAt: NOW }), NOW, anchored), undefined)
  const jump = ep(0, { headBlock: 1_106, headObservedAt: NOW })
  assert.equal(headSanity(jump, NOW, anchored), 'implausible-head')
  assert.equal(endpointUsability(jump, [jump], NOW, anchored), 'suspect')
})

void test('a demoted endpoint is refused until its demotion ends and does not vote on the head', () => {
  const list = [
    ep(0, { headBlock: 100, headObservedAt: NOW, demotedUntil: NOW + 1 }),
    ep(1, { headBlock: 97, headObservedAt: NOW }),
  ]
  assert.equal(endpointUsability(list[0]!, list, NOW, options), 'demoted')
  assert.equal(trustedHead(list, NOW, options), 97)
  assert.deepEqual(rankEndpoints(list, NOW, options), [1])
  assert.equal(endpointUsability(list[0]!, list, NOW + 1, options), 'usable')
})

void test('stale head observations are not compared', () => {
  const list = [
    ep(0, { headBlock: 100, headObservedAt: NOW }),
    ep(1, { headBlock: 500, headObservedAt: NOW - 10_001 }),
  ]
  assert.equal(trustedHead(list, NOW, options), 100)
  assert.equal(headLagBlocks(list[0]!, list, NOW, options), 0)
  assert.equal(headLagBlocks(list[1]!, list, NOW, options), 0)
})

void test('a wrong-chain endpoint does not vote on the head', () => {
  const list = [
    ep(0, { headBlock: 100, headObservedAt: NOW }),
    ep(1, { chainCheck: 'wrong-chain', headBlock: 9_999, headObservedAt: NOW }),
  ]
  assert.equal(trustedHead(list, NOW, options), 100)
})

void test('latency EWMA seeds with the first sample and moves by alpha', () => {
  assert.equal(nextLatencyEwma(undefined, 80), 80)
  assert.equal(nextLatencyEwma(100, 200, 0.25), 125)
})
