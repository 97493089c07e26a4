/**
 * The database {@link QuoteLookup}: the quotes table (written by the quote service) read by EIP-712 digest.
 * A digest without a row answers null (the payment becomes `unknown-quote`). Read only.
 */
import type { QuoteRepository } from '../../storage/index.ts'
import type { Address, ExpectedQuote, Hex, QuoteLookup } from '../monitor/index.ts'

export function createDbQuoteLookup(quotes: Pick<QuoteRepository, 'getByDigest'>): QuoteLookup {
  return {
    async byDigests(digests) {
      const out = new Map<Hex, ExpectedQuote | null>()
      for (const digest of new Set(digests)) {
        const q = await quotes.getByDigest(digest)
        out.set(
          digest,
          q === undefined
            ? null
            : {
                payer: q.payer.toLowerCase() as Address,
                amount: q.amount,
                planId: q.planId,
                token: q.token.toLowerCase() as Address,
              },
        )
      }
      return out
    },
  }
}
