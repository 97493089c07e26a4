/**
 * Endpoints that must not be used even though they answer: one serving another chain (refused at start,
 * start fails when every endpoint is wrong) and one whose head lags behind the others.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createChainMetrics, createRpcClient, type RpcClient } from '../../src/blockchain/index.ts'
import { isGatewayError } from '../../src/errors/index.ts'
import { startAnvil, type AnvilInstance } from '../helpers/anvil.ts'
import { FAST_RPC, testDeps } from './support.ts'

/** Independent anvils stand in for two providers of one chain: same genesis block (timestamp and state). */
const SAME_GENESIS = ['--timestamp', String(Math.floor(Date.now() / 1000))]
let good: AnvilInstance
let ahead: AnvilInstance
let wrong: AnvilInstance
const clients: RpcClient[] = []

before(async () => {
  ;[good, ahead, wrong] = await Promise.all([
    startAnvil({ chainId: 31337, args: SAME_GENESIS }),
    startAnvil({ chainId: 31337, args: SAME_GENESIS }),
    startAnvil({ chainId: 1 }),
  ])
})
after(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await Promise.all([good.stop(), ahead.stop(), wrong.stop()])
})

function client(endpoints: { name: string; http: string }[], maxHeadLagBlocks = FAST_RPC.maxHeadLagBlocks) {
  const deps = testDeps()
  const rpc = createRpcClient(
    { chainId: 31337, endpoints, tuning: { ...FAST_RPC, maxHeadLagBlocks } },
    { ...deps, metrics: createChainMetrics(deps.registry) },
  )
  clients.push(rpc)
  return { rpc, ...deps }
}

void test('an endpoint on the wrong chain is refused at start; calls go to the right one', async () => {
  const { rpc, registry, captured } = client([
    { name: 'wrong', http: wrong.url },
    { name: 'good', http: good.url },
  ])
  await rpc.start()
  const [w, g] = rpc.snapshot().endpoints
  assert.equal(w?.chainCheck, 'wrong-chain')
  assert.equal(w?.usability, 'wrong-chain')
  assert.equal(g?.chainCheck, 'ok')
  assert.equal(rpc.snapshot().state, 'degraded')
  assert.equal(await rpc.request('eth_chainId'), '0x7a69')
  assert.match(
    await registry.metrics(),
    /litgate_chain_endpoint_refused_total\{endpoint="wrong",reason="wrong_chain"\} 1/,
  )
  const logged = captured.find('rpc endpoint serves the wrong chain; refused')
  assert.deepEqual(
    [logged[0]?.endpoint, logged[0]?.expectedChainId, logged[0]?.reportedChainId],
    ['wrong', 31337, 1],
  )
})

void test('start fails with CHAIN_WRONG_ID when every endpoint serves another chain', async () => {
  const { rpc } = client([{ name: 'wrong', http: wrong.url }])
  const err = await rpc.start().catch((e: unknown) => e)
  assert.ok(isGatewayError(err) && err.code === 'CHAIN_WRONG_ID', String(err))
  const call = await rpc.request('eth_blockNumber').catch((e: unknown) => e)
  assert.ok(isGatewayError(call) && call.code === 'CHAIN_UNAVAILABLE')
})

void test('a lagging endpoint is refused until it catches up', async () => {
  await ahead.rpc('anvil_mine', ['0x1e']) // 30 blocks ahead of `good`
  // Two endpoints on the node that is ahead outvote the one behind.
  const { rpc, registry } = client(
    [
      { name: 'behind', http: good.url },
      { name: 'ahead', http: ahead.url },
      { name: 'ahead2', http: ahead.url },
    ],
    10,
  )
  await rpc.start()
  const behind = rpc.snapshot().endpoints[0]
  assert.equal(behind?.usability, 'lagging')
  assert.ok((behind?.headLagBlocks ?? 0) >= 30)
  assert.ok(
    Number(await rpc.request<string>('eth_blockNumber')) >= 30,
    'served by the endpoint that is ahead, though listed second',
  )
  assert.match(
    await registry.metrics(),
    /litgate_chain_endpoint_refused_total\{endpoint="behind",reason="lagging"\} 1/,
  )
  assert.match(await registry.metrics(), /litgate_chain_endpoint_head_lag_blocks\{endpoint="behind"\} 3\d/)

  await good.rpc('anvil_mine', ['0x1e'])
  await rpc.probe()
  assert.equal(rpc.snapshot().endpoints[0]?.usability, 'usable')
  assert.equal(rpc.snapshot().state, 'up')
})

void test('one endpoint ahead of a single other is suspect, not the other lagging', async () => {
  const { rpc } = client(
    [
      { name: 'behind', http: good.url },
      { name: 'ahead', http: ahead.url },
    ],
    10,
  )
  await ahead.rpc('anvil_mine', ['0x1e'])
  await rpc.start()
  assert.equal(rpc.snapshot().endpoints[0]?.usability, 'usable')
  assert.equal(rpc.snapshot().endpoints[1]?.usability, 'suspect')
})
