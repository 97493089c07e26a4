// End to end: the payment pipeline (database MonitorStore + effect→ledger bridge + database
// SubscriptionStore + QuoteLookup over the quotes table) against a real anvil running the v2
// PaymentProcessor, on every storage backend (PGlite always, PostgreSQL when DATABASE_URL is set). Quote
// rows are inserted through the storage repositories, signed with signTypedData by the quote signer.
// Covers: approve+pay, payWithPermit and payWithAuthorization active in the database within one block of
// a `latest` policy of 3 confirmations (latency printed); anvil_reorg removing the payment (deactivated,
// audited) and re-including it (active again); a restart mid-stream (one activation); two pipelines on one
// database (on PostgreSQL two pools: one activation); an unknown quote and a wrong payer recorded, audited,
// never activated.
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { after, before, describe, test } from 'node:test'
import {
  createPublicClient,
  createWalletClient,
  encodeFunctionData,
  hashTypedData,
  http,
  keccak256,
  parseSignature,
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
import {
  deployLitgate,
  paymentProcessorAbi,
  permitTypes,
  quoteDomain,
  quoteTypes,
  receiveWithAuthorizationTypes,
  testUsdcAbi,
  type LitgateDeployment,
} from '../../src/contracts/index.ts'
import type { MonitorEffect } from '../../src/payments/monitor/index.ts'
import { createPaymentPipeline, type PaymentPipeline } from '../../src/payments/pipeline/index.ts'
import { openStorage, type Storage } from '../../src/storage/index.ts'
import { ANVIL_MNEMONIC, startAnvil, type AnvilInstance } from '../helpers/anvil.ts'
import { storageBackends } from '../helpers/storage.ts'
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
const CHAIN = 31337
const POLICY = { tag: 'latest' as const, confirmations: 3 }

let node: AnvilInstance
let publicClient: PublicClient
let deployment: LitgateDeployment
let rpc: RpcClient
let planId = 0
let quoteCounter = 0

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
const tokenDomain = () =>
  ({ name: 'Test USD Coin', version: '1', chainId: deployment.chainId, verifyingContract: usdc() }) as const

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
const latestNumber = async (): Promise<number> => Number(await publicClient.getBlockNumber({ cacheTime: 0 }))
const now = async (): Promise<bigint> => (await publicClient.getBlock({ blockTag: 'latest' })).timestamp

async function newQuote(who: Account = payer): Promise<Quote> {
  return {
    quoteId: keccak256(stringToHex(`pipeline-quote-${process.pid}-${++quoteCounter}`)),
    payer: who.address,
    beneficiary: ZERO_ADDRESS,
    subscriptionId: ZERO_ID,
    token: usdc(),
    amount: PRICE,
    planId,
    periods: 1,
    validUntil: (await now()) + 3_600n,
  }
}
const digestOf = (q: Quote): Hex =>
  hashTypedData({
    domain: quoteDomain(deployment.chainId, deployment.paymentProcessor),
    types: quoteTypes,
    primaryType: 'Quote',
    message: q,
  }).toLowerCase() as Hex
const sign = (q: Quote): Promise<Hex> =>
  wallet(quoteSigner).signTypedData({
    domain: quoteDomain(deployment.chainId, deployment.paymentProcessor),
    types: quoteTypes,
    primaryType: 'Quote',
    message: q,
  })

/** What the quote service would have stored: the signed quote's row (`override` makes it disagree). */
async function storeQuote(storage: Storage, q: Quote, override: { payer?: Address } = {}): Promise<Hex> {
  const digest = digestOf(q)
  assert.equal(
    await storage.quotes.insert({
      id: q.quoteId,
      payer: override.payer ?? q.payer,
      beneficiary: q.beneficiary,
      subscriptionId: q.subscriptionId,
      token: q.token,
      amount: q.amount,
      planId: q.planId,
      periods: q.periods,
      validUntil: q.validUntil,
      digest,
      signature: await sign(q),
    }),
    true,
  )
  return digest
}

/** approve (done in before) + pay, signed first so a reorg can re-include the very same transaction. */
async function pay(q: Quote): Promise<{ receipt: TransactionReceipt; raw: Hex }> {
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
  const raw = await w.signTransaction(request as never)
  const hash = await publicClient.sendRawTransaction({ serializedTransaction: raw })
  return { receipt: await mined(hash), raw }
}

async function mint(to: Address, amount: bigint): Promise<void> {
  await mined(
    await wallet(deployer).writeContract({
      address: usdc(),
      abi: testUsdcAbi,
      functionName: 'mint',
      args: [to, amount],
    }),
  )
}

/** EIP-2612: the payer signs a permit and submits payWithPermit itself (no approve beforehand). */
async function payWithPermit(q: Quote, who: Account): Promise<TransactionReceipt> {
  const deadline = (await now()) + 3_600n
  const nonce = await publicClient.readContract({
    address: usdc(),
    abi: [
      {
        type: 'function',
        name: 'nonces',
        stateMutability: 'view',
        inputs: [{ name: 'owner', type: 'address' }],
        outputs: [{ type: 'uint256' }],
      },
    ] as const,
    functionName: 'nonces',
    args: [who.address],
  })
  const permit = parseSignature(
    await wallet(who).signTypedData({
      domain: tokenDomain(),
      types: permitTypes,
      primaryType: 'Permit',
      message: { owner: who.address, spender: deployment.paymentProcessor, value: q.amount, nonce, deadline },
    }),
  )
  return write(who, 'payWithPermit', [q, await sign(q), deadline, Number(permit.v), permit.r, permit.s])
}

/** EIP-3009 ReceiveWithAuthorization (nonce = the quote digest), submitted by a relayer. */
async function payWithAuthorization(q: Quote, who: Account, relayer: Account): Promise<TransactionReceipt> {
  const validBefore = (await now()) + 3_600n
  const auth = parseSignature(
    await wallet(who).signTypedData({
      domain: tokenDomain(),
      types: receiveWithAuthorizationTypes,
      primaryType: 'ReceiveWithAuthorization',
      message: {
        from: who.address,
        to: deployment.paymentProcessor,
        value: q.amount,
        validAfter: 0n,
        validBefore,
        nonce: digestOf(q),
      },
    }),
  )
  return write(relayer, 'payWithAuthorization', [
    q,
    await sign(q),
    0n,
    validBefore,
    Number(auth.v),
    auth.r,
    auth.s,
  ])
}

async function newRpc(): Promise<RpcClient> {
  const deps = testDeps()
  // Two entries for one node: every verified read is asked twice and compared.
  const client = createRpcClient(
    {
      chainId: CHAIN,
      endpoints: [
        { name: 'a', http: node.url },
        { name: 'b', http: node.url },
      ],
      tuning: FAST_RPC,
    },
    { ...deps, metrics: createChainMetrics(deps.registry) },
  )
  await client.start()
  return client
}

interface Running {
  pipeline: PaymentPipeline
  activations: { at: number; effect: MonitorEffect }[]
}

function pipelineOn(storage: Storage, startBlock: number): Running {
  const activations: Running['activations'] = []
  const pipeline = createPaymentPipeline(
    {
      chainId: CHAIN,
      contract: contract(),
      policy: POLICY,
      startBlock,
      maxRangeBlocks: 50,
      maxTrackedBlocks: 1_000,
      pollIntervalMs: 5,
      subscriptions: { basePath: '/litgate/v1', reconciler: { intervalMs: 3_600_000 } },
    },
    {
      storage,
      rpc,
      chainState: () => 'up',
      log: captureLog().log,
      onCommitted: (effects) => {
        for (const e of effects)
          if (e.type === 'activate-subscription') activations.push({ at: performance.now(), effect: e })
      },
    },
  )
  return { pipeline, activations }
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 3))
  }
}

const stateOf = async (storage: Storage, id: Hex) => (await storage.ledger.get(id))?.state
const auditOf = async (storage: Storage, id: Hex) =>
  (await storage.audit.list('subscription', id)).map((e) => [e.cause, e.fromState, e.toState])
const confirmations = async (storage: Storage, id: Hex) =>
  (await storage.audit.list('subscription', id)).filter((e) => e.cause === 'payment-confirmed').length

/** Pays through `payFn`, mines to the policy, and measures when the database says active. */
async function activeWithinOneBlock(
  storage: Storage,
  run: Running,
  digest: Hex,
  label: string,
  payFn: () => Promise<TransactionReceipt>,
): Promise<TransactionReceipt> {
  const before = run.activations.length
  const receipt = await payFn()
  const b = Number(receipt.blockNumber)
  await node.rpc('anvil_mine', ['0x1'])
  // Wait until the monitor saw the payment (a fixed sleep flakes on a loaded machine), then: not active yet.
  await until(`${label} seen`, async () => (await stateOf(storage, digest)) !== undefined)
  assert.equal(await stateOf(storage, digest), 'pending', `${label}: seen, two confirmations are not enough`)
  await node.rpc('anvil_mine', ['0x1']) // b+2: the policy is met
  const met = performance.now()
  await until(`${label} active`, async () => (await stateOf(storage, digest)) === 'active')
  const inDb = performance.now() - met
  assert.equal(await latestNumber(), b + 2, `${label}: active before any further block`)
  const committed = run.activations
    .slice(before)
    .find((a) => 'payment' in a.effect && a.effect.payment.digest === digest)
  assert.ok(committed, `${label}: activation committed`)
  process.stdout.write(
    `# ${label}: detection latency after the policy (latest, 3 confirmations) met: commit ${(committed.at - met).toFixed(1)} ms, seen active in the database ${inDb.toFixed(1)} ms (poll 5 ms)\n`,
  )
  const row = await storage.ledger.get(digest)
  const event = receipt.logs.length > 0
  assert.ok(event)
  assert.equal(row?.chainBlock, b, `${label}: the row remembers the payment's block`)
  return receipt
}

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
  await mint(payer.address, 1_000n * PRICE)
  await mint(stranger.address, 100n * PRICE)
  await mint(guardian.address, 100n * PRICE)
  await mined(
    await wallet(payer).writeContract({
      address: usdc(),
      abi: testUsdcAbi,
      functionName: 'approve',
      args: [deployment.paymentProcessor, MAX],
    }),
  )
  rpc = await newRpc()
})

after(async () => {
  await rpc?.close()
  await node?.stop()
})

for (const backend of storageBackends()) {
  describe(`payment pipeline on anvil (${backend.name})`, () => {
    after(() => backend.close())

    test(`${backend.name}: approve+pay, payWithPermit and payWithAuthorization are active in the database within one block of the policy; a reorg deactivates (audited), re-inclusion re-activates`, async () => {
      const storage = await backend.open()
      const run = pipelineOn(storage, await latestNumber())
      await run.pipeline.start()
      try {
        const q = await newQuote()
        const digest = await storeQuote(storage, q)
        let raw: Hex = '0x'
        const receipt = await activeWithinOneBlock(storage, run, digest, 'approve+pay', async () => {
          const paid = await pay(q)
          raw = paid.raw
          return paid.receipt
        })
        const b = Number(receipt.blockNumber)

        const qp = await newQuote(stranger)
        const dp = await storeQuote(storage, qp)
        await activeWithinOneBlock(storage, run, dp, 'payWithPermit', () => payWithPermit(qp, stranger))
        const qa = await newQuote(guardian)
        const da = await storeQuote(storage, qa)
        await activeWithinOneBlock(storage, run, da, 'payWithAuthorization', () =>
          payWithAuthorization(qa, guardian, operatorPayee),
        )

        // anvil_reorg replaces everything from b on with blocks without the three payments.
        const depth = (await latestNumber()) - b + 1
        await run.pipeline.monitor.stop()
        await node.rpc('anvil_reorg', [depth, []])
        await run.pipeline.monitor.pollUntilCaughtUp()
        for (const id of [digest, dp, da]) assert.equal(await stateOf(storage, id), 'pending', 'deactivated')
        assert.deepEqual(await auditOf(storage, digest), [
          ['payment-seen', null, 'pending'],
          ['payment-confirmed', 'pending', 'active'],
          ['payment-reorged', 'active', 'pending'],
        ])
        const key = { chainId: CHAIN, txHash: receipt.transactionHash.toLowerCase() as Hex, logIndex: 0 }
        const pay0 = await storage.payments.listBySubscription(digest)
        assert.equal(pay0.length, 1)
        assert.equal(pay0[0]?.state, 'reorged')
        const paymentAudit = await storage.audit.list(
          'payment',
          `${CHAIN}:${key.txHash}:${pay0[0]?.logIndex}`,
        )
        assert.deepEqual(
          paymentAudit.map((e) => [e.cause, e.toState]),
          [
            ['payment-seen', 'seen'],
            ['payment-confirmed', 'confirmed'],
            ['reorg', 'reorged'],
          ],
        )
        assert.equal(paymentAudit[2]?.detail['type'], 'reorg')
        assert.equal(
          (paymentAudit[2]?.detail['removedBlock'] as { hash: string }).hash,
          receipt.blockHash.toLowerCase(),
          'the cause names the removed block',
        )

        // The same signed transaction re-included: it activates again at its new block (once).
        await node.rpc('anvil_reorg', [1, [[raw, 0]]])
        await node.rpc('anvil_mine', ['0x2'])
        await run.pipeline.monitor.pollUntilCaughtUp()
        assert.equal(await stateOf(storage, digest), 'active', 're-activated at the new inclusion')
        assert.equal(await confirmations(storage, digest), 2)
        assert.equal((await storage.payments.listBySubscription(digest))[0]?.state, 'confirmed')
      } finally {
        await run.pipeline.close()
      }
    })

    test(`${backend.name}: a restart mid-stream (close the pipeline, open a new one on the same database) activates once`, async () => {
      const storage = await backend.open()
      const start = await latestNumber()
      const a = pipelineOn(storage, start)
      await a.pipeline.start()
      const q = await newQuote()
      const digest = await storeQuote(storage, q)
      await pay(q)
      await until('seen', async () => (await stateOf(storage, digest)) === 'pending')
      await a.pipeline.close()
      await node.rpc('anvil_mine', ['0x3'])
      const b = pipelineOn(storage, start)
      await b.pipeline.start()
      try {
        await until('active', async () => (await stateOf(storage, digest)) === 'active')
        await b.pipeline.monitor.stop()
        await b.pipeline.monitor.pollUntilCaughtUp()
        // A third start replays nothing.
        const c = pipelineOn(storage, start)
        await c.pipeline.monitor.start()
        await c.pipeline.monitor.pollUntilCaughtUp()
        await c.pipeline.close()
        assert.equal(await confirmations(storage, digest), 1, 'one activation audited')
        assert.equal(a.activations.length + b.activations.length + c.activations.length, 1)
      } finally {
        await b.pipeline.close()
      }
    })

    test(`${backend.name}: two pipelines on one database${backend.name === 'postgres' ? ' (two pools)' : ''} activate exactly once`, async () => {
      let first: Storage
      let second: Storage
      if (backend.name === 'postgres') {
        const options = await backend.fresh()
        first = backend.track((await openStorage(options)).storage)
        second = backend.track((await openStorage(options)).storage)
      } else {
        // One PGlite data directory belongs to one handle: two pipelines share it.
        first = await backend.open()
        second = first
      }
      const start = await latestNumber()
      const x = pipelineOn(first, start)
      const y = pipelineOn(second, start)
      await Promise.all([x.pipeline.start(), y.pipeline.start()])
      try {
        const qs = [await newQuote(), await newQuote()]
        const ids = [await storeQuote(first, qs[0]!), await storeQuote(first, qs[1]!)]
        for (const q of qs) await pay(q)
        await node.rpc('anvil_mine', ['0x3'])
        for (const id of ids) await until('active', async () => (await stateOf(second, id)) === 'active')
        await new Promise((r) => setTimeout(r, 200))
        for (const id of ids)
          assert.equal(await confirmations(first, id), 1, 'exactly one activation audited')
        assert.equal(x.activations.length + y.activations.length, 2, 'one activation per payment in all')
      } finally {
        await Promise.all([x.pipeline.close(), y.pipeline.close()])
      }
    })

    test(`${backend.name}: an unknown quote and a wrong payer are recorded and audited, never activated`, async () => {
      const storage = await backend.open()
      const run = pipelineOn(storage, await latestNumber())
      await run.pipeline.start()
      try {
        const unknown = await newQuote()
        const du = digestOf(unknown) // signed, paid, but never stored by the quote service
        const wrong = await newQuote()
        const dw = await storeQuote(storage, wrong, { payer: stranger.address })
        const good = await newQuote()
        const dg = await storeQuote(storage, good)
        await pay(unknown)
        await pay(wrong)
        await pay(good)
        await node.rpc('anvil_mine', ['0x3'])
        await until('the good one active', async () => (await stateOf(storage, dg)) === 'active')
        await run.pipeline.monitor.stop()
        await run.pipeline.monitor.pollUntilCaughtUp()
        for (const [id, flag, anomaly] of [
          [du, 'isUnknownQuote', 'unknown-quote'],
          [dw, 'isWrongPayer', 'wrong-payer'],
        ] as const) {
          assert.equal(await storage.ledger.get(id), undefined, `${anomaly}: no subscription row`)
          const [p] = await storage.payments.listBySubscription(id)
          assert.equal(p?.[flag], true, `${anomaly}: flagged`)
          assert.equal(p?.activatedAt, null, `${anomaly}: never activated`)
          const log = await storage.audit.list('payment', `${CHAIN}:${p.txHash}:${p.logIndex}`)
          assert.deepEqual(
            log.map((e) => e.cause),
            ['payment-seen', 'payment-confirmed', 'flag-anomaly'],
          )
          assert.equal(log[2]?.detail['anomaly'], anomaly)
        }
        assert.equal(run.activations.length, 1, 'only the matching payment activated')
      } finally {
        await run.pipeline.close()
      }
    })
  })
}
