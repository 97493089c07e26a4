/**
 * Classification of RPC failures (pure): what went wrong, whether the request may have reached the node,
 * whether it counts against the endpoint's health, and whether an idempotent read may be retried.
 */

/** A JSON-RPC error object returned by a node (EIP-1474 / EIP-1193 shape, so viem can map it). */
export class JsonRpcError extends Error {
  override readonly name = 'JsonRpcError'
  readonly code: number
  readonly data: unknown
  constructor(code: number, message: string, data?: unknown) {
    super(message)
    this.code = code
    this.data = data
  }
}

export type FailureKind =
  /** No answer before the attempt's deadline. */
  | 'timeout'
  /** Could not connect (refused, unreachable, DNS): the request was not sent. */
  | 'connect'
  /** Connection dropped while the request was in flight. */
  | 'reset'
  /** HTTP status other than 200 (not 429). */
  | 'http'
  /** HTTP 429 or a provider's "limit exceeded" JSON-RPC error. */
  | 'rate-limited'
  /** Not a JSON-RPC response, wrong id, or too large. */
  | 'invalid-response'
  /** The node answered with a JSON-RPC error: the endpoint is healthy, the call failed. */
  | 'rpc-error'
  /** The caller gave up (its signal aborted). */
  | 'aborted'

/** Whether the node may have received (and acted on) the request. */
export type Delivery = 'no' | 'maybe' | 'yes'

export interface RpcFailure {
  readonly kind: FailureKind
  readonly delivery: Delivery
  /** HTTP status, for `http` and `rate-limited`. */
  readonly status?: number
  /** System error code such as ECONNREFUSED (safe to log: no addresses). */
  readonly errCode?: string
  readonly rpcError?: JsonRpcError
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
])

/** The system error code inside a fetch error (undici puts it on `cause`, sometimes nested). */
export function systemErrorCode(err: unknown): string | undefined {
  let e: unknown = err
  for (let depth = 0; depth < 5 && e !== null && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code
    const errors = (e as { errors?: unknown }).errors
    if (Array.isArray(errors) && errors.length > 0) e = errors[0]
    else e = (e as { cause?: unknown }).cause
  }
  return undefined
}

/** Classifies an exception thrown by `fetch` (or while reading its body). */
export function classifyFetchError(err: unknown, state: { readonly isTimedOut: boolean; readonly isCallerAborted: boolean }): RpcFailure {
  if (state.isCallerAborted) return { kind: 'aborted', delivery: 'maybe' }
  if (state.isTimedOut) return { kind: 'timeout', delivery: 'maybe' }
  const errCode = systemErrorCode(err)
  if (errCode !== undefined && CONNECT_CODES.has(errCode)) return { kind: 'connect', delivery: 'no', errCode }
  return errCode === undefined ? { kind: 'reset', delivery: 'maybe' } : { kind: 'reset', delivery: 'maybe', errCode }
}

/** Classifies a non-200 HTTP answer. */
export function classifyHttpStatus(status: number): RpcFailure {
  if (status === 429) return { kind: 'rate-limited', delivery: 'yes', status }
  return { kind: 'http', delivery: 'yes', status }
}

/** Classifies a JSON-RPC error object. Providers signal rate limits with -32005 or HTTP-like 429. */
export function classifyRpcError(error: JsonRpcError): RpcFailure {
  if (error.code === -32005 || error.code === 429 || /rate limit|too many requests|limit exceeded/i.test(error.message)) {
    return { kind: 'rate-limited', delivery: 'yes', rpcError: error }
  }
  return { kind: 'rpc-error', delivery: 'yes', rpcError: error }
}

/** Whether the failure says something about the endpoint's health (feeds its breaker). */
export function isEndpointFault(failure: RpcFailure): boolean {
  return failure.kind !== 'rpc-error' && failure.kind !== 'aborted'
}

/** Whether an idempotent read may be retried (on another endpoint, or the same one after backoff). */
export function isRetryableRead(failure: RpcFailure): boolean {
  return isEndpointFault(failure)
}

/** JSON-RPC methods that only read state: safe to retry anywhere. */
const READ_METHODS = new Set([
  'eth_blockNumber',
  'eth_call',
  'eth_chainId',
  'eth_estimateGas',
  'eth_feeHistory',
  'eth_gasPrice',
  'eth_getBalance',
  'eth_getBlockByHash',
  'eth_getBlockByNumber',
  'eth_getBlockReceipts',
  'eth_getCode',
  'eth_getLogs',
  'eth_getProof',
  'eth_getStorageAt',
  'eth_getTransactionByHash',
  'eth_getTransactionCount',
  'eth_getTransactionReceipt',
  'eth_maxPriorityFeePerGas',
  'eth_syncing',
  'net_version',
  'web3_clientVersion',
])

/**
 * - `read`: idempotent, retried with backoff on any endpoint;
 * - `broadcast`: `eth_sendRawTransaction`: the same signed bytes may go to several endpoints (same hash,
 *   same nonce: it cannot execute twice) but it is never retried after an answer;
 * - `other`: everything else (test-node methods, filters, node-side signing): one attempt only.
 */
export type MethodKind = 'read' | 'broadcast' | 'other'

export function methodKind(method: string): MethodKind {
  if (READ_METHODS.has(method)) return 'read'
  if (method === 'eth_sendRawTransaction') return 'broadcast'
  return 'other'
}

/** Bounded metric label for a method name. */
export function methodLabel(method: string): string {
  return READ_METHODS.has(method) || method === 'eth_sendRawTransaction' ? method : 'other'
}

/**
 * Why a node refused `eth_sendRawTransaction`. Nodes report these only as JSON-RPC -32000/-32003 with a
 * message, so the message is all there is to go on (viem's getNodeError does the same).
 */
export type SendRejection = 'nonce-too-low' | 'nonce-too-high' | 'underpriced' | 'insufficient-funds' | 'fee-below-base-fee' | 'other'

export function classifySendRejection(message: string): SendRejection {
  if (/nonce too low|nonce.{0,20}lower than|oldnonce/i.test(message)) return 'nonce-too-low'
  if (/nonce too high|nonce.{0,20}higher than|nonce gap/i.test(message)) return 'nonce-too-high'
  if (/underpriced/i.test(message)) return 'underpriced'
  if (/insufficient funds|insufficient balance|lack of funds/i.test(message)) return 'insufficient-funds'
  if (/less than (the )?block base fee|fee cap less than|feecaptoolow|max fee per gas less than/i.test(message)) return 'fee-below-base-fee'
  return 'other'
}
