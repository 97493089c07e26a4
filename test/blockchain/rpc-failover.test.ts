/**
 * The failover RPC client against real anvil processes and a TCP fault injector: failover when the
 * primary process is killed mid-run (measured), per-call timeouts and the circuit breaker on an endpoint
 * that accepts connections but never answers, reconnection with re-verification of the chain id.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createChainMetrics, createRpcClient, type RpcClient } from '../../src/blockchain/index.ts'
import { isGatewayError } from '../../src/errors/index.ts'
import { startAnvil, type AnvilInstance } from '../helpers/anvil.ts'
import { startTcpFault, type TcpFault } from '../helpers/tcp-fault.ts'
import { DEV_ADDR0, FAST_RPC, testDeps } from './support.ts'

const CHAIN_ID = 31337
/** Independent anvils stand in for two providers of one chain: same genesis block (timestamp and state). */
const SAME_GENESIS = ['--timestamp', String(Math.floor(Date.now() / 1000))]
let backup: AnvilInstance
let hole: TcpFault
const clients: RpcClient[] = []

before(async () => {
  ;[backup, hole] = await Promise.all([
    startAnvil({ chainId: CHAIN_ID, args: SAME_GENESIS }),
    startTcpFault({ mode: 'blackhole' }),
  ])
  // Mark the backup: same chain id, different state, so a read tells which endpoint served it.
  await backup.rpc('anvil_setBalance', [DEV_ADDR0, '0x1234'])
})
after(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await Promise.all([backup.stop(), hole.close()])
})

function client(endpoints: { name: string; http: string }[], tuning = FAST_RPC) {
  const deps = testDeps()
  const rpc = createRpcClient(
    { chainId: CHAIN_ID, endpoints, tuning },
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

void test('fails over to the backup when the primary anvil is killed mid-run, with no failed call', async (t) => {
  const primary = await startAnvil({ chainId: CHAIN_ID, args: SAME_GENESIS })
  try {
    const { rpc, captured } = client(
      [
        { name: 'primary', http: primary.url },
        { name: 'backup', http: backup.url },
      ],
      { ...FAST_RPC, maxHeadLagBlocks: 1_000 },
    )
    await rpc.start()
    assert.equal(rpc.snapshot().state, 'up')

    const served: { end: number; by: 'primary' | 'backup' }[] = []
    let killedAt = 0
    let stop = false
    const loop = (async () => {
      while (!stop) {
        const balance = await rpc.request<string>('eth_getBalance', [DEV_ADDR0, 'latest'])
        served.push({ end: Date.now(), by: balance === '0x1234' ? 'backup' : 'primary' })
      }
    })()
    while (served.length < 20) await new Promise((r) => setImmediate(r))
    await primary.kill()
    killedAt = Date.now()
    while (!served.some((s) => s.by === 'backup' && s.end > killedAt))
      await new Promise((r) => setTimeout(r, 5))
    const afterKill = served.length
    while (served.length < afterKill + 20) await new Promise((r) => setImmediate(r))
    stop = true
    await loop // rejects (fails the test) if any call failed

    const firstFailure = captured.find('rpc attempt failed').find((l) => l.endpoint === 'primary')
    assert.ok(firstFailure, 'the primary failure is logged by endpoint name')
    const firstBackup = served.find((s) => s.by === 'backup')!
    const failoverMs = firstBackup.end - (firstFailure.time as number)
    t.diagnostic(`failover time (first failed call on primary -> first success on backup): ${failoverMs} ms`)
    t.diagnostic(
      `calls served: ${served.length} (primary ${served.filter((s) => s.by === 'primary').length}, backup ${served.filter((s) => s.by === 'backup').length})`,
    )
    assert.ok(failoverMs >= 0 && failoverMs < 1_000, `failover took ${failoverMs} ms`)
    assert.ok(served.slice(afterKill).every((s) => s.by === 'backup'))
    const primaryStatus = rpc.snapshot().endpoints.find((e) => e.name === 'primary')!
    assert.notEqual(primaryStatus.lastFailure, null)
    assert.equal(rpc.snapshot().state, 'degraded')
  } finally {
    await primary.stop()
  }
})

void test('an endpoint that accepts connections but never answers times out, then its breaker opens', async () => {
  const { rpc, registry } = client([{ name: 'hole', http: hole.url }], { ...FAST_RPC, maxAttempts: 1 })
  const t0 = Date.now()
  assert.equal(await codeOf(rpc.request('eth_blockNumber')), 'CHAIN_RPC_TIMEOUT')
  const firstMs = Date.now() - t0
  assert.ok(
    firstMs >= FAST_RPC.timeoutMs - 20 && firstMs < FAST_RPC.timeoutMs + 500,
    `first call took ${firstMs} ms`,
  )
  assert.equal(await codeOf(rpc.request('eth_blockNumber')), 'CHAIN_RPC_TIMEOUT')
  assert.equal(rpc.snapshot().endpoints[0]?.breaker, 'open')

  const connections = hole.acceptedConnections
  const t1 = Date.now()
  assert.equal(await codeOf(rpc.request('eth_blockNumber')), 'CHAIN_UNAVAILABLE')
  assert.ok(Date.now() - t1 < 50, 'an open breaker fails fast')
  assert.equal(hole.acceptedConnections, connections, 'no connection while the breaker is open')
  assert.equal(rpc.snapshot().state, 'down')
  const text = await registry.metrics()
  assert.match(text, /litgate_chain_rpc_failures_total\{endpoint="hole",kind="timeout"\} 2/)
  assert.match(text, /litgate_chain_endpoint_breaker_state\{endpoint="hole"\} 2/)
})

void test('a black-holed primary costs one timeout; later calls go straight to the backup', async (t) => {
  const { rpc } = client([
    { name: 'hole', http: hole.url },
    { name: 'backup', http: backup.url },
  ])
  const t0 = Date.now()
  assert.equal(await rpc.request('eth_getBalance', [DEV_ADDR0, 'latest']), '0x1234')
  const firstMs = Date.now() - t0
  assert.ok(firstMs >= FAST_RPC.timeoutMs - 20, `first call took ${firstMs} ms`)
  t.diagnostic(`failover time from a hung primary (timeout ${FAST_RPC.timeoutMs} ms): ${firstMs} ms`)
  const connections = hole.acceptedConnections
  const t1 = Date.now()
  for (let i = 0; i < 5; i++)
    assert.equal(await rpc.request('eth_getBalance', [DEV_ADDR0, 'latest']), '0x1234')
  assert.ok(Date.now() - t1 < 200, 'no more timeouts')
  assert.equal(hole.acceptedConnections, connections)
})

void test('reconnects with backoff after an outage and re-verifies the chain id', async () => {
  const proxy = await startTcpFault({ mode: 'proxy', targetPort: backup.port })
  const other = await startAnvil({ chainId: 999 })
  try {
    const { rpc, captured } = client([{ name: 'flaky', http: proxy.url }], { ...FAST_RPC, maxAttempts: 1 })
    await rpc.start()
    assert.equal(rpc.snapshot().state, 'up')

    proxy.setMode('reset')
    proxy.cut()
    for (let i = 0; i < FAST_RPC.breakerFailureThreshold; i++)
      assert.equal(await codeOf(rpc.request('eth_blockNumber')), 'CHAIN_UNAVAILABLE')
    assert.equal(rpc.snapshot().state, 'down')
    assert.equal(rpc.snapshot().endpoints[0]?.chainCheck, 'unverified', 'must prove its chain id again')
    assert.equal(
      captured.find('chain unavailable: no usable RPC endpoint; payment features degraded').length,
      1,
    )

    // Comes back, but now serving another chain: the reconnect trial refuses it.
    proxy.setTarget(other.port)
    proxy.setMode('proxy')
    const cooldownEnds = Date.now() + FAST_RPC.breakerOpenBaseMs
    while (Date.now() < cooldownEnds) await new Promise((r) => setTimeout(r, 20))
    await rpc.probe()
    assert.equal(rpc.snapshot().endpoints[0]?.chainCheck, 'wrong-chain')
    assert.equal(rpc.snapshot().state, 'down')
    assert.equal(await codeOf(rpc.request('eth_blockNumber')), 'CHAIN_UNAVAILABLE')

    // Fixed: the next probe verifies it again and the chain is up.
    proxy.setTarget(backup.port)
    proxy.cut()
    await rpc.probe()
    assert.equal(rpc.snapshot().state, 'up')
    assert.equal(await rpc.request('eth_getBalance', [DEV_ADDR0, 'latest']), '0x1234')
    assert.equal(captured.find('chain available again').length, 1)
    assert.ok(captured.find('rpc endpoint verified').length >= 2)
  } finally {
    await Promise.all([proxy.close(), other.stop()])
  }
})
