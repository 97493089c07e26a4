/**
 * The database {@link SubscriptionStore} over the storage repositories: rows in `subscriptions` (with the
 * v2 ledger columns), every audit entry in the append-only `audit_log` (entity `subscription`), written in
 * the same transaction as the row it records.
 */
import type { LedgerRepository, LedgerRow, NewAuditEntry, AuditRepository } from '../../storage/index.ts'
import type { SubscriptionAudit, SubscriptionRecord, SubscriptionStore } from '../../subscriptions/index.ts'

interface Facts {
  paymentDigests?: SubscriptionRecord['paymentDigests']
  beforeLastPayment?: SubscriptionRecord['beforeLastPayment']
  operatorHold?: SubscriptionRecord['operatorHold']
}

function toRow(r: SubscriptionRecord): LedgerRow {
  const facts: Facts = {
    paymentDigests: r.paymentDigests,
    beforeLastPayment: r.beforeLastPayment,
    operatorHold: r.operatorHold,
  }
  return {
    id: r.id,
    owner: r.owner,
    beneficiary: r.beneficiary,
    planId: r.planId,
    token: r.token,
    startAt: r.startSec,
    endAt: r.endSec,
    state: r.state,
    version: r.version,
    chainStatus: r.chainStatus,
    chainBlock: r.chainBlock,
    updatedAtSec: r.updatedAtSec,
    facts: facts as Record<string, unknown>,
  }
}

function fromRow(r: LedgerRow): SubscriptionRecord {
  const f = r.facts as Facts
  return {
    id: r.id,
    state: r.state,
    owner: r.owner,
    beneficiary: r.beneficiary,
    planId: r.planId,
    token: r.token,
    startSec: r.startAt,
    endSec: r.endAt,
    chainStatus: r.chainStatus,
    chainBlock: r.chainBlock,
    version: r.version,
    updatedAtSec: r.updatedAtSec,
    paymentDigests: f.paymentDigests ?? [],
    beforeLastPayment: f.beforeLastPayment ?? null,
    operatorHold: f.operatorHold ?? null,
  }
}

/** The audit_log row of a subscription audit: `to_state` is the unchanged state for a refusal. */
export function auditEntryOf(a: SubscriptionAudit): NewAuditEntry {
  return {
    entity: 'subscription',
    entityId: a.subscriptionId,
    fromState: a.fromState,
    toState: a.toState ?? a.fromState ?? 'none',
    cause: a.cause,
    chainTime: a.atSec,
    detail: {
      actor: a.actor,
      fromVersion: a.fromVersion,
      toVersion: a.toVersion,
      digest: a.digest,
      anomalies: a.anomalies,
      changed: a.toVersion !== null && a.toVersion !== a.fromVersion,
      ...a.detail,
    },
  }
}

export function createDbSubscriptionStore(repos: {
  readonly ledger: LedgerRepository
  readonly audit: Pick<AuditRepository, 'append'>
}): SubscriptionStore {
  return {
    async get(id) {
      const r = await repos.ledger.get(id)
      return r === undefined ? undefined : fromRow(r)
    },
    compareAndSet: (next, expectedVersion, audit) =>
      repos.ledger.compareAndSet(toRow(next), expectedVersion, auditEntryOf(audit)),
    appendAudit: (audit) => repos.audit.append(auditEntryOf(audit)),
    async listActive(limit, afterId) {
      return (await repos.ledger.listActive(limit, afterId)).map(fromRow)
    },
    async listChangedSince(sinceSec, limit) {
      return (await repos.ledger.listChangedSince(sinceSec, limit)).map(fromRow)
    },
  }
}
