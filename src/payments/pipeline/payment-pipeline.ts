/**
 * The payment pipeline: the payment monitor persisted in the database, its effects turned into
 * subscription ledger events in the SAME transaction as the monitor's cursor, and the subscriptions
 * subsystem reading the same rows. One factory for main.ts (docs/payment-monitor.md, "Wiring").
 *
 * Effect → consequence (all inside the monitor's transaction, so a crash leaves both or neither):
 * - record-payment: the payments row (flags from the anomaly; a re-included payment goes reorged → seen
 *   at its new block); a payment matching its quote also marks the quote `paid` (open → paid) and, for a
 *   creation, makes a `pending` subscription (`payment-seen`);
 * - mark-confirmed / mark-final / mark-reorged: the payments row's state (audited with the cause);
 * - activate-subscription: the per-inclusion activation claim (`claimInclusionActivation`), then the
 *   ledger's `payment-confirmed` with the contract's start/end from the log;
 * - deactivate-subscription: the ledger's `payment-reorged`;
 * - flag-anomaly: a payment audit entry (`flag-anomaly`, with the anomaly); never a ledger event;
 * - record-cancellation / record-revocation: the ledger's `cancel` / `revoke`;
 * - revert-cancellation / revert-revocation: audited, and the id queued for reconciliation (only the
 *   chain can say what holds now).
 * Every ledger event carries actor `{ kind: 'chain', source: 'monitor' }` and the log's block number.
 * After the commit the changed rows refresh the request-path cache and ids that need the chain are
 * queued for reconciliation (`reconciler.enqueue`).
 */
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { ConfirmationPolicy, RpcClient } from '../../blockchain/index.ts'
import type { PaymentKey, Repositories, Storage } from '../../storage/index.ts'
import {
  createSubscriptionLedger,
  createSubscriptions,
  type Actor,
  type Bytes32,
  type SubscriptionEvent,
  type SubscriptionRecord,
  type Subscriptions,
  type SubscriptionsOptions,
} from '../../subscriptions/index.ts'
import {
  createPaymentMonitor,
  createRpcMonitorSource,
  type Address,
  type MonitorChainSource,
  type MonitorEffect,
  type PaymentMonitor,
  type QuoteLookup,
} from '../monitor/index.ts'
import { createDbMonitorStore, type DbMonitorStore, type EffectConsumer } from './db-monitor-store.ts'
import { createDbQuoteLookup } from './db-quote-lookup.ts'
import { createDbSubscriptionStore } from './db-subscription-store.ts'

export const MONITOR_ACTOR: Actor = Object.freeze({ kind: 'chain', source: 'monitor' })

const keyOf = (e: MonitorEffect, chainId: number): PaymentKey => ({
  chainId,
  txHash: e.txHash,
  logIndex: e.logIndex,
})

/**
 * The consumer the database monitor store runs inside its transaction: applies each newly inserted
 * effect to the payments table and (through a ledger bound to the same transaction) the subscriptions.
 */
export function createEffectConsumer(hooks: {
  readonly onChange?: (row: SubscriptionRecord) => void
  readonly onNeedsReconciliation?: (id: Bytes32) => void
}): EffectConsumer {
  return async (repos: Repositories, effects, ctx) => {
    const changed: SubscriptionRecord[] = []
    const reconcile: Bytes32[] = []
    const ledger = createSubscriptionLedger({
      store: createDbSubscriptionStore(repos),
      onChange: (row) => changed.push(row),
      onNeedsReconciliation: (id) => reconcile.push(id),
    })
    const apply = (event: SubscriptionEvent, at: number) => ledger.apply(event, MONITOR_ACTOR, at)
    for (const e of effects) {
      const key = keyOf(e, ctx.chainId)
      const blockTime = ctx.blockTime(e.blockNumber) ?? e.at
      const block = { number: BigInt(e.blockNumber), hash: e.blockHash }
      switch (e.type) {
        case 'record-payment': {
          const p = e.payment
          const inserted = await repos.payments.record(
            {
              ...key,
              digest: p.digest,
              subscriptionId: p.subscriptionId,
              payer: p.payer,
              beneficiary: p.beneficiary,
              token: p.token,
              amount: p.amount,
              planId: p.planId,
              periodStart: p.start,
              periodEnd: p.end,
              blockNumber: block.number,
              blockHash: block.hash,
              state: 'seen',
              isUnderpaid: e.anomaly === 'underpaid',
              isUnknownQuote: e.anomaly === 'unknown-quote',
              isWrongPayer: e.anomaly === 'wrong-payer',
            },
            {
              cause: 'payment-seen',
              detail: { anomaly: e.anomaly, blockNumber: e.blockNumber, blockHash: e.blockHash },
              chainTime: e.at,
            },
          )
          if (!inserted) {
            await repos.payments.transition(
              key,
              { from: ['reorged'], to: 'seen', block },
              {
                cause: 're-included',
                detail: { blockNumber: e.blockNumber, blockHash: e.blockHash },
                chainTime: e.at,
              },
            )
          }
          if (e.anomaly === null) {
            // The quote is spent: it stops counting against the open-quote caps and is never swept.
            // Compare-and-set open → paid, so a retried or re-included payment changes nothing.
            const quote = await repos.quotes.getByDigest(p.digest)
            if (quote?.state === 'open') await repos.quotes.setState(quote.id, 'open', 'paid')
            await apply(
              {
                type: 'payment-seen',
                digest: p.digest,
                subscriptionId: p.subscriptionId,
                payer: p.payer,
                beneficiary: p.beneficiary,
                token: p.token,
                planId: p.planId,
                startSec: p.start,
                endSec: p.end,
                blockTimestampSec: blockTime,
                blockNumber: e.blockNumber,
              },
              e.at,
            )
          }
          break
        }
        case 'mark-confirmed':
          await repos.payments.transition(
            key,
            { from: ['seen'], to: 'confirmed' },
            { cause: 'payment-confirmed', detail: { blockNumber: e.blockNumber }, chainTime: e.at },
          )
          break
        case 'mark-final':
          await repos.payments.transition(
            key,
            { from: ['seen', 'confirmed'], to: 'final' },
            { cause: 'payment-final', detail: { blockNumber: e.blockNumber }, chainTime: e.at },
          )
          break
        case 'mark-reorged':
          await repos.payments.transition(
            key,
            { from: ['seen', 'confirmed'], to: 'reorged' },
            { cause: 'reorg', detail: { ...e.cause }, chainTime: e.at },
          )
          break
        case 'activate-subscription': {
          // Once per inclusion: a re-included payment may activate again at its new block.
          if (!(await repos.payments.claimInclusionActivation(key, e.blockHash))) break
          const p = e.payment
          await apply(
            {
              type: 'payment-confirmed',
              digest: p.digest,
              subscriptionId: p.subscriptionId,
              payer: p.payer,
              beneficiary: p.beneficiary,
              token: p.token,
              planId: p.planId,
              startSec: p.start,
              endSec: p.end,
              blockTimestampSec: blockTime,
              blockNumber: e.blockNumber,
            },
            e.at,
          )
          break
        }
        case 'deactivate-subscription':
          await apply(
            { type: 'payment-reorged', digest: e.payment.digest, subscriptionId: e.payment.subscriptionId },
            e.at,
          )
          break
        case 'flag-anomaly': {
          const current = await repos.payments.get(key)
          await repos.audit.append({
            entity: 'payment',
            entityId: `${ctx.chainId}:${e.txHash.toLowerCase()}:${e.logIndex}`,
            fromState: current?.state ?? null,
            toState: current?.state ?? 'confirmed',
            cause: 'flag-anomaly',
            detail: {
              anomaly: e.anomaly,
              digest: e.payment.digest,
              subscriptionId: e.payment.subscriptionId,
            },
            chainTime: e.at,
          })
          break
        }
        case 'record-cancellation':
          await apply(
            {
              type: 'cancel',
              subscriptionId: e.cancellation.subscriptionId,
              by: e.cancellation.by,
              blockTimestampSec: blockTime,
              blockNumber: e.blockNumber,
            },
            e.at,
          )
          break
        case 'record-revocation':
          await apply(
            {
              type: 'revoke',
              subscriptionId: e.revocation.subscriptionId,
              by: e.revocation.by,
              endSec: e.revocation.end,
              blockTimestampSec: blockTime,
              blockNumber: e.blockNumber,
            },
            e.at,
          )
          break
        case 'revert-cancellation':
        case 'revert-revocation': {
          const row = await repos.ledger.get(e.subscriptionId)
          await repos.audit.append({
            entity: 'subscription',
            entityId: e.subscriptionId,
            fromState: row?.state ?? null,
            toState: row?.state ?? 'none',
            cause: e.type,
            detail: { ...e.cause, actor: MONITOR_ACTOR, reconcile: true },
            chainTime: e.at,
          })
          reconcile.push(e.subscriptionId)
          break
        }
      }
    }
    if (changed.length === 0 && reconcile.length === 0) return undefined
    return () => {
      for (const row of changed) hooks.onChange?.(row)
      for (const id of reconcile) hooks.onNeedsReconciliation?.(id)
    }
  }
}

export interface PaymentPipelineOptions {
  readonly chainId: number
  /** The PaymentProcessor proxy. */
  readonly contract: Address
  /** The confirmation policy (the monitor activates at it; reconciliation reads at it). */
  readonly policy: ConfirmationPolicy
  /** First block on an empty database (the deployment block). */
  readonly startBlock: number
  readonly maxRangeBlocks?: number
  readonly maxTrackedBlocks?: number
  readonly pollIntervalMs?: number
  /** The subscriptions subsystem's options (`confirmation` is the pipeline's `policy`). */
  readonly subscriptions: Omit<SubscriptionsOptions, 'confirmation'>
}

export interface PaymentPipelineDeps {
  readonly storage: Storage
  /** The chain client's RPC: logs, tags and calls through its cross-checked reads. */
  readonly rpc: Pick<RpcClient, 'request' | 'verifiedLogs' | 'verifiedBlockTag' | 'verifiedCall'>
  /** `chain.status().state`: `down` is degraded mode for the request path. */
  readonly chainState: () => 'up' | 'degraded' | 'down'
  readonly log: Logger
  readonly registry?: Registry
  /** Default: the quotes table. */
  readonly quotes?: QuoteLookup
  /** Default: `createRpcMonitorSource(rpc, contract)`. */
  readonly source?: MonitorChainSource
  readonly nowMs?: () => number
  readonly chainNowSec?: () => number
  /** Called after each landed monitor commit with its effects (tests measure latency with it). */
  readonly onCommitted?: (effects: readonly MonitorEffect[]) => void
}

export interface PaymentPipeline {
  readonly monitor: PaymentMonitor
  readonly subscriptions: Subscriptions
  /** The database monitor store (its `effects`/`records` read the append-only history). */
  readonly monitorStore: DbMonitorStore
  /** Loads the monitor's state, starts its poll loop and the reconciliation timer. */
  start(): Promise<void>
  /** Stops the poll loop and the reconciliation timer (the storage is the caller's to close). */
  close(): Promise<void>
}

export function createPaymentPipeline(
  options: PaymentPipelineOptions,
  deps: PaymentPipelineDeps,
): PaymentPipeline {
  const subscriptions = createSubscriptions(
    { ...options.subscriptions, confirmation: options.policy },
    {
      store: createDbSubscriptionStore(deps.storage),
      rpc: deps.rpc,
      contract: options.contract,
      chainState: deps.chainState,
      log: deps.log,
      ...(deps.registry === undefined ? {} : { registry: deps.registry }),
      ...(deps.nowMs === undefined ? {} : { nowMs: deps.nowMs }),
      ...(deps.chainNowSec === undefined ? {} : { chainNowSec: deps.chainNowSec }),
    },
  )
  const monitorStore = createDbMonitorStore(
    deps.storage,
    createEffectConsumer({
      onChange: (row) => subscriptions.cache.set(row),
      onNeedsReconciliation: (id) => subscriptions.reconciler.enqueue(id),
    }),
  )
  const monitor = createPaymentMonitor(
    {
      chainId: options.chainId,
      contract: options.contract,
      policy: options.policy,
      startBlock: options.startBlock,
      maxRangeBlocks: options.maxRangeBlocks ?? 1_000,
      maxTrackedBlocks: options.maxTrackedBlocks ?? 10_000,
      pollIntervalMs: options.pollIntervalMs ?? 1_000,
    },
    {
      source: deps.source ?? createRpcMonitorSource(deps.rpc, options.contract),
      store: monitorStore,
      quotes: deps.quotes ?? createDbQuoteLookup(deps.storage.quotes),
      log: deps.log,
      ...(deps.onCommitted === undefined ? {} : { onCommitted: deps.onCommitted }),
    },
  )
  let started = false
  return {
    monitor,
    subscriptions,
    monitorStore,
    async start() {
      await monitor.start()
      monitor.run()
      subscriptions.start()
      started = true
    },
    async close() {
      if (started) await monitor.stop()
      await subscriptions.close()
    },
  }
}
