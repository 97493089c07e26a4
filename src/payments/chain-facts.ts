/**
 * Reads what the paid layer needs from the chain through the chain client's cross-checked
 * `verifiedCall` (docs/blockchain.md "Chain trust"): the PaymentProcessor's plans, sales, token listing and
 * quote signer, each token's EIP-712 domain and capabilities, a payer's permit nonce, and chain time.
 */
import { decodeFunctionResult, encodeFunctionData, type Abi, type Address, type Hex } from 'viem'
import { paymentProcessorAbi, testUsdcAbi } from '../contracts/index.ts'
import { isGatewayError } from '../errors/index.ts'
import { saleKey, type PlanCatalog, type PlanChainFacts } from './plans.ts'
import type { Quote, TokenInfo } from './quote.ts'

/** The slice of the chain client's RpcClient this module uses (`chain.rpc` satisfies it). */
export interface PaymentChainPort {
  verifiedCall(call: { readonly to: Address; readonly data: Hex }): Promise<Hex>
  request<T = unknown>(method: string, params?: readonly unknown[]): Promise<T>
}

async function call<T>(
  rpc: PaymentChainPort,
  to: Address,
  abi: Abi,
  functionName: string,
  args: readonly unknown[] = [],
): Promise<T> {
  const data = encodeFunctionData({ abi, functionName, args } as never)
  const result = await rpc.verifiedCall({ to, data })
  return decodeFunctionResult({ abi, functionName, data: result } as never) as T
}

/** A call that reverts (CHAIN_RPC_ERROR: the node answered, the contract said no) yields undefined. */
async function optional<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p
  } catch (err) {
    if (isGatewayError(err) && err.code === 'CHAIN_RPC_ERROR') return undefined
    throw err
  }
}

const pp = paymentProcessorAbi as Abi
const erc20 = testUsdcAbi as Abi

/** The facts checkPlansAgainstChain needs, for every plan and token of `catalog`. */
export async function readPlanFacts(
  rpc: PaymentChainPort,
  contract: Address,
  catalog: PlanCatalog,
): Promise<PlanChainFacts> {
  const config = await call<{ quoteSigner: Address }>(rpc, contract, pp, 'config')
  const planCount = await call<number>(rpc, contract, pp, 'planCount')
  const planPeriods = new Map<number, number>()
  const sales = new Map<string, { price: bigint; onSale: boolean }>()
  const listed = new Map<string, boolean>()
  for (const [key, token] of catalog.tokens) {
    const account = await call<{ listed: boolean }>(rpc, contract, pp, 'tokenAccount', [token])
    listed.set(key, account.listed)
  }
  for (const plan of catalog.plans.values()) {
    if (plan.planId > planCount) continue
    const onChain = await call<{ periodSeconds: number }>(rpc, contract, pp, 'getPlan', [plan.planId])
    planPeriods.set(plan.planId, onChain.periodSeconds)
    for (const [key, price] of plan.prices) {
      const sale = await call<{ price: bigint; onSale: boolean }>(rpc, contract, pp, 'sale', [
        plan.planId,
        price.token,
      ])
      sales.set(saleKey(plan.planId, key), { price: sale.price, onSale: sale.onSale })
    }
  }
  return { quoteSigner: config.quoteSigner, planPeriods, sales, listed }
}

/** A token's EIP-712 domain (ERC-5267 `eip712Domain()`) and whether it has EIP-2612 permit and EIP-3009. */
export async function readTokenInfo(rpc: PaymentChainPort, token: Address): Promise<TokenInfo> {
  const domain = await optional(
    call<readonly [Hex, string, string, bigint, Address, Hex, readonly bigint[]]>(
      rpc,
      token,
      erc20,
      'eip712Domain',
    ),
  )
  const zero = '0x0000000000000000000000000000000000000000'
  const nonce = await optional(call<bigint>(rpc, token, erc20, 'nonces', [zero]))
  const state = await optional(
    call<boolean>(rpc, token, erc20, 'authorizationState', [zero, `0x${'00'.repeat(32)}`]),
  )
  const decimals = await optional(call<number>(rpc, token, erc20, 'decimals'))
  return Object.freeze({
    address: token,
    decimals,
    domain:
      domain === undefined
        ? undefined
        : Object.freeze({
            name: domain[1],
            version: domain[2],
            chainId: Number(domain[3]),
            verifyingContract: domain[4],
          }),
    supportsPermit: domain !== undefined && nonce !== undefined,
    supportsAuthorization: domain !== undefined && state !== undefined,
  })
}

/** The payer's next EIP-2612 nonce on `token`. */
export function readPermitNonce(rpc: PaymentChainPort, token: Address, owner: Address): Promise<bigint> {
  return call<bigint>(rpc, token, erc20, 'nonces', [owner])
}

/**
 * Chain time: the latest block's timestamp (seconds). One endpoint's word is enough here (a quote's expiry
 * is enforced by the contract on its own clock), but it is clamped to the local clock ± `maxSkewSeconds` so
 * one lying endpoint cannot mint quotes valid for days.
 */
export async function readChainTime(
  rpc: PaymentChainPort,
  wallSeconds: number,
  maxSkewSeconds = 300,
): Promise<bigint> {
  const block = await rpc.request<{ timestamp: Hex } | null>('eth_getBlockByNumber', ['latest', false])
  const wall = BigInt(Math.floor(wallSeconds))
  const skew = BigInt(maxSkewSeconds)
  if (block === null) return wall
  const t = BigInt(block.timestamp)
  return t > wall + skew ? wall + skew : t < wall - skew ? wall - skew : t
}

/** A subscription as `getSubscription` reports it; undefined for an unknown id. Status: 1 Live, 2 Cancelled, 3 Revoked. */
export interface SubscriptionFacts {
  readonly owner: Address
  readonly beneficiary: Address
  readonly planId: number
  readonly token: Address
  readonly end: number
  readonly status: number
}

export function readSubscription(
  rpc: PaymentChainPort,
  contract: Address,
  id: Hex,
): Promise<SubscriptionFacts | undefined> {
  return optional(call<SubscriptionFacts>(rpc, contract, pp, 'getSubscription', [id]))
}

/** `previewQuote(quote, at)`'s minimum amount (reverts surface as CHAIN_RPC_ERROR). */
export async function readPreviewDue(
  rpc: PaymentChainPort,
  contract: Address,
  quote: Quote,
  at: bigint,
): Promise<bigint> {
  const [, , due] = await call<readonly [number, number, bigint]>(rpc, contract, pp, 'previewQuote', [
    quote,
    at,
  ])
  return due
}
