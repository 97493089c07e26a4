// Integration: the payment monitor against a real anvil running the v2 PaymentProcessor (deploy set-up of
// src/contracts/deploy.test.ts), through the chain client's cross-checked reads (two endpoint entries, so
// logs and tags are compared). Quotes are signed by the quote signer with viem's signTypedData and the
// typed data of src/contracts/typed-data.ts. Covers: activation within one block of a `latest` policy of 3 confirmations (the payment block + 2)
// (detection latency printed), anvil_reorg removing an activated payment (deactivated, audited) and
// re-including it in another block, a restart mid-stream and a crash before commit (one activation), two
// monitors on one store (one activation), hostile payments recorded and never activated, the `finalized`
// policy with anvil's tags (finalized = latest − 64 by default) and the start-up warning when latest, safe
// and finalized are one block (anvil --slots-in-an-epoch 0).
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { after, before, describe, test } from 'node:test'
import {
  encodeAbiParameters,
  encodeEventTopics,
  createPublicClient,
  createWalletClient,
  encodeFunctionData,
  hashTypedData,
  http,
  keccak256,
  stringToHex,
  type Account,
  type Address,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
} from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { anvil as anvilChain } from 'viem/chains'
import { createChainMetrics, createRpcClient, type RpcClient } from '../../src/blockchain/index.ts'
import { isGatewayError } from '../../src/errors/index.ts'
import {
  deployLitgate,
  paymentProcessorAbi,
  quoteDomain,
  quoteTypes,
  testUsdcAbi,
  type LitgateDeployment,
} from '../../src/contracts/index.ts'
import {
  createMemoryMonitorStore,
  createPaymentMonitor,
  createRpcMonitorSource,
  type ExpectedQuote,
  type MemoryMonitorStore,
  type MonitorConfirmationPolicy,
  type MonitorEffect,
  type MonitorStore,
  type PaymentMonitor,
  type QuoteLookup,
} from '../../src/payments/monitor/index.ts'
import { ANVIL_MNEMONIC, startAnvil, type AnvilInstance } from '../helpers/anvil.ts'
import { startLyingRpc } from '../blockchain/lying-rpc.ts'
import { FAST_RPC, captureLog, testDeps } from '../blockchain/support.ts'

const account = (i: number): Account => mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i })
const [deployer, admin, operator, quoteSigner, payer, treasury, operatorPayee, guardian, upgrader, stranger] =
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(account) as [
    Account,
    Account,
    Account,
    Account,
    Account,
    Account,
    Account,
    Account,
    Account,
    Account,
  ]
const PRICE = 10_000_000n
const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000' as Address
const ZERO_ID = `0x${'00'.repeat(32)}` as Hex
const MAX = 2n ** 256n - 1n

let node: AnvilInstance
let publicClient: PublicClient
let deployment: LitgateDeployment
let rpc: RpcClient
let planId = 0
let quoteCounter = 0
const rpcClients: RpcClient[] = []

interface Quote {
  quoteId: Hex
  payer: Address
  beneficiary: Address
  subscriptionId: Hex
  token: Address
  amount: bigint
  planId: number
  periods: number
  validUntil: bigint
}

const wallet = (who: Account) =>
  createWalletClient({ account: who, chain: anvilChain, transport: http(node.url) })
const usdc = (): Address => deployment.tokens.usdc as Address
const contract = (): Address => deployment.paymentProcessor.toLowerCase() as Address

async function mined(hash: Hex): Promise<TransactionReceipt> {
  const receipt = await publicClient.waitForTransactionReceipt({ hash })
  assert.equal(receipt.status, 'success')
  return receipt
}

async function write(who: Account, functionName: string, args: readonly unknown[]) {
  return mined(
    await wallet(who).writeContract({
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName,
      args,
    } as never),
  )
}

async function latestNumber(): Promise<number> {
  return Number(await publicClient.getBlockNumber({ cacheTime: 0 }))
}

async function newQuote(amount = PRICE): Promise<Quote> {
  const now = (await publicClient.getBlock({ blockTag: 'latest' })).timestamp
  return {
    quoteId: keccak256(stringToHex(`monitor-quote-${++quoteCounter}`)),
    payer: payer.address,
    beneficiary: ZERO_ADDRESS,
    subscriptionId: ZERO_ID,
    token: usdc(),
    amount,
    planId,
    periods: 1,
    validUntil: now + 3_600n,
  }
}

const digestOf = (q: Quote): Hex =>
  hashTypedData({
    domain: quoteDomain(deployment.chainId, deployment.paymentProcessor),
    types: quoteTypes,
    primaryType: 'Quote',
    message: q,
  }).toLowerCase() as Hex

async function sign(q: Quote): Promise<Hex> {
  return wallet(quoteSigner).signTypedData({
    domain: quoteDomain(deployment.chainId, deployment.paymentProcessor),
    types: quoteTypes,
    primaryType: 'Quote',
    message: q,
  })
}

/** Signs the payment transaction without sending it (so a reorg can re-include the very same one). */
async function signedPay(q: Quote): Promise<Hex> {
  const w = wallet(payer)
  const data = encodeFunctionData({
    abi: paymentProcessorAbi,
    functionName: 'pay',
    args: [q, await sign(q)],
  } as never)
  const request = await w.prepareTransactionRequest({
    to: deployment.paymentProcessor,
    data,
    gas: 300_000n,
  } as never)
  return w.signTransaction(request as never)
}

async function pay(q: Quote): Promise<{ receipt: TransactionReceipt; raw: Hex }> {
  const raw = await signedPay(q)
  const hash = await publicClient.sendRawTransaction({ serializedTransaction: raw })
  return { receipt: await mined(hash), raw }
}

/** The quote service's records as the monitor's QuoteLookup sees them. */
function lookupOf(entries: Map<Hex, ExpectedQuote>): QuoteLookup {
  return { byDigests: async (digests) => new Map(digests.map((d) => [d, entries.get(d) ?? null])) }
}
const expected = (q: Quote): ExpectedQuote => ({
  payer: q.payer.toLowerCase() as Address,
  amount: q.amount,
  planId: q.planId,
  token: q.token.toLowerCase() as Address,
})

async function newRpc(url: string, second: string | null = url): Promise<RpcClient> {
  const deps = testDeps()
  // Two entries for one node by default: every verified read is asked twice and compared.
  const endpoints = [{ name: 'a', http: url }, ...(second === null ? [] : [{ name: 'b', http: second }])]
  const client = createRpcClient(
    { chainId: 31337, endpoints, tuning: FAST_RPC },
    { ...deps, metrics: createChainMetrics(deps.registry) },
  )
  await client.start()
  rpcClients.push(client)
  return client
}

interface Harness {
  monitor: PaymentMonitor
  activations: { at: number; cursor: number; effect: MonitorEffect }[]
}

async function monitorOn(
  store: MonitorStore,
  policy: MonitorConfirmationPolicy,
  quotes: QuoteLookup,
  startBlock: number,
  opts: { log?: ReturnType<typeof captureLog>['log']; client?: RpcClient; maxTrackedBlocks?: number } = {},
): Promise<Harness> {
  const activations: Harness['activations'] = []
  const monitor = createPaymentMonitor(
    {
      chainId: 31337,
      policy,
      maxTrackedBlocks: opts.maxTrackedBlocks ?? 1_000,
      contract: contract(),
      startBlock,
      maxRangeBlocks: 50,
      pollIntervalMs: 5,
    },
    {
      source: createRpcMonitorSource(opts.client ?? rpc, contract()),
      store,
      quotes,
      log: opts.log ?? captureLog().log,
      onCommitted: (effects) => {
        for (const e of effects) {
          if (e.type === 'activate-subscription')
            activations.push({ at: performance.now(), cursor: e.blockNumber, effect: e })
        }
      },
    },
  )
  await monitor.start()
  return { monitor, activations }
}

const ofDigest = (store: MemoryMonitorStore, digest: Hex, type: MonitorEffect['type']) =>
  store.effects(31337).filter((e) => e.type === type && 'payment' in e && e.payment.digest === digest)

before(async () => {
  node = await startAnvil()
  publicClient = createPublicClient({
    chain: anvilChain,
    transport: http(node.url),
    cacheTime: 0,
    pollingInterval: 20,
  })
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
    args: [qos, 30 * 86_400],
  })
  planId = result
  await write(operator, 'createPlan', [qos, 30 * 86_400])
  await write(operator, 'setSale', [planId, usdc(), PRICE, true])
  await mined(
    await wallet(deployer).writeContract({
      address: usdc(),
      abi: testUsdcAbi,
      functionName: 'mint',
      args: [payer.address, 1_000n * PRICE],
    }),
  )
  await mined(
    await wallet(payer).writeContract({
      address: usdc(),
      abi: testUsdcAbi,
      functionName: 'approve',
      args: [deployment.paymentProcessor, MAX],
    }),
  )
  rpc = await newRpc(node.url)
})

after(async () => {
  await Promise.all(rpcClients.map((c) => c.close()))
  await node?.stop()
})

describe('payment monitor on anvil', () => {
  test('quote → pay → active within one block of a latest policy of 3 confirmations; then a reorg removes it and re-includes it elsewhere', async () => {
    const store = createMemoryMonitorStore()
    const q = await newQuote()
    const digest = digestOf(q)
    const start = await latestNumber()
    const captured = captureLog()
    const h = await monitorOn(
      store,
      { tag: 'latest', confirmations: 3 },
      lookupOf(new Map([[digest, expected(q)]])),
      start,
      {
        log: captured.log,
      },
    )
    assert.equal(
      captured.find(
        'rpc answers the same block for latest, safe and finalized: those tags give no reorg protection on this chain',
      ).length,
      0,
    )
    h.monitor.run()
    try {
      const { receipt, raw } = await pay(q)
      const b = Number(receipt.blockNumber)
      await node.rpc('anvil_mine', ['0x1'])
      await new Promise((r) => setTimeout(r, 150))
      assert.equal(h.activations.length, 0, 'two confirmations are not enough')
      assert.equal(ofDigest(store, digest, 'record-payment').length, 1, 'seen before confirmation')
      await node.rpc('anvil_mine', ['0x1']) // block b+2: the policy is met now
      const met = performance.now()
      const deadline = Date.now() + 5_000
      while (h.activations.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2))
      assert.equal(h.activations.length, 1, 'activated')
      const latencyMs = h.activations[0]!.at - met
      assert.equal(
        await latestNumber(),
        b + 2,
        'activated before any further block: within one block of the policy',
      )
      process.stdout.write(
        `# detection latency after latest (3 confirmations) met: ${latencyMs.toFixed(1)} ms (poll interval 5 ms)\n`,
      )
      const act = h.activations[0]!.effect
      assert.equal(act.blockNumber, b)
      assert.equal(act.type === 'activate-subscription' && act.isCreation, true)

      // anvil_reorg replaces blocks b..b+2 with three new blocks without the payment.
      await h.monitor.stop()
      await node.rpc('anvil_reorg', [3, []])
      await h.monitor.pollUntilCaughtUp()
      const deact = ofDigest(store, digest, 'deactivate-subscription')
      assert.equal(deact.length, 1, 'the reorg deactivates the payment')
      const cause = deact[0]!.type === 'deactivate-subscription' ? deact[0]!.cause : undefined
      assert.equal(cause?.ancestor.number, b - 1)
      assert.equal(cause?.removedBlock.hash, receipt.blockHash.toLowerCase())
      assert.equal(
        store.records(31337).find((r) => r.log.type === 'payment' && r.log.digest === digest)?.status,
        'reorged',
      )

      // A second reorg re-includes the very same signed transaction one block later.
      await node.rpc('anvil_reorg', [3, [[raw, 1]]])
      await h.monitor.pollUntilCaughtUp()
      const again = (await publicClient.getTransactionReceipt({ hash: receipt.transactionHash })).blockNumber
      assert.equal(Number(again), b + 1, 'the same transaction now sits in block b+1')
      assert.equal(
        ofDigest(store, digest, 'activate-subscription').length,
        1,
        'b+1 has one block on top: not yet',
      )
      await node.rpc('anvil_mine', ['0x1'])
      await h.monitor.pollUntilCaughtUp()
      assert.equal(
        ofDigest(store, digest, 'activate-subscription').length,
        2,
        're-activated at its new inclusion',
      )
      const acts = ofDigest(store, digest, 'activate-subscription')
      assert.notEqual(acts[0]!.blockHash, acts[1]!.blockHash)
      const types = store
        .effects(31337)
        .filter((e) => 'payment' in e && e.payment.digest === digest && /activate/.test(e.type))
        .map((e) => e.type)
      assert.deepEqual(types, ['activate-subscription', 'deactivate-subscription', 'activate-subscription'])
    } finally {
      await h.monitor.stop()
    }
  })

  test('a restart mid-stream and a crash before commit never activate twice', async () => {
    const store = createMemoryMonitorStore()
    const q = await newQuote()
    const digest = digestOf(q)
    const quotes = lookupOf(new Map([[digest, expected(q)]]))
    const start = await latestNumber()
    const policy = { tag: 'latest' as const, confirmations: 3 }
    const a = await monitorOn(store, policy, quotes, start)
    await pay(q)
    await a.monitor.pollUntilCaughtUp()
    assert.equal(ofDigest(store, digest, 'record-payment').length, 1)
    // Restart: a new monitor rebuilt from the store alone.
    await node.rpc('anvil_mine', ['0x2'])
    // A monitor that crashes before its commit lands (the store refuses the transaction it was writing).
    let refused = 0
    const crashing: MonitorStore = {
      load: (id) => store.load(id),
      apply: async (id, commit) => {
        if (commit.effects.some((e) => e.type === 'activate-subscription')) {
          refused++
          throw new Error('process killed before COMMIT')
        }
        return store.apply(id, commit)
      },
    }
    const b = await monitorOn(crashing, policy, quotes, start)
    await assert.rejects(b.monitor.pollUntilCaughtUp(), /process killed before COMMIT/)
    assert.equal(refused, 1)
    assert.equal(
      ofDigest(store, digest, 'activate-subscription').length,
      0,
      'nothing of the crashed step was applied',
    )
    const c = await monitorOn(store, policy, quotes, start)
    await c.monitor.pollUntilCaughtUp()
    const d = await monitorOn(store, policy, quotes, start)
    await node.rpc('anvil_mine', ['0x3'])
    await d.monitor.pollUntilCaughtUp()
    await c.monitor.pollUntilCaughtUp()
    assert.equal(ofDigest(store, digest, 'activate-subscription').length, 1, 'exactly one activation')
  })

  test('two monitors racing on one store activate exactly once', async () => {
    const store = createMemoryMonitorStore()
    const quotes: Hex[] = []
    const entries = new Map<Hex, ExpectedQuote>()
    const start = await latestNumber()
    const policy = { tag: 'latest' as const, confirmations: 2 }
    const client2 = await newRpc(node.url)
    const a = await monitorOn(store, policy, lookupOf(entries), start)
    const b = await monitorOn(store, policy, lookupOf(entries), start, { client: client2 })
    a.monitor.run()
    b.monitor.run()
    try {
      for (let i = 0; i < 4; i++) {
        const q = await newQuote()
        entries.set(digestOf(q), expected(q))
        quotes.push(digestOf(q))
        await pay(q)
      }
      await node.rpc('anvil_mine', ['0x2'])
      const deadline = Date.now() + 5_000
      while (
        Date.now() < deadline &&
        quotes.some((d) => ofDigest(store, d, 'activate-subscription').length === 0)
      ) {
        await new Promise((r) => setTimeout(r, 5))
      }
      await new Promise((r) => setTimeout(r, 100)) // both keep polling; nothing more may appear
    } finally {
      await Promise.all([a.monitor.stop(), b.monitor.stop()])
    }
    for (const d of quotes)
      assert.equal(ofDigest(store, d, 'activate-subscription').length, 1, `${d} activated once`)
    assert.ok(
      a.activations.length + b.activations.length === quotes.length,
      'each activation committed by exactly one monitor',
    )
  })

  test('hostile payments are recorded with their anomaly and never activated', async () => {
    const store = createMemoryMonitorStore()
    const start = await latestNumber()
    const entries = new Map<Hex, ExpectedQuote>()
    // 1. A quote the gateway never issued (signed by the signer key, unknown to the quote store).
    const unknown = await newQuote()
    // 2. The quote record names another payer than the one that paid.
    const otherPayer = await newQuote()
    entries.set(digestOf(otherPayer), {
      ...expected(otherPayer),
      payer: stranger.address.toLowerCase() as Address,
    })
    // 3. The record expects more than the signed amount (the contract refuses below the on-chain price).
    const underpaid = await newQuote()
    entries.set(digestOf(underpaid), { ...expected(underpaid), amount: 2n * PRICE })
    const below = await newQuote(PRICE - 1n)
    await assert.rejects(
      publicClient.simulateContract({
        account: payer,
        address: deployment.paymentProcessor,
        abi: paymentProcessorAbi,
        functionName: 'pay',
        args: [below, await sign(below)],
      }),
      /AmountBelowPrice/,
    )
    const h = await monitorOn(store, { tag: 'latest', confirmations: 1 }, lookupOf(entries), start)
    for (const q of [unknown, otherPayer, underpaid]) await pay(q)
    await node.rpc('anvil_mine', ['0x1'])
    await h.monitor.pollUntilCaughtUp()
    const want = new Map<Hex, string>([
      [digestOf(unknown), 'unknown-quote'],
      [digestOf(otherPayer), 'wrong-payer'],
      [digestOf(underpaid), 'underpaid'],
    ])
    for (const [digest, anomaly] of want) {
      const rec = ofDigest(store, digest, 'record-payment')
      assert.equal(rec.length, 1)
      assert.equal(rec[0]!.type === 'record-payment' && rec[0]!.anomaly, anomaly)
      const flags = ofDigest(store, digest, 'flag-anomaly')
      assert.equal(flags.length, 1, `${anomaly} flagged at confirmation`)
      assert.equal(ofDigest(store, digest, 'activate-subscription').length, 0, `${anomaly} never activated`)
    }
  })

  test('the finalized policy waits for anvil’s finalized tag (latest − 64)', async () => {
    const store = createMemoryMonitorStore()
    const q = await newQuote()
    const digest = digestOf(q)
    const start = await latestNumber()
    const h = await monitorOn(store, { tag: 'finalized' }, lookupOf(new Map([[digest, expected(q)]])), start)
    const { receipt } = await pay(q)
    const b = Number(receipt.blockNumber)
    await node.rpc('anvil_mine', [`0x${(63).toString(16)}`])
    await h.monitor.pollUntilCaughtUp()
    const fin = await publicClient.getBlock({ blockTag: 'finalized' })
    assert.equal(Number(fin.number), b - 1)
    assert.equal(ofDigest(store, digest, 'activate-subscription').length, 0, 'not final yet: not active')
    h.monitor.run()
    try {
      await node.rpc('anvil_mine', ['0x1'])
      const met = performance.now()
      const deadline = Date.now() + 5_000
      while (h.activations.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2))
      assert.equal(h.activations.length, 1)
      process.stdout.write(
        `# detection latency after finalized met: ${(h.activations[0]!.at - met).toFixed(1)} ms\n`,
      )
      const key = h.activations[0]!.effect.recordKey
      const marks = store.effects(31337).filter((e) => e.recordKey === key && e.type.startsWith('mark-'))
      assert.deepEqual(
        marks.map((e) => e.type),
        ['mark-confirmed', 'mark-final'],
        'confirmed and final at once',
      )
    } finally {
      await h.monitor.stop()
    }
  })

  test('warns at start when latest, safe and finalized are one block (anvil --slots-in-an-epoch 0)', async () => {
    const flat = await startAnvil({ args: ['--slots-in-an-epoch', '0'] })
    try {
      await flat.rpc('anvil_mine', ['0x3'])
      const client = await newRpc(flat.url)
      const captured = captureLog()
      const source = createRpcMonitorSource(client, contract())
      const m = createPaymentMonitor(
        {
          chainId: 31337,
          policy: { tag: 'safe' },
          maxTrackedBlocks: 100,
          contract: contract(),
          startBlock: 0,
          maxRangeBlocks: 10,
          pollIntervalMs: 5,
        },
        { source, store: createMemoryMonitorStore(), quotes: lookupOf(new Map()), log: captured.log },
      )
      await m.start()
      const warned = captured.find(
        'rpc answers the same block for latest, safe and finalized: those tags give no reorg protection on this chain',
      )
      assert.equal(warned.length, 1)
      assert.equal(warned[0]!.level, 40)
      assert.equal(warned[0]!.block, 3)
    } finally {
      await flat.stop()
    }
  })
  test('a lying endpoint that forges a PaymentReceived log cannot activate it', async () => {
    const liar = await startLyingRpc(node.url)
    try {
      const client = await newRpc(liar.url, node.url) // the liar first: the preferred endpoint
      const q = await newQuote() // issued, never paid
      const digest = digestOf(q)
      const store = createMemoryMonitorStore()
      const start = await latestNumber()
      await node.rpc('anvil_mine', ['0x2'])
      const block = await publicClient.getBlock({ blockNumber: BigInt(start + 1) })
      const topics = encodeEventTopics({
        abi: paymentProcessorAbi,
        eventName: 'PaymentReceived',
        args: { digest, subscriptionId: digest, payer: payer.address },
      } as never)
      const data = encodeAbiParameters(
        [
          { type: 'address' },
          { type: 'address' },
          { type: 'uint256' },
          { type: 'uint16' },
          { type: 'uint32' },
          { type: 'uint32' },
        ],
        [payer.address, usdc(), PRICE, planId, 1, 2],
      )
      const forged = {
        address: contract(),
        topics,
        data,
        blockNumber: `0x${(start + 1).toString(16)}`,
        blockHash: block.hash,
        transactionHash: keccak256(stringToHex('forged')),
        transactionIndex: '0x0',
        logIndex: '0x0',
        removed: false,
      }
      liar.setLie((call, honest) =>
        call.method === 'eth_getLogs' && 'result' in honest
          ? { result: [forged, ...(honest.result as unknown[])] }
          : undefined,
      )
      const h = await monitorOn(
        store,
        { tag: 'latest', confirmations: 1 },
        lookupOf(new Map([[digest, expected(q)]])),
        start,
        {
          client,
        },
      )
      const failure = await h.monitor.poll().then(
        () => null,
        (err: unknown) => err,
      )
      assert.equal(
        ofDigest(store, digest, 'activate-subscription').length,
        0,
        'not activated on one endpoint’s word',
      )
      assert.equal(store.effects(31337).length, 0, 'nothing recorded on one endpoint’s word')
      assert.ok(isGatewayError(failure) && failure.code === 'CHAIN_ENDPOINTS_DISAGREE', String(failure))
      liar.setLie(undefined)
      await h.monitor.pollUntilCaughtUp()
      assert.equal(ofDigest(store, digest, 'record-payment').length, 0)
      assert.equal(ofDigest(store, digest, 'activate-subscription').length, 0)
    } finally {
      await liar.close()
    }
  })

  test('a provider that refuses wide eth_getLogs ranges: the range shrinks and every payment is still found', async () => {
    const proxy = await startLyingRpc(node.url)
    try {
      const client = await newRpc(proxy.url, null)
      const refusals = [
        {
          code: -32602,
          message:
            'Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range',
        },
        { code: -32614, message: 'eth_getLogs is limited to a 10,000 range' },
      ]
      let refused = 0
      proxy.setLie((call) => {
        if (call.method !== 'eth_getLogs') return undefined
        const f = call.params[0] as { fromBlock: string; toBlock: string }
        if (Number(BigInt(f.toBlock)) - Number(BigInt(f.fromBlock)) + 1 <= 3) return undefined
        return { error: refusals[refused++ % 2]! }
      })
      const store = createMemoryMonitorStore()
      const start = await latestNumber()
      const entries = new Map<Hex, ExpectedQuote>()
      const digests: Hex[] = []
      for (let i = 0; i < 3; i++) {
        const q = await newQuote()
        entries.set(digestOf(q), expected(q))
        digests.push(digestOf(q))
        await pay(q)
        await node.rpc('anvil_mine', ['0x4'])
      }
      const h = await monitorOn(store, { tag: 'latest', confirmations: 1 }, lookupOf(entries), start, {
        client,
      })
      await h.monitor.pollUntilCaughtUp()
      assert.ok(refused >= 2, `the provider refused ${refused} ranges`)
      assert.ok(h.monitor.rangeBlocks <= 3)
      for (const d of digests) assert.equal(ofDigest(store, d, 'activate-subscription').length, 1)
    } finally {
      await proxy.close()
    }
  })
  test('a reorg deeper than the tracked window halts the monitor; it neither guesses nor deactivates', async () => {
    const store = createMemoryMonitorStore()
    const q = await newQuote()
    const digest = digestOf(q)
    const start = await latestNumber()
    const captured = captureLog()
    const h = await monitorOn(
      store,
      { tag: 'latest', confirmations: 1 },
      lookupOf(new Map([[digest, expected(q)]])),
      start,
      {
        log: captured.log,
        maxTrackedBlocks: 3,
      },
    )
    await pay(q)
    await node.rpc('anvil_mine', ['0x5'])
    await h.monitor.pollUntilCaughtUp()
    assert.equal(ofDigest(store, digest, 'activate-subscription').length, 1)
    const before = store.effects(31337).length
    await node.rpc('anvil_reorg', [5, []])
    const outcome = await h.monitor.pollUntilCaughtUp()
    assert.equal(outcome.type, 'halted')
    assert.match(h.monitor.halted ?? '', /below the tracked window/)
    assert.equal(store.effects(31337).length, before, 'no effect from a reorg it cannot follow')
    assert.equal(captured.find('payment monitor halted: reorg deeper than it can follow').length, 1)
    // A restarted monitor halts again rather than resuming on the wrong branch.
    const again = await monitorOn(store, { tag: 'latest', confirmations: 1 }, lookupOf(new Map()), start, {
      maxTrackedBlocks: 3,
    })
    assert.equal((await again.monitor.pollUntilCaughtUp()).type, 'halted')
  })
})
