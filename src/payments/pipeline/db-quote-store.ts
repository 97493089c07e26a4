/**
 * The database {@link QuoteStore}: quotes in the `quotes` table (schema v3), shared by every gateway
 * instance on one database and read by the payment monitor by EIP-712 digest (createDbQuoteLookup). So a
 * quote one instance issued is served by `GET {basePath}/quote/:id` on any other, and the monitor knows it
 * when the payment arrives. docs/storage.md "Quote store".
 *
 * - `insert`: ONE transaction — take the caps' advisory lock (`quotes.lockCaps`: another instance's
 *   check-then-insert waits until this one commits, so two instances never overshoot a cap), count the
 *   payer's and then all OPEN quotes unexpired at `now` (`validUntil > now`, counting stops at the cap),
 *   refuse as the memory store does (`payer-limit` before `global-limit`; Retry-After = when the
 *   earliest-expiring of the counted quotes expires, at least 1 s), else insert the row with the plan name
 *   and the answer. Paid quotes no longer count against the caps.
 * - `get`: an open or paid quote unexpired at `now` → the stored answer (rows from before v3 have none).
 * - `sweep`: deletes OPEN quotes only once `validUntil + retentionSeconds` has passed — the monitor needs
 *   the row to match a payment made just before expiry but processed late (downtime, `finalized`
 *   confirmations) — and never a paid one; at most `sweepBatchSize` rows per DELETE and `maxSweepBatches`
 *   DELETEs per call (the rest goes at the next call). Call it on a timer.
 * - `size()` stays synchronous (the port's contract): it is the LAST KNOWN number of open unexpired quotes
 *   in the database (all instances), refreshed by each `insert` (from the count taken under the lock) and
 *   each `sweep` of this instance; 0 until the first one.
 * The monitor marks a quote `paid` (open → paid) in its own transaction when it records a payment that
 * matches it (createEffectConsumer). Database failures are GatewayError `STORAGE_UNAVAILABLE` (the quote
 * endpoints answer 503 with Retry-After).
 */
import { getAddress, type Hex } from 'viem'
import { GatewayError, isGatewayError } from '../../errors/index.ts'
import type { QuoteRecord, Storage } from '../../storage/index.ts'
import type { InsertOutcome, QuoteStore, StoredQuote } from '../quote-store.ts'

/** Seven days: an expired open quote is kept this long past its `validUntil` by default. */
export const DEFAULT_QUOTE_RETENTION_SECONDS = 7 * 86_400
const RETENTION_RANGE = [3_600, 366 * 86_400] as const

export interface DbQuoteStoreOptions {
  /**
   * How long an open quote is kept after its `validUntil`, in seconds (default 7 days, from 1 hour to 366
   * days). Keep it longer than the payment monitor may lag behind the chain: a payment for a quote deleted
   * already is recorded `unknown-quote` and never activates.
   */
  readonly retentionSeconds?: number
  /** Most rows one DELETE of a sweep removes (default 500, from 1 to 10 000). */
  readonly sweepBatchSize?: number
  /** Most DELETEs one `sweep` call runs (default 20, from 1 to 1 000). */
  readonly maxSweepBatches?: number
}

function bounded(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new RangeError(
      `db quote store ${name} must be an integer from ${min} to ${max}, got ${String(value)}`,
    )
  return value
}

/** Runs one database call; anything but a GatewayError becomes STORAGE_UNAVAILABLE (cause kept). */
async function storageCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (isGatewayError(err)) throw err
    throw new GatewayError('STORAGE_UNAVAILABLE', `quote store ${what} failed: ${(err as Error).message}`, {
      cause: err,
    })
  }
}

const lower = (hex: string): Hex => hex.toLowerCase() as Hex
const secondsUntil = (at: bigint | null, now: bigint): number =>
  at === null ? 1 : Math.max(1, Number(at - now))

function toStored(r: QuoteRecord, plan: string, answer: string): StoredQuote {
  return {
    quoteId: r.id,
    digest: r.digest,
    payer: getAddress(r.payer),
    beneficiary: getAddress(r.beneficiary),
    subscriptionId: r.subscriptionId,
    token: getAddress(r.token),
    amount: r.amount,
    planId: r.planId,
    periods: r.periods,
    validUntil: r.validUntil,
    signature: r.signature,
    plan,
    answer: JSON.parse(answer) as Record<string, unknown>,
  }
}

export function createDbQuoteStore(
  storage: Pick<Storage, 'transaction' | 'quotes'>,
  options: DbQuoteStoreOptions = {},
): QuoteStore {
  const retention = BigInt(
    bounded(
      'retentionSeconds',
      options.retentionSeconds ?? DEFAULT_QUOTE_RETENTION_SECONDS,
      ...RETENTION_RANGE,
    ),
  )
  const batch = bounded('sweepBatchSize', options.sweepBatchSize ?? 500, 1, 10_000)
  const maxBatches = bounded('maxSweepBatches', options.maxSweepBatches ?? 20, 1, 1_000)
  let openCount = 0

  return {
    async insert(quote, limits, now) {
      const result = await storageCall('insert', () =>
        storage.transaction(async (repos) => {
          await repos.quotes.lockCaps()
          const mine = await repos.quotes.openQuotes(now, {
            payer: lower(quote.payer),
            upTo: limits.maxOpenPerPayer,
          })
          const all = await repos.quotes.openQuotes(now, { upTo: limits.maxOpen })
          let outcome: InsertOutcome
          if (mine.count >= limits.maxOpenPerPayer) {
            outcome = {
              ok: false,
              reason: 'payer-limit',
              retryAfterSeconds: secondsUntil(mine.earliestValidUntil, now),
            }
          } else if (all.count >= limits.maxOpen) {
            outcome = {
              ok: false,
              reason: 'global-limit',
              retryAfterSeconds: secondsUntil(all.earliestValidUntil, now),
            }
          } else {
            const written = await repos.quotes.insert({
              id: quote.quoteId,
              payer: lower(quote.payer),
              beneficiary: lower(quote.beneficiary),
              subscriptionId: quote.subscriptionId,
              token: lower(quote.token),
              amount: quote.amount,
              planId: quote.planId,
              periods: quote.periods,
              validUntil: quote.validUntil,
              digest: quote.digest,
              signature: quote.signature,
              plan: quote.plan,
              answer: JSON.stringify(quote.answer),
            })
            if (!written) return { duplicate: true as const, open: all.count }
            outcome = { ok: true }
          }
          return { outcome, open: all.count + (outcome.ok ? 1 : 0) }
        }),
      )
      openCount = result.open
      // 32 random bytes collided, or a caller inserted the same quote twice: a bug, never a client error.
      if ('duplicate' in result) throw new Error(`invariant: quote ${quote.quoteId} (or its digest) exists`)
      return result.outcome
    },
    async get(quoteId, now) {
      const r = await storageCall('get', () => storage.quotes.get(quoteId))
      if (r === undefined || r.plan === null || r.answer === null) return undefined
      if ((r.state !== 'open' && r.state !== 'paid') || r.validUntil <= now) return undefined
      return toStored(r, r.plan, r.answer)
    },
    async sweep(now) {
      const cutoff = now - retention
      let removed = 0
      for (let i = 0; i < maxBatches; i++) {
        const n = await storageCall('sweep', () => storage.quotes.sweepExpired(cutoff, batch))
        removed += n
        if (n < batch) break
      }
      openCount = (await storageCall('count', () => storage.quotes.openQuotes(now))).count
      return removed
    },
    size: () => openCount,
  }
}
