// Paying a quote on the PaymentProcessor with the buyer's wallet: the balance check, the choice of method
// (EIP-3009 when the quote carries `receiveWithAuthorization`, else EIP-2612 permit, else approve + pay), the
// transaction and its receipt, and the subscription id read from the PaymentReceived log.
import {
  BaseError,
  ContractFunctionRevertedError,
  parseEventLogs,
  parseSignature,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import { erc20Abi, paymentProcessorAbi } from './abi.ts'
import { InsufficientBalanceError, LitgateClientError, QuoteExpiredError } from './errors.ts'
import type { EventSink, PaymentMethod } from './events.ts'
import type { QuoteAnswer } from './wire.ts'

/** A viem wallet client with an account (local or JSON-RPC). */
export type LitgateWallet = WalletClient<Transport, Chain | undefined, Account>

export interface PaymentDeps {
  readonly wallet: LitgateWallet
  readonly publicClient: PublicClient
  readonly emit: EventSink
}

export interface PaymentResult {
  readonly method: PaymentMethod
  readonly txHash: Hex
  readonly blockNumber: bigint
  readonly subscriptionId: Hex
}

/** Throws InsufficientBalanceError when `payer` holds less than `required` of `token`. */
export async function checkBalance(
  deps: PaymentDeps,
  token: Address,
  payer: Address,
  required: bigint,
): Promise<bigint> {
  const balance = await deps.publicClient.readContract({
    address: token,
    abi: erc20Abi,
    functionName: 'balanceOf',
    args: [payer],
  })
  if (balance < required) throw new InsufficientBalanceError({ token, payer, required, balance })
  return balance
}

/** The first method of `allowed` (in the SDK's preference order) the quote supports. */
export function chooseMethod(answer: QuoteAnswer, allowed: readonly PaymentMethod[]): PaymentMethod {
  if (allowed.includes('authorization') && answer.receiveWithAuthorization !== undefined)
    return 'authorization'
  if (allowed.includes('permit') && answer.permit !== undefined) return 'permit'
  if (allowed.includes('approve')) return 'approve'
  throw new LitgateClientError(
    'PAYMENT_METHOD_UNAVAILABLE',
    `token ${answer.token} supports none of the allowed payment methods (${allowed.join(', ')})`,
  )
}

/** Seconds of chain time a quote must have left to be worth sending (mining and propagation). */
export const QUOTE_MARGIN_SECONDS = 15n

/** Whether the quote is (nearly) expired by the chain's own clock, which the contract uses. */
export async function isQuoteStale(deps: PaymentDeps, answer: QuoteAnswer): Promise<boolean> {
  const block = await deps.publicClient.getBlock({ blockTag: 'latest' })
  return block.timestamp + QUOTE_MARGIN_SECONDS >= BigInt(answer.quote.validUntil)
}

const quoteStruct = (a: QuoteAnswer) => ({
  quoteId: a.quote.quoteId,
  payer: a.quote.payer,
  beneficiary: a.quote.beneficiary,
  subscriptionId: a.quote.subscriptionId,
  token: a.quote.token,
  amount: BigInt(a.quote.amount),
  planId: Number(a.quote.planId),
  periods: Number(a.quote.periods),
  validUntil: BigInt(a.quote.validUntil),
})

/** Typed-data messages carry big integers as decimal strings: back to bigint for signing. */
const toUints = (m: Record<string, string>, keys: readonly string[]): Record<string, unknown> =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [k, keys.includes(k) ? BigInt(v) : v]))

async function signVrs(
  wallet: LitgateWallet,
  payload: NonNullable<QuoteAnswer['permit']>,
  primaryType: string,
  uints: readonly string[],
) {
  const { domain, types } = payload.typedData
  const message = toUints(payload.typedData.message, uints)
  const signature = await wallet.signTypedData({
    account: wallet.account,
    domain,
    types,
    primaryType,
    message,
  } as Parameters<LitgateWallet['signTypedData']>[0])
  const sig = parseSignature(signature)
  const v = sig.v ?? BigInt(sig.yParity + 27)
  return { message, v: Number(v), r: sig.r, s: sig.s }
}

/** Sends the payment for `answer` with `method`, waits for the receipt, and reads the subscription id. */
export async function payQuote(
  deps: PaymentDeps,
  answer: QuoteAnswer,
  method: PaymentMethod,
  timeoutMs: number,
): Promise<PaymentResult> {
  const { wallet, publicClient } = deps
  const quote = quoteStruct(answer)
  const contract = answer.contract
  const common = { address: contract, abi: paymentProcessorAbi, account: wallet.account, chain: wallet.chain }
  const wait = async (hash: Hex) => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: timeoutMs })
    if (receipt.status !== 'success')
      throw new LitgateClientError('PAYMENT_REVERTED', `transaction ${hash} reverted`)
    return receipt
  }
  try {
    let hash: Hex
    if (method === 'authorization') {
      const payload = answer.receiveWithAuthorization as NonNullable<QuoteAnswer['receiveWithAuthorization']>
      const { message, v, r, s } = await signVrs(wallet, payload, 'ReceiveWithAuthorization', [
        'value',
        'validAfter',
        'validBefore',
      ])
      hash = await wallet.writeContract({
        ...common,
        functionName: 'payWithAuthorization',
        args: [
          quote,
          answer.signature,
          message['validAfter'] as bigint,
          message['validBefore'] as bigint,
          v,
          r,
          s,
        ],
      })
    } else if (method === 'permit') {
      const payload = answer.permit as NonNullable<QuoteAnswer['permit']>
      const { message, v, r, s } = await signVrs(wallet, payload, 'Permit', ['value', 'nonce', 'deadline'])
      hash = await wallet.writeContract({
        ...common,
        functionName: 'payWithPermit',
        args: [quote, answer.signature, message['deadline'] as bigint, v, r, s],
      })
    } else {
      const allowance = await publicClient.readContract({
        address: quote.token,
        abi: erc20Abi,
        functionName: 'allowance',
        args: [wallet.account.address, contract],
      })
      if (allowance < quote.amount) {
        const approveHash = await wallet.writeContract({
          address: quote.token,
          abi: erc20Abi,
          functionName: 'approve',
          args: [contract, quote.amount],
          account: wallet.account,
          chain: wallet.chain,
        })
        const approved = await wait(approveHash)
        deps.emit({ type: 'approved', txHash: approveHash, blockNumber: approved.blockNumber })
      }
      hash = await wallet.writeContract({ ...common, functionName: 'pay', args: [quote, answer.signature] })
    }
    const receipt = await wait(hash)
    const [event] = parseEventLogs({
      abi: paymentProcessorAbi,
      logs: receipt.logs,
      eventName: 'PaymentReceived',
    })
    // The contract assigns the id (the quote digest for a new subscription); the log is authoritative.
    const subscriptionId = event?.args.subscriptionId ?? answer.digest
    return { method, txHash: hash, blockNumber: receipt.blockNumber, subscriptionId }
  } catch (err) {
    throw mapRevert(err, answer)
  }
}

/** A revert the SDK has a type for (QuoteExpired) becomes that type; anything else passes through. */
function mapRevert(err: unknown, answer: QuoteAnswer): unknown {
  if (!(err instanceof BaseError)) return err
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError)
  if (reverted instanceof ContractFunctionRevertedError && reverted.data?.errorName === 'QuoteExpired') {
    return new QuoteExpiredError({
      quoteId: answer.quoteId,
      validUntil: BigInt(answer.validUntil),
      cause: err,
    })
  }
  return err
}
