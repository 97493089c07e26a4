/**
 * Where issued quotes live until they expire. A port: the storage engineer provides the database
 * implementation; `createMemoryQuoteStore` is the bounded in-memory one (tests, single instance).
 * Bounded: `insert` refuses beyond the per-payer and global caps of unexpired quotes, and sweeps expired rows
 * first.
 */
import type { Address, Hex } from 'viem'

export interface StoredQuote {
  readonly quoteId: Hex
  readonly digest: Hex
  readonly payer: Address
  readonly plan: string
  /** Chain seconds. */
  readonly validUntil: bigint
  /** The full answer served by `GET {base}/quote/:id` (JSON-safe). */
  readonly answer: Readonly<Record<string, unknown>>
}

export interface QuoteLimits {
  readonly maxOpenPerPayer: number
  readonly maxOpen: number
}

export type InsertOutcome =
  | { readonly ok: true }
  | {
      readonly ok: false
      readonly reason: 'payer-limit' | 'global-limit'
      readonly retryAfterSeconds: number
    }

export interface QuoteStore {
  /** Atomically: sweep quotes expired at `now`, check the caps, insert. */
  insert(quote: StoredQuote, limits: QuoteLimits, now: bigint): Promise<InsertOutcome>
  /** The quote if it exists and is unexpired at `now`. */
  get(quoteId: Hex, now: bigint): Promise<StoredQuote | undefined>
  /** Removes quotes expired at `now`; returns how many. */
  sweep(now: bigint): Promise<number>
  /** Unexpired quotes held (for metrics and tests). */
  size(): number
}

export function createMemoryQuoteStore(): QuoteStore {
  const byId = new Map<string, StoredQuote>()
  const perPayer = new Map<string, StoredQuote[]>()
  // TTL is fixed per process (restart-bound), so insertion order is (nearly) expiry order: sweep from the
  // head; a row out of order is still refused by `get` once expired and swept when it reaches the head.
  let queue: StoredQuote[] = []
  let head = 0

  const remove = (q: StoredQuote): void => {
    if (byId.get(q.quoteId.toLowerCase()) !== q) return
    byId.delete(q.quoteId.toLowerCase())
    const key = q.payer.toLowerCase()
    const list = perPayer.get(key)?.filter((x) => x !== q) ?? []
    if (list.length === 0) perPayer.delete(key)
    else perPayer.set(key, list)
  }

  const sweepSync = (now: bigint): number => {
    let n = 0
    while (head < queue.length && (queue[head] as StoredQuote).validUntil <= now) {
      const q = queue[head++] as StoredQuote
      if (byId.get(q.quoteId.toLowerCase()) === q) n++
      remove(q)
    }
    if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head)
      head = 0
    }
    return n
  }

  const secondsUntil = (at: bigint, now: bigint): number => Math.max(1, Number(at - now))

  return {
    insert(quote, limits, now) {
      sweepSync(now)
      const payer = perPayer.get(quote.payer.toLowerCase()) ?? []
      if (payer.length >= limits.maxOpenPerPayer) {
        const oldest = payer.reduce((a, b) => (a.validUntil < b.validUntil ? a : b))
        return Promise.resolve({
          ok: false,
          reason: 'payer-limit',
          retryAfterSeconds: secondsUntil(oldest.validUntil, now),
        })
      }
      if (byId.size >= limits.maxOpen) {
        const next = queue[head]
        return Promise.resolve({
          ok: false,
          reason: 'global-limit',
          retryAfterSeconds: next === undefined ? 1 : secondsUntil(next.validUntil, now),
        })
      }
      byId.set(quote.quoteId.toLowerCase(), quote)
      perPayer.set(quote.payer.toLowerCase(), [...payer, quote])
      queue.push(quote)
      return Promise.resolve({ ok: true })
    },
    get(quoteId, now) {
      const q = byId.get(quoteId.toLowerCase())
      return Promise.resolve(q !== undefined && q.validUntil > now ? q : undefined)
    },
    sweep(now) {
      return Promise.resolve(sweepSync(now))
    },
    size: () => byId.size,
  }
}
