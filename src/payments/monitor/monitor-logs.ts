/**
 * Decoding of the PaymentProcessor's monitored events from verified logs (pure). Only `PaymentReceived`,
 * `SubscriptionCancelled` and `SubscriptionRevoked` of the configured contract are kept; a log that does
 * not decode is dropped and reported, never guessed at.
 */
import { decodeEventLog, encodeEventTopics, type Hex as ViemHex } from 'viem'
import type { ChainLog } from '../../blockchain/index.ts'
import { paymentProcessorAbi } from '../../contracts/index.ts'
import type { Address, Hex, MonitorLog } from './types.ts'

const EVENT_NAMES = ['PaymentReceived', 'SubscriptionCancelled', 'SubscriptionRevoked'] as const

/** topic0 of each monitored event, for the `eth_getLogs` filter (`topics: [[...]]`). */
export const MONITORED_TOPICS: readonly Hex[] = EVENT_NAMES.map(
  (eventName) => encodeEventTopics({ abi: paymentProcessorAbi, eventName } as never)[0] as Hex,
)

const lower = <T extends string>(v: string): T => v.toLowerCase() as T

export interface DecodedLogs {
  readonly logs: readonly (MonitorLog & { readonly blockNumber: number; readonly blockHash: Hex })[]
  /** Logs of the contract with a monitored topic that failed to decode (count for operators). */
  readonly undecodable: number
}

/** Decodes the monitored events of `contract` among `logs`; others are ignored. */
export function decodeMonitorLogs(logs: readonly ChainLog[], contract: Address): DecodedLogs {
  const out: (MonitorLog & { blockNumber: number; blockHash: Hex })[] = []
  let undecodable = 0
  const address = lower<Address>(contract)
  for (const l of logs) {
    if (l.removed || l.address !== address || !MONITORED_TOPICS.includes(l.topics[0] as Hex)) continue
    let decoded: { eventName: string; args: Record<string, unknown> }
    try {
      decoded = decodeEventLog({
        abi: paymentProcessorAbi,
        data: l.data as ViemHex,
        topics: l.topics as [ViemHex, ...ViemHex[]],
        strict: true,
      }) as unknown as { eventName: string; args: Record<string, unknown> }
    } catch {
      undecodable++
      continue
    }
    const a = decoded.args
    const at = {
      txHash: l.transactionHash,
      logIndex: l.logIndex,
      blockNumber: l.blockNumber,
      blockHash: l.blockHash,
    }
    if (decoded.eventName === 'PaymentReceived') {
      out.push({
        type: 'payment',
        ...at,
        digest: lower(a.digest as string),
        subscriptionId: lower(a.subscriptionId as string),
        payer: lower(a.payer as string),
        beneficiary: lower(a.beneficiary as string),
        token: lower(a.token as string),
        amount: a.amount as bigint,
        planId: Number(a.planId),
        start: Number(a.start),
        end: Number(a.end),
      })
    } else if (decoded.eventName === 'SubscriptionCancelled') {
      out.push({
        type: 'cancellation',
        ...at,
        subscriptionId: lower(a.subscriptionId as string),
        by: lower(a.by as string),
      })
    } else if (decoded.eventName === 'SubscriptionRevoked') {
      out.push({
        type: 'revocation',
        ...at,
        subscriptionId: lower(a.subscriptionId as string),
        by: lower(a.by as string),
        end: Number(a.end),
      })
    }
  }
  return { logs: out, undecodable }
}
