/**
 * Where issued quotes live until they expire. A port with two implementations:
 * - `createMemoryQuoteStore` (here): bounded, in memory, one instance (tests, a single gateway);
 * - `createDbQuoteStore` (src/payments/pipeline/db-quote-store.ts): the `quotes` table, shared by every
 *   gateway instance on one database and read by the payment monitor (docs/storage.md "Quote store").
 * Bounded: `insert` refuses beyond the per-payer and global caps of open quotes unexpired at `now`.
 */
import type { Address, Hex } from 'viem'

/**
 * One issued quote: the signed `Quote` struct's fields (quote.ts; the database row the payment monitor
 * matches payments against), its EIP-712 digest and signature, the plan's name and the answer served.
 */
export interface StoredQuote {
  readonly quoteId: Hex
  readonly digest: Hex
  readonly payer: Address
  /** `address(0)` when the payer receives the access. */
  readonly beneficiary: Address
  /** `0x0…0` for a new subscription, else the one renewed. */
  readonly subscriptionId: Hex
  readonly token: Address
  readonly amount: bigint
  /** The plan's on-chain id. */
  readonly planId: number
  readonly periods: number
  /** Chain seconds. */
  readonly validUntil: bigint
  /** The quote signer's EIP-712 signature (65 bytes). */
  readonly signature: Hex
  /** The plan's name. */
  readonly plan: string
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

/**
 * A quote is unexpired at `now` (chain seconds) while `validUntil > now`. A refusal's `retryAfterSeconds` is
 * when the earliest-expiring quote counted against that cap expires (at least 1).
 */
export interface QuoteStore {
  /** Atomically: check the caps of open quotes unexpired at `now`, insert. */
  insert(quote: StoredQuote, limits: QuoteLimits, now: bigint): Promise<InsertOutcome>
  /** The quote if it exists and is unexpired at `now` (open, or already paid). */
  get(quoteId: Hex, now: bigint): Promise<StoredQuote | undefined>
  /** Removes quotes that may go at `now` (memory: expired; database: see its retention); returns how many. */
  sweep(now: bigint): Promise<number>
  /** Unexpired open quotes held (for metrics and tests); the database store's is the last known count. */
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
