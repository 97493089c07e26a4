import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fc from '../../test/helpers/fast-check.ts'
import {
  CircuitBreaker,
  RetryBudget,
  SlidingCounter,
  fullJitterBackoff,
  parseRetryAfter,
  phaseOf,
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
  test('half-open admits exactly halfOpenProbes concurrent probes, even as earlier probes finish', () => {
    const b = new CircuitBreaker(options)
    for (let i = 0; i < 10; i++) b.onResult(false, 0)
    assert.equal(b.isAvailable(4999), false, 'open')
    // Many requests arrive together once the open period ends: only the probe slots are handed out.
    const admitted = Array.from({ length: 10 }, () => b.tryAcquire(5000)).filter(Boolean).length
    assert.equal(admitted, options.halfOpenProbes)
    assert.equal(b.isAvailable(5000), false, 'no free probe slot: not eligible for a pick')
    // One probe succeeds: its slot frees, one more probe may go, never more than halfOpenProbes in flight.
    b.onResult(true, 5001)
    assert.equal(b.state(5001), 'half-open')
    assert.equal(b.isAvailable(5001), true)
    assert.equal(b.tryAcquire(5001), true)
    assert.equal(b.tryAcquire(5001), false)
    assert.equal(b.isAvailable(5001), false)
  })

  test('a cancelled probe returns its slot; a late result after re-opening takes nothing', () => {
    const b = new CircuitBreaker(options)
    for (let i = 0; i < 10; i++) b.onResult(false, 0)
    assert.equal(b.tryAcquire(5000), true)
    assert.equal(b.tryAcquire(5000), true)
    b.releaseProbe(5001)
    assert.equal(b.tryAcquire(5001), true, 'released slot reusable')
    assert.equal(b.tryAcquire(5001), false)
    b.onResult(false, 5002)
    assert.equal(b.state(5002), 'open')
    assert.equal(b.isAvailable(5002), false)
    b.onResult(true, 5003)
    assert.equal(b.state(5003), 'open', 'a success reported while open does not close it')
  })

  test('closes only after halfOpenProbes successes, each in its own slot', () => {
    const b = new CircuitBreaker({ ...options, halfOpenProbes: 3 })
    for (let i = 0; i < 10; i++) b.onResult(false, 0)
    for (let k = 0; k < 2; k++) {
      assert.equal(b.tryAcquire(5000 + k), true)
      b.onResult(true, 5000 + k)
      assert.equal(b.state(5000 + k), 'half-open', `${k + 1} success(es) of 3`)
    }
    assert.equal(b.tryAcquire(5003), true)
    b.onResult(true, 5003)
    assert.equal(b.state(5003), 'closed')
  })

  test('the failure ratio is compared with ≥ and the volume with ≥ (exact thresholds)', () => {
    const b = new CircuitBreaker(options)
    for (let i = 0; i < 5; i++) b.onResult(true, 0)
    for (let i = 0; i < 4; i++) b.onResult(false, 0)
    assert.equal(b.state(0), 'closed', '4/9: below minRequests')
    b.onResult(false, 0)
    assert.equal(b.state(0), 'open', '5/10 = ratio 0.5 at minRequests 10 opens')
    const c = new CircuitBreaker(options)
    for (let i = 0; i < 6; i++) c.onResult(true, 0)
    for (let i = 0; i < 5; i++) c.onResult(false, 0)
    assert.equal(c.state(0), 'closed', '5/11 < 0.5')
    const d = new CircuitBreaker(options)
    for (let i = 0; i < 10; i++) d.onResult(false, 0)
    assert.equal(d.state(4999), 'open')
    assert.equal(d.state(5000), 'half-open', 'exactly openMs later')
  })
})

describe('CircuitBreaker (exact rules found by scripts/mutate.ts)', () => {
  const options = { failureRatio: 0.5, minRequests: 10, windowMs: 10_000, openMs: 5000, halfOpenProbes: 3 }
  const opened = () => {
    const b = new CircuitBreaker(options)
    for (let i = 0; i < 10; i++) b.onResult(false, 0)
    return b
  }

  test('closed admits every request without taking a probe slot', () => {
    const b = new CircuitBreaker(options)
    for (let i = 0; i < 50; i++) assert.equal(b.tryAcquire(i), true)
    assert.equal(b.isAvailable(50), true)
  })

  test('a finished probe frees its slot completely: all halfOpenProbes slots are free again', () => {
    const b = opened()
    assert.equal(b.tryAcquire(5000), true)
    b.onResult(true, 5000)
    const admitted = Array.from({ length: 5 }, () => b.tryAcquire(5001)).filter(Boolean).length
    assert.equal(admitted, 3, 'the bound is on probes in flight: none is, so all 3 slots are free')
  })

  test('a late failure reported while open does not extend the open period', () => {
    const b = opened()
    b.onResult(false, 4000) // a request admitted before the breaker opened, finishing late
    assert.equal(b.state(5000), 'half-open')
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
  test('never retries a POST or PATCH without a body after a post-send failure (nothing else stops it)', () => {
    for (const method of ['POST', 'PATCH', 'CONNECT', 'LOCK']) {
      for (const outcome of ['UPSTREAM_RESET', 'UPSTREAM_HEADERS_TIMEOUT', 503] as const) {
        const q = { ...base, method, isBodyReplayable: true, outcome, phase: 'post-send' as const }
        assert.equal(shouldRetry(q), 'not-idempotent', `${method} ${outcome}`)
      }
    }
    // The same request with the method made idempotent would be retried: the method alone decided.
    assert.equal(shouldRetry({ ...base, method: 'PUT', isBodyReplayable: true }), 'yes')
    assert.equal(
      shouldRetry({
        ...base,
        method: 'POST',
        policy: { ...policy, idempotencyKeyHeader: undefined },
        hasIdempotencyKey: true,
      }),
      'not-idempotent',
    )
  })
  test('every RFC 9110 idempotent method is retried after a reset', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])
      assert.equal(shouldRetry({ ...base, method }), 'yes', method)
  })
  test('only connect-phase failures count as never sent (pre-send)', () => {
    assert.equal(phaseOf('UPSTREAM_CONNECT_FAILED'), 'pre-send')
    assert.equal(phaseOf('UPSTREAM_CONNECT_TIMEOUT'), 'pre-send')
    assert.equal(phaseOf('UPSTREAM_QUEUE_TIMEOUT'), 'pre-send')
    for (const code of [
      'UPSTREAM_RESET',
      'UPSTREAM_HEADERS_TIMEOUT',
      'UPSTREAM_BODY_TIMEOUT',
      'UPSTREAM_PROTOCOL_ERROR',
    ] as const) {
      assert.equal(phaseOf(code), 'post-send', code)
    }
  })
  test('a pre-send failure is retried for any method, but a streamed body still blocks it', () => {
    const pre = {
      ...base,
      method: 'POST',
      outcome: 'UPSTREAM_CONNECT_TIMEOUT' as const,
      phase: 'pre-send' as const,
    }
    assert.equal(shouldRetry(pre), 'yes')
    assert.equal(shouldRetry({ ...pre, isBodyReplayable: false }), 'body-not-replayable')
    assert.equal(shouldRetry({ ...pre, retriesSoFar: 1 }), 'yes', 'retriesSoFar < maxRetries')
    assert.equal(shouldRetry({ ...pre, retriesSoFar: 2 }), 'no-retries-left')
  })
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
  test('a date in the past or now is 0 ms, never negative or rounded up', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now), 0)
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now), 0)
    assert.equal(parseRetryAfter('0', now), 0)
    assert.equal(parseRetryAfter('soon', now), undefined)
    assert.equal(parseRetryAfter(undefined, now), undefined)
  })
  test('delta-seconds and HTTP-date', () => {
    assert.equal(parseRetryAfter('2', 0), 2000)
    assert.equal(parseRetryAfter('Thu, 01 Jan 1970 00:00:05 GMT', 1000), 4000)
    assert.equal(parseRetryAfter('soon', 0), undefined)
    assert.equal(parseRetryAfter(undefined, 0), undefined)
  })
})
