/**
 * Reorg-aware confirmation decisions for a sent transaction: a pure function of what the node reports now
 * and what we saw before. The sender (tx-sender.ts) gathers observations and acts on the decision.
 *
 * Arbitrum Orbit chains (LitVM) reorg only when their parent chain does, so the `safe`/`finalized` block
 * tags are the robust policy; `latest` + N confirmations is offered for chains (and anvil) without them.
 */
import type { Hex } from './types.ts'

/** Which block a transaction must reach before it counts as confirmed. */
export type ConfirmationPolicy =
  | { readonly tag: 'latest'; readonly confirmations: number }
  | { readonly tag: 'safe' }
  | { readonly tag: 'finalized' }

/** The parts of a receipt the decision needs. */
export interface SeenReceipt {
  readonly transactionHash: Hex
  readonly blockNumber: number
  readonly blockHash: Hex
  readonly status: 'success' | 'reverted'
}

/**
 * What the node says now. Gather `minedNonce` *before* the receipts so a transaction mined between the two
 * queries is seen as mined, never as "nonce consumed by someone else".
 */
export interface TxObservation {
  /** Receipt of any of the transaction's hashes (the original or a fee-bumped replacement). */
  readonly receipt: SeenReceipt | null
  /** Hash of the canonical block at `receipt.blockNumber`, read after the receipt. */
  readonly canonicalBlockHash: Hex | null
  readonly headBlock: number
  /** Number of the `safe`/`finalized` block when the policy uses a tag, else null. */
  readonly tagBlock: number | null
  /** Whether the node knows any of the transaction's hashes (mempool or chain). */
  readonly isKnown: boolean
  /** The sender account's transaction count at `latest`. */
  readonly minedNonce: number
}

/** What the sender remembers about one transaction between observations. */
export interface TrackedTxState {
  readonly nonce: number
  /** When the transaction (or its latest replacement) was last broadcast. */
  readonly lastBroadcastAt: number
  /** The inclusion seen on the previous observation, if any. */
  readonly included: SeenReceipt | null
}

export type TxProgress =
  /** In the mempool, within its time. */
  | { readonly kind: 'pending' }
  /** In the mempool longer than `stuckAfterMs` since the last broadcast: replace with higher fees. */
  | { readonly kind: 'stuck' }
  /** In a canonical block, not yet deep enough. */
  | { readonly kind: 'included'; readonly receipt: SeenReceipt; readonly confirmations: number }
  | { readonly kind: 'confirmed'; readonly receipt: SeenReceipt; readonly confirmations: number }
  /** The block we saw it in is no longer canonical: re-await (`receipt` is its new inclusion, if any). */
  | { readonly kind: 'reorged'; readonly previous: SeenReceipt; readonly receipt: SeenReceipt | null }
  /** Unknown to the node and its nonce unused: re-broadcast the same signed bytes. */
  | { readonly kind: 'dropped' }
  /** Its nonce was consumed by a transaction that is not one of ours. */
  | { readonly kind: 'replaced' }

export interface ProgressOptions {
  readonly stuckAfterMs: number
}

/** Blocks on top of and including the receipt's block (1 = in the head block). */
export function confirmationsOf(receipt: SeenReceipt, headBlock: number): number {
  return Math.max(0, headBlock - receipt.blockNumber + 1)
}

export function isDeepEnough(receipt: SeenReceipt, obs: TxObservation, policy: ConfirmationPolicy): boolean {
  if (policy.tag === 'latest') return confirmationsOf(receipt, obs.headBlock) >= policy.confirmations
  return obs.tagBlock !== null && obs.tagBlock >= receipt.blockNumber
}

export function decideTxProgress(
  tx: TrackedTxState,
  obs: TxObservation,
  policy: ConfirmationPolicy,
  now: number,
  options: ProgressOptions,
): TxProgress {
  // A receipt counts only if its block is still the canonical block at that height: nodes (and load-balanced
  // RPC providers) can serve a receipt from a block that has just been reorged away.
  const receipt = obs.receipt !== null && obs.canonicalBlockHash === obs.receipt.blockHash ? obs.receipt : null
  if (tx.included !== null && (receipt === null || receipt.blockHash !== tx.included.blockHash)) {
    return { kind: 'reorged', previous: tx.included, receipt }
  }
  if (receipt !== null) {
    const confirmations = confirmationsOf(receipt, obs.headBlock)
    return isDeepEnough(receipt, obs, policy)
      ? { kind: 'confirmed', receipt, confirmations }
      : { kind: 'included', receipt, confirmations }
  }
  if (obs.minedNonce > tx.nonce) return { kind: 'replaced' }
  if (!obs.isKnown) return { kind: 'dropped' }
  if (now - tx.lastBroadcastAt >= options.stuckAfterMs) return { kind: 'stuck' }
  return { kind: 'pending' }
}
