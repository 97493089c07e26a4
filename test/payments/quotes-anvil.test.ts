// Integration on a real anvil: the contracts deployed with src/contracts/deploy.ts, plan facts read through the
// cross-checked RPC client, and quotes from the quote endpoint (a real loopback HTTP server) paid every way the
// answer offers: approve + pay, payWithPermit, payWithAuthorization. Expired quotes, quotes for another chain or
// contract, and forged signatures are refused by the contract.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import {
  createPublicClient,
  createWalletClient,
  http,
  parseSignature,
  type Account,
  type Address,
  type Hex,
  type PublicClient,
} from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { anvil as anvilChain } from 'viem/chains'
import { createChainMetrics, createRpcClient, type RpcClient } from '../../src/blockchain/index.ts'
import { configSchema } from '../../src/config/index.ts'
import { isGatewayError } from '../../src/errors/index.ts'
import {
  deployLitgate,
  paymentProcessorAbi,
  testUsdcAbi,
  writeDeployment,
  type LitgateDeployment,
} from '../../src/contracts/index.ts'
import {
  checkPlansAgainstChain,
  compilePlans,
  createMemoryQuoteStore,
  createPaidAccess,
  createQuoteEndpoints,
  createQuoteSigner,
  readChainTime,
  readPermitNonce,
  readPlanFacts,
  readPreviewDue,
  readSubscription,
  readTokenInfo,
  type PlanCatalog,
  type QuoteSigner,
  type TokenInfo,
} from '../../src/payments/index.ts'
import { ANVIL_MNEMONIC, startAnvil, type AnvilInstance } from '../helpers/anvil.ts'
import { FAST_RPC, testDeps } from '../blockchain/support.ts'

const account = (i: number): Account => mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i })
const [deployer, admin, operator, , payer, treasury, operatorPayee, guardian, upgrader, relayer] = [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
].map(account) as Account[] as [
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
// The quote signer key: a fresh random key (the gateway's, not the hot wallet).
const SIGNER_KEY = `0x${randomBytes(32).toString('hex')}` as Hex
const PRICE = 10_000_000n

let node: AnvilInstance
let publicClient: PublicClient
let deployment: LitgateDeployment
let rpc: RpcClient
let signer: QuoteSigner
let planId = 0
const servers: Server[] = []

const wallet = (who: Account) =>
  createWalletClient({ account: who, chain: anvilChain, transport: http(node.url) })
const usdc = (): Address => deployment.tokens.usdc as Address
const usdt = (): Address => deployment.tokens.usdt as Address

async function write(
  who: Account,
  address: Address,
  abi: unknown,
  functionName: string,
  args: readonly unknown[],
) {
  const hash = await wallet(who).writeContract({ address, abi, functionName, args } as never)
  const receipt = await publicClient.waitForTransactionReceipt({ hash })
  assert.equal(receipt.status, 'success', `${functionName} reverted`)
  return receipt
}

function catalogFor(priceUsdc: bigint, id = planId): PlanCatalog {
  return compilePlans({
    plans: [
      {
        name: 'pro',
        planId: id,
        displayName: 'Pro',
        prices: { [usdc()]: priceUsdc.toString(), [usdt()]: PRICE.toString() },
        qos: { requestsPerSecond: 10, burst: 20 },
      },
    ],
  })
}

/** A quote endpoint on a loopback server, configured for `contract` and `chainId`. */
async function startQuotes(opts: { contract?: Address; chainId?: number } = {}): Promise<string> {
  const tokens = new Map<string, TokenInfo>()
  for (const t of [usdc(), usdt()]) tokens.set(t.toLowerCase(), await readTokenInfo(rpc, t))
  const endpoints = createQuoteEndpoints({
    basePath: '/litgate/v1',
    quotes: {
      ttlSeconds: 300,
      maxPeriods: 12,
      maxOpenPerPayer: 50,
      maxOpen: 1000,
      createPerIpPerMinute: 1000,
      createPerPayerPerMinute: 1000,
    },
    catalog: catalogFor(PRICE),
    chainId: opts.chainId ?? deployment.chainId,
    contract: opts.contract ?? deployment.paymentProcessor,
    signer,
    tokens,
    store: createMemoryQuoteStore(),
    chain: {
      chainTime: () => readChainTime(rpc, Date.now() / 1000, 1_000_000),
      permitNonce: (token, owner) => readPermitNonce(rpc, token, owner),
      subscription: (id) => readSubscription(rpc, opts.contract ?? deployment.paymentProcessor, id),
      previewDue: (quote, at) => readPreviewDue(rpc, opts.contract ?? deployment.paymentProcessor, quote, at),
    },
    randomBytes: (n) => randomBytes(n),
    nowMs: () => Date.now(),
    requestIdHeader: 'x-request-id',
    nextRequestId: () => `req-${randomBytes(4).toString('hex')}`,
  })
  const server = createServer((req, res) => {
    if (!endpoints.handle(req, res, { clientAddress: () => req.socket.remoteAddress ?? '' })) {
      res.writeHead(404).end()
    }
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

interface Answer {
  quoteId: Hex
  digest: Hex
  amount: string
  validUntil: string
  contract: Address
  token: Address
  signature: Hex
  quote: Record<string, string | number>
  typedData: { message: Record<string, string | number> }
  permit?: { typedData: { domain: never; message: Record<string, string> } }
  receiveWithAuthorization?: { typedData: { domain: never; message: Record<string, string> } }
}

async function requestQuote(base: string, body: Record<string, unknown>): Promise<Answer> {
  const res = await fetch(`${base}/litgate/v1/quote`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ plan: 'pro', token: usdc(), ...body }),
  })
  const text = await res.text()
  assert.equal(res.status, 201, text)
  return JSON.parse(text) as Answer
}

/** The Quote struct for viem from the JSON answer (uint fields as bigint). */
function structOf(a: Answer) {
  const q = a.quote
  return {
    quoteId: q.quoteId as Hex,
    payer: q.payer as Address,
    beneficiary: q.beneficiary as Address,
    subscriptionId: q.subscriptionId as Hex,
    token: q.token as Address,
    amount: BigInt(q.amount as string),
    planId: Number(q.planId),
    periods: Number(q.periods),
    validUntil: BigInt(q.validUntil as string),
  }
}

const uints = (m: Record<string, string>, keys: string[]) =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [k, keys.includes(k) ? BigInt(v) : v]))

async function mint(to: Address, amount: bigint): Promise<void> {
  await write(deployer, usdc(), testUsdcAbi, 'mint', [to, amount])
}

async function simulatePay(
  who: Account,
  quote: ReturnType<typeof structOf>,
  signature: Hex,
): Promise<unknown> {
  return publicClient.simulateContract({
    account: who,
    address: deployment.paymentProcessor,
    abi: paymentProcessorAbi,
    functionName: 'pay',
    args: [quote, signature],
  })
}

before(async () => {
  node = await startAnvil()
  publicClient = createPublicClient({ chain: anvilChain, transport: http(node.url), cacheTime: 0 })
  signer = createQuoteSigner(SIGNER_KEY)
  deployment = await deployLitgate(
    { walletClient: wallet(deployer), publicClient },
    {
      roles: {
        admin: admin.address,
        upgrader: upgrader.address,
        operator: operator.address,
        guardian: guardian.address,
        quoteSigner: signer.address,
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
  await write(operator, deployment.paymentProcessor, paymentProcessorAbi, 'createPlan', [qos, 30 * 86_400])
  await write(operator, deployment.paymentProcessor, paymentProcessorAbi, 'setSale', [
    planId,
    usdc(),
    PRICE,
    true,
  ])
  await write(operator, deployment.paymentProcessor, paymentProcessorAbi, 'setSale', [
    planId,
    usdt(),
    PRICE,
    true,
  ])
  const deps = testDeps()
  rpc = createRpcClient(
    { chainId: deployment.chainId, endpoints: [{ name: 'anvil', http: node.url }], tuning: FAST_RPC },
    { ...deps, metrics: createChainMetrics(deps.registry) },
  )
  await rpc.start()
})

after(async () => {
  for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()))
  await rpc?.close()
  await node?.stop()
})

describe('plans against the chain', () => {
  test('a plan set that agrees with the contract passes', async () => {
    const catalog = catalogFor(PRICE)
    const facts = await readPlanFacts(rpc, deployment.paymentProcessor, catalog)
    assert.deepEqual(checkPlansAgainstChain(catalog, facts, signer.address), [])
  })

  test('price below the on-chain price, unknown plan, token not listed, wrong signer: each named', async () => {
    const below = catalogFor(PRICE - 1n)
    const problems = checkPlansAgainstChain(
      below,
      await readPlanFacts(rpc, deployment.paymentProcessor, below),
      signer.address,
    )
    assert.equal(problems.length, 1, problems.join('\n'))
    assert.match(
      problems[0] as string,
      /plan "pro" \(on-chain id \d+\): price 9999999 in token 0x[0-9a-fA-F]+ is below the on-chain price 10000000/,
    )

    const unknown = catalogFor(PRICE, 99)
    assert.deepEqual(
      checkPlansAgainstChain(
        unknown,
        await readPlanFacts(rpc, deployment.paymentProcessor, unknown),
        signer.address,
      ),
      ['plan "pro" (on-chain id 99): no such plan on the contract'],
    )

    const stranger = '0x000000000000000000000000000000000000dEaD' as Address
    const unlisted = compilePlans({
      plans: [
        {
          name: 'pro',
          planId,
          displayName: 'Pro',
          prices: { [stranger]: '1' },
          qos: { requestsPerSecond: 1, burst: 1 },
        },
      ],
    })
    assert.deepEqual(
      checkPlansAgainstChain(
        unlisted,
        await readPlanFacts(rpc, deployment.paymentProcessor, unlisted),
        signer.address,
      ),
      [`plan "pro" (on-chain id ${planId}): token ${stranger} is not listed on the contract`],
    )
    const wrongSigner = checkPlansAgainstChain(
      catalogFor(PRICE),
      await readPlanFacts(rpc, deployment.paymentProcessor, catalogFor(PRICE)),
      relayer.address,
    )
    assert.equal(wrongSigner.length, 1)
    assert.match(wrongSigner[0] as string, /quote signer .* is not the contract's quote signer/)
  })

  test("token facts: the test USDC's EIP-712 domain, permit and EIP-3009; the test USDT has neither", async () => {
    const u = await readTokenInfo(rpc, usdc())
    assert.deepEqual(u.domain, {
      name: 'Test USD Coin',
      version: '1',
      chainId: deployment.chainId,
      verifyingContract: usdc(),
    })
    assert.equal(u.supportsPermit, true)
    assert.equal(u.supportsAuthorization, true)
    const t = await readTokenInfo(rpc, usdt())
    assert.equal(t.domain, undefined)
    assert.equal(t.supportsPermit, false)
    assert.equal(t.supportsAuthorization, false)
  })
})

describe('quotes from the endpoint, paid on the contract', () => {
  test('approve + pay: the contract accepts the quote and records the digest the answer named', async () => {
    const base = await startQuotes()
    await mint(payer.address, 10n * PRICE)
    await write(payer, usdc(), testUsdcAbi, 'approve', [deployment.paymentProcessor, 10n * PRICE])
    const a = await requestQuote(base, { payer: payer.address, periods: 2 })
    assert.equal(a.amount, String(2n * PRICE))
    assert.equal(a.contract, deployment.paymentProcessor)
    const digest = await publicClient.readContract({
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName: 'hashQuote',
      args: [structOf(a)],
    })
    assert.equal(digest, a.digest, 'the digest in the answer is the one the contract computes')
    await write(payer, deployment.paymentProcessor, paymentProcessorAbi, 'pay', [structOf(a), a.signature])
    assert.equal(
      await publicClient.readContract({
        address: deployment.paymentProcessor,
        abi: paymentProcessorAbi,
        functionName: 'isActive',
        args: [a.digest],
      }),
      true,
    )
    const again = await fetch(`${base}/litgate/v1/quote/${a.quoteId}`)
    assert.equal(again.status, 200)
    assert.equal(((await again.json()) as Answer).signature, a.signature)
  })

  test('renewal: a quote for the subscription (owner, same token) extends it; other token, stranger or unknown id refused', async () => {
    const base = await startQuotes()
    const created = await requestQuote(base, { payer: payer.address })
    await write(payer, deployment.paymentProcessor, paymentProcessorAbi, 'pay', [
      structOf(created),
      created.signature,
    ])
    const before = await publicClient.readContract({
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName: 'getSubscription',
      args: [created.digest],
    })
    const renewal = await requestQuote(base, {
      payer: payer.address,
      subscriptionId: created.digest,
      periods: 1,
    })
    assert.equal(renewal.quote.subscriptionId, created.digest)
    assert.equal(renewal.amount, PRICE.toString())
    await write(payer, deployment.paymentProcessor, paymentProcessorAbi, 'pay', [
      structOf(renewal),
      renewal.signature,
    ])
    const afterRenewal = await publicClient.readContract({
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName: 'getSubscription',
      args: [created.digest],
    })
    assert.equal(afterRenewal.end, before.end + 30 * 86_400)

    const refused = async (body: Record<string, unknown>, pattern: RegExp) => {
      const res = await fetch(`${base}/litgate/v1/quote`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ plan: 'pro', token: usdc(), subscriptionId: created.digest, ...body }),
      })
      const problem = (await res.json()) as { code: string; detail: string }
      assert.equal(res.status, 400)
      assert.equal(problem.code, 'QUOTE_SUBSCRIPTION_INVALID')
      assert.match(problem.detail, pattern)
    }
    await refused({ payer: payer.address, token: usdt() }, /paid in token/)
    await refused({ payer: relayer.address }, /neither the owner nor the beneficiary/)
    await refused({ payer: payer.address, subscriptionId: `0x${'42'.repeat(32)}` }, /no such subscription/)
  })

  test("payWithPermit: the answer's permit payload, signed as is by the payer, pays", async () => {
    const base = await startQuotes()
    const who = guardian
    await mint(who.address, PRICE)
    const a = await requestQuote(base, { payer: who.address })
    assert.ok(a.permit)
    const message = uints(a.permit.typedData.message, ['value', 'nonce', 'deadline'])
    const sig = parseSignature(
      await wallet(who).signTypedData({
        ...a.permit.typedData,
        types: (a.permit.typedData as never as { types: never }).types,
        primaryType: 'Permit',
        message,
      } as never),
    )
    await write(who, deployment.paymentProcessor, paymentProcessorAbi, 'payWithPermit', [
      structOf(a),
      a.signature,
      message.deadline,
      Number(sig.v),
      sig.r,
      sig.s,
    ])
  })

  test("payWithAuthorization: the answer's ReceiveWithAuthorization payload pays through a relayer", async () => {
    const base = await startQuotes()
    const who = upgrader
    await mint(who.address, PRICE)
    const a = await requestQuote(base, { payer: who.address })
    assert.ok(a.receiveWithAuthorization)
    const td = a.receiveWithAuthorization.typedData as never as {
      domain: never
      types: never
      message: Record<string, string>
    }
    const message = uints(td.message, ['value', 'validAfter', 'validBefore'])
    assert.equal(message.nonce, a.digest)
    const sig = parseSignature(
      await wallet(who).signTypedData({
        domain: td.domain,
        types: td.types,
        primaryType: 'ReceiveWithAuthorization',
        message,
      } as never),
    )
    await write(relayer, deployment.paymentProcessor, paymentProcessorAbi, 'payWithAuthorization', [
      structOf(a),
      a.signature,
      message.validAfter,
      message.validBefore,
      Number(sig.v),
      sig.r,
      sig.s,
    ])
  })

  test('refused by the contract: a forged signature, a quote for another contract or chain, an expired quote', async () => {
    await mint(operator.address, 10n * PRICE)
    await write(operator, usdc(), testUsdcAbi, 'approve', [deployment.paymentProcessor, 10n * PRICE])
    const base = await startQuotes()
    const a = await requestQuote(base, { payer: operator.address })
    // Forged: the same terms signed by another key, and the genuine signature over altered terms.
    const forger = createQuoteSigner(`0x${randomBytes(32).toString('hex')}`)
    const forged = await forger.sign({
      quote: structOf(a),
      priceVersion: '',
      digest: a.digest,
      domain: {
        name: 'litgate PaymentProcessor',
        version: '2',
        chainId: deployment.chainId,
        verifyingContract: deployment.paymentProcessor,
      },
    })
    await assert.rejects(simulatePay(operator, structOf(a), forged), /InvalidQuoteSignature/)
    await assert.rejects(
      simulatePay(operator, { ...structOf(a), amount: structOf(a).amount * 2n }, a.signature),
      /InvalidQuoteSignature/,
    )

    const otherContract = await startQuotes({ contract: '0x000000000000000000000000000000000000bEEF' })
    const b = await requestQuote(otherContract, { payer: operator.address })
    await assert.rejects(simulatePay(operator, structOf(b), b.signature), /InvalidQuoteSignature/)
    const otherChain = await startQuotes({ chainId: 1 })
    const c = await requestQuote(otherChain, { payer: operator.address })
    await assert.rejects(simulatePay(operator, structOf(c), c.signature), /InvalidQuoteSignature/)

    // The genuine quote pays until it expires (chain time), and not after.
    await simulatePay(operator, structOf(a), a.signature)
    await node.rpc('evm_increaseTime', [301])
    await node.rpc('evm_mine', [])
    await assert.rejects(simulatePay(operator, structOf(a), a.signature), /QuoteExpired/)
  })
})

describe('createPaidAccess (the wiring factory) on the real contract', () => {
  const configWith = (price: bigint, dir: string) =>
    configSchema.parse({
      version: 1,
      listeners: [{ name: 'main', port: 0 }],
      upstreams: [{ id: 'app', backends: [{ url: 'http://127.0.0.1:9' }] }],
      routes: [{ id: 'paid', match: {}, upstream: 'app', access: ['pro'] }],
      paidAccess: {
        chain: { preset: 'anvil' },
        contract: { deploymentsDir: dir },
        quoteSigner: { fromEnv: 'LITGATE_TEST_QUOTE_KEY' },
        plans: [
          {
            name: 'pro',
            planId,
            displayName: 'Pro',
            prices: { [usdc()]: price.toString(), [usdt()]: PRICE.toString() },
            qos: { requestsPerSecond: 1, burst: 1 },
          },
        ],
      },
    })
  const deps = (key: string) => ({
    rpc,
    chainId: deployment.chainId,
    readSecret: () => Promise.resolve(key),
    randomBytes: (n: number) => randomBytes(n),
    nowMs: () => Date.now(),
    requestIdHeader: 'x-request-id',
    nextRequestId: () => 'r',
  })

  test('resolves the contract from the deployments file; x402 offers only the EIP-3009 token, with its on-chain domain', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'litgate-paid-'))
    try {
      await writeDeployment(dir, deployment)
      const paid = await createPaidAccess(configWith(PRICE, dir), deps(SIGNER_KEY))
      assert.ok(paid)
      assert.equal(paid.contract, deployment.paymentProcessor)
      assert.equal(paid.signerAddress, signer.address)
      assert.deepEqual(paid.challenge.accepts('paid'), [
        {
          scheme: 'exact',
          network: `eip155:${deployment.chainId}`,
          amount: PRICE.toString(),
          asset: usdc(),
          payTo: deployment.paymentProcessor,
          maxTimeoutSeconds: 300,
          extra: { name: 'Test USD Coin', version: '1' },
        },
      ])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('refuses with PLAN_CHAIN_MISMATCH naming the plan (price below the floor, wrong signer key); the key is never in the message', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'litgate-paid-'))
    try {
      await writeDeployment(dir, deployment)
      const refused = async (price: bigint, key: string, pattern: RegExp) => {
        const err = await createPaidAccess(configWith(price, dir), deps(key)).then(
          () => undefined,
          (e: unknown) => e,
        )
        assert.ok(isGatewayError(err), String(err))
        assert.equal(err.code, 'PLAN_CHAIN_MISMATCH')
        assert.match(err.message, pattern)
        assert.ok(!err.message.includes(key.slice(2)), 'the key is not in the message')
      }
      await refused(PRICE - 1n, SIGNER_KEY, /plan "pro" .*below the on-chain price/)
      const other = `0x${randomBytes(32).toString('hex')}`
      await refused(PRICE, other, /is not the contract's quote signer/)
      const otherChain = configWith(PRICE, dir)
      const wrongChain = await createPaidAccess(
        {
          ...otherChain,
          paidAccess: {
            ...otherChain.paidAccess!,
            chain: { id: 1, rpc: [{ name: 'a', http: 'http://127.0.0.1:9' }] },
          },
        },
        deps(SIGNER_KEY),
      ).then(
        () => undefined,
        (e: unknown) => e,
      )
      assert.ok(isGatewayError(wrongChain) && wrongChain.code === 'CHAIN_CONFIG_INVALID', String(wrongChain))
      assert.match(wrongChain.message, /chain id 1, but the chain client serves chain id 31337/)
      const bad = await createPaidAccess(configWith(PRICE, dir), deps('not-a-key')).then(
        () => undefined,
        (e: unknown) => e,
      )
      assert.ok(isGatewayError(bad) && bad.code === 'CHAIN_KEY_INVALID')
      assert.match(bad.message, /env:LITGATE_TEST_QUOTE_KEY/)
      assert.ok(!bad.message.includes('not-a-key'))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
