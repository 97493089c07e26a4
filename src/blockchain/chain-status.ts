/**
 * The chain's health snapshot for `/readyz`, the admin API and alerts: a pure summary of the RPC client's
 * and the sender's snapshots. It holds names, numbers and addresses only — never URLs or key material —
 * so it is safe to serialise anywhere.
 */
import type { ConfirmationPolicy } from './confirmation.ts'
import type { EndpointStatus, RpcSnapshot } from './rpc-client.ts'
import type { FeeCapStatus, TxSenderSnapshot } from './tx-sender.ts'
import type { Address } from './types.ts'

export interface ChainStatus {
  /** `up`: every endpoint healthy; `degraded`: some endpoint down, or the base fee above the cap; `down`: no usable endpoint. */
  readonly state: 'up' | 'degraded' | 'down'
  /** New payments may be accepted (verified) only while the chain is reachable. */
  readonly acceptsPayments: boolean
  /** The gateway can send its own transactions now (signer present, chain up, fees under the cap). */
  readonly canSend: boolean
  readonly chainId: number
  readonly chainName: string
  readonly headBlock: number | null
  readonly confirmation: string
  /** Machine-readable reasons for a state other than `up`, e.g. `endpoint-down:backup`, `fee-cap-exceeded`. */
  readonly reasons: readonly string[]
  readonly endpoints: readonly EndpointStatus[]
  readonly wallet: {
    readonly address: Address
    readonly pendingTxs: number
    readonly nextNonce: number | null
  } | null
  readonly feeCap: FeeCapStatus | null
}

export function describePolicy(policy: ConfirmationPolicy): string {
  return policy.tag === 'latest' ? `latest+${policy.confirmations}` : policy.tag
}

export function summarizeChainStatus(input: {
  readonly chainId: number
  readonly chainName: string
  readonly confirmation: ConfirmationPolicy
  readonly rpc: RpcSnapshot
  readonly sender: TxSenderSnapshot | null
}): ChainStatus {
  const { rpc, sender } = input
  const reasons: string[] = []
  for (const e of rpc.endpoints) {
    if (e.chainCheck === 'wrong-chain') reasons.push(`endpoint-wrong-chain:${e.name}`)
    else if (e.usability === 'lagging') reasons.push(`endpoint-lagging:${e.name}`)
    else if (e.usability === 'suspect') reasons.push(`endpoint-suspect:${e.name}`)
    else if (e.usability === 'demoted') reasons.push(`endpoint-demoted:${e.name}`)
    else if (e.usability !== 'usable' || e.consecutiveFailures > 0) reasons.push(`endpoint-down:${e.name}`)
    else if (e.chainCheck === 'unverified') reasons.push(`endpoint-unverified:${e.name}`)
  }
  if (rpc.state === 'down') reasons.unshift('no-usable-endpoint')
  const isFeeCapExceeded = sender?.feeCap.isExceeded === true
  if (isFeeCapExceeded) reasons.push('fee-cap-exceeded')
  const state =
    rpc.state === 'down' ? 'down' : rpc.state === 'degraded' || isFeeCapExceeded ? 'degraded' : 'up'
  return {
    state,
    acceptsPayments: state !== 'down',
    canSend: sender !== null && state !== 'down' && !isFeeCapExceeded,
    chainId: input.chainId,
    chainName: input.chainName,
    headBlock: rpc.headBlock,
    confirmation: describePolicy(input.confirmation),
    reasons,
    endpoints: rpc.endpoints,
    wallet:
      sender === null
        ? null
        : { address: sender.address, pendingTxs: sender.pendingTxs, nextNonce: sender.nextNonce },
    feeCap: sender?.feeCap ?? null,
  }
}
