/**
 * Reads a subscription from the PaymentProcessor through the chain client's cross-checked `verifiedCall`
 * (docs/blockchain.md "Chain trust"): nothing one RPC endpoint says alone repairs a row.
 */
import { decodeErrorResult, decodeFunctionResult, encodeFunctionData } from 'viem'
import type { ConfirmationPolicy, RpcClient } from '../blockchain/index.ts'
import { paymentProcessorAbi } from '../contracts/index.ts'
import type { Address, Bytes32, ChainStatus, ChainSubscription } from './types.ts'

/**
 * The port the reconciliation pass reads the chain through: the subscription as of `blockNumber` (the
 * block of the confirmation policy, so a repair never grants access the monitor would not have granted
 * yet), or null when the contract does not know it.
 */
export type ChainSubscriptionReader = (id: Bytes32, blockNumber?: number) => Promise<ChainSubscription | null>

/**
 * The newest block confirmed under `policy`, from verified reads: `latest` minus the confirmations, or the
 * `safe` / `finalized` block both endpoints agree on.
 */
export function createConfirmedBlockReader(
  rpc: Pick<RpcClient, 'verifiedBlockTag'>,
  policy: ConfirmationPolicy,
): () => Promise<number> {
  return async () => {
    if (policy.tag !== 'latest') return (await rpc.verifiedBlockTag(policy.tag)).number
    return Math.max(0, (await rpc.verifiedBlockTag('latest')).number - policy.confirmations)
  }
}

const STATUS: readonly (ChainStatus | null)[] = [null, 'live', 'cancelled', 'revoked']

/** A reader over `rpc.verifiedCall` against the PaymentProcessor proxy at `contract`. */
export function createChainSubscriptionReader(
  rpc: Pick<RpcClient, 'verifiedCall'>,
  contract: Address,
): ChainSubscriptionReader {
  return async (id, blockNumber) => {
    const data = encodeFunctionData({ abi: paymentProcessorAbi, functionName: 'getSubscription', args: [id] })
    let result: `0x${string}`
    try {
      result = await rpc.verifiedCall(
        blockNumber === undefined ? { to: contract, data } : { to: contract, data, blockNumber },
      )
    } catch (err) {
      if (isUnknownSubscription(err)) return null
      throw err
    }
    const info = decodeFunctionResult({
      abi: paymentProcessorAbi,
      functionName: 'getSubscription',
      data: result,
    })
    const status = STATUS[info.status] ?? null
    if (status === null) return null
    return {
      owner: info.owner,
      beneficiary: info.beneficiary,
      planId: info.planId,
      token: info.token,
      startSec: info.start,
      endSec: info.end,
      status,
    }
  }
}

/** Whether a verified call failed because the contract reverted with `UnknownSubscription` (both agreed). */
function isUnknownSubscription(err: unknown): boolean {
  let e: unknown = err
  for (let depth = 0; depth < 6 && e !== null && typeof e === 'object'; depth++) {
    const data = (e as { data?: unknown }).data
    if (typeof data === 'string' && data.startsWith('0x') && data.length >= 10) {
      try {
        return (
          decodeErrorResult({ abi: paymentProcessorAbi, data: data as `0x${string}` }).errorName ===
          'UnknownSubscription'
        )
      } catch {
        return false
      }
    }
    e = (e as { cause?: unknown }).cause
  }
  return false
}
