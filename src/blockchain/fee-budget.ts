/**
 * Spend limits of the gateway's own transactions, checked before signing (pure bigint math and an
 * injected `now`): a gas ceiling per transaction, a ceiling on the most a transaction can cost
 * (gasLimit × maxFeePerGas, which bounds its fee whatever the base fee does), and a rolling budget of
 * that worst-case cost per period. A fee bump is charged the increase of the worst case only: of the
 * transactions sharing a nonce at most one executes.
 */

export interface SpendLimits {
  /** Gas limit above which a transaction is refused (estimate plus margin included). */
  readonly maxGasPerTx: bigint
  /** Ceiling on gasLimit × maxFeePerGas of one transaction, in wei. */
  readonly maxFeePerTxWei: bigint
  /** Worst-case fees all transactions may commit within one rolling period, in wei. */
  readonly feeBudgetWei: bigint
  readonly feeBudgetPeriodMs: number
}

export interface SpendCharge {
  readonly atMs: number
  readonly wei: bigint
}

export type SpendDecision =
  | { readonly ok: true; readonly worstCaseWei: bigint }
  | {
      readonly ok: false
      readonly code: 'CHAIN_GAS_LIMIT_EXCEEDED' | 'CHAIN_FEE_BUDGET_EXCEEDED'
      readonly reason: string
    }

/** The most a transaction with this gas limit and fee cap can cost. */
export function worstCaseFee(gas: bigint, maxFeePerGas: bigint): bigint {
  return gas * maxFeePerGas
}

/** Worst-case fees committed within the period ending at `now`. */
export function spentWithin(charges: readonly SpendCharge[], now: number, periodMs: number): bigint {
  let sum = 0n
  for (const c of charges) if (now - c.atMs < periodMs) sum += c.wei
  return sum
}

/**
 * Whether a transaction (or a replacement adding `chargeWei` to the worst case of its nonce) fits the
 * limits. `chargeWei` defaults to the transaction's whole worst case.
 */
export function decideSpend(
  gas: bigint,
  maxFeePerGas: bigint,
  limits: SpendLimits,
  spentWei: bigint,
  chargeWei: bigint = worstCaseFee(gas, maxFeePerGas),
): SpendDecision {
  if (gas > limits.maxGasPerTx) {
    return {
      ok: false,
      code: 'CHAIN_GAS_LIMIT_EXCEEDED',
      reason: `gas limit ${gas} is above the ceiling of ${limits.maxGasPerTx}`,
    }
  }
  const worst = worstCaseFee(gas, maxFeePerGas)
  if (worst > limits.maxFeePerTxWei) {
    return {
      ok: false,
      code: 'CHAIN_GAS_LIMIT_EXCEEDED',
      reason: `gas ${gas} × max fee ${maxFeePerGas} wei = ${worst} wei is above the per-transaction ceiling of ${limits.maxFeePerTxWei} wei`,
    }
  }
  if (spentWei + chargeWei > limits.feeBudgetWei) {
    return {
      ok: false,
      code: 'CHAIN_FEE_BUDGET_EXCEEDED',
      reason: `${spentWei} wei committed in the last ${limits.feeBudgetPeriodMs} ms plus ${chargeWei} wei is above the budget of ${limits.feeBudgetWei} wei`,
    }
  }
  return { ok: true, worstCaseWei: worst }
}

/** Charges still inside the period (older ones can no longer count). */
export function pruneCharges(charges: readonly SpendCharge[], now: number, periodMs: number): SpendCharge[] {
  return charges.filter((c) => now - c.atMs < periodMs)
}
