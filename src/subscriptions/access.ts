/**
 * The request-path access decision (pure, allocation-free) and the small bounded LRU cache of
 * subscriptions by id it reads, filled from the store.
 */
import type { SubscriptionStore } from './subscription-store.ts'
import type { Bytes32, SubscriptionRecord } from './types.ts'

export interface AccessOptions {
  /** Extra time after `end` while the chain is unreachable (degraded mode); 0 by default. Never applies while healthy. */
  readonly graceMs: number
  /** Whether the chain client is reachable (its state is not `down`). */
  readonly chainHealthy: boolean
}

/**
 * Whether `sub` grants access at `nowMs` (wall-clock milliseconds, the request path's approximation of
 * chain time): on chain as live or cancelled, no operator hold, and `start <= now < end` — or, only while
 * the chain is unreachable, `now < end + graceMs`. The end is never moved by anything else here.
 */
export function isAccessAllowed(
  sub: SubscriptionRecord | undefined,
  nowMs: number,
  options: AccessOptions,
): boolean {
  if (sub === undefined || sub.operatorHold !== null) return false
  if (sub.chainStatus !== 'live' && sub.chainStatus !== 'cancelled') return false
  if (nowMs < sub.startSec * 1000) return false
  const endMs = sub.endSec * 1000 + (options.chainHealthy ? 0 : Math.max(0, options.graceMs))
  return nowMs < endMs
}

export interface SubscriptionCacheOptions {
  /** Most rows held (least recently used evicted first). */
  readonly maxEntries: number
  /**
   * `get` re-reads a row from the store once its cached copy is older than this (default 1,000 ms): with
   * several instances on one database, another instance's monitor may have changed it. `peek` (the hot
   * path) serves what is cached; `set` (this instance's own changes) refreshes the age.
   */
  readonly maxAgeMs?: number
}

export interface SubscriptionCache {
  /** The cached row (refreshing its recency), or undefined when not cached. */
  peek(id: Bytes32): SubscriptionRecord | undefined
  /**
   * The cached row only while it is younger than `maxAgeMs` (else undefined: read through with `get`). The
   * request path's access decisions use this, so another instance's change reaches them within `maxAgeMs`.
   */
  fresh(id: Bytes32): SubscriptionRecord | undefined
  /** The cached row, else the store's (then cached); undefined when the store has none either. */
  get(id: Bytes32): Promise<SubscriptionRecord | undefined>
  /** Puts a fresh row (the ledger's onChange). Older versions never replace newer ones. */
  set(row: SubscriptionRecord): void
  delete(id: Bytes32): void
  readonly size: number
  /** Lookups answered from memory / from the store since creation. */
  stats(): { readonly hits: number; readonly misses: number }
}

export function createSubscriptionCache(
  options: SubscriptionCacheOptions,
  deps: { readonly store: Pick<SubscriptionStore, 'get'>; readonly nowMs?: () => number },
): SubscriptionCache {
  if (!Number.isInteger(options.maxEntries) || options.maxEntries < 1)
    throw new Error(
      `subscription cache maxEntries must be a positive integer, got ${String(options.maxEntries)}`,
    )
  const maxAgeMs = options.maxAgeMs ?? 1_000
  const nowMs = deps.nowMs ?? Date.now
  // A Map iterates in insertion order: delete + set moves an entry to the most recent end.
  const rows = new Map<Bytes32, SubscriptionRecord>()
  /** When each cached row was last read from the store or set (ms). */
  const readAt = new Map<Bytes32, number>()
  let hits = 0
  let misses = 0
  const put = (row: SubscriptionRecord): void => {
    const cur = rows.get(row.id)
    if (cur !== undefined && cur.version > row.version) return
    rows.delete(row.id)
    rows.set(row.id, row)
    readAt.set(row.id, nowMs())
    if (rows.size > options.maxEntries) {
      const oldest = rows.keys().next()
      if (oldest.done !== true) {
        rows.delete(oldest.value)
        readAt.delete(oldest.value)
      }
    }
  }
  const peek = (id: Bytes32): SubscriptionRecord | undefined => {
    const row = rows.get(id)
    if (row === undefined) return undefined
    rows.delete(id)
    rows.set(id, row)
    return row
  }
  const drop = (id: Bytes32): void => {
    rows.delete(id)
    readAt.delete(id)
  }
  return {
    peek,
    fresh(id) {
      const at = readAt.get(id)
      return at === undefined || nowMs() - at > maxAgeMs ? undefined : peek(id)
    },
    async get(id) {
      const cached = peek(id)
      if (cached !== undefined && nowMs() - (readAt.get(id) ?? 0) <= maxAgeMs) {
        hits++
        return cached
      }
      misses++
      const row = await deps.store.get(id)
      if (row !== undefined) put(row)
      else if (cached !== undefined) drop(id)
      return row === undefined ? undefined : (rows.get(id) ?? row)
    },
    set: put,
    delete: drop,
    get size() {
      return rows.size
    },
    stats: () => ({ hits, misses }),
  }
}
