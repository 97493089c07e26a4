/**
 * Data and ports of the payment monitor (docs/payment-monitor.md). The pure core (monitor-core.ts) is a
 * function of these values; the chain follower (chain-follower.ts) fills them from the chain and persists
 * the result through a {@link MonitorStore}. Addresses and hashes are lower-case hex.
 */
import type { ConfirmationPolicy } from '../../blockchain/index.ts'

export type Hex = `0x${string}`
export type Address = `0x${string}`

/** A block as the monitor records it: enough to detect a reorg by parent-hash continuity. */
export interface BlockRef {
  readonly number: number
  readonly hash: Hex
  readonly parentHash: Hex
  /** Chain time, seconds. */
  readonly timestamp: number
}

/** A block number and hash (a cursor, a tag's block). */
export interface BlockPointer {
  readonly number: number
  readonly hash: Hex
}

/** `PaymentReceived(digest, subscriptionId, payer, beneficiary, token, amount, planId, start, end)`. */
export interface PaymentLog {
  readonly type: 'payment'
  readonly txHash: Hex
  readonly logIndex: number
  readonly digest: Hex
  readonly subscriptionId: Hex
  readonly payer: Address
  /** `address(0)` on a renewal paid by the owner. */
  readonly beneficiary: Address
  readonly token: Address
  readonly amount: bigint
  readonly planId: number
  readonly start: number
  readonly end: number
}

/** `SubscriptionCancelled(subscriptionId, by)`. */
export interface CancellationLog {
  readonly type: 'cancellation'
  readonly txHash: Hex
  readonly logIndex: number
  readonly subscriptionId: Hex
  readonly by: Address
}

/** `SubscriptionRevoked(subscriptionId, by, end)`. */
export interface RevocationLog {
  readonly type: 'revocation'
  readonly txHash: Hex
  readonly logIndex: number
  readonly subscriptionId: Hex
  readonly by: Address
  readonly end: number
}

export type MonitorLog = PaymentLog | CancellationLog | RevocationLog

/** A block with the monitored contract's logs in it (decoded; other logs dropped). */
export interface ObservedBlock extends BlockRef {
  readonly logs: readonly MonitorLog[]
}

/** The chain's tags as verified reads answered them (`safe`/`finalized` null when the node has none). */
export interface ChainHeads {
  readonly latest: BlockPointer
  readonly safe: BlockPointer | null
  readonly finalized: BlockPointer | null
}

/**
 * When a payment counts as confirmed (and activates): the chain client's {@link ConfirmationPolicy} —
 * `latest` with `confirmations` blocks counting the payment's own (1 = at inclusion), or the chain's `safe`
 * or `finalized` tag at or above the payment's block.
 */
export type MonitorConfirmationPolicy = ConfirmationPolicy

/** What the gateway expects of a payment, from the quote it signed. */
export interface ExpectedQuote {
  readonly payer: Address
  readonly amount: bigint
  readonly planId: number
  readonly token: Address
}

/**
 * Port: the quotes the gateway signed, by EIP-712 digest. Null = no such quote (the payment is recorded
 * with the anomaly `unknown-quote` and never activated). Implemented by the quote service's store.
 */
export interface QuoteLookup {
  byDigests(digests: readonly Hex[]): Promise<ReadonlyMap<Hex, ExpectedQuote | null>>
}

/** Why a payment is recorded but never activated. */
export type PaymentAnomaly = 'unknown-quote' | 'wrong-payer' | 'underpaid' | 'wrong-token' | 'wrong-plan'

/** Life of one log inclusion: seen → confirmed → final, or reorged (from seen or confirmed). */
export type LogStatus = 'seen' | 'confirmed' | 'final' | 'reorged'

/**
 * One monitored log, keyed by (chainId, txHash, logIndex) — the payments table's unique key. A log the
 * reorg removed and the chain re-includes with the same key becomes `seen` again at its new block.
 */
export interface LogRecord {
  /** `${chainId}:${txHash}:${logIndex}`. */
  readonly key: string
  readonly chainId: number
  readonly blockNumber: number
  readonly blockHash: Hex
  readonly log: MonitorLog
  readonly status: LogStatus
  /** Payments only: why it must never activate (null = it matches its quote). */
  readonly anomaly: PaymentAnomaly | null
  /** The effect of the confirmed log is in force: payment activated / cancellation or revocation recorded. */
  readonly applied: boolean
  /** Final, or reorged at or below the finalized block: the monitor no longer loads it. */
  readonly settled: boolean
}

/** Audit cause of an effect that undoes another. */
export interface ReorgCause {
  readonly type: 'reorg'
  /** Highest block both branches share. */
  readonly ancestor: BlockPointer
  /** The block (on the abandoned branch) that held the log. */
  readonly removedBlock: BlockPointer
}

interface EffectBase {
  /** Idempotency key: `${type}:${chainId}:${txHash}:${logIndex}:${blockHash}` (one per inclusion). */
  readonly key: string
  readonly recordKey: string
  readonly chainId: number
  readonly txHash: Hex
  readonly logIndex: number
  readonly blockNumber: number
  readonly blockHash: Hex
  /** Chain time of the block whose observation produced the effect (seconds). */
  readonly at: number
}

/** Effects the store applies in one transaction with the cursor (docs/payment-monitor.md, "Effects"). */
export type MonitorEffect =
  | (EffectBase & {
      readonly type: 'record-payment'
      readonly payment: PaymentLog
      readonly anomaly: PaymentAnomaly | null
    })
  | (EffectBase & { readonly type: 'mark-confirmed' | 'mark-final' })
  | (EffectBase & { readonly type: 'mark-reorged'; readonly cause: ReorgCause })
  | (EffectBase & {
      readonly type: 'activate-subscription'
      readonly payment: PaymentLog
      readonly isCreation: boolean
    })
  | (EffectBase & {
      readonly type: 'deactivate-subscription'
      readonly payment: PaymentLog
      readonly cause: ReorgCause
    })
  | (EffectBase & {
      readonly type: 'flag-anomaly'
      readonly payment: PaymentLog
      readonly anomaly: PaymentAnomaly
    })
  | (EffectBase & { readonly type: 'record-cancellation'; readonly cancellation: CancellationLog })
  | (EffectBase & { readonly type: 'record-revocation'; readonly revocation: RevocationLog })
  | (EffectBase & {
      readonly type: 'revert-cancellation' | 'revert-revocation'
      readonly subscriptionId: Hex
      readonly cause: ReorgCause
    })

export type MonitorEffectType = MonitorEffect['type']

/** The monitor's whole persistent state (what a restart rebuilds from the store). */
export interface MonitorState {
  /** Last processed block (null before the first). */
  readonly cursor: BlockPointer | null
  /** Processed blocks, ascending and parent-linked, from the last finalized one (or the start) to the cursor. */
  readonly blocks: readonly BlockRef[]
  /** Unsettled log records by key. */
  readonly records: ReadonlyMap<string, LogRecord>
  /** Incremented by every commit: the store's compare-and-set token. */
  readonly version: number
}

/** What one step changes, as the store persists it (one transaction). */
export interface MonitorCommit {
  /** The state version the commit was computed from; the store refuses it when its version differs. */
  readonly expectedVersion: number
  readonly version: number
  readonly cursor: BlockPointer | null
  readonly blocks: {
    /** Delete stored blocks with number >= this (a reorg), before appending. */
    readonly rewindFrom: number | null
    readonly append: readonly BlockRef[]
    /** Delete stored blocks with number < this (finalized, or over the window bound). */
    readonly pruneBelow: number | null
  }
  /** Records created or changed (upsert by key); settled ones are no longer loaded. */
  readonly records: readonly LogRecord[]
  readonly effects: readonly MonitorEffect[]
}

export type ApplyOutcome =
  | { readonly ok: true; readonly applied: number; readonly duplicates: number }
  | { readonly ok: false; readonly reason: 'version-conflict'; readonly storedVersion: number }

/**
 * Port: the monitor's persistence. `apply` runs in ONE transaction: compare the stored version with
 * `commit.expectedVersion` (refuse on mismatch, nothing written), insert each effect unless its key exists
 * (duplicates are skipped and counted, never re-applied), upsert the records, rewind/append/prune the
 * blocks, set the cursor and version. `load` returns the state a restart resumes from.
 */
export interface MonitorStore {
  load(chainId: number): Promise<MonitorState>
  apply(chainId: number, commit: MonitorCommit): Promise<ApplyOutcome>
}
