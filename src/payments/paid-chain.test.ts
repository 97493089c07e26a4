import assert from 'node:assert/strict'
import { test } from 'node:test'
import { confirmationFromConfig, paidChainSettings } from './paid-chain.ts'

test('paidAccess.chain preset: its id and policy, the config endpoints replace the preset ones', () => {
  const s = paidChainSettings(
    { preset: 'anvil', rpc: [{ name: 'local', http: 'http://127.0.0.1:18545' }] },
    {},
  )
  assert.equal(s.chain.id, 31337)
  assert.deepEqual(
    s.chain.rpc.map((r) => [r.name, r.http]),
    [['local', 'http://127.0.0.1:18545']],
  )
  assert.deepEqual(s.chain.confirmation, { tag: 'latest', confirmations: 1 })
  assert.equal(s.signer, null, 'the paid layer needs no hot wallet')
})

test('a custom chain (id + rpc) waits for finalized unless LITGATE_CHAIN_CONFIRMATION says otherwise', () => {
  const chain = {
    id: 4441,
    rpc: [
      { name: 'a', http: 'https://a.example/rpc?key=secret' },
      { name: 'b', http: 'https://b.example/rpc' },
    ],
  }
  const s = paidChainSettings(chain, {})
  assert.equal(s.chain.id, 4441)
  assert.equal(s.chain.rpc.length, 2)
  assert.deepEqual(s.chain.confirmation, { tag: 'finalized' })
  const safe = paidChainSettings(chain, { LITGATE_CHAIN_CONFIRMATION: 'safe' })
  assert.deepEqual(safe.chain.confirmation, { tag: 'safe' })
})

test('environment tuning applies; an environment naming its own chain wins (createPaidAccess then checks the id)', () => {
  const tuned = paidChainSettings({ preset: 'anvil' }, { LITGATE_CHAIN_RPC_TIMEOUT_MS: '1234' })
  assert.equal(tuned.rpc.timeoutMs, 1234)
  const env = paidChainSettings({ preset: 'anvil' }, { LITGATE_CHAIN: 'litvm-liteforge' })
  assert.notEqual(env.chain.id, 31337)
})

test('confirmationFromConfig: safe, finalized, latest+N, else the chain default', () => {
  const def = { tag: 'safe' } as const
  assert.deepEqual(confirmationFromConfig(undefined, def), def)
  assert.deepEqual(confirmationFromConfig('finalized', def), { tag: 'finalized' })
  assert.deepEqual(confirmationFromConfig('safe', { tag: 'finalized' }), { tag: 'safe' })
  assert.deepEqual(confirmationFromConfig({ latest: 3 }, def), { tag: 'latest', confirmations: 3 })
})
