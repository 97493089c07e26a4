/**
 * Composition of the chain subsystem: failover RPC client, viem public client over it, optional signer and
 * transaction sender, and the health snapshot. `main.ts` builds one with `createChain(loadChainEnv(env),
 * deps)`; nothing here reads the environment or holds module state.
 */
import { createPublicClient, custom, type PublicClient } from 'viem'
import { GatewayError, isGatewayError } from '../errors/index.ts'
import type { ChainConfig, RpcTuning, TxTuning } from './chain-config.ts'
import { redactChainConfig, toViemChain } from './chain-config.ts'
import { createChainMetrics, type ChainMetrics } from './chain-metrics.ts'
import { summarizeChainStatus, type ChainStatus } from './chain-status.ts'
import { createRpcClient, type RpcClient } from './rpc-client.ts'
import { JsonRpcError } from './rpc-failure.ts'
import { createFileTxJournal, createMemoryTxJournal, type TxJournal } from './tx-journal.ts'
import { createTxSender, type TxEvent, type TxSender } from './tx-sender.ts'
import type { ChainDeps } from './types.ts'
import type { ChainSigner } from './wallet.ts'

export interface ChainOptions {
  readonly chain: ChainConfig
  readonly rpc: RpcTuning
  readonly tx: TxTuning
}

export interface CreateChainDeps extends ChainDeps {
  /** The hot wallet (see loadSigner); null for a read-only gateway. */
  readonly signer: ChainSigner | null
  /** Reuse metrics already created on the registry (e.g. two chains sharing one registry is not supported). */
  readonly metrics?: ChainMetrics
  readonly onTxEvent?: (event: TxEvent) => void
  /** The sender's journal; by default the file `tx.journalPath`, or memory when that is null. */
  readonly journal?: TxJournal
}

export interface Chain {
  /** The configuration with credential-free endpoint URLs (safe to print). */
  readonly config: ChainConfig
  readonly rpc: RpcClient
  /** A viem public client over the failover transport (reads, contract calls, log queries). */
  readonly publicClient: PublicClient
  readonly signer: ChainSigner | null
  /** Null when the gateway has no signer. */
  readonly sender: TxSender | null
  /**
   * Verifies endpoints and starts background probing. Resolves even when no endpoint is reachable (the
   * chain is then `down` and reconnects in the background); rejects with CHAIN_WRONG_ID when every endpoint
   * serves another chain — a configuration error worth failing start-up for — and with
   * CHAIN_JOURNAL_INVALID when the sender's journal cannot be read. Then the sender reloads its journal
   * and re-broadcasts what was pending.
   */
  start(): Promise<void>
  /** Health snapshot for /readyz, the admin API and metrics: safe to serialise. */
  status(): ChainStatus
  close(): Promise<void>
}

/**
 * The GatewayError inside an error thrown by a viem call over our transport (viem wraps transport errors),
 * or a CHAIN_RPC_ERROR for a node error viem mapped, or undefined for anything else.
 */
export function toChainError(err: unknown): GatewayError | undefined {
  let e: unknown = err
  for (let depth = 0; depth < 8 && e !== null && typeof e === 'object'; depth++) {
    if (isGatewayError(e)) return e
    if (e instanceof JsonRpcError)
      return new GatewayError('CHAIN_RPC_ERROR', `JSON-RPC error ${e.code}: ${e.message.slice(0, 200)}`, {
        cause: e,
      })
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}

export function createChain(options: ChainOptions, deps: CreateChainDeps): Chain {
  const metrics = deps.metrics ?? createChainMetrics(deps.registry)
  const rpc = createRpcClient(
    {
      chainId: options.chain.id,
      ...(options.chain.genesisHash === undefined ? {} : { genesisHash: options.chain.genesisHash }),
      endpoints: options.chain.rpc,
      tuning: options.rpc,
    },
    { ...deps, metrics },
  )
  const transport = custom(
    {
      async request({ method, params }: { method: string; params?: unknown }) {
        try {
          return await rpc.request(
            method,
            Array.isArray(params) ? params : params === undefined ? [] : [params],
          )
        } catch (err) {
          // Hand viem the node's own JSON-RPC error so it maps reverts, nonce errors etc. to its classes.
          if (isGatewayError(err) && err.code === 'CHAIN_RPC_ERROR' && err.cause instanceof JsonRpcError)
            throw err.cause
          throw err
        }
      },
    },
    { key: 'litgate', name: 'litgate failover', retryCount: 0 },
  )
  const publicClient = createPublicClient({
    chain: toViemChain(options.chain),
    transport,
    cacheTime: 0,
    pollingInterval: Math.max(250, options.tx.pollIntervalMs),
  }) as PublicClient
  let journal: TxJournal | undefined
  if (deps.signer !== null) {
    journal =
      deps.journal ??
      (options.tx.journalPath === null ? undefined : createFileTxJournal(options.tx.journalPath))
    if (journal === undefined) {
      deps.log.warn(
        { subsystem: 'chain' },
        'no transaction journal configured (LITGATE_CHAIN_TX_JOURNAL): a restart loses track of pending transactions',
      )
      journal = createMemoryTxJournal()
    }
  }
  const sender =
    deps.signer === null
      ? null
      : createTxSender(
          { chain: options.chain, tuning: options.tx },
          {
            ...deps,
            rpc,
            signer: deps.signer,
            metrics,
            ...(journal === undefined ? {} : { journal }),
            ...(deps.onTxEvent === undefined ? {} : { onEvent: deps.onTxEvent }),
          },
        )
  return {
    config: redactChainConfig(options.chain),
    rpc,
    publicClient,
    signer: deps.signer,
    sender,
    async start(): Promise<void> {
      await rpc.start()
      await sender?.start()
    },
    status: () =>
      summarizeChainStatus({
        chainId: options.chain.id,
        chainName: options.chain.name,
        confirmation: options.chain.confirmation,
        rpc: rpc.snapshot(),
        sender: sender?.snapshot() ?? null,
      }),
    async close(): Promise<void> {
      sender?.close()
      await rpc.close()
    },
  }
}
