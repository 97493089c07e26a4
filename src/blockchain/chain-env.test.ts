import assert from 'node:assert/strict'
import { test } from 'node:test'
import { inspect } from 'node:util'
import { parseGwei } from 'viem'
import { isGatewayError } from '../errors/index.ts'
import { redactUrl } from './chain-config.ts'
import { readFileSync } from 'node:fs'
import { CHAIN_ENV_VARIABLES, loadChainEnv } from './chain-env.ts'

function problemOf(env: Record<string, string>): string {
  try {
    loadChainEnv(env)
  } catch (err) {
    assert.ok(isGatewayError(err))
    assert.equal(err.code, 'CHAIN_CONFIG_INVALID')
    return err.message
  }
  assert.fail('expected CHAIN_CONFIG_INVALID')
}

void test('defaults to the LiteForge preset, read-only, safe-tag confirmations', () => {
  const s = loadChainEnv({})
  assert.equal(s.chain.id, 4441)
  assert.equal(s.chain.nativeCurrency.symbol, 'zkLTC')
  assert.equal(s.chain.nativeCurrency.decimals, 18)
  assert.deepEqual(s.chain.confirmation, { tag: 'safe' })
  assert.equal(s.chain.rpc[0]?.name, 'caldera')
  assert.equal(s.signer, null)
  assert.ok(Object.isFrozen(s.chain.rpc))
})

void test('parses endpoints, confirmation policy, gas caps, tokens and contracts', () => {
  const s = loadChainEnv({
    LITGATE_CHAIN: 'anvil',
    LITGATE_CHAIN_RPC_URLS: 'primary=http://127.0.0.1:8545, backup=https://rpc.example/v1/abc?key=x',
    LITGATE_CHAIN_WS_URLS: 'backup=wss://rpc.example/ws',
    LITGATE_CHAIN_CONFIRMATION: 'latest+3',
    LITGATE_CHAIN_MAX_FEE_GWEI: '2.5',
    LITGATE_CHAIN_MAX_PRIORITY_FEE_GWEI: '0.01',
    LITGATE_CHAIN_FEE_CAP_POLICY: 'queue',
    LITGATE_CHAIN_TOKENS:
      'USDC:0x00000000000000000000000000000000000000aa:6,USDT:0x00000000000000000000000000000000000000bb:6',
    LITGATE_CHAIN_CONTRACTS: 'paymentProcessor=0x00000000000000000000000000000000000000cc',
    LITGATE_CHAIN_RPC_TIMEOUT_MS: '1500',
  })
  assert.equal(s.chain.id, 31337)
  assert.deepEqual(s.chain.rpc, [
    { name: 'primary', http: 'http://127.0.0.1:8545' },
    { name: 'backup', http: 'https://rpc.example/v1/abc?key=x', ws: 'wss://rpc.example/ws' },
  ])
  assert.deepEqual(s.chain.confirmation, { tag: 'latest', confirmations: 3 })
  assert.equal(s.chain.gas.maxFeePerGasWei, parseGwei('2.5'))
  assert.equal(s.chain.gas.maxPriorityFeePerGasWei, parseGwei('0.01'))
  assert.equal(s.chain.gas.feeCapPolicy, 'queue')
  assert.equal(s.chain.tokens[1]?.symbol, 'USDT')
  assert.equal(s.chain.contracts.paymentProcessor, '0x00000000000000000000000000000000000000cc')
  assert.equal(s.rpc.timeoutMs, 1500)
})

void test('unnamed endpoints are named by position', () => {
  const s = loadChainEnv({
    LITGATE_CHAIN_RPC_URLS: 'https://a.example,https://b.example',
    LITGATE_CHAIN_WS_URLS: 'wss://a.example',
  })
  assert.deepEqual(
    s.chain.rpc.map((r) => [r.name, r.ws]),
    [
      ['rpc0', 'wss://a.example'],
      ['rpc1', undefined],
    ],
  )
})

void test('a custom chain needs an id and RPC URLs', () => {
  const msg = problemOf({ LITGATE_CHAIN: 'custom' })
  assert.match(msg, /LITGATE_CHAIN_ID: required/)
  assert.match(msg, /LITGATE_CHAIN_RPC_URLS: required/)
  const s = loadChainEnv({
    LITGATE_CHAIN: 'custom',
    LITGATE_CHAIN_ID: '777',
    LITGATE_CHAIN_RPC_URLS: 'https://x.example',
  })
  assert.equal(s.chain.id, 777)
})

void test('a chain id contradicting the preset is refused', () => {
  assert.match(
    problemOf({ LITGATE_CHAIN_ID: '1' }),
    /LITGATE_CHAIN_ID: 1 contradicts preset litvm-liteforge \(4441\)/,
  )
})

void test('errors name the variable and never echo a credentialed URL', () => {
  const msg = problemOf({
    LITGATE_CHAIN_RPC_URLS: 'ok=https://a.example,ftp://user:hunter2@b.example/key123',
  })
  assert.match(msg, /LITGATE_CHAIN_RPC_URLS: entry 2 is not a valid http\(s\) URL/)
  assert.ok(!msg.includes('hunter2') && !msg.includes('key123'))
})

void test('reports every bad variable at once', () => {
  const msg = problemOf({
    LITGATE_CHAIN_CONFIRMATION: 'latest+0',
    LITGATE_CHAIN_MAX_FEE_GWEI: 'lots',
    LITGATE_CHAIN_FEE_CAP_POLICY: 'ignore',
    LITGATE_CHAIN_RPC_TIMEOUT_MS: '5',
  })
  for (const v of [
    'LITGATE_CHAIN_CONFIRMATION',
    'LITGATE_CHAIN_MAX_FEE_GWEI',
    'LITGATE_CHAIN_FEE_CAP_POLICY',
    'LITGATE_CHAIN_RPC_TIMEOUT_MS',
  ]) {
    assert.match(msg, new RegExp(`${v}: `))
  }
})

void test('signer references: env, _FILE, and keystore', async () => {
  const key = 'ab'.repeat(32)
  const pk = loadChainEnv({ LITGATE_SIGNER: 'private-key', LITGATE_SIGNER_PRIVATE_KEY: key })
  assert.equal(pk.signer?.kind, 'private-key')
  assert.equal(pk.signer?.kind === 'private-key' && (await pk.signer.key.reveal()), key)
  assert.ok(!JSON.stringify(pk, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)).includes(key))
  const mn = loadChainEnv({
    LITGATE_SIGNER: 'mnemonic',
    LITGATE_SIGNER_MNEMONIC_FILE: '/run/secrets/m',
    LITGATE_SIGNER_MNEMONIC_INDEX: '4',
  })
  assert.equal(
    mn.signer?.kind === 'mnemonic' && `${mn.signer.phrase.ref}#${mn.signer.index}`,
    'file:/run/secrets/m#4',
  )
  const ks = loadChainEnv({
    LITGATE_SIGNER: 'keystore',
    LITGATE_SIGNER_KEYSTORE: '/k.json',
    LITGATE_SIGNER_KEYSTORE_PASSWORD: 'pw',
  })
  assert.equal(ks.signer?.kind === 'keystore' && ks.signer.path, '/k.json')
})

void test('signer misconfigurations name the variable and hide the value', () => {
  const bad = 'not-a-key-but-secret-looking-value'
  const msg = problemOf({ LITGATE_SIGNER: 'private-key', LITGATE_SIGNER_PRIVATE_KEY: bad })
  assert.match(msg, /LITGATE_SIGNER_PRIVATE_KEY: must be 32 bytes of hex/)
  assert.ok(!msg.includes(bad))
  assert.match(problemOf({ LITGATE_SIGNER: 'mnemonic' }), /LITGATE_SIGNER_MNEMONIC: required/)
  assert.match(
    problemOf({
      LITGATE_SIGNER: 'mnemonic',
      LITGATE_SIGNER_MNEMONIC: 'a b',
      LITGATE_SIGNER_MNEMONIC_FILE: '/m',
    }),
    /either LITGATE_SIGNER_MNEMONIC or LITGATE_SIGNER_MNEMONIC_FILE/,
  )
  assert.match(
    problemOf({ LITGATE_SIGNER_PRIVATE_KEY: 'ab'.repeat(32) }),
    /LITGATE_SIGNER_PRIVATE_KEY: set, but LITGATE_SIGNER is "none"/,
  )
  assert.match(
    problemOf({ LITGATE_SIGNER: 'keystore', LITGATE_SIGNER_KEYSTORE_PASSWORD: 'x' }),
    /LITGATE_SIGNER_KEYSTORE: required/,
  )
})

void test('chain trust, spend limits and the journal are configurable', () => {
  const s = loadChainEnv({
    LITGATE_CHAIN: 'anvil',
    LITGATE_CHAIN_MAX_HEAD_SKEW_BLOCKS: '7',
    LITGATE_CHAIN_MAX_BLOCK_FUTURE_MS: '30000',
    LITGATE_CHAIN_MAX_BLOCKS_PER_SEC: '4',
    LITGATE_CHAIN_ID_RECHECK_MS: '15000',
    LITGATE_CHAIN_DEMOTE_MS: '120000',
    LITGATE_CHAIN_GENESIS_HASH: `0x${'AB'.repeat(32)}`,
    LITGATE_CHAIN_MAX_GAS_PER_TX: '300000',
    LITGATE_CHAIN_MAX_TX_FEE_GWEI: '1500000',
    LITGATE_CHAIN_FEE_BUDGET_GWEI: '20000000',
    LITGATE_CHAIN_FEE_BUDGET_PERIOD_MS: '3600000',
    LITGATE_CHAIN_TX_JOURNAL: '/var/lib/litgate/j.json',
  })
  assert.deepEqual(
    [
      s.rpc.maxHeadSkewBlocks,
      s.rpc.maxBlockFutureMs,
      s.rpc.maxBlocksPerSecond,
      s.rpc.identityRecheckMs,
      s.rpc.demoteMs,
    ],
    [7, 30_000, 4, 15_000, 120_000],
  )
  assert.equal(s.chain.genesisHash, `0x${'ab'.repeat(32)}`)
  assert.equal(s.chain.gas.maxGasPerTx, 300_000n)
  assert.equal(s.chain.gas.maxFeePerTxWei, parseGwei('1500000'))
  assert.equal(s.chain.gas.feeBudgetWei, parseGwei('20000000'))
  assert.equal(s.chain.gas.feeBudgetPeriodMs, 3_600_000)
  assert.equal(s.tx.journalPath, '/var/lib/litgate/j.json')
  assert.equal(loadChainEnv({}).tx.journalPath, null)
  assert.match(
    problemOf({ LITGATE_CHAIN_MAX_TX_FEE_GWEI: '2000', LITGATE_CHAIN_FEE_BUDGET_GWEI: '1000' }),
    /LITGATE_CHAIN_MAX_TX_FEE_GWEI: must not exceed LITGATE_CHAIN_FEE_BUDGET_GWEI/,
  )
  assert.match(
    problemOf({ LITGATE_CHAIN_GENESIS_HASH: '0x12' }),
    /LITGATE_CHAIN_GENESIS_HASH: must be a 32-byte/,
  )
})

void test('empty values count as unset', () => {
  assert.equal(loadChainEnv({ LITGATE_CHAIN_RPC_URLS: '', LITGATE_SIGNER: ' ' }).chain.id, 4441)
})

void test('endpoints print without credentials, path or query', () => {
  const s = loadChainEnv({ LITGATE_CHAIN_RPC_URLS: 'p=https://user:pw@rpc.example:8443/v2/KEY?apikey=K2' })
  const printed = [JSON.stringify(s.chain.rpc), inspect(s, { depth: 10 })]
  for (const text of printed) {
    assert.ok(!/pw|KEY|K2/.test(text), text)
    assert.match(text, /https:\/\/rpc\.example:8443\/…/)
  }
  assert.equal(
    s.chain.rpc[0]?.http,
    'https://user:pw@rpc.example:8443/v2/KEY?apikey=K2',
    'the real URL is still there to connect',
  )
  assert.equal(redactUrl('http://127.0.0.1:8545'), 'http://127.0.0.1:8545')
  assert.equal(redactUrl('not a url'), '[invalid url]')
})

void test('.env.example documents exactly the variables loadChainEnv reads', () => {
  const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8')
  const documented = new Set(example.match(/\bLITGATE_(CHAIN|SIGNER)[A-Z0-9_]*/g))
  assert.deepEqual([...documented].sort(), [...CHAIN_ENV_VARIABLES].sort())
})
