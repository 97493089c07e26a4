/**
 * Quote terms and signing. `buildQuote` is pure: the Quote struct exactly as PaymentProcessor verifies it
 * (EIP-712, domain version "2"), plus the ready-to-sign payloads a wallet needs for each pay path. The id is
 * 32 injected random bytes; `validUntil` = chain time + TTL; the amount is the plan's price × periods, so equal
 * inputs at one price version give equal terms.
 */
import { hashTypedData, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { permitTypes, quoteDomain, quoteTypes, receiveWithAuthorizationTypes } from '../contracts/index.ts'
import type { CompiledPlan } from './plans.ts'

export const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000' as Address
export const ZERO_ID = `0x${'00'.repeat(32)}` as Hex

/** The Solidity `Quote` struct (PaymentProcessorBase.QUOTE_TYPEHASH). */
export interface Quote {
  readonly quoteId: Hex
  readonly payer: Address
  readonly beneficiary: Address
  readonly subscriptionId: Hex
  readonly token: Address
  readonly amount: bigint
  readonly planId: number
  readonly periods: number
  readonly validUntil: bigint
}

/** A token's EIP-712 domain as its `eip712Domain()` reports it (read once at start). */
export interface TokenDomain {
  readonly name: string
  readonly version: string
  readonly chainId: number
  readonly verifyingContract: Address
}

/** What the token supports, read at start. */
export interface TokenInfo {
  readonly address: Address
  readonly domain: TokenDomain | undefined
  /** ERC-20 `decimals()` (undefined when the token has none). */
  readonly decimals: number | undefined
  readonly supportsPermit: boolean
  readonly supportsAuthorization: boolean
}

export interface QuoteInputs {
  readonly plan: CompiledPlan
  readonly periods: number
  readonly payer: Address
  readonly token: Address
  /** Who receives access (default: the payer). */
  readonly beneficiary?: Address
  /** Renewal / plan change of this subscription; absent = a new subscription. */
  readonly subscriptionId?: Hex
  /** Chain time (latest block timestamp), seconds. */
  readonly now: bigint
  readonly ttlSeconds: number
  readonly priceVersion: string
  readonly chainId: number
  readonly contract: Address
  /** 32 random bytes (injected). */
  readonly quoteId: Hex
  /**
   * The contract's due amount for this quote at signing time (`previewQuote`), for renewals and plan changes:
   * the amount is never below it.
   */
  readonly amountAtLeast?: bigint
}

export interface QuoteTerms {
  readonly quote: Quote
  readonly priceVersion: string
  readonly domain: ReturnType<typeof quoteDomain>
  /** The EIP-712 digest: the id of the subscription a creation quote opens. */
  readonly digest: Hex
}

/** Thrown by buildQuote on inputs the caller should have refused (a broken invariant, not client input). */
export class QuoteInputError extends Error {}

/** Builds the terms (pure). */
export function buildQuote(inputs: QuoteInputs): QuoteTerms {
  const price = inputs.plan.prices.get(inputs.token.toLowerCase())
  if (price === undefined)
    throw new QuoteInputError(`plan ${inputs.plan.name} has no price in ${inputs.token}`)
  if (!Number.isInteger(inputs.periods) || inputs.periods < 1 || inputs.periods > 0xffff_ffff)
    throw new QuoteInputError(`periods must be a positive uint32, got ${inputs.periods}`)
  if (!/^0x[0-9a-fA-F]{64}$/.test(inputs.quoteId)) throw new QuoteInputError('quoteId must be 32 bytes')
  const quote: Quote = Object.freeze({
    quoteId: inputs.quoteId,
    payer: inputs.payer,
    beneficiary:
      inputs.beneficiary === undefined || inputs.beneficiary.toLowerCase() === inputs.payer.toLowerCase()
        ? ZERO_ADDRESS
        : inputs.beneficiary,
    subscriptionId: inputs.subscriptionId ?? ZERO_ID,
    token: price.token,
    amount:
      inputs.amountAtLeast !== undefined && inputs.amountAtLeast > price.amount * BigInt(inputs.periods)
        ? inputs.amountAtLeast
        : price.amount * BigInt(inputs.periods),
    planId: inputs.plan.planId,
    periods: inputs.periods,
    validUntil: inputs.now + BigInt(inputs.ttlSeconds),
  })
  const domain = quoteDomain(inputs.chainId, inputs.contract)
  const digest = hashTypedData({ domain, types: quoteTypes, primaryType: 'Quote', message: quote })
  return Object.freeze({ quote, priceVersion: inputs.priceVersion, domain, digest })
}

/** Signs quotes with the quote-signer key (never logged; the account object holds it). */
export interface QuoteSigner {
  readonly address: Address
  sign(terms: QuoteTerms): Promise<Hex>
}

export function createQuoteSigner(privateKey: Hex): QuoteSigner {
  const account = privateKeyToAccount(privateKey)
  return Object.freeze({
    address: account.address,
    sign: (terms: QuoteTerms) =>
      account.signTypedData({
        domain: terms.domain,
        types: quoteTypes,
        primaryType: 'Quote',
        message: terms.quote,
      }),
  })
}

/** JSON-safe view of a bigint-carrying structure (bigints as decimal strings). */
function jsonSafe<T>(value: T): unknown {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))
}

/**
 * The quote answer: everything a wallet needs. bigints are decimal strings. `permit` needs the payer's
 * current EIP-2612 nonce on the token (read by the caller); either payload is omitted when the token does
 * not support it.
 */
export function quoteAnswer(
  terms: QuoteTerms,
  signature: Hex,
  token: TokenInfo | undefined,
  extras: { readonly plan: string; readonly permitNonce?: bigint },
): Record<string, unknown> {
  const { quote, domain } = terms
  const contract = domain.verifyingContract
  const tokenDomain = token?.domain
  const permit =
    token?.supportsPermit === true && tokenDomain !== undefined && extras.permitNonce !== undefined
      ? {
          function: 'payWithPermit(quote, signature, deadline, v, r, s)',
          typedData: {
            domain: tokenDomain,
            types: permitTypes,
            primaryType: 'Permit',
            message: {
              owner: quote.payer,
              spender: contract,
              value: quote.amount,
              nonce: extras.permitNonce,
              deadline: quote.validUntil,
            },
          },
        }
      : undefined
  const authorization =
    token?.supportsAuthorization === true && tokenDomain !== undefined
      ? {
          function: 'payWithAuthorization(quote, signature, validAfter, validBefore, v, r, s)',
          typedData: {
            domain: tokenDomain,
            types: receiveWithAuthorizationTypes,
            primaryType: 'ReceiveWithAuthorization',
            message: {
              from: quote.payer,
              to: contract,
              value: quote.amount,
              validAfter: 0n,
              validBefore: quote.validUntil,
              nonce: terms.digest,
            },
          },
        }
      : undefined
  return jsonSafe({
    quoteId: quote.quoteId,
    digest: terms.digest,
    plan: extras.plan,
    priceVersion: terms.priceVersion,
    chainId: domain.chainId,
    contract,
    token: quote.token,
    amount: quote.amount,
    validUntil: quote.validUntil,
    quote,
    signature,
    typedData: { domain, types: quoteTypes, primaryType: 'Quote', message: quote },
    pay: {
      approve: { token: quote.token, spender: contract, amount: quote.amount },
      function: 'pay(quote, signature)',
    },
    ...(permit === undefined ? {} : { permit }),
    ...(authorization === undefined ? {} : { receiveWithAuthorization: authorization }),
  }) as Record<string, unknown>
}
