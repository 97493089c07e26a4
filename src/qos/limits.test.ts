import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { compileQuotaLimits, DAY_SECONDS, MONTH_SECONDS, quotaWindows, windowAt } from './limits.ts'
import { emptyQuotaState, reserveInState, quotaDecision } from './decision.ts'
import { rateLimitField, retryAfterSeconds, violatedPolicies } from './headers.ts'

describe('anchored windows', () => {
  test('day k is [start + k·86400, start + (k+1)·86400): the boundary second belongs to the next day', () => {
    const start = 1_700_000_123
    assert.deepEqual(windowAt(start, DAY_SECONDS, start), { index: 0, endSec: start + DAY_SECONDS })
    assert.deepEqual(windowAt(start, DAY_SECONDS, start + DAY_SECONDS - 0.001), {
      index: 0,
      endSec: start + DAY_SECONDS,
    })
    assert.deepEqual(windowAt(start, DAY_SECONDS, start + DAY_SECONDS), {
      index: 1,
      endSec: start + 2 * DAY_SECONDS,
    })
    // Before the start (a wall clock behind the chain's): the first window.
    assert.deepEqual(windowAt(start, DAY_SECONDS, start - 5), { index: 0, endSec: start + DAY_SECONDS })
  })

  test('months are 30 days and periods the plan period, both from the same anchor (no drift)', () => {
    const start = 1_000
    const w = quotaWindows(start, 3600, start + 31 * DAY_SECONDS + 7200 + 1)
    assert.deepEqual(w.day, { index: 31, endSec: start + 32 * DAY_SECONDS })
    assert.deepEqual(w.month, { index: 1, endSec: start + 2 * MONTH_SECONDS })
    assert.deepEqual(w.period, { index: 31 * 24 + 2, endSec: start + (31 * 24 + 3) * 3600 })
  })
})

describe('wire form', () => {
  const limits = compileQuotaLimits(
    'pro',
    {
      requestsPerSecond: 50,
      burst: 100,
      requestsPerDay: 1000,
      requestsPerMonth: 20000,
      bytesPerPeriod: 5000,
      concurrentStreams: 5,
    },
    2_592_000,
  )

  test('RateLimit-Policy names every policy of the plan, bytes as content-bytes', () => {
    assert.equal(
      limits.policyField,
      '"rps";q=50;w=1, "daily";q=1000;w=86400, "monthly";q=20000;w=2592000, "bw";q=5000;qu="content-bytes";w=2592000, "ws";q=5;qu="concurrent-requests"',
    )
  })

  test('a daily refusal waits until the day window ends, and RateLimit reports each policy', () => {
    const start = 10_000
    const nowSec = start + 100.5
    const w = quotaWindows(start, limits.periodSec, nowSec)
    const s = emptyQuotaState()
    s.dayIndex = 0
    s.dayCount = 1000
    s.monthIndex = 0
    s.monthCount = 1000
    const raw = reserveInState(s, limits, w, 5_000_000)
    const d = quotaDecision(raw, limits)
    assert.deepEqual(violatedPolicies(d.violated), ['daily'])
    assert.equal(retryAfterSeconds(d, w, nowSec), DAY_SECONDS - 100) // ceil(86400 - 100.5) = 86300
    assert.equal(
      rateLimitField(d, limits, w, nowSec),
      `"rps";r=100;t=0, "daily";r=0;t=86300, "monthly";r=19000;t=${MONTH_SECONDS - 100}, "bw";r=5000;t=${2_592_000 - 100}`,
    )
    // Refused: nothing charged.
    assert.equal(s.dayCount, 1000)
    assert.equal(s.tatUs, 0)
  })

  test('several violations: Retry-After is the latest of their window ends', () => {
    const start = 0
    const nowSec = 50
    const w = quotaWindows(start, limits.periodSec, nowSec)
    const s = emptyQuotaState()
    s.dayIndex = 0
    s.dayCount = 1000
    s.monthIndex = 0
    s.monthCount = 20000
    const d = quotaDecision(reserveInState(s, limits, w, 1_000_000), limits)
    assert.deepEqual(violatedPolicies(d.violated), ['daily', 'monthly'])
    assert.equal(retryAfterSeconds(d, w, nowSec), MONTH_SECONDS - 50)
  })
})
