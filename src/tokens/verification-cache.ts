/**
 * The edge's verification cache: a bounded LRU of verified access tokens keyed by SHA-256 of the token
 * (the token itself is never kept as a key), each entry dying at the token's `exp`. A hit costs one hash
 * and one Map lookup instead of an Ed25519 verification.
 */
import { createHash } from 'node:crypto'

/** SHA-256 of a token, base64url: the cache key (and the refresh-token hash uses the hex form). */
export function tokenKey(token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

export interface VerificationCache<T> {
  /** The entry of `key` while `nowMs` < its expiry (refreshing its recency); an expired one is dropped. */
  get(key: string, nowMs: number): T | undefined
  /** Stores `value` until `expiresAtMs`; the least recently used entry goes when full. */
  set(key: string, value: T, expiresAtMs: number): void
  delete(key: string): void
  readonly size: number
}

export function createVerificationCache<T>(maxEntries: number): VerificationCache<T> {
  if (!Number.isInteger(maxEntries) || maxEntries < 1)
    throw new Error(`verification cache maxEntries must be a positive integer, got ${String(maxEntries)}`)
  // A Map iterates in insertion order: delete + set moves an entry to the most recent end.
  const entries = new Map<string, { readonly value: T; readonly expiresAtMs: number }>()
  return {
    get(key, nowMs) {
      const entry = entries.get(key)
      if (entry === undefined) return undefined
      entries.delete(key)
      if (entry.expiresAtMs <= nowMs) return undefined
      entries.set(key, entry)
      return entry.value
    },
    set(key, value, expiresAtMs) {
      entries.delete(key)
      entries.set(key, { value, expiresAtMs })
      if (entries.size > maxEntries) {
        const oldest = entries.keys().next()
        if (oldest.done !== true) entries.delete(oldest.value)
      }
    },
    delete: (key) => void entries.delete(key),
    get size() {
      return entries.size
    },
  }
}
