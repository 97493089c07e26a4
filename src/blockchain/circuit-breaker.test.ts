import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  CLOSED_BREAKER,
  isBreakerAdmitting,
  onBreakerAttempt,
  onBreakerFailure,
  onBreakerSuccess,
  type BreakerState,
} from './circuit-breaker.ts'

const options = { failureThreshold: 3, openBaseMs: 1_000, openMaxMs: 8_000 }
const mid = () => 0.5

function fail(state: BreakerState, now: number, times = 1): BreakerState {
  let s = state
  for (let i = 0; i < times; i++) s = onBreakerFailure(onBreakerAttempt(s, now), now, options, mid)
  return s
}

void test('stays closed below the failure threshold', () => {
  const s = fail(CLOSED_BREAKER, 0, 2)
  assert.equal(s.phase, 'closed')
  assert.equal(s.consecutiveFailures, 2)
  assert.equal(isBreakerAdmitting(s, 0), true)
})

void test('a success resets the failure count', () => {
  const s = onBreakerSuccess(fail(CLOSED_BREAKER, 0, 2))
  assert.equal(fail(s, 0, 2).phase, 'closed')
})

void test('opens at the threshold and refuses requests during the cooldown', () => {
  const s = fail(CLOSED_BREAKER, 10_000, 3)
  assert.equal(s.phase, 'open')
  // cooldown = ceiling/2 + r·ceiling/2 = 500 + 250
  assert.equal(s.openUntil, 10_750)
  assert.equal(isBreakerAdmitting(s, 10_749), false)
  assert.equal(onBreakerAttempt(s, 10_749), s)
})

void test('admits exactly one trial after the cooldown', () => {
  const open = fail(CLOSED_BREAKER, 0, 3)
  assert.equal(isBreakerAdmitting(open, open.openUntil), true)
  const trial = onBreakerAttempt(open, open.openUntil)
  assert.equal(trial.phase, 'half-open')
  assert.equal(isBreakerAdmitting(trial, open.openUntil + 1), false)
})

void test('a successful trial closes the breaker and forgets the trips', () => {
  const open = fail(CLOSED_BREAKER, 0, 3)
  const closed = onBreakerSuccess(onBreakerAttempt(open, open.openUntil))
  assert.deepEqual(closed, CLOSED_BREAKER)
})

void test('a failed trial re-opens with a doubled cooldown ceiling, capped', () => {
  let s = fail(CLOSED_BREAKER, 0, 3)
  const cooldowns: number[] = []
  for (let i = 0; i < 6; i++) {
    const now = s.openUntil
    s = fail(s, now)
    assert.equal(s.phase, 'open')
    cooldowns.push(s.openUntil - now)
  }
  assert.deepEqual(cooldowns, [1_500, 3_000, 6_000, 6_000, 6_000, 6_000])
})

void test('cooldown is never shorter than half its ceiling', () => {
  const s = onBreakerFailure(fail(CLOSED_BREAKER, 0, 2), 0, options, () => 0)
  assert.equal(s.openUntil, 500)
})

void test('a late failure while open keeps the cooldown', () => {
  const open = fail(CLOSED_BREAKER, 0, 3)
  const later = onBreakerFailure(open, 100, options, mid)
  assert.equal(later.phase, 'open')
  assert.equal(later.openUntil, open.openUntil)
  assert.equal(later.trips, open.trips)
})
