/**
 * The storage port of the subscriptions subsystem (the storage engineer's repository implements it over
 * kysely; the append-only audit table refuses UPDATE/DELETE) and an in-memory implementation for tests.
 */
import type { Bytes32, SubscriptionAudit, SubscriptionRecord } from './types.ts'

/** What the subscription machine needs from storage. */
export interface SubscriptionStore {
  get(id: Bytes32): Promise<SubscriptionRecord | undefined>
  /**
   * Writes `next` only if the stored row's version is `expectedVersion` (null: only if no row exists), and
   * appends `audit` in the same transaction. False when another writer got there first (nothing written).
   */
  compareAndSet(
    next: SubscriptionRecord,
    expectedVersion: number | null,
    audit: SubscriptionAudit,
  ): Promise<boolean>
  /** Appends an audit entry that changes no row (a refusal or anomaly). */
  appendAudit(audit: SubscriptionAudit): Promise<void>
  /** Rows in state `active` or `cancelled`, ordered by id, after `afterId`, at most `limit`. */
  listActive(limit: number, afterId?: Bytes32): Promise<readonly SubscriptionRecord[]>
  /** Rows changed at or after chain time `sinceSec`, newest first, at most `limit`. */
  listChangedSince(sinceSec: number, limit: number): Promise<readonly SubscriptionRecord[]>
}

/** The in-memory store plus test hooks (raw writes that bypass the machine, the audit log). */
export interface MemorySubscriptionStore extends SubscriptionStore {
  readonly audits: readonly SubscriptionAudit[]
  /** Overwrites or deletes a row without audit (tests corrupt the cache with it). */
  corrupt(id: Bytes32, row: SubscriptionRecord | undefined): void
}

export function createMemorySubscriptionStore(): MemorySubscriptionStore {
  const rows = new Map<Bytes32, SubscriptionRecord>()
  const audits: SubscriptionAudit[] = []
  return {
    audits,
    corrupt(id, row) {
      if (row === undefined) rows.delete(id)
      else rows.set(id, row)
    },
    get: async (id) => rows.get(id),
    compareAndSet: async (next, expectedVersion, audit) => {
      const cur = rows.get(next.id)
      if ((cur?.version ?? null) !== expectedVersion) return false
      rows.set(next.id, next)
      audits.push(audit)
      return true
    },
    appendAudit: async (audit) => {
      audits.push(audit)
    },
    listActive: async (limit, afterId) =>
      [...rows.values()]
        .filter(
          (r) =>
            (r.state === 'active' || r.state === 'cancelled') && (afterId === undefined || r.id > afterId),
        )
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        .slice(0, limit),
    listChangedSince: async (sinceSec, limit) =>
      [...rows.values()]
        .filter((r) => r.updatedAtSec >= sinceSec)
        .sort((a, b) => b.updatedAtSec - a.updatedAtSec)
        .slice(0, limit),
  }
}
