/**
 * The database {@link MonitorStore} (docs/payment-monitor.md, "MonitorStore"): `apply` is ONE storage
 * transaction — lock the chain's state row, refuse a stale version (rolled back, nothing written), insert
 * each effect into the append-only `monitor_effects` table unless its key is there (duplicates skipped and
 * counted), hand the newly inserted ones to `consume` inside the same transaction, upsert the records,
 * rewind/append/prune the blocks, set cursor and version.
 */
import type { MonitorBlock, Repositories, Storage } from '../../storage/index.ts'
import type {
  ApplyOutcome,
  LogRecord,
  MonitorCommit,
  MonitorEffect,
  MonitorState,
  MonitorStore,
} from '../monitor/index.ts'

/** What `consume` may look up: the timestamp of a block the monitor processed (chain seconds). */
export interface EffectContext {
  readonly chainId: number
  blockTime(number: number): number | undefined
}

/**
 * Applies the consequences of newly inserted effects inside the store's transaction (through `repos`).
 * May return a callback run after the transaction committed (cache refresh, reconciliation queue).
 */
export type EffectConsumer = (
  repos: Repositories,
  effects: readonly MonitorEffect[],
  ctx: EffectContext,
) => Promise<(() => void) | undefined>

export interface DbMonitorStore extends MonitorStore {
  /** Every effect applied for the chain, in order (decoded back from the append-only table). */
  effects(chainId: number): Promise<MonitorEffect[]>
  /** Every record, settled ones included. */
  records(chainId: number): Promise<LogRecord[]>
}

type Json = Record<string, unknown>

/** bigint amounts cross JSON as `{ $bigint: "…" }`. */
function toJson(value: unknown): Json {
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v)),
  ) as Json
}
function fromJson<T>(value: unknown): T {
  return JSON.parse(JSON.stringify(value), (_k, v: unknown) =>
    v !== null && typeof v === 'object' && '$bigint' in v && typeof v.$bigint === 'string'
      ? BigInt(v.$bigint)
      : v,
  ) as T
}

class VersionConflict extends Error {
  readonly storedVersion: number
  constructor(storedVersion: number) {
    super('version-conflict')
    this.storedVersion = storedVersion
  }
}

export function createDbMonitorStore(
  storage: Pick<Storage, 'transaction' | 'monitor'>,
  consume?: EffectConsumer,
): DbMonitorStore {
  return {
    async load(chainId: number): Promise<MonitorState> {
      return storage.transaction(async (repos) => {
        const st = await repos.monitor.readState(chainId)
        const blocks = await repos.monitor.listBlocks(chainId)
        const records = new Map<string, LogRecord>()
        for (const raw of await repos.monitor.listUnsettledRecords(chainId)) {
          const rec = fromJson<LogRecord>(raw)
          records.set(rec.key, rec)
        }
        return { version: st.version, cursor: st.cursor, blocks, records }
      })
    },
    async apply(chainId: number, commit: MonitorCommit): Promise<ApplyOutcome> {
      let after: (() => void) | undefined
      let outcome: ApplyOutcome
      try {
        outcome = await storage.transaction(async (repos) => {
          const st = await repos.monitor.lockState(chainId)
          if (st.version !== commit.expectedVersion) throw new VersionConflict(st.version)
          const known = new Map<number, number>()
          for (const b of await repos.monitor.listBlocks(chainId)) known.set(b.number, b.timestamp)
          for (const b of commit.blocks.append) known.set(b.number, b.timestamp)
          const fresh: MonitorEffect[] = []
          let duplicates = 0
          for (const e of commit.effects) {
            const inserted = await repos.monitor.insertEffect({
              key: e.key,
              chainId,
              type: e.type,
              recordKey: e.recordKey,
              blockNumber: e.blockNumber,
              blockHash: e.blockHash,
              chainTime: e.at,
              detail: toJson(e),
            })
            if (inserted) fresh.push(e)
            else duplicates++
          }
          if (consume !== undefined && fresh.length > 0) {
            after = await consume(repos, fresh, { chainId, blockTime: (n) => known.get(n) })
          }
          for (const rec of commit.records) {
            await repos.monitor.upsertRecord(chainId, rec.key, rec.settled, toJson(rec))
          }
          const { rewindFrom, append, pruneBelow } = commit.blocks
          if (rewindFrom !== null) await repos.monitor.deleteBlocksFrom(chainId, rewindFrom)
          await repos.monitor.appendBlocks(chainId, append as readonly MonitorBlock[])
          if (pruneBelow !== null) await repos.monitor.pruneBlocksBelow(chainId, pruneBelow)
          await repos.monitor.setState(chainId, { version: commit.version, cursor: commit.cursor })
          return { ok: true as const, applied: fresh.length, duplicates }
        })
      } catch (err) {
        if (err instanceof VersionConflict) {
          return { ok: false, reason: 'version-conflict', storedVersion: err.storedVersion }
        }
        throw err
      }
      after?.()
      return outcome
    },
    async effects(chainId) {
      const rows = await storage.monitor.listEffects(chainId)
      return rows.map((r) => fromJson<MonitorEffect>(r.detail))
    },
    async records(chainId) {
      const rows = await storage.monitor.listRecords(chainId)
      return rows.map((r) => fromJson<LogRecord>(r))
    },
  }
}
