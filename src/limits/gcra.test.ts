import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fc from '../../test/helpers/fast-check.ts'
import { ceilSeconds, gcraDecide, gcraPolicy, type GcraPolicy } from './gcra.ts'

const policyArb = fc
  .record({
    quota: fc.integer({ min: 1, max: 1000 }),
    windowSeconds: fc.integer({ min: 1, max: 3600 }),
    burst: fc.integer({ min: 1, max: 200 }),
  })
  .map(({ quota, windowSeconds, burst }) => gcraPolicy('p', quota, windowSeconds, burst))

/** Nondecreasing request times (µs) from gaps that are often 0 (bursts) and sometimes long. */
const timesArb = (policy: GcraPolicy) =>
  fc
    .array(
      fc.oneof(
        fc.constant(0),
        fc.integer({ min: 0, max: policy.intervalUs }),
        fc.integer({ min: 0, max: policy.capacityUs * 2 }),
      ),
      { minLength: 1, maxLength: 300 },
    )
    .map((gaps) => {
      let t = 1_700_000_000_000_000
      return gaps.map((g) => (t += g))
    })

/** Runs a key through the times; returns the times that were allowed. */
function run(policy: GcraPolicy, times: readonly number[]): number[] {
  let tat: number | undefined
  const allowed: number[] = []
  for (const now of times) {
    const d = gcraDecide(tat, now, policy)
    tat = d.tatUs
    if (d.isAllowed) allowed.push(now)
  }
  return allowed
}

describe('gcraDecide', () => {
  test('a fresh key gets exactly `burst` requests at one instant, then a refusal', () => {
    const policy = gcraPolicy('ip', 10, 1, 4)
    let tat: number | undefined
    const now = 5_000_000
    const remaining: number[] = []
    for (let i = 0; i < 4; i++) {
      const d = gcraDecide(tat, now, policy)
      assert.ok(d.isAllowed)
      remaining.push(d.remaining)
      tat = d.tatUs
    }
    assert.deepEqual(remaining, [3, 2, 1, 0])
    const refused = gcraDecide(tat, now, policy)
    assert.equal(refused.isAllowed, false)
    assert.equal(refused.remaining, 0)
    assert.equal(refused.tatUs, tat, 'a refusal charges nothing')
    assert.equal(refused.retryAfterUs, 100_000, 'one emission interval (1 s / 10)')
    assert.equal(refused.resetUs, 400_000, 'four intervals until the burst is full again')
  })

  test('property: in any span of d µs at most burst + floor(d / T) requests are allowed', () => {
    fc.assert(
      fc.property(
        policyArb.chain((p) => fc.tuple(fc.constant(p), timesArb(p))),
        ([policy, times]) => {
          const allowed = run(policy, times)
          for (let i = 0; i < allowed.length; i++) {
            for (let j = i; j < allowed.length; j++) {
              const span = (allowed[j] as number) - (allowed[i] as number)
              const bound = policy.burst + Math.floor(span / policy.intervalUs)
              if (j - i + 1 > bound) return false
            }
          }
          return true
        },
      ),
    )
  })

  test('property: a client at the sustained rate (one request every T) is never refused', () => {
    fc.assert(
      fc.property(policyArb, fc.integer({ min: 1, max: 500 }), (policy, n) => {
        const times = Array.from({ length: n }, (_, i) => 1_000_000 + i * policy.intervalUs)
        return run(policy, times).length === n
      }),
    )
  })

  test('property: retryAfterUs is exact, remaining counts the immediate successes, resetUs restores the burst', () => {
    fc.assert(
      fc.property(
        policyArb.chain((p) => fc.tuple(fc.constant(p), timesArb(p))),
        ([policy, times]) => {
          let tat: number | undefined
          for (const now of times) {
            const d = gcraDecide(tat, now, policy)
            if (d.isAllowed) {
              // `remaining` more requests succeed right now, and the one after is refused.
              let t = d.tatUs
              for (let k = 0; k < d.remaining; k++) {
                const more = gcraDecide(t, now, policy)
                if (!more.isAllowed) return false
                t = more.tatUs
              }
              if (gcraDecide(t, now, policy).isAllowed) return false
              // After resetUs the key is as good as new.
              const fresh = gcraDecide(d.tatUs, now + d.resetUs, policy)
              if (fresh.remaining !== policy.burst - 1) return false
            } else {
              if (d.tatUs !== Math.max(tat ?? now, now)) return false
              if (d.retryAfterUs <= 0) return false
              if (gcraDecide(tat, now + d.retryAfterUs - 1, policy).isAllowed) return false
              if (!gcraDecide(tat, now + d.retryAfterUs, policy).isAllowed) return false
            }
            tat = d.tatUs
          }
          return true
        },
      ),
    )
  })

  test('property: the TAT never runs more than capacity ahead, and is never behind an allowed request', () => {
    fc.assert(
      fc.property(
        policyArb.chain((p) => fc.tuple(fc.constant(p), timesArb(p))),
        ([policy, times]) => {
          let tat: number | undefined
          for (const now of times) {
            const d = gcraDecide(tat, now, policy)
            if (d.tatUs - now > policy.capacityUs) return false
            if (d.isAllowed && d.tatUs < now + policy.intervalUs) return false
            tat = d.tatUs
          }
          return true
        },
      ),
    )
  })

  test('a TAT left ahead by a larger policy (reload shrank it) is refused with remaining 0, never negative', () => {
    const big = gcraPolicy('ip', 100, 1)
    const small = gcraPolicy('ip', 2, 1)
    let tat: number | undefined
    for (let i = 0; i < 100; i++) tat = gcraDecide(tat, 0, big).tatUs
    const d = gcraDecide(tat, 0, small)
    assert.equal(d.isAllowed, false)
    assert.equal(d.remaining, 0)
    assert.equal(d.retryAfterUs, 1_000_000 + 500_000 - 1_000_000)
  })

  test('gcraPolicy: integer microseconds, at least 1 per unit; invalid values are an invariant error', () => {
    const p = gcraPolicy('ip', 3, 1)
    assert.equal(p.intervalUs, 333_333)
    assert.equal(p.capacityUs, 999_999)
    assert.equal(gcraPolicy('ip', 10_000_000, 1).intervalUs, 1)
    assert.throws(() => gcraPolicy('ip', 0, 1), RangeError)
    assert.throws(() => gcraPolicy('ip', 1, 0), RangeError)
    assert.throws(() => gcraPolicy('ip', 1, 1, 1.5), RangeError)
  })

  test('ceilSeconds never rounds a wait down', () => {
    assert.equal(ceilSeconds(0), 0)
    assert.equal(ceilSeconds(1), 1)
    assert.equal(ceilSeconds(1_000_000), 1)
    assert.equal(ceilSeconds(1_000_001), 2)
  })
})
