import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fc from '../../test/helpers/fast-check.ts'
import {
  CircuitBreaker,
  RetryBudget,
  SlidingCounter,
  fullJitterBackoff,
  parseRetryAfter,
  shouldRetry,
  type RetryPolicy,
} from './index.ts'

describe('SlidingCounter', () => {
  test('counts within the window and forgets what slid out', () => {
    const c = new SlidingCounter(1000, 10)
    c.add(0)
    c.add(150, 2)
    assert.equal(c.total(999), 3)
    assert.equal(c.total(1000), 2, 'bucket [0,100) slid out')
    assert.equal(c.total(1100), 0, 'bucket [100,200) slid out')
  })

  test('never negative and equals a naive reference over random event streams', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(300), fc.nat(5)), { maxLength: 60 }), (steps) => {
        const c = new SlidingCounter(1000, 10)
        const events: Array<[number, number]> = []
        let now = 0
        for (const [dt, n] of steps) {
          now += dt
          c.add(now, n)
          events.push([now, n])
          const bucket = Math.floor(now / 100)
          const expected = events
            .filter(([t]) => Math.floor(t / 100) > bucket - 10)
            .reduce((a, [, k]) => a + k, 0)
          assert.equal(c.total(now), expected)
        }
      }),
      { numRuns: 200 },
    )
  })
})

describe('RetryBudget', () => {
  test('at 100% failure, retries stay within ratio × requests + floor', () => {
    const budget = new RetryBudget({ ratio: 0.2, minRetriesPerSecond: 1, windowMs: 10_000 })
    let retries = 0
    for (let i = 0; i < 1000; i++) {
      const now = i * 5 // 1000 requests over 5 s
      budget.recordRequest(now)
      if (budget.tryAcquire(now)) retries++
    }
    // window holds all 1000 requests: at most 0.2 × 1000 + 1 × 10 = 210
    assert.ok(retries <= 210, `retries ${retries}`)
    assert.ok(retries >= 200, `budget is usable: ${retries}`)
  })

  test('the floor lets a quiet route retry', () => {
    const budget = new RetryBudget({ ratio: 0.2, minRetriesPerSecond: 1, windowMs: 10_000 })
    budget.recordRequest(0)
    assert.equal(budget.tryAcquire(0), true)
  })

  test('the budget refills as the window slides', () => {
    const budget = new RetryBudget({ ratio: 0, minRetriesPerSecond: 0.1, windowMs: 10_000 })
    assert.equal(budget.tryAcquire(0), true)
    assert.equal(budget.tryAcquire(1), false)
    assert.equal(budget.tryAcquire(11_000), true)
  })
})

describe('fullJitterBackoff', () => {
  test('is uniform in [0, min(max, base·2^n))', () => {
    assert.equal(
      fullJitterBackoff(0, 25, 1000, () => 0),
      0,
    )
    assert.equal(
      fullJitterBackoff(0, 25, 1000, () => 0.999),
      24,
    )
    assert.equal(
      fullJitterBackoff(3, 25, 1000, () => 0.5),
      100,
    )
    assert.equal(
      fullJitterBackoff(10, 25, 1000, () => 0.5),
      500,
    )
    fc.assert(
      fc.property(fc.nat(20), fc.double({ min: 0, max: 0.9999, noNaN: true }), (n, r) => {
        const d = fullJitterBackoff(n, 10, 500, () => r)
        return d >= 0 && d < Math.min(500, 10 * 2 ** n)
      }),
    )
  })
})

describe('CircuitBreaker', () => {
  const options = { failureRatio: 0.5, minRequests: 10, windowMs: 10_000, openMs: 5000, halfOpenProbes: 2 }

  test('opens on the failure ratio only once the minimum volume is reached', () => {
    const transitions: string[] = []
    const b = new CircuitBreaker(options, (from, to) => transitions.push(`${from}->${to}`))
    for (let i = 0; i < 9; i++) b.onResult(false, i)
    assert.equal(b.state(9), 'closed', 'below minimum volume')
    b.onResult(false, 10)
    assert.equal(b.state(10), 'open')
    assert.equal(b.tryAcquire(11), false)
    assert.deepEqual(transitions, ['closed->open'])
  })

  test('stays closed while the ratio is below the threshold', () => {
    const b = new CircuitBreaker(options)
    for (let i = 0; i < 100; i++) b.onResult(i % 3 !== 0, i)
    assert.equal(b.state(100), 'closed')
  })

  test('open → half-open after openMs, bounded probes, closes after all probes succeed', () => {
    const transitions: string[] = []
    const b = new CircuitBreaker(options, (from, to) => transitions.push(`${from}->${to}`))
    for (let i = 0; i < 10; i++) b.onResult(false, 0)
    assert.equal(b.tryAcquire(4999), false)
    assert.equal(b.tryAcquire(5000), true, 'first probe')
    assert.equal(b.tryAcquire(5000), true, 'second probe')
    assert.equal(b.tryAcquire(5000), false, 'probe slots bounded')
    b.onResult(true, 5001)
    assert.equal(b.state(5001), 'half-open')
    b.onResult(true, 5002)
    assert.equal(b.state(5002), 'closed')
    assert.deepEqual(transitions, ['closed->open', 'open->half-open', 'half-open->closed'])
  })

  test('a failed probe re-opens for another full period', () => {
    const b = new CircuitBreaker(options)
    for (let i = 0; i < 10; i++) b.onResult(false, 0)
    assert.equal(b.tryAcquire(5000), true)
    b.onResult(false, 5001)
    assert.equal(b.state(5001), 'open')
    assert.equal(b.tryAcquire(10_000), false)
    assert.equal(b.tryAcquire(10_001), true)
  })
})

describe('shouldRetry', () => {
  const policy: RetryPolicy = {
    maxRetries: 2,
    perTryTimeoutMs: undefined,
    backoffBaseMs: 10,
    backoffMaxMs: 100,
    retryOnStatuses: new Set([502, 503]),
    idempotencyKeyHeader: 'idempotency-key',
    maxReplayBodyBytes: 0,
  }
  const base = {
    policy,
    method: 'GET',
    hasIdempotencyKey: false,
    isBodyReplayable: true,
    outcome: 'UPSTREAM_RESET' as const,
    phase: 'post-send' as const,
    retriesSoFar: 0,
    isResponseStarted: false,
  }

  test('retries an idempotent GET after a reset', () => assert.equal(shouldRetry(base), 'yes'))
  test('never retries a POST that may have been sent', () =>
    assert.equal(shouldRetry({ ...base, method: 'POST' }), 'not-idempotent'))
  test('retries a POST that provably was not sent (connect failure)', () =>
    assert.equal(
      shouldRetry({ ...base, method: 'POST', outcome: 'UPSTREAM_CONNECT_FAILED', phase: 'pre-send' }),
      'yes',
    ))
  test('retries a POST carrying the idempotency key the route trusts', () =>
    assert.equal(shouldRetry({ ...base, method: 'POST', hasIdempotencyKey: true }), 'yes'))
  test('a body that was streamed cannot be replayed', () =>
    assert.equal(shouldRetry({ ...base, method: 'PUT', isBodyReplayable: false }), 'body-not-replayable'))
  test('retry-on statuses only when configured', () => {
    assert.equal(shouldRetry({ ...base, outcome: 503 }), 'yes')
    assert.equal(shouldRetry({ ...base, outcome: 500 }), 'not-retryable-outcome')
  })
  test('stops after maxRetries and once the response started', () => {
    assert.equal(shouldRetry({ ...base, retriesSoFar: 2 }), 'no-retries-left')
    assert.equal(shouldRetry({ ...base, isResponseStarted: true }), 'response-started')
  })
  test('client errors and body timeouts are not retried', () => {
    assert.equal(shouldRetry({ ...base, outcome: 'UPSTREAM_BODY_TIMEOUT' }), 'not-retryable-outcome')
    assert.equal(shouldRetry({ ...base, outcome: 'PAYLOAD_TOO_LARGE' }), 'not-retryable-outcome')
  })
})

describe('parseRetryAfter', () => {
  test('delta-seconds and HTTP-date', () => {
    assert.equal(parseRetryAfter('2', 0), 2000)
    assert.equal(parseRetryAfter('Thu, 01 Jan 1970 00:00:05 GMT', 1000), 4000)
    assert.equal(parseRetryAfter('soon', 0), undefined)
    assert.equal(parseRetryAfter(undefined, 0), undefined)
  })
})
