// Integration: a real anvil node on 127.0.0.1, the viem deploy path, a plan, a gateway-signed quote paid
// three ways (allowance, EIP-2612 permit, EIP-3009 by a relayer), and the gas each transaction used
// (receipt gasUsed, including the 21,000 intrinsic gas).
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import {
  createPublicClient,
  createWalletClient,
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
import { ANVIL_MNEMONIC, startAnvil, type AnvilInstance } from '../../test/helpers/anvil.ts'
import {
  deployLitgate,
  paymentProcessorAbi,
  permitTypes,
  quoteDomain,
  quoteTypes,
  readDeployment,
  receiveWithAuthorizationTypes,
  roleIds,
  subscriptionManagerAbi,
  testUsdcAbi,
  writeDeployment,
  type LitgateDeployment,
} from './index.ts'
import { calldataGas, gasByClass, type StructLog } from './gas-breakdown.ts'

let node: AnvilInstance
let publicClient: PublicClient
let deployment: LitgateDeployment
let tmp: string
const account = (i: number): Account => mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i })
const [deployer, admin, operator, quoteSigner, payer, treasury, operatorPayee, guardian, upgrader, relayer] = [
  account(0),
  account(1),
  account(2),
  account(3),
  account(4),
  account(5),
  account(6),
  account(7),
  account(8),
  account(9),
]
const gas = new Map<string, bigint>()
const PRICE = 10_000_000n // 10 tUSDC per 30 days
let planId = 0

function wallet(account: Account) {
  return createWalletClient({ account, chain: anvilChain, transport: http(node.url) })
}

async function mined(hash: Hex): Promise<TransactionReceipt> {
  const receipt = await publicClient.waitForTransactionReceipt({ hash })
  assert.equal(receipt.status, 'success')
  return receipt
}

async function now(): Promise<bigint> {
  return (await publicClient.getBlock({ blockTag: 'latest' })).timestamp
}

async function signQuote(quote: {
  quoteId: Hex
  payer: Address
  beneficiary: Address
  planId: number
  periods: number
  token: Address
  amount: bigint
  subscriptionId: bigint
  validUntil: bigint
}): Promise<Hex> {
  return wallet(quoteSigner).signTypedData({
    domain: quoteDomain(deployment.chainId, deployment.paymentProcessor),
    types: quoteTypes,
    primaryType: 'Quote',
    message: quote,
  })
}

async function newQuote(forPayer: Address, id: string, subscriptionId = 0n) {
  return {
    quoteId: keccak256(stringToHex(id)),
    payer: forPayer,
    beneficiary: '0x0000000000000000000000000000000000000000' as Address,
    planId,
    periods: 1,
    token: deployment.tokens.usdc as Address,
    amount: PRICE,
    subscriptionId,
    validUntil: (await now()) + 300n,
  }
}

before(async () => {
  // Struct-log traces (for LITGATE_GAS_BREAKDOWN) need anvil's step tracing; off by default.
  node = await startAnvil(process.env.LITGATE_GAS_BREAKDOWN === '1' ? { args: ['--steps-tracing'] } : {})
  publicClient = createPublicClient({ chain: anvilChain, transport: http(node.url), cacheTime: 0 })
  tmp = await mkdtemp(join(tmpdir(), 'litgate-deploy-'))
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
      testTokens: true,
    },
  )
  // A plan with a tUSDC price, and tokens for the payers.
  const op = wallet(operator)
  const qos = {
    requestsPerSecond: 10,
    requestsPerDay: 100_000n,
    requestsPerMonth: 3_000_000n,
    bandwidthBytesPerPeriod: 10n << 30n,
    maxConcurrentStreams: 4,
  }
  const { result } = await publicClient.simulateContract({
    account: operator,
    address: deployment.subscriptionManager,
    abi: subscriptionManagerAbi,
    functionName: 'createPlan',
    args: [qos, 30 * 86_400],
  })
  planId = result
  await mined(
    await op.writeContract({
      address: deployment.subscriptionManager,
      abi: subscriptionManagerAbi,
      functionName: 'createPlan',
      args: [qos, 30 * 86_400],
    }),
  )
  await mined(
    await op.writeContract({
      address: deployment.subscriptionManager,
      abi: subscriptionManagerAbi,
      functionName: 'setPlanPrice',
      args: [planId, deployment.tokens.usdc as Address, PRICE],
    }),
  )
  for (const who of [payer, relayer, guardian]) {
    await mined(
      await wallet(deployer).writeContract({
        address: deployment.tokens.usdc as Address,
        abi: testUsdcAbi,
        functionName: 'mint',
        args: [who.address, 1_000n * PRICE],
      }),
    )
  }
})

after(async () => {
  // Gas table for contracts/README.md (node --test prints diagnostics).
  for (const [name, used] of gas) process.stdout.write(`# gasUsed ${name}: ${used}\n`)
  await node?.stop()
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true })
})

test('deploys proxies with roles on the configured addresses and none on the deployer', async () => {
  const read = (address: Address, role: Hex, account: Address) =>
    publicClient.readContract({ address, abi: paymentProcessorAbi, functionName: 'hasRole', args: [role, account] })
  assert.equal(await read(deployment.paymentProcessor, roleIds.admin, admin.address), true)
  assert.equal(await read(deployment.paymentProcessor, roleIds.quoteSigner, quoteSigner.address), true)
  assert.equal(await read(deployment.paymentProcessor, roleIds.admin, deployer.address), false)
  assert.equal(await read(deployment.subscriptionManager, roleIds.issuer, deployment.paymentProcessor), true)
  assert.equal(await read(deployment.subscriptionManager, roleIds.upgrader, deployer.address), false)
  const cfg = await publicClient.readContract({
    address: deployment.paymentProcessor,
    abi: paymentProcessorAbi,
    functionName: 'config',
  })
  assert.equal(cfg.subscriptionManager, deployment.subscriptionManager)
  assert.equal(cfg.operatorFeeBps, 2_000)
  assert.equal(cfg.tokenCount, 2)

  const path = await writeDeployment(tmp, deployment)
  assert.equal(path, join(tmp, '31337.json'))
  assert.deepEqual(await readDeployment(tmp, 31337), deployment)
})

test('pays a gateway-signed quote and emits PaymentReceived; the subscription is active', async () => {
  const usdc = deployment.tokens.usdc as Address
  await mined(
    await wallet(payer).writeContract({
      address: usdc,
      abi: testUsdcAbi,
      functionName: 'approve',
      args: [deployment.paymentProcessor, 2n ** 256n - 1n],
    }),
  )
  const quote = await newQuote(payer.address, 'quote-1')
  const signature = await signQuote(quote)
  const receipt = await mined(
    await wallet(payer).writeContract({
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName: 'pay',
      args: [quote, signature],
    }),
  )
  gas.set('pay (new subscriber, first payment to the contract)', receipt.gasUsed)
  const [event] = parseEventLogs({ abi: paymentProcessorAbi, eventName: 'PaymentReceived', logs: receipt.logs })
  assert.ok(event)
  assert.equal(event.args.quoteId, quote.quoteId)
  assert.equal(event.args.payer, payer.address)
  assert.equal(event.args.token, usdc)
  assert.equal(event.args.amount, PRICE)
  assert.equal(event.args.periods, 1)
  assert.equal(event.args.planId, planId)
  const subscriptionId = event.args.subscriptionId
  assert.equal(subscriptionId, 1n)
  const sub = await publicClient.readContract({
    address: deployment.subscriptionManager,
    abi: subscriptionManagerAbi,
    functionName: 'getSubscription',
    args: [subscriptionId],
  })
  assert.equal(sub.owner, payer.address)
  assert.equal(sub.planId, planId)
  assert.equal(sub.end, event.args.paidUntil)
  assert.equal(BigInt(sub.end - sub.start), 30n * 86_400n)
  assert.equal(
    await publicClient.readContract({
      address: deployment.subscriptionManager,
      abi: subscriptionManagerAbi,
      functionName: 'isActive',
      args: [subscriptionId],
    }),
    true,
  )
  // The same quote cannot be paid twice.
  await assert.rejects(
    publicClient.simulateContract({
      account: payer,
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName: 'pay',
      args: [quote, signature],
    }),
    /QuoteAlreadyPaid/,
  )

  // Renewal (time stacks on the current end).
  const renewal = await newQuote(payer.address, 'quote-renew', subscriptionId)
  const renewed = await mined(
    await wallet(payer).writeContract({
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName: 'pay',
      args: [renewal, await signQuote(renewal)],
    }),
  )
  gas.set('pay (renewal)', renewed.gasUsed)
})

test('a new subscriber pays with EIP-2612 permit, and another through a relayer with EIP-3009', async () => {
  const usdc = deployment.tokens.usdc as Address
  const domain = { name: 'Test USD Coin', version: '1', chainId: deployment.chainId, verifyingContract: usdc } as const

  const quote = await newQuote(relayer.address, 'quote-permit')
  const deadline = (await now()) + 3_600n
  const permit = await wallet(relayer).signTypedData({
    domain,
    types: permitTypes,
    primaryType: 'Permit',
    message: { owner: relayer.address, spender: deployment.paymentProcessor, value: PRICE, nonce: 0n, deadline },
  })
  const r = permit.slice(0, 66) as Hex
  const s = `0x${permit.slice(66, 130)}` as Hex
  const v = Number.parseInt(permit.slice(130, 132), 16)
  const viaPermit = await mined(
    await wallet(relayer).writeContract({
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName: 'payWithPermit',
      args: [quote, await signQuote(quote), deadline, v, r, s],
    }),
  )
  gas.set('payWithPermit (new subscriber)', viaPermit.gasUsed)

  const gifted = await newQuote(guardian.address, 'quote-3009')
  const digest = await publicClient.readContract({
    address: deployment.paymentProcessor,
    abi: paymentProcessorAbi,
    functionName: 'hashQuote',
    args: [gifted],
  })
  const validBefore = (await now()) + 3_600n
  const auth = await wallet(guardian).signTypedData({
    domain,
    types: receiveWithAuthorizationTypes,
    primaryType: 'ReceiveWithAuthorization',
    message: {
      from: guardian.address,
      to: deployment.paymentProcessor,
      value: PRICE,
      validAfter: 0n,
      validBefore,
      nonce: digest,
    },
  })
  const via3009 = await mined(
    await wallet(operatorPayee).writeContract({
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName: 'payWithAuthorization',
      args: [
        gifted,
        await signQuote(gifted),
        0n,
        validBefore,
        Number.parseInt(auth.slice(130, 132), 16),
        auth.slice(0, 66) as Hex,
        `0x${auth.slice(66, 130)}` as Hex,
      ],
    }),
  )
  gas.set('payWithAuthorization (new subscriber, relayer submits)', via3009.gasUsed)
  const [event] = parseEventLogs({ abi: paymentProcessorAbi, eventName: 'PaymentReceived', logs: via3009.logs })
  assert.equal(event?.args.payer, guardian.address)

  // Steady-state allowance payment by a new subscriber (the figure comparable to forge's GasTest).
  const freshQuote = await newQuote(operator.address, 'quote-steady')
  await mined(
    await wallet(deployer).writeContract({
      address: usdc,
      abi: testUsdcAbi,
      functionName: 'mint',
      args: [operator.address, PRICE],
    }),
  )
  await mined(
    await wallet(operator).writeContract({
      address: usdc,
      abi: testUsdcAbi,
      functionName: 'approve',
      args: [deployment.paymentProcessor, 2n ** 256n - 1n],
    }),
  )
  const steady = await mined(
    await wallet(operator).writeContract({
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName: 'pay',
      args: [freshQuote, await signQuote(freshQuote)],
    }),
  )
  gas.set('pay (new subscriber, steady state)', steady.gasUsed)
  if (process.env.LITGATE_GAS_BREAKDOWN === '1') {
    // Opcode-class breakdown of the steady-state payment (see contracts/README.md, Gas).
    const trace = await node.rpc<{ structLogs: StructLog[] }>('debug_traceTransaction', [steady.transactionHash, { enableMemory: false, disableStack: true, disableStorage: true }])
    const tx = await publicClient.getTransaction({ hash: steady.transactionHash })
    const rows = [...gasByClass(trace.structLogs)].sort((a, b) => b[1] - a[1])
    rows.unshift(['intrinsic', 21_000], ['calldata', calldataGas(tx.input)])
    for (const [k, v] of rows) process.stdout.write(`# breakdown ${k}: ${v}\n`)
    process.stdout.write(`# breakdown total: ${rows.reduce((a, [, v]) => a + v, 0)} (receipt ${steady.gasUsed})\n`)
  }
})

test('subscription creation by the issuer for a new subscriber costs under 100,000 gas (receipt gasUsed)', async () => {
  await mined(
    await wallet(admin).writeContract({
      address: deployment.subscriptionManager,
      abi: subscriptionManagerAbi,
      functionName: 'grantRole',
      args: [roleIds.issuer, operator.address],
    }),
  )
  const receipt = await mined(
    await wallet(operator).writeContract({
      address: deployment.subscriptionManager,
      abi: subscriptionManagerAbi,
      functionName: 'createSubscription',
      args: [upgrader.address, '0x0000000000000000000000000000000000000000', planId, 0, 1, deployment.tokens.usdc as Address],
    }),
  )
  gas.set('SubscriptionManager.createSubscription (issuer, new subscriber)', receipt.gasUsed)
  assert.ok(receipt.gasUsed < 100_000n, `createSubscription used ${receipt.gasUsed} gas`)
})
