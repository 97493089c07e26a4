import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isGatewayError } from '../errors/index.ts'
import { createNonceManager, nextNonceAfter, type NonceUse } from './nonce-manager.ts'

const ADDR = '0xAbC0000000000000000000000000000000000001'
const options = { maxWaiting: 100, maxResyncs: 2 }

function chainAt(start: number) {
  const state = { pending: start, fetches: 0 }
  return { state, deps: { fetchPendingNonce: async () => (state.fetches++, state.pending) } }
}
const used = <T>(value: T): NonceUse<T> => ({ kind: 'used', value })

void test('next nonce after each kind of use', () => {
  assert.equal(nextNonceAfter(5, 'used'), 6)
  assert.equal(nextNonceAfter(5, 'unused'), 5)
  assert.equal(nextNonceAfter(5, 'stale'), undefined)
})

void test('50 concurrent sends get consecutive nonces in call order, fetching once', async () => {
  const { state, deps } = chainAt(3)
  const nm = createNonceManager(options, deps)
  const order: number[] = []
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      nm.withNonce(ADDR, async (nonce) => {
        order.push(i)
        await Promise.resolve() // yield: a concurrent caller must still wait for the lock
        return used(nonce)
      }),
    ),
  )
  assert.deepEqual(results, Array.from({ length: 50 }, (_, i) => 3 + i))
  assert.deepEqual(order, Array.from({ length: 50 }, (_, i) => i))
  assert.equal(state.fetches, 1)
  assert.deepEqual(nm.snapshot(), { [ADDR.toLowerCase()]: 53 })
})

void test('an unused nonce is handed to the next send', async () => {
  const { deps } = chainAt(0)
  const nm = createNonceManager(options, deps)
  await assert.rejects(nm.withNonce(ADDR, async () => ({ kind: 'unused', error: new Error('insufficient funds') })), /insufficient/)
  assert.equal(await nm.withNonce(ADDR, async (n) => used(n)), 0)
})

void test('a stale nonce resyncs from the chain and retries', async () => {
  const { state, deps } = chainAt(0)
  const nm = createNonceManager(options, deps)
  assert.equal(await nm.withNonce(ADDR, async (n) => used(n)), 0)
  state.pending = 5 // someone else sent with this key
  const tried: number[] = []
  const got = await nm.withNonce(ADDR, async (n) => {
    tried.push(n)
    return n < 5 ? { kind: 'stale', error: new Error('nonce too low') } : used(n)
  })
  assert.deepEqual(tried, [1, 5])
  assert.equal(got, 5)
})

void test('gives up with CHAIN_NONCE_CONFLICT after maxResyncs', async () => {
  const { state, deps } = chainAt(0)
  const nm = createNonceManager(options, deps)
  const err = await nm.withNonce(ADDR, async () => ({ kind: 'stale', error: new Error('replacement underpriced') })).catch((e: unknown) => e)
  assert.ok(isGatewayError(err))
  assert.equal(err.code, 'CHAIN_NONCE_CONFLICT')
  assert.equal(state.fetches, 3)
})

void test('a throwing send forces a re-read and does not block later sends', async () => {
  const { state, deps } = chainAt(0)
  const nm = createNonceManager(options, deps)
  await assert.rejects(nm.withNonce(ADDR, async () => Promise.reject(new Error('boom'))), /boom/)
  assert.equal(await nm.withNonce(ADDR, async (n) => used(n)), 0)
  assert.equal(state.fetches, 2)
})

void test('refuses beyond maxWaiting with CHAIN_SEND_QUEUE_FULL', async () => {
  const { deps } = chainAt(0)
  const nm = createNonceManager({ ...options, maxWaiting: 2 }, deps)
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const a = nm.withNonce(ADDR, async (n) => (await gate, used(n)))
  const b = nm.withNonce(ADDR, async (n) => used(n))
  const err = await nm.withNonce(ADDR, async (n) => used(n)).catch((e: unknown) => e)
  assert.ok(isGatewayError(err) && err.code === 'CHAIN_SEND_QUEUE_FULL')
  release()
  assert.deepEqual(await Promise.all([a, b]), [0, 1])
})

void test('accounts are independent and case-insensitive', async () => {
  const { deps } = chainAt(10)
  const nm = createNonceManager(options, deps)
  assert.equal(await nm.withNonce(ADDR, async (n) => used(n)), 10)
  assert.equal(await nm.withNonce(ADDR.toLowerCase(), async (n) => used(n)), 11)
  assert.equal(await nm.withNonce('0x0000000000000000000000000000000000000002', async (n) => used(n)), 10)
  nm.invalidate(ADDR)
  assert.equal(nm.snapshot()[ADDR.toLowerCase()], undefined)
})
