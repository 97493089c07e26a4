/**
 * Chain configuration as data: the chain's identity, RPC endpoints, confirmation policy, gas limits,
 * accepted tokens and contract addresses, plus the tuning of the RPC client and the transaction sender.
 * LitVM mainnet is not announced yet, so nothing here is hard-coded beyond named presets.
 */
import { inspect } from 'node:util'
import { defineChain, type Chain } from 'viem'
import type { ConfirmationPolicy } from './confirmation.ts'
import type { Address, Hex } from './types.ts'

export interface RpcEndpointConfig {
  /** Bounded identifier used in logs, metrics and status (never the URL, which may carry an API key). */
  readonly name: string
  readonly http: string
  /** WebSocket URL of the same provider (for subscriptions; optional). */
  readonly ws?: string
}

export interface TokenConfig {
  readonly symbol: string
  readonly address: Address
  readonly decimals: number
}

export interface GasConfig {
  /** Hard cap on maxFeePerGas (gas-spike protection). */
  readonly maxFeePerGasWei: bigint
  /** Cap on the priority fee. Arbitrum Nitro ignores tips; keep it small. */
  readonly maxPriorityFeePerGasWei: bigint
  /** maxFeePerGas head-room over the current base fee, in percent. */
  readonly baseFeeMultiplierPct: number
  /** Minimum fee increase of a replacement transaction, in percent. */
  readonly bumpPct: number
  /** Margin added to eth_estimateGas, in percent. */
  readonly gasLimitMarginPct: number
  /** While the base fee is above the cap: refuse sends at once, or queue them until their deadline. */
  readonly feeCapPolicy: 'refuse' | 'queue'
  /** Gas limit ceiling of one transaction (estimate plus margin included). */
  readonly maxGasPerTx: bigint
  /** Ceiling on gasLimit × maxFeePerGas of one transaction, in wei. */
  readonly maxFeePerTxWei: bigint
  /** Worst-case fees (gasLimit × maxFeePerGas) all sends may commit per period, in wei. */
  readonly feeBudgetWei: bigint
  readonly feeBudgetPeriodMs: number
}

export interface ChainConfig {
  readonly id: number
  readonly name: string
  readonly nativeCurrency: { readonly name: string; readonly symbol: string; readonly decimals: number }
  readonly rpc: readonly RpcEndpointConfig[]
  readonly confirmation: ConfirmationPolicy
  readonly gas: GasConfig
  readonly tokens: readonly TokenConfig[]
  /** Named contract addresses (e.g. `paymentProcessor`); their ABIs live in src/contracts. */
  readonly contracts: Readonly<Record<string, Address>>
  readonly explorerUrl?: string
  /** Hash of block 0; when absent it is learned from the majority of endpoints at start. */
  readonly genesisHash?: Hex
}

/** Tuning of the failover RPC client. */
export interface RpcTuning {
  /** Deadline of one attempt on one endpoint. */
  readonly timeoutMs: number
  /** Attempts of an idempotent read across endpoints (the first try included). */
  readonly maxAttempts: number
  readonly backoffBaseMs: number
  readonly backoffMaxMs: number
  readonly breakerFailureThreshold: number
  readonly breakerOpenBaseMs: number
  readonly breakerOpenMaxMs: number
  /** An endpoint further behind the trusted head is refused until it catches up. */
  readonly maxHeadLagBlocks: number
  /** An endpoint further ahead of the trusted head (the median) is suspect and refused. */
  readonly maxHeadSkewBlocks: number
  /** A head block dated further in the future than this is not believed (wall-clock limit). */
  readonly maxBlockFutureMs: number
  /** Fastest plausible block production: a head beyond it since genesis or the last trusted head is not believed. */
  readonly maxBlocksPerSecond: number
  /** Period of the chain id and genesis hash re-check on every endpoint. */
  readonly identityRecheckMs: number
  /** How long an endpoint that disagreed with the majority on a verified read is refused. */
  readonly demoteMs: number
  /** Period of the background health probe (chain id, head) that also reconnects endpoints. */
  readonly probeIntervalMs: number
  readonly latencyBucketMs: number
  /** Upper bound of a JSON-RPC response body. */
  readonly maxResponseBytes: number
}

/** Tuning of the transaction sender. */
export interface TxTuning {
  /** Period of receipt/reorg monitoring. */
  readonly pollIntervalMs: number
  /** A transaction pending this long since its last broadcast is replaced with higher fees. */
  readonly stuckAfterMs: number
  /** Re-broadcasts of a dropped transaction before it is reported as dropped. */
  readonly maxRebroadcasts: number
  /** Transactions tracked at once; beyond it sends are refused. */
  readonly maxPendingTxs: number
  /** Sends waiting for one account's nonce lock. */
  readonly maxWaitingSends: number
  /** Base-fee re-check period while a send is queued behind the fee cap. */
  readonly feeRecheckMs: number
  /** Default deadline of a send (fee and gas estimation, queueing, signing, broadcast). */
  readonly sendTimeoutMs: number
  /** Default time `wait()` gives a transaction to confirm (monitoring continues after it). */
  readonly confirmTimeoutMs: number
  /** File of the transaction journal; null keeps it in memory (pending transactions lost on restart). */
  readonly journalPath: string | null
}

export const DEFAULT_RPC_TUNING: RpcTuning = Object.freeze({
  timeoutMs: 5_000,
  maxAttempts: 3,
  backoffBaseMs: 100,
  backoffMaxMs: 2_000,
  breakerFailureThreshold: 3,
  breakerOpenBaseMs: 1_000,
  breakerOpenMaxMs: 60_000,
  maxHeadLagBlocks: 20,
  maxHeadSkewBlocks: 20,
  maxBlockFutureMs: 60_000,
  maxBlocksPerSecond: 10,
  identityRecheckMs: 60_000,
  demoteMs: 300_000,
  probeIntervalMs: 5_000,
  latencyBucketMs: 50,
  maxResponseBytes: 16 * 1024 * 1024,
})

export const DEFAULT_TX_TUNING: TxTuning = Object.freeze({
  pollIntervalMs: 1_000,
  stuckAfterMs: 60_000,
  maxRebroadcasts: 5,
  maxPendingTxs: 1_000,
  maxWaitingSends: 256,
  feeRecheckMs: 2_000,
  sendTimeoutMs: 30_000,
  confirmTimeoutMs: 15 * 60_000,
  journalPath: null,
})

const GWEI = 1_000_000_000n

/** LitVM public testnet "LiteForge" (Arbitrum Orbit on Caldera), gas token zkLTC. */
export const LITVM_LITEFORGE: ChainConfig = Object.freeze({
  id: 4441,
  name: 'LitVM LiteForge',
  nativeCurrency: Object.freeze({ name: 'zkLTC', symbol: 'zkLTC', decimals: 18 }),
  rpc: Object.freeze([
    Object.freeze({
      name: 'caldera',
      http: 'https://liteforge.rpc.caldera.xyz/http',
      ws: 'wss://liteforge.rpc.caldera.xyz/ws',
    }),
  ]),
  // Orbit chains reorg only with their parent chain: wait for the `safe` tag rather than a block count.
  confirmation: Object.freeze({ tag: 'safe' }),
  gas: Object.freeze({
    maxFeePerGasWei: 5n * GWEI,
    maxPriorityFeePerGasWei: GWEI / 100n,
    baseFeeMultiplierPct: 200,
    bumpPct: 15,
    gasLimitMarginPct: 20,
    feeCapPolicy: 'refuse',
    maxGasPerTx: 1_000_000n,
    maxFeePerTxWei: 5_000_000n * GWEI, // 0.005 zkLTC: 1M gas at the 5 gwei cap
    feeBudgetWei: 100_000_000n * GWEI, // 0.1 zkLTC per day
    feeBudgetPeriodMs: 86_400_000,
  }),
  tokens: Object.freeze([]),
  contracts: Object.freeze({}),
  explorerUrl: 'https://liteforge.explorer.caldera.xyz',
})

/** A local anvil node (`anvil --chain-id 31337`): automine, no safe/finalized lag, so latest+1. */
export const ANVIL_LOCAL: ChainConfig = Object.freeze({
  id: 31337,
  name: 'Anvil',
  nativeCurrency: Object.freeze({ name: 'Ether', symbol: 'ETH', decimals: 18 }),
  rpc: Object.freeze([
    Object.freeze({ name: 'anvil', http: 'http://127.0.0.1:8545', ws: 'ws://127.0.0.1:8545' }),
  ]),
  confirmation: Object.freeze({ tag: 'latest', confirmations: 1 }),
  gas: Object.freeze({
    maxFeePerGasWei: 100n * GWEI,
    maxPriorityFeePerGasWei: 2n * GWEI,
    baseFeeMultiplierPct: 200,
    bumpPct: 15,
    gasLimitMarginPct: 20,
    feeCapPolicy: 'refuse',
    maxGasPerTx: 10_000_000n,
    maxFeePerTxWei: 1_000_000_000n * GWEI, // 1 ETH (dev node)
    feeBudgetWei: 100_000_000_000n * GWEI, // 100 ETH per day
    feeBudgetPeriodMs: 86_400_000,
  }),
  tokens: Object.freeze([]),
  contracts: Object.freeze({}),
})

export const CHAIN_PRESETS = Object.freeze({ 'litvm-liteforge': LITVM_LITEFORGE, anvil: ANVIL_LOCAL })
export type ChainPresetName = keyof typeof CHAIN_PRESETS

/**
 * A URL with credentials, path and query removed (`https://host:port/…`): RPC providers put API keys in
 * any of them. Used wherever configuration may be printed.
 */
export function redactUrl(url: string): string {
  if (!URL.canParse(url)) return '[invalid url]'
  const u = new URL(url)
  const hasMore = u.pathname.length > 1 || u.search !== '' || u.hash !== ''
  return `${u.protocol}//${u.host}${hasMore ? '/…' : ''}`
}

/** The endpoint as it may be printed. */
export function redactEndpoint(endpoint: RpcEndpointConfig): RpcEndpointConfig {
  return endpoint.ws === undefined
    ? { name: endpoint.name, http: redactUrl(endpoint.http) }
    : { name: endpoint.name, http: redactUrl(endpoint.http), ws: redactUrl(endpoint.ws) }
}

/**
 * Freezes an endpoint and makes it print redacted: `JSON.stringify` (pino) and `util.inspect` show
 * `redactEndpoint(endpoint)`. The hooks are non-enumerable, so a spread copy is a plain object again.
 */
export function protectEndpoint(endpoint: RpcEndpointConfig): RpcEndpointConfig {
  const copy = { ...endpoint }
  const view = redactEndpoint(endpoint)
  Object.defineProperty(copy, 'toJSON', { value: () => view, enumerable: false })
  Object.defineProperty(copy, inspect.custom, { value: () => view, enumerable: false })
  return Object.freeze(copy)
}

/** A copy of the configuration whose endpoints carry no credentials (for `Chain.config`, status, logs). */
export function redactChainConfig(config: ChainConfig): ChainConfig {
  return Object.freeze({ ...config, rpc: Object.freeze(config.rpc.map(redactEndpoint)) })
}

/**
 * The viem `Chain` for this configuration. RPC URLs are left out on purpose: the client's transport is our
 * failover transport, and a URL in the chain object could leak an API key to whoever logs the client.
 */
export function toViemChain(config: ChainConfig): Chain {
  return defineChain({
    id: config.id,
    name: config.name,
    nativeCurrency: { ...config.nativeCurrency },
    rpcUrls: { default: { http: [] } },
    ...(config.explorerUrl === undefined
      ? {}
      : { blockExplorers: { default: { name: 'Explorer', url: config.explorerUrl } } }),
  })
}
