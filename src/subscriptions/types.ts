/**
 * The data of the subscriptions subsystem: a subscription row (a verified cache of the PaymentProcessor's
 * `getSubscription`), the events that move it, who may cause them, and the audit record of every change.
 * Times are chain time in whole seconds (block timestamps), the unit the contract stores (`uint32`).
 */

/** `0x` + 64 lower-case hex digits (a subscription id, a quote digest). */
export type Bytes32 = `0x${string}`
/** `0x` + 40 hex digits. */
export type Address = `0x${string}`

/**
 * pending: a creation payment seen, not yet confirmed (never grants access).
 * active: live on chain, `now < end`. cancelled: cancelled on chain, runs to `end`, no renewal.
 * expired: `end <= now` (from active or cancelled). revoked: ended early by an operator (on chain or here).
 */
export type SubscriptionState = 'pending' | 'active' | 'cancelled' | 'expired' | 'revoked'

/** One subscription as the gateway caches it. Immutable: a change is a new object with `version + 1`. */
export interface SubscriptionRecord {
  readonly id: Bytes32
  readonly state: SubscriptionState
  readonly owner: Address
  readonly beneficiary: Address
  readonly planId: number
  readonly token: Address
  /** Chain-time seconds, as the contract computed them (`start <= t < end` grants access). */
  readonly startSec: number
  readonly endSec: number
  /** The contract's Status as last verified (null: not on chain yet, or no longer). */
  readonly chainStatus: ChainStatus | null
  /**
   * Block number of the newest chain fact applied (a monitor event's block, or the block a reconciliation
   * read at): a reconciliation read at an older block never overwrites newer facts. Null after a reorg
   * removed the newest payment.
   */
  readonly chainBlock: number | null
  /** Compare-and-set version: 1 for a new row, +1 per change. */
  readonly version: number
  /** Chain time of the last change. */
  readonly updatedAtSec: number
  /** Digests of the payments applied, newest last (bounded): what makes re-applied payments no-ops. */
  readonly paymentDigests: readonly Bytes32[]
  /** The bounds before the newest payment, so a reorg of that payment restores them; null for a creation. */
  readonly beforeLastPayment: {
    readonly planId: number
    readonly startSec: number
    readonly endSec: number
    readonly state: SubscriptionState
  } | null
  /** Set by an operator revoke done in the gateway: reconciliation never re-activates such a row. */
  readonly operatorHold: { readonly operatorId: string; readonly atSec: number } | null
}

/** Who caused an event. Only `chain` (the payment monitor, from verified logs) may activate. */
export type Actor =
  | { readonly kind: 'chain'; readonly source: 'monitor' }
  | { readonly kind: 'system'; readonly source: 'clock' | 'reconciliation' }
  | { readonly kind: 'operator'; readonly operatorId: string }

/** The subscription as `getSubscription(bytes32)` returns it (verified read); null when the chain does not know it. */
export interface ChainSubscription {
  readonly owner: Address
  readonly beneficiary: Address
  readonly planId: number
  readonly token: Address
  readonly startSec: number
  readonly endSec: number
  readonly status: ChainStatus
}

/** The contract's `Status` of a known subscription (None is "not on chain": null). */
export type ChainStatus = 'live' | 'cancelled' | 'revoked'

/** A `PaymentReceived` log seen by the monitor but not yet confirmed at the policy (creations only). */
export interface PaymentSeenEvent {
  readonly type: 'payment-seen'
  readonly digest: Bytes32
  readonly subscriptionId: Bytes32
  readonly payer: Address
  readonly beneficiary: Address
  readonly token: Address
  readonly planId: number
  readonly startSec: number
  readonly endSec: number
  readonly blockTimestampSec: number
  /** Number of the block that holds the log. */
  readonly blockNumber: number
}

/** A `PaymentReceived` log confirmed at the policy: creation, renewal or plan change. */
export interface PaymentConfirmedEvent {
  readonly type: 'payment-confirmed'
  readonly digest: Bytes32
  readonly subscriptionId: Bytes32
  readonly payer: Address
  /** `address(0)` on a renewal or plan change paid by the owner. */
  readonly beneficiary: Address
  readonly token: Address
  readonly planId: number
  /** The contract's `start` / `end` from the log: the truth. */
  readonly startSec: number
  readonly endSec: number
  /** Timestamp of the block that holds the payment (the contract's `block.timestamp`). */
  readonly blockTimestampSec: number
  /** What the quote bought, when the monitor knows it: the expected end is then checked exactly. */
  readonly expected?: { readonly periods: number; readonly periodSeconds: number }
  /** Number of the block that holds the log. */
  readonly blockNumber: number
}

/** A payment the monitor had applied was removed by a reorg. */
export interface PaymentReorgedEvent {
  readonly type: 'payment-reorged'
  readonly digest: Bytes32
  readonly subscriptionId: Bytes32
}

/** `SubscriptionCancelled` (confirmed). */
export interface CancelEvent {
  readonly type: 'cancel'
  readonly subscriptionId: Bytes32
  readonly by: Address
  readonly blockTimestampSec: number
  /** Number of the block that holds the log. */
  readonly blockNumber: number
}

/** `SubscriptionRevoked` (confirmed): `end` is the contract's new end (min(end, block.timestamp)). */
export interface RevokeEvent {
  readonly type: 'revoke'
  readonly subscriptionId: Bytes32
  readonly by: Address
  readonly endSec: number
  readonly blockTimestampSec: number
  /** Number of the block that holds the log. */
  readonly blockNumber: number
}

/** The clock passed `end`. */
export interface ExpiryEvent {
  readonly type: 'expiry'
  readonly subscriptionId: Bytes32
}

/** An operator ends access in the gateway now (audited with the operator id). */
export interface OperatorRevokeEvent {
  readonly type: 'operator-revoke'
  readonly subscriptionId: Bytes32
  readonly reason: string
}

/** The reconciliation pass read the chain's truth for this id. */
export interface ReconciliationEvent {
  readonly type: 'reconciliation'
  readonly subscriptionId: Bytes32
  readonly chain: ChainSubscription | null
  /** The (confirmed) block the chain was read at. */
  readonly blockNumber: number
}

export type SubscriptionEvent =
  | PaymentSeenEvent
  | PaymentConfirmedEvent
  | PaymentReorgedEvent
  | CancelEvent
  | RevokeEvent
  | ExpiryEvent
  | OperatorRevokeEvent
  | ReconciliationEvent

/** The cause written in the audit: what moved the row. */
export type AuditCause =
  | 'payment-seen'
  | 'payment-confirmed'
  | 'renewal'
  | 'plan-change'
  | 'payment-reorged'
  | 'cancel'
  | 'revoke'
  | 'expiry'
  | 'operator'
  | 'reconciliation'

/** One append-only audit entry: every transition, and every anomaly or refusal worth an operator's eye. */
export interface SubscriptionAudit {
  readonly subscriptionId: Bytes32
  readonly cause: AuditCause
  readonly actor: Actor
  readonly fromState: SubscriptionState | null
  readonly toState: SubscriptionState | null
  readonly fromVersion: number | null
  readonly toVersion: number | null
  /** Chain time of the decision. */
  readonly atSec: number
  /** The payment digest, when a payment caused it. */
  readonly digest: Bytes32 | null
  /** Machine-readable anomalies (`end-mismatch`, `not-on-chain`, …); empty for a clean transition. */
  readonly anomalies: readonly string[]
  /** Small, bounded, secret-free details (old and new bounds, the operator's reason). */
  readonly detail: Readonly<Record<string, string | number | boolean | null>>
}
