import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  JsonRpcError,
  classifyFetchError,
  classifyHttpStatus,
  classifyRpcError,
  classifySendRejection,
  isEndpointFault,
  isRetryableRead,
  methodKind,
  methodLabel,
  systemErrorCode,
} from './rpc-failure.ts'

const idle = { isTimedOut: false, isCallerAborted: false }
const fetchFailed = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('x'), { code }) })

void test('connection refused was not delivered; a reset may have been', () => {
  assert.deepEqual(classifyFetchError(fetchFailed('ECONNREFUSED'), idle), { kind: 'connect', delivery: 'no', errCode: 'ECONNREFUSED' })
  assert.deepEqual(classifyFetchError(fetchFailed('UND_ERR_SOCKET'), idle), { kind: 'reset', delivery: 'maybe', errCode: 'UND_ERR_SOCKET' })
  assert.deepEqual(classifyFetchError(new Error('odd'), idle), { kind: 'reset', delivery: 'maybe' })
})

void test('our timeout and the caller abort take precedence over the error shape', () => {
  assert.equal(classifyFetchError(fetchFailed('ECONNREFUSED'), { isTimedOut: true, isCallerAborted: false }).kind, 'timeout')
  assert.equal(classifyFetchError(new Error('x'), { isTimedOut: true, isCallerAborted: true }).kind, 'aborted')
})

void test('finds system codes in nested causes and AggregateErrors', () => {
  const agg = Object.assign(new AggregateError([Object.assign(new Error('a'), { code: 'ECONNREFUSED' })]), {})
  assert.equal(systemErrorCode(new TypeError('fetch failed', { cause: agg })), 'ECONNREFUSED')
  assert.equal(systemErrorCode(new Error('no code')), undefined)
})

void test('HTTP 429 and provider limit errors are rate limits; other node errors are healthy answers', () => {
  assert.equal(classifyHttpStatus(429).kind, 'rate-limited')
  assert.equal(classifyHttpStatus(503).kind, 'http')
  assert.equal(classifyRpcError(new JsonRpcError(-32005, 'limit exceeded')).kind, 'rate-limited')
  const reverted = classifyRpcError(new JsonRpcError(3, 'execution reverted'))
  assert.equal(reverted.kind, 'rpc-error')
  assert.equal(isEndpointFault(reverted), false)
  assert.equal(isRetryableRead(reverted), false)
  assert.equal(isRetryableRead({ kind: 'timeout', delivery: 'maybe' }), true)
  assert.equal(isEndpointFault({ kind: 'aborted', delivery: 'maybe' }), false)
})

void test('method kinds and bounded labels', () => {
  assert.equal(methodKind('eth_getBalance'), 'read')
  assert.equal(methodKind('eth_sendRawTransaction'), 'broadcast')
  assert.equal(methodKind('eth_sendTransaction'), 'other')
  assert.equal(methodKind('anvil_mine'), 'other')
  assert.equal(methodLabel('eth_call'), 'eth_call')
  assert.equal(methodLabel('debug_traceTransaction'), 'other')
})

void test('send rejections are told apart by the node message', () => {
  assert.equal(classifySendRejection('nonce too low: next nonce 5, tx nonce 3'), 'nonce-too-low')
  assert.equal(classifySendRejection('nonce too high'), 'nonce-too-high')
  assert.equal(classifySendRejection('replacement transaction underpriced'), 'underpriced')
  assert.equal(classifySendRejection('insufficient funds for gas * price + value'), 'insufficient-funds')
  assert.equal(classifySendRejection('max fee per gas less than block base fee'), 'fee-below-base-fee')
  assert.equal(classifySendRejection('execution reverted'), 'other')
})
