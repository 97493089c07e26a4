/**
 * The reconciliation pass: the gateway's subscription rows are a cache of the contract's state. Each pass
 * reads a bounded batch — ids queued by the monitor or the ledger first, then recently changed rows, then
 * active rows round-robin — from the chain (verified reads) and repairs every difference through the
 * ledger, audited with cause `reconciliation`. Runs on a coarse unref'd timer; never two passes at once.
 */
import type { Logger } from 'pino'
import type { ChainSubscriptionReader } from './chain-subscription-reader.ts'
import type { SubscriptionLedger } from './subscription-ledger.ts'
import type { SubscriptionStore } from './subscription-store.ts'
import type { Actor, Bytes32 } from './types.ts'

export interface ReconcilerOptions {
  /** Most ids read from the chain per pass (bounds RPC load). */
  readonly maxPerPass: number
  /** Timer period; the timer is unref'd. */
  readonly intervalMs: number
  /** Rows changed within this window (chain seconds) are re-checked before the round-robin of active ones. */
  readonly recentWindowSec: number
  /** Most ids waiting in the queue (older ones dropped; the round-robin finds active rows anyway). */
  readonly maxQueued: number
}

export const DEFAULT_RECONCILER_OPTIONS: ReconcilerOptions = Object.freeze({
  maxPerPass: 100,
  intervalMs: 60_000,
  recentWindowSec: 3_600,
  maxQueued: 10_000,
})

export interface ReconcilerDeps {
  readonly store: SubscriptionStore
  readonly ledger: SubscriptionLedger
  readonly readChain: ChainSubscriptionReader
  /**
   * The block the pass reads at: the newest one confirmed under the monitor's policy
   * (`createConfirmedBlockReader`). Reading `latest` instead would activate payments before confirmation.
   */
  readonly confirmedBlock: () => Promise<number>
  /** Chain time now, in seconds (e.g. the verified latest block's timestamp, or wall clock). */
  readonly nowSec: () => number
  readonly log: Logger
  /** Called with each pass's report (degraded-mode status, metrics). */
  readonly onReport?: (report: ReconcileReport) => void
}

export interface ReconcileReport {
  readonly checked: number
  readonly repaired: number
  /** Ids whose chain read failed (left for the next pass). */
  readonly failed: number
}

export interface Reconciler {
  /** Queues an id for the next pass (a row the cache may lack, e.g. a payment the monitor saw). */
  enqueue(id: Bytes32): void
  /** One bounded pass; concurrent calls share the running one. */
  runPass(): Promise<ReconcileReport>
  /** Starts the unref'd timer. */
  start(): void
  /** Stops the timer and waits for a running pass. */
  close(): Promise<void>
}

const ACTOR: Actor = Object.freeze({ kind: 'system', source: 'reconciliation' })
const CLOCK: Actor = Object.freeze({ kind: 'system', source: 'clock' })

export function createReconciler(options: ReconcilerOptions, deps: ReconcilerDeps): Reconciler {
  for (const key of ['maxPerPass', 'intervalMs', 'maxQueued'] as const) {
    const v = options[key]
    if (!Number.isInteger(v) || v < 1)
      throw new Error(`reconciler ${key} must be a positive integer, got ${v}`)
  }
  const log = deps.log.child({ component: 'subscriptions-reconciler' })
  const queue = new Set<Bytes32>()
  // When each id was last verified against the chain (bounded): a recently changed row is re-checked only
  // if it changed after that, so repairs do not starve the round-robin of the pass budget.
  const checkedAt = new Map<Bytes32, number>()
  let cursor: Bytes32 | undefined
  let running: Promise<ReconcileReport> | undefined
  let timer: NodeJS.Timeout | undefined

  async function pickBatch(): Promise<Bytes32[]> {
    const batch = new Set<Bytes32>()
    for (const id of queue) {
      if (batch.size >= options.maxPerPass) break
      batch.add(id)
    }
    for (const id of batch) queue.delete(id)
    const room = () => options.maxPerPass - batch.size
    if (room() > 0) {
      const recent = await deps.store.listChangedSince(
        deps.nowSec() - options.recentWindowSec,
        options.maxPerPass,
      )
      for (const r of recent) {
        if (room() === 0) break
        const at = checkedAt.get(r.id)
        if (at === undefined || r.updatedAtSec > at) batch.add(r.id)
      }
    }
    if (room() > 0) {
      let page = await deps.store.listActive(room(), cursor)
      if (page.length === 0 && cursor !== undefined) {
        cursor = undefined
        page = await deps.store.listActive(room())
      }
      for (const r of page) batch.add(r.id)
      cursor = page.length > 0 ? page[page.length - 1]!.id : undefined
    }
    return [...batch].slice(0, options.maxPerPass)
  }

  async function pass(): Promise<ReconcileReport> {
    const ids = await pickBatch()
    let repaired = 0
    let failed = 0
    let blockNumber: number
    try {
      blockNumber = await deps.confirmedBlock()
    } catch (err) {
      for (const id of ids) queue.add(id)
      log.warn({ err }, 'subscription reconciliation: no confirmed block; pass skipped')
      const report = { checked: 0, repaired: 0, failed: ids.length }
      deps.onReport?.(report)
      return report
    }
    for (const id of ids) {
      try {
        const current = await deps.store.get(id)
        if (current !== undefined && (current.state === 'active' || current.state === 'cancelled')) {
          // Time first (cause `expiry`, actor the clock), then the chain's word.
          const now = deps.nowSec()
          if (current.endSec <= now)
            await deps.ledger.apply({ type: 'expiry', subscriptionId: id }, CLOCK, now)
        }
        const chain = await deps.readChain(id, blockNumber)
        const at = deps.nowSec()
        const outcome = await deps.ledger.apply(
          { type: 'reconciliation', subscriptionId: id, chain, blockNumber },
          ACTOR,
          at,
        )
        checkedAt.delete(id)
        checkedAt.set(id, at)
        if (checkedAt.size > options.maxQueued) {
          const oldest = checkedAt.keys().next()
          if (oldest.done !== true) checkedAt.delete(oldest.value)
        }
        if (outcome.kind === 'changed') {
          repaired++
          log.warn({ subscriptionId: id, state: outcome.row.state }, 'subscription repaired from chain')
        }
      } catch (err) {
        failed++
        queue.add(id)
        log.warn({ subscriptionId: id, err }, 'subscription reconciliation read failed; retried next pass')
      }
    }
    while (queue.size > options.maxQueued) {
      const oldest = queue.values().next()
      if (oldest.done === true) break
      queue.delete(oldest.value)
    }
    const report = { checked: ids.length, repaired, failed }
    deps.onReport?.(report)
    return report
  }

  function runPass(): Promise<ReconcileReport> {
    running ??= pass().finally(() => {
      running = undefined
    })
    return running
  }

  return {
    enqueue(id) {
      queue.delete(id)
      queue.add(id)
      while (queue.size > options.maxQueued) {
        const oldest = queue.values().next()
        if (oldest.done === true) break
        queue.delete(oldest.value)
      }
    },
    runPass,
    start() {
      if (timer !== undefined) return
      timer = setInterval(() => {
        runPass().catch((err: unknown) => log.error({ err }, 'subscription reconciliation pass failed'))
      }, options.intervalMs)
      timer.unref()
    },
    async close() {
      if (timer !== undefined) clearInterval(timer)
      timer = undefined
      await running?.catch(() => undefined)
    },
  }
}
