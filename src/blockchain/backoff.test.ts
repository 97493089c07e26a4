import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from '../../test/helpers/fast-check.ts'
import { backoffCeilingMs, fullJitterBackoffMs } from './backoff.ts'

const options = { baseMs: 100, maxMs: 5_000 }

void test('ceiling doubles per attempt until the cap', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 60, 2000].map((a) => backoffCeilingMs(a, options)),
    [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000],
  )
})

void test('full jitter scales the ceiling by the random draw', () => {
  assert.equal(fullJitterBackoffMs(3, options, () => 0), 0)
  assert.equal(fullJitterBackoffMs(3, options, () => 0.5), 400)
  assert.equal(fullJitterBackoffMs(3, options, () => 0.999_999), 799)
})

void test('delay always lies in [0, ceiling)', () => {
  fc.assert(
    fc.property(fc.nat(10_000), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
      const d = fullJitterBackoffMs(attempt, options, () => r)
      return d >= 0 && d <= backoffCeilingMs(attempt, options) && Number.isInteger(d)
    }),
  )
})
