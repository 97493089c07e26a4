import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from '../../test/helpers/fast-check.ts'
import { bumpFees, decideFees, increaseByPct, withGasMargin } from './fee-policy.ts'

const gwei = (n: number) => BigInt(Math.round(n * 1e9))
const options = {
  maxFeePerGasWei: gwei(50),
  maxPriorityFeePerGasWei: gwei(2),
  baseFeeMultiplierPct: 200,
  bumpPct: 15,
}

void test('doubles the base fee as head-room and adds the tip', () => {
  assert.deepEqual(decideFees(gwei(10), gwei(1), options), {
    ok: true,
    fees: { maxFeePerGas: gwei(21), maxPriorityFeePerGas: gwei(1) },
  })
})

void test('clamps the tip to its cap', () => {
  const d = decideFees(gwei(10), gwei(9), options)
  assert.equal(d.ok && d.fees.maxPriorityFeePerGas, gwei(2))
})

void test('clamps maxFeePerGas to the cap when head-room would exceed it', () => {
  assert.deepEqual(decideFees(gwei(40), gwei(1), options), {
    ok: true,
    fees: { maxFeePerGas: gwei(50), maxPriorityFeePerGas: gwei(1) },
  })
})

void test('a base fee exactly at the cap is still accepted, with no tip', () => {
  assert.deepEqual(decideFees(gwei(50), gwei(1), options), {
    ok: true,
    fees: { maxFeePerGas: gwei(50), maxPriorityFeePerGas: 0n },
  })
})

void test('refuses when the base fee is above the cap', () => {
  assert.deepEqual(decideFees(gwei(50) + 1n, gwei(1), options), {
    ok: false,
    reason: 'base-fee-above-cap',
    baseFeePerGas: gwei(50) + 1n,
    capWei: gwei(50),
  })
})

void test('fees never exceed the cap and always cover the base fee', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: gwei(100) }), fc.bigInt({ min: -1n, max: gwei(10) }), (base, tip) => {
      const d = decideFees(base, tip, options)
      if (!d.ok) return base > options.maxFeePerGasWei
      const { maxFeePerGas, maxPriorityFeePerGas } = d.fees
      return (
        maxFeePerGas <= options.maxFeePerGasWei &&
        maxFeePerGas >= base + maxPriorityFeePerGas &&
        maxPriorityFeePerGas >= 0n &&
        maxPriorityFeePerGas <= options.maxPriorityFeePerGasWei
      )
    }),
  )
})

void test('a bump raises both fees by at least bumpPct', () => {
  const d = bumpFees({ maxFeePerGas: gwei(20), maxPriorityFeePerGas: gwei(1) }, undefined, options)
  assert.deepEqual(d, { ok: true, fees: { maxFeePerGas: gwei(23), maxPriorityFeePerGas: gwei(1.15) } })
})

void test('a bump follows a higher fresh suggestion', () => {
  const d = bumpFees(
    { maxFeePerGas: gwei(20), maxPriorityFeePerGas: gwei(1) },
    { maxFeePerGas: gwei(30), maxPriorityFeePerGas: gwei(1) },
    options,
  )
  assert.equal(d.ok && d.fees.maxFeePerGas, gwei(30))
})

void test('refuses a bump above the cap', () => {
  const d = bumpFees({ maxFeePerGas: gwei(45), maxPriorityFeePerGas: gwei(1) }, undefined, options)
  assert.equal(d.ok, false)
  assert.equal(!d.ok && d.requiredMaxFeePerGas, gwei(51.75))
})

void test('percent increases round up', () => {
  assert.equal(increaseByPct(1n, 10), 2n)
  assert.equal(increaseByPct(100n, 10), 110n)
  assert.equal(withGasMargin(21_000n, 20), 25_200n)
  assert.equal(withGasMargin(21_001n, 20), 25_202n)
})
