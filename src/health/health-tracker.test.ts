import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { HealthTracker, type HealthPolicy, type HealthTransition } from './index.ts'

const policy: HealthPolicy = {
  outlier: {
    consecutive5xx: 3,
    consecutiveGatewayErrors: 2,
    baseEjectionMs: 1000,
    maxEjectionMs: 2500,
    maxEjectionPercent: 50,
  },
  slowStart: { windowMs: 1000, floorPercent: 10 },
  panic: { thresholdPercent: 50, mode: 'spread' },
  active: { rise: 2, fall: 2 },
}

function tracker(n: number, p: HealthPolicy = policy) {
  const transitions: HealthTransition[] = []
  const t = new HealthTracker(
    Array.from({ length: n }, (_, i) => `b${i}`),
    p,
    (tr) => transitions.push(tr),
  )
  return { t, transitions }
}

describe('HealthTracker', () => {
  test('consecutive 5xx eject; a success in between resets the count', () => {
    const { t, transitions } = tracker(4)
    t.onResponse(0, '5xx', 0)
    t.onResponse(0, '5xx', 0)
    t.onResponse(0, 'success', 0)
    t.onResponse(0, '5xx', 0)
    t.onResponse(0, '5xx', 0)
    assert.equal(t.state(0, 0), 'healthy')
    t.onResponse(0, '5xx', 0)
    assert.equal(t.state(0, 0), 'ejected')
    assert.equal(t.isEligible(0, 0, false), false)
    assert.match(transitions[0]?.reason ?? '', /3 consecutive 5xx/)
  })

  test('ejection time grows with each repeat ejection, capped', () => {
    const { t } = tracker(4, { ...policy, slowStart: { windowMs: 0, floorPercent: 10 } })
    const ejectAt = (now: number) => {
      t.onResponse(0, 'gateway-error', now)
      t.onResponse(0, 'gateway-error', now)
    }
    ejectAt(0)
    assert.equal(t.state(0, 999), 'ejected')
    assert.equal(t.state(0, 1000), 'healthy')
    ejectAt(2000)
    assert.equal(t.state(0, 3999), 'ejected', 'second ejection lasts 2 × base')
    assert.equal(t.state(0, 4000), 'healthy')
    ejectAt(5000)
    assert.equal(t.state(0, 7499), 'ejected', 'third ejection capped at maxEjectionMs')
    assert.equal(t.state(0, 7500), 'healthy')
  })

  test('at most maxEjectionPercent of the pool is ejected passively (at least one)', () => {
    const { t } = tracker(4)
    for (const i of [0, 1, 2]) for (let k = 0; k < 3; k++) t.onResponse(i, '5xx', 0)
    const ejected = [0, 1, 2, 3].filter((i) => t.state(i, 0) === 'ejected').length
    assert.equal(ejected, 2)
    const single = tracker(1).t
    for (let k = 0; k < 3; k++) single.onResponse(0, '5xx', 0)
    assert.equal(single.state(0, 0), 'ejected')
  })

  test('after ejection the backend recovers with a weight ramp (slow start), then is healthy', () => {
    const { t, transitions } = tracker(4)
    t.onResponse(1, 'gateway-error', 0)
    t.onResponse(1, 'gateway-error', 0)
    assert.equal(t.state(1, 1000), 'recovering')
    const ramp = [1000, 1250, 1500, 1750].map((now) => t.weightFactor(1, now))
    assert.deepEqual(
      ramp.map((w) => Math.round(w * 100)),
      [10, 33, 55, 78],
    )
    assert.equal(t.weightFactor(1, 2000), 1)
    assert.equal(t.state(1, 2000), 'healthy')
    assert.deepEqual(
      transitions.map((x) => `${x.from}->${x.to}`),
      ['healthy->ejected', 'ejected->recovering', 'recovering->healthy'],
    )
  })

  test('active checks: fall failures eject, rise passes bring it back through slow start (no flapping on one result)', () => {
    const { t } = tracker(3)
    t.onActiveCheck(2, false, 0, 'status 500')
    assert.equal(t.state(2, 0), 'healthy', 'one failure is not enough')
    t.onActiveCheck(2, false, 10, 'status 500')
    assert.equal(t.state(2, 10), 'ejected')
    t.onActiveCheck(2, true, 20, 'ok')
    assert.equal(t.state(2, 20), 'ejected', 'one pass is not enough')
    t.onActiveCheck(2, false, 30, 'status 500')
    t.onActiveCheck(2, true, 40, 'ok')
    t.onActiveCheck(2, true, 50, 'ok')
    assert.equal(t.state(2, 50), 'recovering')
  })

  test('an ejected backend stays ejected on alternating check results; it needs rise consecutive passes', () => {
    for (const rise of [2, 3, 5]) {
      const { t } = tracker(3, { ...policy, active: { rise, fall: 2 } })
      const at = 1_000_000 // the process has run a while
      t.onActiveCheck(0, false, at, 'status 500')
      t.onActiveCheck(0, false, at + 1, 'status 500')
      assert.equal(t.state(0, at + 1), 'ejected')
      for (let k = 0; k < 50; k++) {
        for (let p = 0; p < rise - 1; p++) t.onActiveCheck(0, true, at + 2 + k, 'ok')
        t.onActiveCheck(0, false, at + 2 + k, 'status 500')
        assert.equal(
          t.state(0, at + 2 + k),
          'ejected',
          `rise ${rise}: ${rise - 1} passes then a failure, round ${k}`,
        )
      }
      for (let p = 0; p < rise - 1; p++) t.onActiveCheck(0, true, at + 100, 'ok')
      assert.equal(t.state(0, at + 100), 'ejected', `rise ${rise}: one pass short`)
      t.onActiveCheck(0, true, at + 100, 'ok')
      assert.equal(t.state(0, at + 100), 'recovering', `rise ${rise}: the rise-th consecutive pass`)
    }
  })

  test('a healthy backend needs fall consecutive failures; a pass in between resets the count', () => {
    const { t } = tracker(3, { ...policy, active: { rise: 2, fall: 3 } })
    for (let k = 0; k < 20; k++) {
      t.onActiveCheck(1, false, k, 'x')
      t.onActiveCheck(1, false, k, 'x')
      t.onActiveCheck(1, true, k, 'ok')
    }
    assert.equal(t.state(1, 20), 'healthy')
    for (let k = 0; k < 3; k++) t.onActiveCheck(1, false, 21, 'x')
    assert.equal(t.state(1, 21), 'ejected')
  })

  test('slow start is relative to the backend’s return, not to process start (active-check recovery)', () => {
    for (const at of [0, 5_000, 86_400_000]) {
      const { t } = tracker(3)
      t.onActiveCheck(2, false, at, 'x')
      t.onActiveCheck(2, false, at, 'x')
      t.onActiveCheck(2, true, at + 10_000, 'ok')
      t.onActiveCheck(2, true, at + 10_000, 'ok')
      const back = at + 10_000
      assert.equal(t.state(2, back), 'recovering', `returned at ${back}`)
      assert.equal(Math.round(t.weightFactor(2, back) * 100), 10, 'starts at the floor')
      assert.equal(Math.round(t.weightFactor(2, back + 500) * 100), 55, 'half-way up the ramp')
      assert.equal(t.state(2, back + 999), 'recovering')
      assert.equal(t.state(2, back + 1000), 'healthy', 'after windowMs')
      assert.equal(t.weightFactor(2, back + 1000), 1)
    }
  })

  test('slow start is relative to the backend’s return, not to process start (passive ejection expiry)', () => {
    for (const at of [0, 7_000, 86_400_000]) {
      const { t } = tracker(4)
      t.onResponse(3, 'gateway-error', at)
      t.onResponse(3, 'gateway-error', at)
      assert.equal(t.state(3, at + 999), 'ejected')
      const back = at + 5_000 // read late: the ramp starts when the state is next observed
      assert.equal(t.state(3, back), 'recovering')
      assert.equal(Math.round(t.weightFactor(3, back) * 100), 10)
      assert.equal(Math.round(t.weightFactor(3, back + 250) * 100), 33)
      assert.equal(t.state(3, back + 1000), 'healthy')
    }
  })

  test('a recovering backend that fails again is ejected, and slow start restarts on its next return', () => {
    const { t } = tracker(4)
    const at = 3_600_000
    t.onResponse(0, 'gateway-error', at)
    t.onResponse(0, 'gateway-error', at)
    assert.equal(t.state(0, at + 1000), 'recovering')
    t.onResponse(0, 'gateway-error', at + 1100)
    t.onResponse(0, 'gateway-error', at + 1100)
    assert.equal(t.state(0, at + 1100), 'ejected')
    assert.equal(t.state(0, at + 3099), 'ejected', 'second ejection lasts 2 × base')
    assert.equal(t.state(0, at + 3100), 'recovering')
    assert.equal(Math.round(t.weightFactor(0, at + 3100) * 100), 10)
  })

  test('an alternating check result never changes state (rise/fall hysteresis)', () => {
    const { t, transitions } = tracker(3)
    for (let i = 0; i < 100; i++) t.onActiveCheck(0, i % 2 === 0, i, 'flap')
    assert.equal(transitions.length, 0)
  })

  test('panic: below the threshold, spread mode sends to ejected backends too; fail-fast does not', () => {
    const { t } = tracker(2)
    t.onActiveCheck(0, false, 0, 'x')
    t.onActiveCheck(0, false, 0, 'x')
    t.onActiveCheck(1, false, 0, 'x')
    t.onActiveCheck(1, false, 0, 'x')
    assert.equal(t.isPanicking(0), true)
    assert.equal(t.isEligible(0, 0, true), true)
    const ff = tracker(2, { ...policy, panic: { thresholdPercent: 50, mode: 'fail-fast' } }).t
    ff.onActiveCheck(0, false, 0, 'x')
    ff.onActiveCheck(0, false, 0, 'x')
    ff.onActiveCheck(1, false, 0, 'x')
    ff.onActiveCheck(1, false, 0, 'x')
    assert.equal(ff.isEligible(0, 0, ff.isPanicking(0)), false)
  })

  test('draining is terminal and never eligible', () => {
    const { t } = tracker(2)
    t.drain(0)
    t.onActiveCheck(0, true, 0, 'ok')
    t.onResponse(0, 'success', 0)
    assert.equal(t.state(0, 0), 'draining')
    assert.equal(t.isEligible(0, 0, true), false)
  })

  test('a reload keeps what was learned about backends that remain (inheritFrom)', () => {
    const before = tracker(3).t
    before.onActiveCheck(1, false, 0, 'x')
    before.onActiveCheck(1, false, 0, 'x')
    assert.equal(before.state(1, 0), 'ejected')
    const { t: after, transitions } = tracker(3)
    after.inheritFrom(before)
    assert.equal(after.state(1, 0), 'ejected', 'still ejected after reload')
    assert.equal(after.state(0, 0), 'healthy')
    assert.equal(transitions.length, 0, 'inheriting reports no transitions')
  })
})
