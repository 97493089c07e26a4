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

  // Found by scripts/mutate.ts: each of these pins a rule that a one-token change broke unnoticed.
  describe('exact rules', () => {
    test('one gateway error or one 5xx below the threshold does not eject; a success resets both counts', () => {
      const { t } = tracker(4)
      t.onResponse(0, 'gateway-error', 0)
      assert.equal(t.state(0, 0), 'healthy', '1 of 2 gateway errors')
      t.onResponse(0, 'success', 0)
      t.onResponse(0, 'gateway-error', 0)
      assert.equal(t.state(0, 0), 'healthy', 'the success reset the gateway-error count')
      t.onResponse(0, '5xx', 0)
      t.onResponse(0, '5xx', 0)
      t.onResponse(0, 'success', 0)
      t.onResponse(0, '5xx', 0)
      assert.equal(t.state(0, 0), 'healthy', 'the success reset the 5xx count')
    })

    test('a threshold of 0 disables that detector; a threshold of 1 ejects on the first', () => {
      const off = tracker(4, {
        ...policy,
        outlier: { ...policy.outlier, consecutive5xx: 0, consecutiveGatewayErrors: 0 },
      }).t
      for (let k = 0; k < 20; k++) off.onResponse(0, '5xx', 0)
      for (let k = 0; k < 20; k++) off.onResponse(1, 'gateway-error', 0)
      assert.equal(off.state(0, 0), 'healthy')
      assert.equal(off.state(1, 0), 'healthy')
      const one = tracker(4, {
        ...policy,
        outlier: { ...policy.outlier, consecutive5xx: 1, consecutiveGatewayErrors: 1 },
      }).t
      one.onResponse(0, '5xx', 0)
      one.onResponse(1, 'gateway-error', 0)
      assert.equal(one.state(0, 0), 'ejected')
      assert.equal(one.state(1, 0), 'ejected')
    })

    test('the counts restart after an ejection: one more failure after it expires does not re-eject', () => {
      const { t } = tracker(4, { ...policy, slowStart: { windowMs: 0, floorPercent: 10 } })
      for (let k = 0; k < 3; k++) t.onResponse(0, '5xx', 0)
      t.onResponse(1, 'gateway-error', 0)
      t.onResponse(1, 'gateway-error', 0)
      assert.equal(t.state(0, 1000), 'healthy')
      assert.equal(t.state(1, 1000), 'healthy')
      t.onResponse(0, '5xx', 1000)
      t.onResponse(0, '5xx', 1000)
      t.onResponse(1, 'gateway-error', 1000)
      assert.equal(t.state(0, 1000), 'healthy', '2 of 3 5xx since the ejection')
      assert.equal(t.state(1, 1000), 'healthy')
    })

    test('without slow start a backend goes straight from ejected to healthy, with full weight', () => {
      const { t, transitions } = tracker(4, { ...policy, slowStart: { windowMs: 0, floorPercent: 10 } })
      t.onResponse(0, 'gateway-error', 0)
      t.onResponse(0, 'gateway-error', 0)
      t.onActiveCheck(1, false, 0, 'x')
      t.onActiveCheck(1, false, 0, 'x')
      t.onActiveCheck(1, true, 5, 'ok')
      t.onActiveCheck(1, true, 5, 'ok')
      assert.equal(t.state(0, 1000), 'healthy')
      assert.equal(t.weightFactor(0, 1000), 1)
      assert.deepEqual(
        transitions.map((x) => `${x.backendId}:${x.from}->${x.to}`),
        ['b0:healthy->ejected', 'b1:healthy->ejected', 'b1:ejected->healthy', 'b0:ejected->healthy'],
      )
    })

    test('a slow-start window of 1 ms still ramps', () => {
      const { t } = tracker(4, { ...policy, slowStart: { windowMs: 1, floorPercent: 10 } })
      t.onResponse(0, 'gateway-error', 0)
      t.onResponse(0, 'gateway-error', 0)
      assert.equal(t.state(0, 1000), 'recovering')
      t.onActiveCheck(1, false, 0, 'x')
      t.onActiveCheck(1, false, 0, 'x')
      t.onActiveCheck(1, true, 5, 'ok')
      t.onActiveCheck(1, true, 5, 'ok')
      assert.equal(t.state(1, 5), 'recovering')
    })

    test('a healthy backend always has weight factor 1, however early', () => {
      const { t } = tracker(2)
      for (const now of [0, 1, 500, 999, 10_000]) assert.equal(t.weightFactor(0, now), 1)
    })

    test('panic: exactly at the threshold is not panic; below it is; draining backends do not count', () => {
      const p = { ...policy, outlier: { ...policy.outlier, maxEjectionPercent: 100 } }
      const { t } = tracker(4, p)
      const ejectActive = (i: number) => {
        t.onActiveCheck(i, false, 0, 'x')
        t.onActiveCheck(i, false, 0, 'x')
      }
      assert.equal(t.isPanicking(0), false, '4/4 usable')
      ejectActive(0)
      ejectActive(1)
      assert.equal(t.isPanicking(0), false, '2/4 = 50% usable is not below 50%')
      ejectActive(2)
      assert.equal(t.isPanicking(0), true, '1/4 usable')
      t.drain(2)
      t.drain(3)
      assert.equal(t.isPanicking(0), true, 'of 2 counted, 0 usable')
      t.drain(0)
      t.drain(1)
      assert.equal(t.isPanicking(0), false, 'nothing counted: no panic')
      const first = tracker(2, p).t
      first.onActiveCheck(1, false, 0, 'x')
      first.onActiveCheck(1, false, 0, 'x')
      assert.equal(first.isPanicking(0), false, '1/2 usable: the first backend counts too')
    })

    test('a non-ejected backend is eligible whatever the panic state; an ejected one only in spread panic', () => {
      const { t } = tracker(2)
      assert.equal(t.isEligible(0, 0, true), true)
      assert.equal(t.isEligible(0, 0, false), true)
      t.onActiveCheck(1, false, 0, 'x')
      t.onActiveCheck(1, false, 0, 'x')
      assert.equal(t.isEligible(1, 0, false), false)
      assert.equal(t.isEligible(1, 0, true), true)
    })

    test('draining ignores outcomes and checks; without active checks configured, results are ignored', () => {
      const { t, transitions } = tracker(2)
      t.drain(0)
      for (let k = 0; k < 5; k++) t.onResponse(0, '5xx', 0)
      t.onActiveCheck(0, true, 0, 'ok')
      t.onActiveCheck(0, true, 0, 'ok')
      assert.equal(t.state(0, 0), 'draining')
      assert.deepEqual(
        transitions.map((x) => x.to),
        ['draining'],
      )
      const passive = tracker(2, { ...policy, active: undefined }).t
      for (let k = 0; k < 5; k++) passive.onActiveCheck(0, false, 0, 'x')
      assert.equal(passive.state(0, 0), 'healthy')
    })

    test('a backend back from an active ejection is ejected again by fall new failures', () => {
      const { t } = tracker(3)
      const fail = () => {
        t.onActiveCheck(0, false, 0, 'x')
        t.onActiveCheck(0, false, 0, 'x')
      }
      fail()
      t.onActiveCheck(0, true, 0, 'ok')
      t.onActiveCheck(0, true, 0, 'ok')
      assert.equal(t.state(0, 0), 'recovering')
      fail()
      assert.equal(t.state(0, 0), 'ejected')
    })

    test('active recovery waits for a passive ejection still running, and applies exactly when it ends', () => {
      const { t } = tracker(4)
      t.onResponse(0, 'gateway-error', 0)
      t.onResponse(0, 'gateway-error', 0) // passive until 1000
      t.onActiveCheck(0, false, 10, 'x')
      t.onActiveCheck(0, false, 10, 'x')
      t.onActiveCheck(0, true, 500, 'ok')
      t.onActiveCheck(0, true, 500, 'ok')
      assert.equal(t.state(0, 999), 'ejected')
      const { t: u } = tracker(4)
      u.onResponse(0, 'gateway-error', 0)
      u.onResponse(0, 'gateway-error', 0)
      u.onActiveCheck(0, false, 10, 'x')
      u.onActiveCheck(0, false, 10, 'x')
      u.onActiveCheck(0, true, 1000, 'ok')
      u.onActiveCheck(0, true, 1000, 'ok')
      assert.equal(u.state(0, 1000), 'recovering', 'at passiveUntil exactly')
      assert.equal(Math.round(u.weightFactor(0, 1000) * 100), 10)
    })

    test('inheritFrom copies the first backend too, and skips ids the previous tracker did not have', () => {
      const old = tracker(2).t
      old.onActiveCheck(0, false, 0, 'x')
      old.onActiveCheck(0, false, 0, 'x')
      const next = new HealthTracker(['b0', 'new'], policy)
      next.inheritFrom(old)
      assert.equal(next.state(0, 0), 'ejected')
      assert.equal(next.state(1, 0), 'healthy')
    })

    test('the passive ejection cap ignores draining backends and counts the first backend', () => {
      const { t } = tracker(4) // maxEjectionPercent 50
      t.drain(3)
      t.drain(2) // 2 counted: cap = max(1, floor(2 × 50%)) = 1
      for (let k = 0; k < 3; k++) t.onResponse(0, '5xx', 0)
      for (let k = 0; k < 3; k++) t.onResponse(1, '5xx', 0)
      assert.equal(t.state(0, 0), 'ejected')
      assert.equal(t.state(1, 0), 'healthy', 'cap of 1 reached')
      const three = tracker(3).t // cap = floor(3 × 50%) = 1
      for (const i of [0, 1]) for (let k = 0; k < 3; k++) three.onResponse(i, '5xx', 0)
      assert.deepEqual(
        [0, 1].map((i) => three.state(i, 0)),
        ['ejected', 'healthy'],
      )
      const four = tracker(4).t // cap 2
      for (const i of [0, 1, 2]) for (let k = 0; k < 3; k++) four.onResponse(i, '5xx', 0)
      assert.deepEqual(
        [0, 1, 2].map((i) => four.state(i, 0)),
        ['ejected', 'ejected', 'healthy'],
      )
    })

    test('no transition is reported twice: a passively ejected backend failing checks stays one ejection', () => {
      const { t, transitions } = tracker(4)
      t.onResponse(0, 'gateway-error', 0)
      t.onResponse(0, 'gateway-error', 0)
      t.onActiveCheck(0, false, 10, 'x')
      t.onActiveCheck(0, false, 10, 'x')
      assert.deepEqual(
        transitions.map((x) => `${x.from}->${x.to}`),
        ['healthy->ejected'],
      )
    })
  })
})
