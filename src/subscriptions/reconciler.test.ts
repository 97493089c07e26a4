// Reconciliation against a real anvil with the contracts deployed (setup as in src/contracts/deploy.test.ts):
// a subscription created on chain, the cache corrupted (wrong end, wrong state, missing row, a row the chain
// does not know), one pass through the cross-checked `verifiedCall` of two RPC endpoints repairs each, audited
// with cause `reconciliation`; a revoke done on chain directly is picked up; the pass is bounded.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import {
  createPublicClient,
  createWalletClient,
  decodeFunctionResult,
  encodeFunctionResult,
  http,
  keccak256,
  parseEventLogs,
  stringToHex,
  type Account,
  type Address,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
} from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { anvil as anvilChain } from 'viem/chains'
import { createChainMetrics, createRpcClient, type RpcClient } from '../blockchain/index.ts'
import {
  deployLitgate,
  paymentProcessorAbi,
  quoteDomain,
  quoteTypes,
  testUsdcAbi,
  type LitgateDeployment,
} from '../contracts/index.ts'
import { ANVIL_MNEMONIC, startAnvil, type AnvilInstance } from '../../test/helpers/anvil.ts'
import { FAST_RPC, testDeps } from '../../test/blockchain/support.ts'
import { startLyingRpc, type LyingRpc } from '../../test/blockchain/lying-rpc.ts'
import { createChainSubscriptionReader, createConfirmedBlockReader } from './chain-subscription-reader.ts'
import { createReconciler } from './reconciler.ts'
import { createSubscriptionLedger } from './subscription-ledger.ts'
import { createMemorySubscriptionStore } from './subscription-store.ts'
import type { Bytes32, SubscriptionRecord } from './types.ts'

let node: AnvilInstance
let publicClient: PublicClient
let deployment: LitgateDeployment
let rpc: RpcClient
let liar: LyingRpc
const account = (i: number): Account => mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i })
const [deployer, admin, operator, quoteSigner, payer, treasury, operatorPayee, guardian, upgrader] = [
  0, 1, 2, 3, 4, 5, 6, 7, 8,
].map(account) as [Account, Account, Account, Account, Account, Account, Account, Account, Account]
const PRICE = 10_000_000n
const PERIOD = 30 * 86_400
const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000' as Address
const ZERO_ID = `0x${'00'.repeat(32)}` as Hex
let planId = 0

const wallet = (who: Account) =>
  createWalletClient({ account: who, chain: anvilChain, transport: http(node.url) })

async function mined(hash: Hex): Promise<TransactionReceipt> {
  const receipt = await publicClient.waitForTransactionReceipt({ hash })
  assert.equal(receipt.status, 'success')
  return receipt
}

async function write(
  who: Account,
  functionName: string,
  args: readonly unknown[],
): Promise<TransactionReceipt> {
  return mined(
    await wallet(who).writeContract({
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName,
      args,
    } as never),
  )
}

const chainNowSec = async (): Promise<number> =>
  Number((await publicClient.getBlock({ blockTag: 'latest' })).timestamp)

/** Pays a fresh quote (creation when `subscriptionId` is zero); returns the PaymentReceived args. */
async function pay(label: string, subscriptionId: Hex = ZERO_ID) {
  const quote = {
    quoteId: keccak256(stringToHex(label)),
    payer: payer.address,
    beneficiary: ZERO_ADDRESS,
    subscriptionId,
    token: deployment.tokens.usdc as Address,
    amount: PRICE,
    planId,
    periods: 1,
    validUntil: BigInt((await chainNowSec()) + 300),
  }
  const signature = await wallet(quoteSigner).signTypedData({
    domain: quoteDomain(deployment.chainId, deployment.paymentProcessor),
    types: quoteTypes,
    primaryType: 'Quote',
    message: quote,
  })
  const receipt = await write(payer, 'pay', [quote, signature])
  const [log] = parseEventLogs({ abi: paymentProcessorAbi, eventName: 'PaymentReceived', logs: receipt.logs })
  assert.ok(log !== undefined)
  return {
    ...(log.args as { digest: Hex; subscriptionId: Hex; start: number; end: number }),
    blockNumber: Number(log.blockNumber),
  }
}

before(async () => {
  node = await startAnvil()
  publicClient = createPublicClient({ chain: anvilChain, transport: http(node.url), cacheTime: 0 })
  deployment = await deployLitgate(
    { walletClient: wallet(deployer), publicClient },
    {
      roles: {
        admin: admin.address,
        upgrader: upgrader.address,
        operator: operator.address,
        guardian: guardian.address,
        quoteSigner: quoteSigner.address,
        operatorPayee: operatorPayee.address,
        treasury: treasury.address,
      },
      operatorFeeBps: 2_000,
      adminDelaySeconds: 86_400,
      testTokens: true,
    },
  )
  const qos = {
    requestsPerSecond: 10,
    requestsPerDay: 100_000n,
    requestsPerMonth: 3_000_000n,
    bandwidthBytesPerPeriod: 10n << 30n,
    maxConcurrentStreams: 4,
  }
  const { result } = await publicClient.simulateContract({
    account: operator,
    address: deployment.paymentProcessor,
    abi: paymentProcessorAbi,
    functionName: 'createPlan',
    args: [qos, PERIOD],
  })
  planId = result
  await write(operator, 'createPlan', [qos, PERIOD])
  await write(operator, 'setSale', [planId, deployment.tokens.usdc, PRICE, true])
  const usdc = deployment.tokens.usdc as Address
  await mined(
    await wallet(deployer).writeContract({
      address: usdc,
      abi: testUsdcAbi,
      functionName: 'mint',
      args: [payer.address, 100n * PRICE],
    }),
  )
  await mined(
    await wallet(payer).writeContract({
      address: usdc,
      abi: testUsdcAbi,
      functionName: 'approve',
      args: [deployment.paymentProcessor, 2n ** 256n - 1n],
    }),
  )
  // Two endpoints (this node, and a proxy to it that lies when told to): verifiedCall cross-checks both.
  liar = await startLyingRpc(node.url)
  const deps = testDeps()
  rpc = createRpcClient(
    {
      chainId: node.chainId,
      endpoints: [
        { name: 'a', http: node.url },
        { name: 'b', http: liar.url },
      ],
      tuning: FAST_RPC,
    },
    { ...deps, metrics: createChainMetrics(deps.registry) },
  )
  await rpc.start()
})

after(async () => {
  await rpc?.close()
  await liar?.close()
  await node?.stop()
})

function harness(maxPerPass = 100, confirmations = 0) {
  const store = createMemorySubscriptionStore()
  const ledger = createSubscriptionLedger({ store })
  let now = 0
  const reconciler = createReconciler(
    { maxPerPass, intervalMs: 60_000, recentWindowSec: 3_600, maxQueued: 100 },
    {
      store,
      ledger,
      readChain: createChainSubscriptionReader(rpc, deployment.paymentProcessor),
      confirmedBlock: createConfirmedBlockReader(rpc, { tag: 'latest', confirmations }),
      nowSec: () => now,
      log: testDeps().log,
    },
  )
  return { store, ledger, reconciler, setNow: (t: number) => (now = t) }
}

async function confirm(h: ReturnType<typeof harness>, p: Awaited<ReturnType<typeof pay>>, blockTs: number) {
  const out = await h.ledger.apply(
    {
      type: 'payment-confirmed',
      digest: p.digest,
      subscriptionId: p.subscriptionId,
      payer: payer.address,
      beneficiary: ZERO_ADDRESS,
      token: deployment.tokens.usdc as Address,
      planId,
      startSec: p.start,
      endSec: p.end,
      blockTimestampSec: blockTs,
      blockNumber: p.blockNumber,
      expected: { periods: 1, periodSeconds: PERIOD },
    },
    { kind: 'chain', source: 'monitor' },
    blockTs,
  )
  assert.equal(out.kind, 'changed')
}

test('reads getSubscription through the verified call; an unknown id is null', async () => {
  const p = await pay('read-1')
  const read = createChainSubscriptionReader(rpc, deployment.paymentProcessor)
  const info = await read(p.subscriptionId as Bytes32)
  assert.deepEqual(info, {
    owner: payer.address,
    beneficiary: payer.address,
    planId,
    token: deployment.tokens.usdc,
    startSec: p.start,
    endSec: p.end,
    status: 'live',
  })
  assert.equal(p.end - p.start, PERIOD)
  assert.equal(await read(keccak256(stringToHex('never paid'))), null)
})

test('a pass repairs a wrong end, a wrong state and a missing row, each audited with cause reconciliation', async () => {
  const h = harness()
  const ids: Bytes32[] = []
  for (const label of ['end', 'state', 'missing']) {
    const p = await pay(`corrupt-${label}`)
    const ts = await chainNowSec()
    h.setNow(ts)
    await confirm(h, p, ts)
    ids.push(p.subscriptionId as Bytes32)
  }
  const [wrongEnd, wrongState, missing] = ids as [Bytes32, Bytes32, Bytes32]
  const truth = new Map<Bytes32, SubscriptionRecord>()
  for (const id of ids) truth.set(id, (await h.store.get(id))!)
  const t = truth.get(wrongEnd)!
  h.store.corrupt(wrongEnd, { ...t, endSec: t.endSec + 365 * 86_400 })
  const s = truth.get(wrongState)!
  h.store.corrupt(wrongState, { ...s, chainStatus: 'cancelled', state: 'cancelled' })
  h.store.corrupt(missing, undefined)
  h.reconciler.enqueue(missing) // e.g. the monitor knows a payment for it
  const auditsBefore = h.store.audits.length

  const report = await h.reconciler.runPass()
  assert.deepEqual(report, { checked: 3, repaired: 3, failed: 0 })
  assert.equal((await h.store.get(wrongEnd))?.endSec, t.endSec)
  assert.equal((await h.store.get(wrongState))?.state, 'active')
  assert.equal((await h.store.get(wrongState))?.chainStatus, 'live')
  const restored = await h.store.get(missing)
  assert.equal(restored?.state, 'active')
  assert.equal(restored?.endSec, truth.get(missing)?.endSec)
  const audits = h.store.audits.slice(auditsBefore)
  assert.deepEqual(
    audits.map((a) => [a.subscriptionId, a.cause, a.actor.kind, a.anomalies]).sort(),
    [
      [wrongEnd, 'reconciliation', 'system', ['endSec-differs']],
      [wrongState, 'reconciliation', 'system', ['status-differs']],
      [missing, 'reconciliation', 'system', ['missing-row']],
    ].sort(),
  )
  // A second pass finds nothing to repair (idempotent).
  const again = await h.reconciler.runPass()
  assert.deepEqual([again.repaired, again.failed], [0, 0])
  assert.equal(h.store.audits.length, auditsBefore + 3)
})

test('a revoke done on chain directly is picked up by the next pass; a row the chain does not know stops granting', async () => {
  const h = harness()
  const p = await pay('revoke-on-chain')
  const ts = await chainNowSec()
  h.setNow(ts)
  await confirm(h, p, ts)
  const id = p.subscriptionId as Bytes32
  await write(operator, 'revoke', [id])
  const revokedAt = await chainNowSec()
  h.setNow(revokedAt + 1)
  const ghost = keccak256(stringToHex('ghost')) as Bytes32
  const real = (await h.store.get(id))!
  h.store.corrupt(ghost, { ...real, id: ghost })
  await h.reconciler.runPass()
  const row = await h.store.get(id)
  assert.equal(row?.state, 'revoked')
  assert.equal(row?.chainStatus, 'revoked')
  assert.equal(row?.endSec, revokedAt)
  const byId = new Map(
    h.store.audits.filter((a) => a.cause === 'reconciliation').map((a) => [a.subscriptionId, a]),
  )
  assert.deepEqual(byId.get(id)?.anomalies, ['endSec-differs', 'status-differs'])
  assert.equal(byId.get(id)?.toState, 'revoked')
  assert.deepEqual(byId.get(ghost)?.anomalies, ['not-on-chain'])
  assert.equal((await h.store.get(ghost))?.state, 'pending')
})

test('a pass reads at most maxPerPass ids and walks the active rows round-robin', async () => {
  const h = harness(2)
  const ids: Bytes32[] = []
  for (let i = 0; i < 3; i++) {
    const p = await pay(`bounded-${i}`)
    const ts = await chainNowSec()
    h.setNow(ts)
    await confirm(h, p, ts)
    ids.push(p.subscriptionId as Bytes32)
  }
  // Outside the "recently changed" window: only the round-robin of active rows picks them.
  h.setNow((await chainNowSec()) + 2 * 3_600)
  for (const id of ids) {
    const r = (await h.store.get(id))!
    h.store.corrupt(id, { ...r, endSec: r.endSec + 1 })
  }
  assert.deepEqual(await h.reconciler.runPass(), { checked: 2, repaired: 2, failed: 0 })
  assert.deepEqual(await h.reconciler.runPass(), { checked: 1, repaired: 1, failed: 0 })
  for (const id of ids) {
    const r = (await h.store.get(id))!
    assert.equal(r.endSec - r.startSec, PERIOD)
  }
})

test('one lying endpoint cannot repair a row: the pass fails the read, leaves the row and retries it next pass', async () => {
  const h = harness()
  const p = await pay('liar')
  const ts = await chainNowSec()
  h.setNow(ts)
  await confirm(h, p, ts)
  const id = p.subscriptionId as Bytes32
  const before = (await h.store.get(id))!
  // The liar answers getSubscription with a year more of access.
  liar.setLie((call, honest) => {
    if (call.method !== 'eth_call' || !('result' in honest)) return undefined
    const info = decodeFunctionResult({
      abi: paymentProcessorAbi,
      functionName: 'getSubscription',
      data: honest.result as Hex,
    })
    return {
      result: encodeFunctionResult({
        abi: paymentProcessorAbi,
        functionName: 'getSubscription',
        result: { ...info, end: info.end + 365 * 86_400 },
      }),
    }
  })
  try {
    h.store.corrupt(id, { ...before, endSec: before.endSec - 10 })
    const report = await h.reconciler.runPass()
    assert.deepEqual([report.repaired, report.failed], [0, 1])
    assert.equal((await h.store.get(id))?.endSec, before.endSec - 10)
  } finally {
    liar.setLie(undefined)
  }
  // Honest again: the queued id is repaired to the chain's truth, not the liar's.
  await h.reconciler.runPass()
  assert.equal((await h.store.get(id))?.endSec, before.endSec)
})

test('the timer runs passes by itself and close() stops it', async () => {
  const store = createMemorySubscriptionStore()
  const ledger = createSubscriptionLedger({ store })
  const p = await pay('timer')
  const ts = await chainNowSec()
  const reconciler = createReconciler(
    { maxPerPass: 10, intervalMs: 20, recentWindowSec: 3_600, maxQueued: 10 },
    {
      store,
      ledger,
      readChain: createChainSubscriptionReader(rpc, deployment.paymentProcessor),
      confirmedBlock: createConfirmedBlockReader(rpc, { tag: 'latest', confirmations: 0 }),
      nowSec: () => ts,
      log: testDeps().log,
    },
  )
  reconciler.enqueue(p.subscriptionId as Bytes32)
  reconciler.start()
  const deadline = Date.now() + 5_000
  while ((await store.get(p.subscriptionId as Bytes32)) === undefined) {
    assert.ok(Date.now() < deadline, 'no pass ran')
    await new Promise((r) => setTimeout(r, 10))
  }
  await reconciler.close()
  const audits = store.audits.length
  await new Promise((r) => setTimeout(r, 60))
  assert.equal(store.audits.length, audits)
  assert.equal((await store.get(p.subscriptionId as Bytes32))?.state, 'active')
})

test('reconciliation reads at the confirmation policy: a payment not yet confirmed is not activated by a repair', async () => {
  const h = harness(100, 2)
  const p = await pay('unconfirmed')
  const id = p.subscriptionId as Bytes32
  const ts = await chainNowSec()
  h.setNow(ts)
  // The monitor saw the log (pending, no access); the payment is 0 blocks deep, the policy wants 2.
  await h.ledger.apply(
    {
      type: 'payment-seen',
      digest: p.digest,
      subscriptionId: id,
      payer: payer.address,
      beneficiary: ZERO_ADDRESS,
      token: deployment.tokens.usdc as Address,
      planId,
      startSec: p.start,
      endSec: p.end,
      blockTimestampSec: ts,
      blockNumber: p.blockNumber,
    },
    { kind: 'chain', source: 'monitor' },
    ts,
  )
  h.reconciler.enqueue(id)
  assert.deepEqual(await h.reconciler.runPass(), { checked: 1, repaired: 0, failed: 0 })
  assert.equal((await h.store.get(id))?.state, 'pending')
  await node.rpc('anvil_mine', ['0x2'])
  h.reconciler.enqueue(id)
  assert.deepEqual(await h.reconciler.runPass(), { checked: 1, repaired: 1, failed: 0 })
  assert.equal((await h.store.get(id))?.state, 'active')
})

test('a due active row is expired by the clock before the chain is asked (cause expiry, then nothing to repair)', async () => {
  const h = harness()
  const p = await pay('expiring')
  const ts = await chainNowSec()
  h.setNow(ts)
  await confirm(h, p, ts)
  const id = p.subscriptionId as Bytes32
  h.setNow(p.end + 5)
  h.reconciler.enqueue(id)
  assert.deepEqual(await h.reconciler.runPass(), { checked: 1, repaired: 0, failed: 0 })
  assert.equal((await h.store.get(id))?.state, 'expired')
  assert.deepEqual(
    h.store.audits.map((a) => [a.cause, a.actor.kind, a.toState]),
    [
      ['payment-confirmed', 'chain', 'active'],
      ['expiry', 'system', 'expired'],
    ],
  )
})
