// The SDK's typed errors. Callers branch on the class (or `code`), never on message text. Messages name
// addresses, amounts, ids and HTTP statuses; never a token, refresh token or signature.
import type { Address, Hex } from 'viem'

/** Base of every error the SDK throws itself (viem's own errors pass through as they are). */
export class LitgateClientError extends Error {
  /** Stable machine-readable reason. */
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** The payer's token balance is below the amount due; nothing was quoted or paid. */
export class InsufficientBalanceError extends LitgateClientError {
  readonly token: Address
  readonly payer: Address
  readonly required: bigint
  readonly balance: bigint
  constructor(args: { token: Address; payer: Address; required: bigint; balance: bigint }) {
    super(
      'INSUFFICIENT_BALANCE',
      `payer ${args.payer} holds ${args.balance} of token ${args.token}, ${args.required} needed`,
    )
    this.token = args.token
    this.payer = args.payer
    this.required = args.required
    this.balance = args.balance
  }
}

/** The quote expired (by chain time) before it could be paid, after one fresh quote was tried. */
export class QuoteExpiredError extends LitgateClientError {
  readonly quoteId: Hex
  readonly validUntil: bigint
  constructor(args: { quoteId: Hex; validUntil: bigint; cause?: unknown }) {
    super('QUOTE_EXPIRED', `quote ${args.quoteId} expired (valid until ${args.validUntil})`, {
      cause: args.cause,
    })
    this.quoteId = args.quoteId
    this.validUntil = args.validUntil
  }
}

/** The gateway kept answering 503 CHAIN_UNAVAILABLE after the bounded retries. */
export class ChainUnavailableError extends LitgateClientError {
  /** Requests made, the first included. */
  readonly attempts: number
  /** The last Retry-After the gateway sent, in milliseconds (undefined when absent). */
  readonly retryAfterMs: number | undefined
  readonly requestId: string | undefined
  constructor(args: { url: string; attempts: number; retryAfterMs: number | undefined; requestId?: string }) {
    super(
      'CHAIN_UNAVAILABLE',
      `${args.url}: the gateway cannot reach its chain (503 CHAIN_UNAVAILABLE, ${args.attempts} attempts)`,
    )
    this.attempts = args.attempts
    this.retryAfterMs = args.retryAfterMs
    this.requestId = args.requestId
  }
}

/** The payment was mined but the gateway did not grant a token before `activationTimeoutMs`. */
export class PaymentNotConfirmedError extends LitgateClientError {
  readonly subscriptionId: Hex
  readonly txHash: Hex | undefined
  readonly waitedMs: number
  constructor(args: { subscriptionId: Hex; txHash: Hex | undefined; waitedMs: number }) {
    super(
      'PAYMENT_NOT_CONFIRMED',
      `subscription ${args.subscriptionId} not active after ${args.waitedMs} ms` +
        (args.txHash === undefined ? '' : ` (payment ${args.txHash})`),
    )
    this.subscriptionId = args.subscriptionId
    this.txHash = args.txHash
    this.waitedMs = args.waitedMs
  }
}

/** An RFC 9457 problem (or an unexpected status) from the gateway's own endpoints. */
export class LitgateHttpError extends LitgateClientError {
  readonly status: number
  readonly url: string
  readonly requestId: string | undefined
  readonly detail: string | undefined
  constructor(args: { status: number; url: string; code?: string; detail?: string; requestId?: string }) {
    const code = args.code ?? `HTTP_${args.status}`
    super(code, `${args.url}: ${args.status} ${code}${args.detail === undefined ? '' : `: ${args.detail}`}`)
    this.status = args.status
    this.url = args.url
    this.requestId = args.requestId
    this.detail = args.detail
  }
}
