import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decideSpend, pruneCharges, spentWithin, worstCaseFee, type SpendLimits } from './fee-budget.ts'

const GWEI = 1_000_000_000n
const limits: SpendLimits = {
  maxGasPerTx: 500_000n,
  maxFeePerTxWei: 300_000n * 10n * GWEI,
  feeBudgetWei: 1_000_000n * 10n * GWEI,
  feeBudgetPeriodMs: 60_000,
}

void test('the worst case of a transaction is its gas limit times its fee cap', () => {
  assert.equal(worstCaseFee(21_000n, 2n * GWEI), 42_000n * GWEI)
})

void test('a gas limit above the ceiling is refused before anything else', () => {
  const d = decideSpend(500_001n, 1n, limits, 0n)
  assert.ok(
    !d.ok && d.code === 'CHAIN_GAS_LIMIT_EXCEEDED' && /500001 is above the ceiling of 500000/.test(d.reason),
  )
  assert.ok(decideSpend(500_000n, 1n, limits, 0n).ok)
})

void test('gas × max fee above the per-transaction ceiling is refused even under the gas ceiling', () => {
  // 400k gas at 10 gwei = 4,000,000 gwei > 3,000,000 gwei: each factor is fine, the product is not.
  const d = decideSpend(400_000n, 10n * GWEI, limits, 0n)
  assert.ok(!d.ok && d.code === 'CHAIN_GAS_LIMIT_EXCEEDED' && /per-transaction ceiling/.test(d.reason))
  const ok = decideSpend(300_000n, 10n * GWEI, limits, 0n)
  assert.ok(ok.ok && ok.worstCaseWei === 3_000_000n * GWEI)
})

void test('the rolling budget refuses what would exceed it and frees up as charges age out', () => {
  const charges = [
    { atMs: 0, wei: 3_000_000n * GWEI },
    { atMs: 10_000, wei: 3_000_000n * GWEI },
    { atMs: 20_000, wei: 3_000_000n * GWEI },
  ]
  const spent = spentWithin(charges, 30_000, limits.feeBudgetPeriodMs)
  assert.equal(spent, 9_000_000n * GWEI)
  const refused = decideSpend(200_000n, 10n * GWEI, limits, spent)
  assert.ok(!refused.ok && refused.code === 'CHAIN_FEE_BUDGET_EXCEEDED')
  assert.ok(decideSpend(100_000n, 10n * GWEI, limits, spent).ok, 'exactly at the budget is allowed')
  // At 60 s the first charge leaves the window.
  assert.equal(spentWithin(charges, 60_000, limits.feeBudgetPeriodMs), 6_000_000n * GWEI)
  assert.ok(
    decideSpend(200_000n, 10n * GWEI, limits, spentWithin(charges, 60_000, limits.feeBudgetPeriodMs)).ok,
  )
  assert.equal(pruneCharges(charges, 60_000, limits.feeBudgetPeriodMs).length, 2)
})

void test('a replacement is charged only its increase over the worst case it replaces', () => {
  const spent = 9_500_000n * GWEI
  // The bump raises a 200k-gas transaction from 4 to 5 gwei: 200,000 gwei more, within the budget.
  assert.ok(decideSpend(200_000n, 5n * GWEI, limits, spent, 200_000n * GWEI).ok)
  assert.ok(!decideSpend(200_000n, 5n * GWEI, limits, spent).ok, 'charged in full it would not fit')
})
