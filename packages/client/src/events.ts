// Observability: one event per step of a purchase and of the token's life, passed to `onEvent`. An observer
// that throws never breaks the flow.
import type { Address, Hex } from 'viem'

/** How a quote is paid: EIP-3009 receiveWithAuthorization, EIP-2612 permit, or approve + pay. */
export type PaymentMethod = 'authorization' | 'permit' | 'approve'

/** Everything the SDK reports while buying access and keeping a token. */
export type LitgateEvent =
  | { readonly type: 'payment-required'; readonly url: string; readonly plan: string }
  | {
      readonly type: 'quote'
      readonly quoteId: Hex
      readonly digest: Hex
      readonly token: Address
      readonly amount: bigint
      readonly validUntil: bigint
      /** The held subscription this quote renews (absent: a new subscription). */
      readonly renews?: Hex
    }
  | {
      /** The gateway would not quote a renewal of the lapsed subscription: a new one is bought instead. */
      readonly type: 'renewal-refused'
      readonly subscriptionId: Hex
      readonly reason: string
    }
  | { readonly type: 'approved'; readonly txHash: Hex; readonly blockNumber: bigint }
  | {
      readonly type: 'paid'
      readonly method: PaymentMethod
      readonly txHash: Hex
      readonly blockNumber: bigint
      readonly subscriptionId: Hex
      readonly digest: Hex
    }
  | { readonly type: 'activation-pending'; readonly subscriptionId: Hex; readonly attempt: number }
  | { readonly type: 'active'; readonly subscriptionId: Hex; readonly waitedMs: number }
  | {
      readonly type: 'token'
      readonly subscriptionId: Hex
      readonly reason: 'sign-in' | 'refresh'
      readonly expiresAtMs: number
    }
  | { readonly type: 'token-dropped'; readonly subscriptionId: Hex; readonly reason: string }
  | {
      readonly type: 'rate-limited'
      readonly url: string
      readonly attempt: number
      readonly retryAfterMs: number
    }
  | {
      readonly type: 'chain-unavailable'
      readonly url: string
      readonly attempt: number
      readonly retryAfterMs: number
    }

export type EventSink = (event: LitgateEvent) => void

/** Wraps a user observer so that its exceptions stay its own. */
export function safeSink(onEvent: EventSink | undefined): EventSink {
  if (onEvent === undefined) return () => {}
  return (event) => {
    try {
      onEvent(event)
    } catch {
      // an observer's failure is not the purchase's
    }
  }
}
