/**
 * Public surface of the blockchain subsystem: LitVM chain configuration, the failover RPC client, the
 * hot wallet, the transaction sender and the chain's health snapshot. Other subsystems import only this.
 */
export {
  ANVIL_LOCAL,
  CHAIN_PRESETS,
  DEFAULT_RPC_TUNING,
  DEFAULT_TX_TUNING,
  LITVM_LITEFORGE,
  redactChainConfig,
  redactUrl,
  toViemChain,
  type ChainConfig,
  type ChainPresetName,
  type GasConfig,
  type RpcEndpointConfig,
  type RpcTuning,
  type TokenConfig,
  type TxTuning,
} from './chain-config.ts'
export { createChain, toChainError, type Chain, type ChainOptions, type CreateChainDeps } from './chain.ts'
export { CHAIN_ENV_VARIABLES, loadChainEnv, type ChainEnv } from './chain-env.ts'
export { createChainMetrics, type ChainMetrics } from './chain-metrics.ts'
export { summarizeChainStatus, type ChainStatus } from './chain-status.ts'
export type { ConfirmationPolicy, SeenReceipt } from './confirmation.ts'
export type { ChainLog, ChainReceipt, CrossCheckKind, VerifiedBlock } from './cross-check.ts'
export { decryptKeystore, encryptKeystore, type EncryptKeystoreOptions, type KeystoreV3 } from './keystore.ts'
export { isValidMnemonic } from './mnemonic.ts'
export {
  createRpcClient,
  type BroadcastResult,
  type EndpointStatus,
  type RpcClient,
  type RpcClientDeps,
  type RpcClientOptions,
  type RpcRequestOptions,
  type RpcSnapshot,
  type RpcState,
  type VerifiedCallRequest,
  type VerifiedLogFilter,
} from './rpc-client.ts'
export { JsonRpcError } from './rpc-failure.ts'
export {
  createTxSender,
  type ConfirmedTx,
  type FeeCapStatus,
  type SendOptions,
  type SentTx,
  type TxEvent,
  type TxEventType,
  type TxRequest,
  type TxSender,
  type TxSenderDeps,
  type TxSenderOptions,
  type TxSenderSnapshot,
} from './tx-sender.ts'
export { secretFromEnv, secretFromFile, type Secret } from './secret.ts'
export {
  createFileTxJournal,
  createMemoryTxJournal,
  type JournalContents,
  type JournalTx,
  type JournalTxState,
  type TxJournal,
  type TxJournalOptions,
} from './tx-journal.ts'
export type { Address, ChainDeps, Clock, Hex } from './types.ts'
export {
  describeSignerSpec,
  loadSigner,
  type ChainSigner,
  type LoadSignerDeps,
  type SignerSpec,
} from './wallet.ts'
