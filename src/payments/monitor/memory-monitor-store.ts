/**
 * In-memory {@link MonitorStore}: the reference implementation of the port's contract (one atomic,
 * version-checked, effect-key-idempotent `apply`) for tests and single-process use. The database store
 * implements the same contract in one SQL transaction (docs/payment-monitor.md, "MonitorStore").
 */
import type {
  ApplyOutcome,
  BlockPointer,
  BlockRef,
  LogRecord,
  MonitorCommit,
  MonitorEffect,
  MonitorState,
  MonitorStore,
} from './types.ts'

interface ChainRows {
  version: number
  cursor: BlockPointer | null
  blocks: BlockRef[]
  records: Map<string, LogRecord>
  effects: MonitorEffect[]
  effectKeys: Set<string>
}

export interface MemoryMonitorStore extends MonitorStore {
  /** Every effect applied, in order (each key once). */
  effects(chainId: number): readonly MonitorEffect[]
  /** Every record, settled ones included. */
  records(chainId: number): readonly LogRecord[]
}

export function createMemoryMonitorStore(): MemoryMonitorStore {
  const chains = new Map<number, ChainRows>()
  const rows = (chainId: number): ChainRows => {
    let r = chains.get(chainId)
    if (r === undefined) {
      r = { version: 0, cursor: null, blocks: [], records: new Map(), effects: [], effectKeys: new Set() }
      chains.set(chainId, r)
    }
    return r
  }
  return {
    async load(chainId: number): Promise<MonitorState> {
      await Promise.resolve()
      const r = rows(chainId)
      const records = new Map<string, LogRecord>()
      for (const rec of r.records.values()) if (!rec.settled) records.set(rec.key, rec)
      return { version: r.version, cursor: r.cursor, blocks: [...r.blocks], records }
    },
    async apply(chainId: number, commit: MonitorCommit): Promise<ApplyOutcome> {
      await Promise.resolve()
      // Everything below is synchronous: one transaction.
      const r = rows(chainId)
      if (r.version !== commit.expectedVersion) {
        return { ok: false, reason: 'version-conflict', storedVersion: r.version }
      }
      let applied = 0
      let duplicates = 0
      for (const e of commit.effects) {
        if (r.effectKeys.has(e.key)) {
          duplicates++
          continue
        }
        r.effectKeys.add(e.key)
        r.effects.push(e)
        applied++
      }
      for (const rec of commit.records) r.records.set(rec.key, rec)
      let blocks = r.blocks
      const { rewindFrom, append, pruneBelow } = commit.blocks
      if (rewindFrom !== null) blocks = blocks.filter((b) => b.number < rewindFrom)
      blocks = [...blocks, ...append]
      if (pruneBelow !== null) blocks = blocks.filter((b) => b.number >= pruneBelow)
      r.blocks = blocks
      r.cursor = commit.cursor
      r.version = commit.version
      return { ok: true, applied, duplicates }
    },
    effects: (chainId) => [...rows(chainId).effects],
    records: (chainId) => [...rows(chainId).records.values()],
  }
}
