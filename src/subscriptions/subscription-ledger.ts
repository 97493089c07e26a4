/**
 * Applies subscription events through the store: read, decide (pure), compare-and-set with the audit in
 * one write, retry on a lost race. Applying the same event twice changes nothing the second time.
 */
import { decideTransition } from './state-machine.ts'
import type { SubscriptionStore } from './subscription-store.ts'
import type { Actor, SubscriptionAudit, SubscriptionEvent, SubscriptionRecord } from './types.ts'

export interface SubscriptionLedgerDeps {
  readonly store: SubscriptionStore
  /** Called after every audit entry written (metrics). */
  readonly onAudit?: (audit: SubscriptionAudit) => void
  /** Called after a row changed (the request-path cache refreshes it). */
  readonly onChange?: (row: SubscriptionRecord) => void
  /** Called when only the chain can settle a row (a refusal that reconciliation should look at). */
  readonly onNeedsReconciliation?: (id: SubscriptionRecord['id']) => void
}

export type ApplyOutcome =
  | { readonly kind: 'changed'; readonly row: SubscriptionRecord }
  | { readonly kind: 'unchanged'; readonly row: SubscriptionRecord | undefined }
  | { readonly kind: 'refused'; readonly reason: string }

export interface SubscriptionLedger {
  /** Applies `event` caused by `actor` at chain time `nowSec`. */
  apply(event: SubscriptionEvent, actor: Actor, nowSec: number): Promise<ApplyOutcome>
}

/** Compare-and-set attempts before giving up (each lost race means another writer made progress). */
const MAX_ATTEMPTS = 8

export function createSubscriptionLedger(deps: SubscriptionLedgerDeps): SubscriptionLedger {
  const { store } = deps
  return {
    async apply(event, actor, nowSec) {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const current = await store.get(event.subscriptionId)
        const decision = decideTransition(current, event, actor, nowSec)
        if (decision.kind === 'unchanged') return { kind: 'unchanged', row: current }
        if (decision.kind === 'refused') {
          await store.appendAudit(decision.audit)
          deps.onAudit?.(decision.audit)
          if (actor.kind === 'chain') deps.onNeedsReconciliation?.(event.subscriptionId)
          return { kind: 'refused', reason: decision.reason }
        }
        if (await store.compareAndSet(decision.next, current?.version ?? null, decision.audit)) {
          deps.onAudit?.(decision.audit)
          deps.onChange?.(decision.next)
          if (decision.audit.anomalies.length > 0 && decision.audit.cause !== 'reconciliation')
            deps.onNeedsReconciliation?.(event.subscriptionId)
          return { kind: 'changed', row: decision.next }
        }
      }
      throw new Error(
        `subscription ${event.subscriptionId}: ${MAX_ATTEMPTS} compare-and-set attempts lost (${event.type})`,
      )
    },
  }
}
