/**
 * Chain trust against a real anvil and a lying JSON-RPC proxy in front of it (lying-rpc.ts): the liar
 * never wins the head, its forged receipts, logs, tags and eth_call answers are refused with
 * CHAIN_ENDPOINTS_DISAGREE and it is demoted while the honest endpoints keep serving; a chain id or genesis
 * change after start is caught within one re-check interval; nonce counts come from a quorum.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import {
  createChainMetrics,
  createRpcClient,
  type RpcClient,
  type RpcTuning,
} from '../../src/blockchain/index.ts'
import { isGatewayError } from '../../src/errors/index.ts'
import { startAnvil, type AnvilInstance } from '../helpers/anvil.ts'
import { resultOf, startLyingRpc, type Lie, type LyingRpc } from './lying-rpc.ts'
import { DEV_ADDR0, FAST_RPC, eventually, testDeps } from './support.ts'

const CHAIN_ID = 31337
const HUGE = '0x3b9aca00' // block 1,000,000,000
let anvil: AnvilInstance
let liar: LyingRpc
let relay: LyingRpc
const clients: RpcClient[] = []
/** A mined transaction that emitted one log (a contract whose constructor runs LOG0). */
let txHash: `0x${string}`
let txBlock: number

before(async () => {
  anvil = await startAnvil({ chainId: CHAIN_ID })
  ;[liar, relay] = await Promise.all([startLyingRpc(anvil.url), startLyingRpc(anvil.url)])
  await anvil.rpc('anvil_mine', ['0x64']) // 100 blocks, so `safe` and `finalized` are above 0
  txHash = await anvil.rpc('eth_sendTransaction', [{ from: DEV_ADDR0, data: '0x60006000a000' }])
  // anvil mines the transaction right after answering: the receipt can be null for a moment (seen under load).
  let receipt: { blockNumber: string; logs: unknown[] } | null = null
  for (let i = 0; i < 500 && receipt === null; i++) {
    receipt = await anvil.rpc<{ blockNumber: string; logs: unknown[] } | null>('eth_getTransactionReceipt', [
      txHash,
    ])
    if (receipt === null) await new Promise((r) => setTimeout(r, 10))
  }
  assert.ok(receipt !== null, 'the transaction was mined')
  txBlock = Number(receipt.blockNumber)
  assert.equal(receipt.logs.length, 1)
})
after(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await Promise.all([liar.close(), relay.close()])
  await anvil.stop()
})

/** The liar first in configuration order (the operator's preferred endpoint), honest ones after it. */
function client(names: readonly ('liar' | 'a' | 'b')[], tuning: Partial<RpcTuning> = {}) {
  const urls = { liar: liar.url, a: anvil.url, b: relay.url }
  const deps = testDeps()
  const rpc = createRpcClient(
    {
      chainId: CHAIN_ID,
      endpoints: names.map((name) => ({ name, http: urls[name] })),
      tuning: { ...FAST_RPC, ...tuning },
    },
    { ...deps, metrics: createChainMetrics(deps.registry) },
  )
  clients.push(rpc)
  return { rpc, ...deps }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  assert.ok(isGatewayError(err), `expected a GatewayError, got ${String(err)}`)
  return err.code
}

const statusOf = (rpc: RpcClient, name: string) => rpc.snapshot().endpoints.find((e) => e.name === name)!

/** Reports a head `blocks` above the honest one (or HUGE), in eth_blockNumber and the latest block. */
const headLie =
  (blocks: number | 'huge'): Lie =>
  (call, honest) => {
    const bump = (n: unknown): string => (blocks === 'huge' ? HUGE : `0x${(Number(n) + blocks).toString(16)}`)
    if (call.method === 'eth_blockNumber') return { result: bump(resultOf(honest)) }
    if (call.method === 'eth_getBlockByNumber' && call.params[0] === 'latest') {
      const block = resultOf(honest) as { number: string }
      return { result: { ...block, number: bump(block.number) } }
    }
    return undefined
  }
const hugeHead = headLie('huge')

void test('a liar reporting a far head never wins it: it is suspect, the honest endpoints keep serving', async () => {
  // With a rate limit this loose, +500 usually passes the wall-clock limit and only the vote catches it
  // (unless the trusted head was anchored within the same half millisecond).
  for (const [lie, reasons, maxBlocksPerSecond] of [
    [headLie(500), ['ahead', 'implausible-head'], 1_000_000],
    [hugeHead, ['implausible-head'], 1_000],
  ] as const) {
    liar.setLie(lie)
    try {
      const honestHead = Number(await anvil.rpc<string>('eth_blockNumber'))
      for (const names of [
        ['liar', 'a', 'b'],
        ['liar', 'a'],
      ] as const) {
        const what = `${reasons[0]}, ${names.length} endpoints`
        const { rpc, registry, captured } = client(names, { maxBlocksPerSecond })
        await rpc.start()
        // On a loaded machine a first probe can time out; the claim is about heads that were observed.
        for (let i = 0; i < 5 && rpc.snapshot().endpoints.some((e) => e.headBlock === null); i++)
          await rpc.probe()
        const snap = rpc.snapshot()
        assert.equal(snap.headBlock, honestHead, `${what}: the trusted head is the honest one`)
        assert.equal(statusOf(rpc, 'liar').usability, 'suspect', `${what} ${JSON.stringify(snap)}`)
        assert.ok((reasons as readonly (string | null)[]).includes(statusOf(rpc, 'liar').suspect), what)
        assert.equal(statusOf(rpc, 'a').usability, 'usable', `${what}: the honest endpoint is not "lagging"`)
        assert.equal(statusOf(rpc, 'a').headLagBlocks, 0)
        const served = Number(await rpc.request<string>('eth_blockNumber'))
        assert.ok(served < honestHead + 5, `${what}: served by an honest endpoint (${served})`)
        assert.match(
          await registry.metrics(),
          /litgate_chain_endpoint_refused_total\{endpoint="liar",reason="suspect"\} 1/,
        )
        assert.equal(captured.find('rpc endpoint head not believed; refused as suspect')[0]?.endpoint, 'liar')
      }
    } finally {
      liar.setLie(undefined)
    }
  }
})

void test('alone, an endpoint with a head faster than any chain or dated in the future is refused', async () => {
  liar.setLie(hugeHead)
  try {
    const { rpc } = client(['liar'])
    await rpc.start()
    assert.equal(statusOf(rpc, 'liar').suspect, 'implausible-head')
    assert.equal(rpc.snapshot().state, 'down')
    assert.equal(await codeOf(rpc.request('eth_blockNumber')), 'CHAIN_UNAVAILABLE')
  } finally {
    liar.setLie(undefined)
  }
  const future = `0x${(Math.floor(Date.now() / 1000) + 3_600).toString(16)}`
  liar.setLie((call, honest) =>
    call.method === 'eth_getBlockByNumber' && call.params[0] === 'latest'
      ? { result: { ...(resultOf(honest) as object), timestamp: future } }
      : undefined,
  )
  try {
    const { rpc } = client(['liar'])
    await rpc.start()
    assert.equal(statusOf(rpc, 'liar').suspect, 'future-block')
    assert.equal(rpc.snapshot().state, 'down')
  } finally {
    liar.setLie(undefined)
  }
  // Honest, it is believed as before.
  const { rpc } = client(['liar'])
  await rpc.start()
  assert.equal(rpc.snapshot().state, 'up')
})

void test('a forged receipt is refused with CHAIN_ENDPOINTS_DISAGREE, the liar demoted, the honest keep serving', async () => {
  const forgedHash = `0x${'ab'.repeat(32)}` as const
  const real = await anvil.rpc<Record<string, unknown>>('eth_getTransactionReceipt', [txHash])
  liar.setLie((call) => {
    if (call.method !== 'eth_getTransactionReceipt') return undefined
    // A payment that never happened, in a real block, and a real transaction shown as reverted.
    if (call.params[0] === forgedHash) return { result: { ...real, transactionHash: forgedHash } }
    return { result: { ...real, status: '0x0' } }
  })
  try {
    const { rpc, registry } = client(['liar', 'a', 'b'])
    await rpc.start()
    assert.equal(
      (await rpc.request<{ transactionHash: string }>('eth_getTransactionReceipt', [forgedHash]))
        ?.transactionHash,
      forgedHash,
      'unverified, the liar is believed',
    )
    assert.equal(await codeOf(rpc.verifiedReceipt(forgedHash)), 'CHAIN_ENDPOINTS_DISAGREE')
    assert.equal(statusOf(rpc, 'liar').usability, 'demoted')
    assert.match(await registry.metrics(), /litgate_chain_rpc_disagreements_total\{check="receipt"\} 1/)
    assert.match(
      await registry.metrics(),
      /litgate_chain_endpoint_refused_total\{endpoint="liar",reason="disagreed"\} 1/,
    )
    // The honest endpoints keep serving verified reads.
    assert.equal(await rpc.verifiedReceipt(forgedHash), null)
    const r = await rpc.verifiedReceipt(txHash)
    assert.equal(r?.status, 'success')
    assert.equal(r?.blockNumber, txBlock)
    assert.equal(rpc.snapshot().state, 'degraded')
  } finally {
    liar.setLie(undefined)
  }
})

void test('a forged status on a real receipt is refused too', async () => {
  const real = await anvil.rpc<Record<string, unknown>>('eth_getTransactionReceipt', [txHash])
  liar.setLie((call) =>
    call.method === 'eth_getTransactionReceipt' ? { result: { ...real, status: '0x0' } } : undefined,
  )
  try {
    const { rpc } = client(['liar', 'a', 'b'])
    await rpc.start()
    assert.equal(await codeOf(rpc.verifiedReceipt(txHash)), 'CHAIN_ENDPOINTS_DISAGREE')
    assert.equal(statusOf(rpc, 'liar').usability, 'demoted')
    assert.equal((await rpc.verifiedReceipt(txHash))?.status, 'success')
  } finally {
    liar.setLie(undefined)
  }
})

void test('a forged log is refused, the liar demoted, honest logs still served', async () => {
  liar.setLie((call, honest) => {
    if (call.method !== 'eth_getLogs') return undefined
    const logs = resultOf(honest) as Record<string, unknown>[]
    return { result: [...logs, { ...logs[0], data: `0x${'00'.repeat(31)}01`, logIndex: '0x7' }] }
  })
  try {
    const { rpc, registry } = client(['liar', 'a', 'b'])
    await rpc.start()
    assert.equal(
      await codeOf(rpc.verifiedLogs({ fromBlock: txBlock, toBlock: txBlock })),
      'CHAIN_ENDPOINTS_DISAGREE',
    )
    assert.equal(statusOf(rpc, 'liar').usability, 'demoted')
    assert.match(await registry.metrics(), /litgate_chain_rpc_disagreements_total\{check="logs"\} 1/)
    const logs = await rpc.verifiedLogs({ fromBlock: txBlock, toBlock: txBlock })
    assert.equal(logs.length, 1)
    assert.equal(logs[0]?.transactionHash, txHash)
  } finally {
    liar.setLie(undefined)
  }
})

void test('a wrong safe/finalized tag is refused, the liar demoted; the agreed tag is the lower one', async () => {
  liar.setLie((call, honest) => {
    if (
      call.method !== 'eth_getBlockByNumber' ||
      (call.params[0] !== 'safe' && call.params[0] !== 'finalized')
    )
      return undefined
    return { result: { ...(resultOf(honest) as object), number: '0x5f5e100', hash: `0x${'cd'.repeat(32)}` } }
  })
  try {
    const { rpc, registry } = client(['liar', 'a', 'b'])
    await rpc.start()
    assert.equal(await codeOf(rpc.verifiedBlockTag('safe')), 'CHAIN_ENDPOINTS_DISAGREE')
    assert.equal(statusOf(rpc, 'liar').usability, 'demoted')
    assert.match(await registry.metrics(), /litgate_chain_rpc_disagreements_total\{check="tag"\} 1/)
    const honest = await anvil.rpc<{ number: string; hash: string }>('eth_getBlockByNumber', [
      'finalized',
      false,
    ])
    assert.deepEqual(await rpc.verifiedBlockTag('finalized'), {
      number: Number(honest.number),
      hash: honest.hash,
    })
  } finally {
    liar.setLie(undefined)
  }
})

void test('a different eth_call answer (an access check) is refused, the liar demoted', async () => {
  const call = { to: '0x0000000000000000000000000000000000000004' as const, data: '0x00c0ffee' as const } // identity precompile
  liar.setLie((c) => (c.method === 'eth_call' ? { result: `0x${'00'.repeat(31)}01` } : undefined))
  try {
    const { rpc, registry } = client(['liar', 'a', 'b'])
    await rpc.start()
    assert.equal(await codeOf(rpc.verifiedCall(call)), 'CHAIN_ENDPOINTS_DISAGREE')
    assert.equal(statusOf(rpc, 'liar').usability, 'demoted')
    assert.match(await registry.metrics(), /litgate_chain_rpc_disagreements_total\{check="call"\} 1/)
    assert.equal(await rpc.verifiedCall(call), '0x00c0ffee')
  } finally {
    liar.setLie(undefined)
  }
})

void test('with two endpoints a disagreement is refused but nobody can be blamed', async () => {
  liar.setLie((c) => (c.method === 'eth_call' ? { result: '0x01' } : undefined))
  try {
    const { rpc, captured } = client(['liar', 'a'])
    await rpc.start()
    const call = { to: '0x0000000000000000000000000000000000000004' as const, data: '0x00c0ffee' as const }
    assert.equal(await codeOf(rpc.verifiedCall(call)), 'CHAIN_ENDPOINTS_DISAGREE')
    assert.equal(statusOf(rpc, 'liar').usability, 'usable')
    assert.equal(captured.find('rpc endpoints disagree; no majority to tell which one lies').length, 1)
    // A verified read needs a second opinion: with the other endpoint gone it is refused, not trusted.
    liar.setLie(() => ({ error: { code: -32005, message: 'rate limit exceeded' } }))
    assert.equal(await codeOf(rpc.verifiedCall({ ...call, blockNumber: txBlock })), 'CHAIN_UNAVAILABLE')
  } finally {
    liar.setLie(undefined)
  }
})

void test('a chain id change after start is caught within one re-check interval and the endpoint removed', async (t) => {
  const intervalMs = 300
  const { rpc, registry, captured } = client(['liar', 'a'], { identityRecheckMs: intervalMs })
  await rpc.start()
  assert.equal(statusOf(rpc, 'liar').chainCheck, 'ok')
  const checksBefore = liar.calls.get('eth_chainId') ?? 0
  liar.setLie((c) => (c.method === 'eth_chainId' ? { result: '0x1' } : undefined))
  const changedAt = Date.now()
  try {
    await eventually(
      () => statusOf(rpc, 'liar').chainCheck === 'wrong-chain',
      intervalMs + 1_500,
      'chain id change detected',
    )
    const detectedMs = Date.now() - changedAt
    t.diagnostic(`chain id change detected after ${detectedMs} ms (interval ${intervalMs} ms)`)
    // Within one interval: the first re-check after the change caught it (timing alone is noisy under load).
    assert.ok((liar.calls.get('eth_chainId') ?? 0) - checksBefore <= 1, 'caught by the first re-check')
    assert.ok(detectedMs <= intervalMs + 1_000, `detected after ${detectedMs} ms`)
    assert.equal(statusOf(rpc, 'liar').usability, 'wrong-chain')
    assert.equal(captured.find('rpc endpoint changed chain; removed from rotation')[0]?.endpoint, 'liar')
    assert.match(
      await registry.metrics(),
      /litgate_chain_endpoint_refused_total\{endpoint="liar",reason="wrong_chain"\} 1/,
    )
    const before = liar.calls.get('eth_blockNumber') ?? 0
    for (let i = 0; i < 5; i++) await rpc.request('eth_blockNumber')
    assert.equal(liar.calls.get('eth_blockNumber') ?? 0, before, 'no call goes to the removed endpoint')
  } finally {
    liar.setLie(undefined)
  }
})

void test('a genesis change after start is caught by the re-check', async () => {
  const { rpc, registry } = client(['liar', 'a', 'b'])
  await rpc.start()
  liar.setLie((c, honest) =>
    c.method === 'eth_getBlockByNumber' && c.params[0] === '0x0'
      ? { result: { ...(resultOf(honest) as object), hash: `0x${'ee'.repeat(32)}` } }
      : undefined,
  )
  try {
    await rpc.recheckIdentity()
    assert.equal(statusOf(rpc, 'liar').chainCheck, 'wrong-chain')
    assert.match(
      await registry.metrics(),
      /litgate_chain_endpoint_refused_total\{endpoint="liar",reason="wrong_genesis"\} 1/,
    )
    assert.equal(statusOf(rpc, 'a').chainCheck, 'ok')
  } finally {
    liar.setLie(undefined)
  }
})

void test('the transaction count comes from a quorum: one endpoint cannot push the nonce up', async () => {
  const honest = Number(await anvil.rpc<string>('eth_getTransactionCount', [DEV_ADDR0, 'pending']))
  liar.setLie((c) => (c.method === 'eth_getTransactionCount' ? { result: '0x3e8' } : undefined))
  try {
    for (const names of [
      ['liar', 'a', 'b'],
      ['liar', 'a'],
    ] as const) {
      const { rpc } = client(names)
      await rpc.start()
      assert.equal(await rpc.agreedTransactionCount(DEV_ADDR0, 'pending'), honest)
    }
  } finally {
    liar.setLie(undefined)
  }
})

void test('a liar with another genesis from the start loses the vote, even when it answers first', async () => {
  const forged: Lie = (c, honest) =>
    c.method === 'eth_getBlockByNumber' && c.params[0] === '0x0'
      ? { result: { ...(resultOf(honest) as object), hash: `0x${'ee'.repeat(32)}` } }
      : undefined
  liar.setLie(forged)
  try {
    const { rpc, captured } = client(['liar', 'a', 'b'])
    await rpc.start()
    assert.equal(statusOf(rpc, 'liar').chainCheck, 'wrong-chain')
    assert.equal(statusOf(rpc, 'a').usability, 'usable')
    assert.equal(captured.find('rpc endpoint serves the wrong chain; refused')[0]?.reason, 'wrong_genesis')
    assert.ok(Number(await rpc.request<string>('eth_blockNumber')) > 0)
    // Two endpoints that disagree on genesis: no majority, neither is trusted.
    const two = client(['liar', 'a'])
    await two.rpc.start()
    assert.equal(two.rpc.snapshot().state, 'down')
    assert.equal(
      two.captured.find('rpc endpoints disagree on the genesis block; none trusted until a majority agrees')
        .length >= 1,
      true,
    )
  } finally {
    liar.setLie(undefined)
  }
})
