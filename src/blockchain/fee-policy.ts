/**
 * EIP-1559 fee decisions with a hard cap (gas-spike protection) and replacement bumps: pure bigint math.
 * EIP-1559: a transaction pays min(maxFeePerGas, baseFee + maxPriorityFeePerGas) per gas; a node only
 * includes it while baseFee ≤ maxFeePerGas. On Arbitrum Nitro the priority fee is ignored (no tips), so the
 * cap on `maxFeePerGas` is what bounds spend.
 */

export interface Eip1559Fees {
  readonly maxFeePerGas: bigint
  readonly maxPriorityFeePerGas: bigint
}

export interface FeePolicyOptions {
  /** Hard cap on `maxFeePerGas`: sends are refused or queued while the base fee is above it. */
  readonly maxFeePerGasWei: bigint
  /** Cap on the priority fee (tip). */
  readonly maxPriorityFeePerGasWei: bigint
  /** Head-room over the current base fee, in percent (200 = tolerate the base fee doubling). */
  readonly baseFeeMultiplierPct: number
  /** Minimum increase of both fees for a replacement, in percent (geth requires ≥ 10). */
  readonly bumpPct: number
}

export type FeeDecision =
  | { readonly ok: true; readonly fees: Eip1559Fees }
  | { readonly ok: false; readonly reason: 'base-fee-above-cap'; readonly baseFeePerGas: bigint; readonly capWei: bigint }

export type BumpDecision =
  | { readonly ok: true; readonly fees: Eip1559Fees }
  | { readonly ok: false; readonly reason: 'bump-above-cap'; readonly requiredMaxFeePerGas: bigint; readonly capWei: bigint }

const min = (a: bigint, b: bigint): bigint => (a < b ? a : b)
const max = (a: bigint, b: bigint): bigint => (a > b ? a : b)

/** `value · (100 + pct) / 100`, rounded up so a bump is never below the required percentage. */
export function increaseByPct(value: bigint, pct: number): bigint {
  const num = value * BigInt(100 + pct)
  return (num + 99n) / 100n
}

/**
 * Fees for a new transaction from the latest base fee and the node's suggested tip. Refuses (a value,
 * not a throw) when the base fee alone is above the cap: such a transaction could not be included.
 */
export function decideFees(baseFeePerGas: bigint, suggestedPriorityFeePerGas: bigint, options: FeePolicyOptions): FeeDecision {
  const cap = options.maxFeePerGasWei
  if (baseFeePerGas > cap) return { ok: false, reason: 'base-fee-above-cap', baseFeePerGas, capWei: cap }
  const tip = min(min(max(0n, suggestedPriorityFeePerGas), options.maxPriorityFeePerGasWei), cap - baseFeePerGas)
  const wanted = (baseFeePerGas * BigInt(options.baseFeeMultiplierPct)) / 100n + tip
  const maxFeePerGas = min(cap, max(wanted, baseFeePerGas + tip))
  return { ok: true, fees: { maxFeePerGas, maxPriorityFeePerGas: tip } }
}

/**
 * Fees for replacing a stuck transaction (same nonce): each fee at least `bumpPct` above the previous
 * one and at least the current fresh suggestion. Refuses when that would exceed the cap.
 */
export function bumpFees(previous: Eip1559Fees, fresh: Eip1559Fees | undefined, options: FeePolicyOptions): BumpDecision {
  const tip = max(increaseByPct(previous.maxPriorityFeePerGas, options.bumpPct), fresh?.maxPriorityFeePerGas ?? 0n)
  const maxFeePerGas = max(max(increaseByPct(previous.maxFeePerGas, options.bumpPct), fresh?.maxFeePerGas ?? 0n), tip)
  if (maxFeePerGas > options.maxFeePerGasWei) {
    return { ok: false, reason: 'bump-above-cap', requiredMaxFeePerGas: maxFeePerGas, capWei: options.maxFeePerGasWei }
  }
  return { ok: true, fees: { maxFeePerGas, maxPriorityFeePerGas: tip } }
}

/** Gas limit with a safety margin over the node's estimate, in percent, rounded up. */
export function withGasMargin(estimate: bigint, marginPct: number): bigint {
  return increaseByPct(estimate, marginPct)
}
