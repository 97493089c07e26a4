/**
 * The transaction path against a real anvil: state queries through the viem client, sign and submit with
 * estimated gas, 50 concurrent sends from one account, gas-cap refusal and queueing, reorg detection
 * (`anvil_reorg`), re-broadcast of a dropped transaction, fee bump of a stuck one, nonce resync and
 * foreign-nonce conflicts. Each test uses its own dev account so nonces do not interfere.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { parseEther, parseGwei, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import {
  ANVIL_LOCAL,
  createChain,
  loadSigner,
  secretFromEnv,
  toChainError,
  type Chain,
  type ConfirmationPolicy,
  type GasConfig,
  type TxEvent,
  type TxTuning,
} from '../../src/blockchain/index.ts'
import { isGatewayError } from '../../src/errors/index.ts'
import { ANVIL_MNEMONIC, startAnvil, type AnvilInstance } from '../helpers/anvil.ts'
import { startTcpFault } from '../helpers/tcp-fault.ts'
import { DEV_ADDR1, FAST_RPC, FAST_TX, eventually, testDeps } from './support.ts'

let anvil: AnvilInstance
const chains: Chain[] = []
const SINK = '0x000000000000000000000000000000000000dEaD'
const RECIPIENT = '0x00000000000000000000000000000000000b0b0b'

before(async () => {
  anvil = await startAnvil({ chainId: 31337, args: ['--accounts', '12'] })
})
after(async () => {
  await Promise.all(chains.map((c) => c.close()))
  await anvil.stop()
})

async function makeChain(
  accountIndex: number,
  overrides: {
    gas?: Partial<GasConfig>
    confirmation?: ConfirmationPolicy
    tx?: Partial<TxTuning>
    rpcUrl?: string
    rpc?: Partial<typeof FAST_RPC>
  } = {},
) {
  const signer = await loadSigner({
    kind: 'mnemonic',
    phrase: secretFromEnv('TEST_MNEMONIC', ANVIL_MNEMONIC),
    index: accountIndex,
  })
  const deps = testDeps()
  const events: TxEvent[] = []
  const chain = createChain(
    {
      chain: {
        ...ANVIL_LOCAL,
        rpc: [{ name: 'anvil', http: overrides.rpcUrl ?? anvil.url }],
        confirmation: overrides.confirmation ?? { tag: 'latest', confirmations: 1 },
        gas: { ...ANVIL_LOCAL.gas, ...overrides.gas },
      },
      rpc: { ...FAST_RPC, ...overrides.rpc },
      tx: { ...FAST_TX, ...overrides.tx },
    },
    { ...deps, signer, onTxEvent: (e) => events.push(e) },
  )
  chains.push(chain)
  await chain.start()
  return { chain, sender: chain.sender!, events, signer, ...deps }
}

const has = (events: TxEvent[], type: TxEvent['type']) => () => events.some((e) => e.type === type)

async function setBaseFee(wei: bigint): Promise<void> {
  await anvil.rpc('anvil_setNextBlockBaseFeePerGas', [`0x${wei.toString(16)}`])
  await anvil.rpc('evm_mine')
}

void test('queries chain state through the viem client over the failover transport', async () => {
  const { chain, signer } = await makeChain(0)
  assert.equal(await chain.publicClient.getChainId(), 31337)
  assert.equal(await chain.publicClient.getBalance({ address: signer.address }), parseEther('10000'))
  assert.equal(typeof (await chain.publicClient.getBlockNumber()), 'bigint')
  const err = await chain.publicClient
    .getTransactionReceipt({ hash: `0x${'ab'.repeat(32)}` })
    .catch((e: unknown) => e)
  assert.equal((err as Error).name, 'TransactionReceiptNotFoundError')
  const bad = await chain.publicClient
    .request({ method: 'eth_call' as 'eth_chainId', params: [{ to: SINK, data: '0xzz' }] as never })
    .catch((e: unknown) => e)
  assert.equal(toChainError(bad)?.code, 'CHAIN_RPC_ERROR')
  const s = chain.status()
  assert.equal(s.state, 'up')
  assert.equal(s.wallet?.address, signer.address)
})

void test('signs and submits a transfer with estimated gas plus margin, confirmed at latest+1', async () => {
  const { chain, sender, signer } = await makeChain(1)
  const before = await chain.publicClient.getBalance({ address: RECIPIENT })
  const sent = await sender.send({ to: RECIPIENT, value: 12345n })
  const confirmed = await sent.wait({ timeoutMs: 5_000 })
  assert.equal(confirmed.status, 'success')
  assert.equal(confirmed.hash, sent.hash)
  assert.equal(await chain.publicClient.getBalance({ address: RECIPIENT }), before + 12345n)
  const tx = await chain.publicClient.getTransaction({ hash: sent.hash })
  assert.equal(tx.from.toLowerCase(), signer.address.toLowerCase())
  assert.equal(tx.gas, 25_200n, '21000 estimated + 20 % margin')
  assert.ok(tx.maxFeePerGas !== undefined && tx.maxFeePerGas <= ANVIL_LOCAL.gas.maxFeePerGasWei)
  assert.equal(chain.status().wallet?.pendingTxs, 0)
})

void test('50 concurrent sends from one account: consecutive nonces, no gaps, no duplicates, all mined', async (t) => {
  const { chain, sender, signer } = await makeChain(2)
  const start = await chain.publicClient.getTransactionCount({ address: signer.address })
  const t0 = Date.now()
  const sent = await Promise.all(
    Array.from({ length: 50 }, (_, i) => sender.send({ to: SINK, value: BigInt(i + 1), gas: 21_000n })),
  )
  const sentMs = Date.now() - t0
  const confirmed = await Promise.all(sent.map((s) => s.wait({ timeoutMs: 20_000 })))
  const totalMs = Date.now() - t0
  const nonces = sent.map((s) => s.nonce).sort((a, b) => a - b)
  assert.deepEqual(
    nonces,
    Array.from({ length: 50 }, (_, i) => start + i),
  )
  assert.equal(new Set(sent.map((s) => s.hash)).size, 50)
  assert.ok(confirmed.every((c) => c.status === 'success'))
  assert.equal(await chain.publicClient.getTransactionCount({ address: signer.address }), start + 50)
  const onChain = await Promise.all(sent.map((s) => chain.publicClient.getTransaction({ hash: s.hash })))
  assert.deepEqual(
    onChain.map((x) => x.nonce).sort((a, b) => a - b),
    nonces,
  )
  t.diagnostic(
    `50 concurrent sends: nonces ${start}..${start + 49}, all distinct and mined; broadcast in ${sentMs} ms, all confirmed in ${totalMs} ms`,
  )
})

void test('gas-spike protection: refuses while the base fee is above the cap, with a metric and a degraded status', async () => {
  const { sender, chain, registry } = await makeChain(3, { gas: { maxFeePerGasWei: parseGwei('50') } })
  await setBaseFee(parseGwei('80'))
  try {
    const err = await sender.send({ to: SINK, value: 1n }).catch((e: unknown) => e)
    assert.ok(isGatewayError(err) && err.code === 'CHAIN_FEE_CAP_EXCEEDED', String(err))
    assert.match(err.message, /base fee 80 gwei is above the cap of 50 gwei/)
    assert.match(await registry.metrics(), /litgate_chain_fee_cap_exceeded_total\{action="refused"\} 1/)
    const s = chain.status()
    assert.equal(s.state, 'degraded')
    assert.ok(s.reasons.includes('fee-cap-exceeded'))
    assert.equal(s.canSend, false)
    assert.equal(s.acceptsPayments, true)
    assert.equal(s.wallet?.nextNonce ?? null, null, 'no nonce was taken')
  } finally {
    await setBaseFee(parseGwei('1'))
  }
})

void test('gas-spike protection, queue policy: waits under the cap, then sends when the base fee drops', async () => {
  const { sender, registry } = await makeChain(4, {
    gas: { maxFeePerGasWei: parseGwei('50'), feeCapPolicy: 'queue' },
    // The deadline below is about the fee cap, not the RPC: a 300 ms RPC timeout flaked under load.
    rpc: { timeoutMs: 2_000 },
  })
  await setBaseFee(parseGwei('80'))
  const pending = sender.send({ to: SINK, value: 1n }, { deadlineMs: 5_000 })
  // Wait until the send has seen the high base fee and queued (a fixed sleep was too short under load).
  for (
    let i = 0;
    i < 300 && !/fee_cap_exceeded_total\{action="queued"\} 1/.test(await registry.metrics());
    i++
  ) {
    await new Promise((r) => setTimeout(r, 10))
  }
  assert.match(await registry.metrics(), /litgate_chain_fee_cap_exceeded_total\{action="queued"\} 1/)
  await setBaseFee(parseGwei('1'))
  const sent = await pending
  assert.equal((await sent.wait({ timeoutMs: 5_000 })).status, 'success')
  // And a queue that outlives its deadline fails clearly.
  await setBaseFee(parseGwei('80'))
  try {
    // 3 s, not less: under a loaded machine the fee reads themselves must fit in the deadline.
    const err = await sender.send({ to: SINK, value: 1n }, { deadlineMs: 3_000 }).catch((e: unknown) => e)
    assert.ok(
      isGatewayError(err) && err.code === 'CHAIN_FEE_CAP_EXCEEDED',
      `expected CHAIN_FEE_CAP_EXCEEDED, got ${isGatewayError(err) ? `${err.code}: ${err.message}` : String(err)}`,
    )
    assert.match(await registry.metrics(), /litgate_chain_fee_cap_exceeded_total\{action="expired"\} 1/)
  } finally {
    await setBaseFee(parseGwei('1'))
  }
})

void test('a reorg removing a transaction confirmed at depth 1 is detected, re-broadcast and re-awaited', async () => {
  const { sender, events, captured } = await makeChain(5, {
    confirmation: { tag: 'latest', confirmations: 2 },
  })
  const sent = await sender.send({ to: SINK, value: 7n })
  await eventually(has(events, 'included'), 5_000, 'inclusion at depth 1')
  const first = events.find((e) => e.type === 'included')!
  await anvil.rpc('anvil_reorg', [1, []]) // replace the head block with one that does not contain it
  await eventually(has(events, 'reorged'), 5_000, 'reorg detection')
  await eventually(has(events, 'rebroadcast'), 5_000, 're-broadcast of the dropped transaction')
  await anvil.rpc('evm_mine') // depth 2 for its new inclusion
  const confirmed = await sent.wait({ timeoutMs: 5_000 })
  assert.equal(confirmed.hash, sent.hash, 'the same signed transaction, not a second one')
  assert.equal(confirmed.reorgs, 1)
  assert.notEqual(confirmed.blockHash, first.blockHash)
  const reorged = events.find((e) => e.type === 'reorged')!
  assert.equal(reorged.blockHash, first.blockHash)
  assert.equal(captured.find('transaction block reorged away; re-awaiting').length, 1)
})

void test('a transaction dropped from the mempool is re-broadcast and confirmed', async () => {
  const { sender, events } = await makeChain(6)
  await anvil.rpc('evm_setAutomine', [false])
  try {
    const sent = await sender.send({ to: SINK, value: 3n })
    await anvil.rpc('anvil_dropTransaction', [sent.hash])
    await eventually(has(events, 'rebroadcast'), 5_000, 're-broadcast')
    await anvil.rpc('evm_mine')
    assert.equal((await sent.wait({ timeoutMs: 5_000 })).hash, sent.hash)
  } finally {
    await anvil.rpc('evm_setAutomine', [true])
  }
})

void test('a transaction stuck beyond the timeout is replaced with higher fees', async () => {
  const { sender, events, chain } = await makeChain(7, { tx: { stuckAfterMs: 300 } })
  await anvil.rpc('evm_setAutomine', [false])
  try {
    const sent = await sender.send({ to: SINK, value: 4n })
    await eventually(has(events, 'bumped'), 5_000, 'fee bump')
    await anvil.rpc('evm_mine')
    const confirmed = await sent.wait({ timeoutMs: 5_000 })
    const bumped = events.find((e) => e.type === 'bumped')!
    assert.equal(confirmed.hash, bumped.hash)
    assert.notEqual(confirmed.hash, sent.hash)
    assert.equal(confirmed.bumps, 1)
    const original = await chain.publicClient.getTransaction({ hash: confirmed.hash })
    assert.equal(original.nonce, sent.nonce)
  } finally {
    await anvil.rpc('evm_setAutomine', [true])
  }
})

void test('resyncs the nonce from the chain when another sender used the key', async () => {
  const { sender, signer, events, registry } = await makeChain(8)
  await (await sender.send({ to: SINK, value: 1n })).wait({ timeoutMs: 5_000 })
  // Someone else sends with the same key (impersonation stands in for a second process holding it).
  await anvil.rpc('anvil_impersonateAccount', [signer.address])
  await anvil.rpc('eth_sendTransaction', [{ from: signer.address, to: SINK, value: '0x1' }])
  await anvil.rpc('anvil_stopImpersonatingAccount', [signer.address])
  const sent = await sender.send({ to: SINK, value: 2n })
  assert.equal((await sent.wait({ timeoutMs: 5_000 })).status, 'success')
  assert.equal(sent.nonce, 2)
  assert.ok(!events.some((e) => e.type === 'replaced'))
  assert.match(
    await registry.metrics(),
    /litgate_chain_tx_events_total\{event="nonce_resync"\} 1/,
    'went through a nonce-too-low resync',
  )
})

void test('a nonce consumed by a foreign transaction is reported as CHAIN_NONCE_CONFLICT', async () => {
  const { sender } = await makeChain(9)
  const key = await foreignKeyOf(9)
  await anvil.rpc('evm_setAutomine', [false])
  try {
    const sent = await sender.send({ to: SINK, value: 5n })
    const foreign = await key.signTransaction({
      chainId: 31337,
      type: 'eip1559',
      nonce: sent.nonce,
      to: DEV_ADDR1,
      value: 1n,
      gas: 21_000n,
      maxFeePerGas: parseGwei('90'),
      maxPriorityFeePerGas: parseGwei('3'),
    })
    await anvil.rpc('eth_sendRawTransaction', [foreign])
    await anvil.rpc('evm_mine')
    const err = await sent.wait({ timeoutMs: 5_000 }).catch((e: unknown) => e)
    assert.ok(isGatewayError(err) && err.code === 'CHAIN_NONCE_CONFLICT', String(err))
  } finally {
    await anvil.rpc('evm_setAutomine', [true])
  }
  // The sender recovers: the next send uses the chain's nonce.
  assert.equal(
    (await (await sender.send({ to: SINK, value: 6n })).wait({ timeoutMs: 5_000 })).status,
    'success',
  )
})

/** The dev key at `index`, as a viem account outside the sender (plays "another process with the key"). */
async function foreignKeyOf(index: number) {
  const { accountFromMnemonicForTest } = await import('./support-keys.ts')
  return accountFromMnemonicForTest(ANVIL_MNEMONIC, index)
}

void test('rejects sends from an account without funds, keeping the nonce', async () => {
  const empty = privateKeyToAccount(`0x${'11'.repeat(32)}` as Hex)
  const deps = testDeps()
  const chain = createChain(
    { chain: { ...ANVIL_LOCAL, rpc: [{ name: 'anvil', http: anvil.url }] }, rpc: FAST_RPC, tx: FAST_TX },
    {
      ...deps,
      signer: {
        address: empty.address,
        account: empty,
        source: 'test',
        toJSON: () => ({ address: empty.address, source: 'test' }),
      },
    },
  )
  chains.push(chain)
  await chain.start()
  const err = await chain.sender!.send({ to: SINK, value: 1n, gas: 21_000n }).catch((e: unknown) => e)
  assert.ok(isGatewayError(err) && err.code === 'CHAIN_INSUFFICIENT_FUNDS', String(err))
  assert.equal(chain.status().wallet?.nextNonce, 0)
})

void test('chain outage: sends fail fast, status is down, and monitoring resumes after reconnection', async () => {
  const proxy = await startTcpFault({ mode: 'proxy', targetPort: anvil.port })
  try {
    const { sender, chain, captured } = await makeChain(10, {
      rpcUrl: proxy.url,
      confirmation: { tag: 'latest', confirmations: 2 },
    })
    const sent = await sender.send({ to: SINK, value: 8n })
    proxy.setMode('reset')
    proxy.cut()
    const t0 = Date.now()
    const err = await sender.send({ to: SINK, value: 9n }).catch((e: unknown) => e)
    assert.ok(isGatewayError(err) && err.code === 'CHAIN_UNAVAILABLE', String(err))
    assert.ok(Date.now() - t0 < 2_000, 'fails fast, no hanging on the dead chain')
    const down = chain.status()
    assert.equal(down.state, 'down')
    assert.equal(down.acceptsPayments, false)
    await sender.poll() // a monitoring round during the outage is skipped, not fatal
    assert.equal(captured.find('transaction monitor round skipped').length, 1)

    await anvil.rpc('evm_mine') // the chain moves on meanwhile
    proxy.setMode('proxy')
    // The breaker may have tripped more than once during the outage (the send, then the skipped round), so
    // its jittered cooldown can exceed breakerOpenBaseMs; reconnection is the first probe after it, bounded by
    // the longest cooldown the tuning allows.
    const reconnectBy = Date.now() + 2 * FAST_RPC.breakerOpenMaxMs
    while (chain.status().state !== 'up' && Date.now() < reconnectBy) {
      await new Promise((r) => setTimeout(r, 25))
      await chain.rpc.probe()
    }
    assert.equal(chain.status().state, 'up')
    assert.equal((await sent.wait({ timeoutMs: 5_000 })).status, 'success')
  } finally {
    await proxy.close()
  }
})
