// Integration: a real anvil node on 127.0.0.1, the viem deploy path, a plan, gateway-signed quotes paid every
// way (allowance, EIP-2612 permit, EIP-3009 receive by a relayer, an x402-style TransferWithAuthorization,
// a front-run authorization honoured by the signer), and the gas each transaction used (receipt gasUsed,
// including the 21,000 intrinsic gas). The < 100,000 bounds are asserted on the receipts.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
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
  parseSignature,
  stringToHex,
  toHex,
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
  DeployError,
  deployLitgate,
  paymentProcessorAbi,
  permitTypes,
  quoteDomain,
  quoteTypes,
  readDeployment,
  receiveWithAuthorizationTypes,
  roleIds,
  testUsdcAbi,
  transferAuthorizationQuoteId,
  transferWithAuthorizationTypes,
  writeDeployment,
  type LitgateDeployment,
  type LitgateRoles,
} from './index.ts'
import { calldataGas, gasByClass, type StructLog } from './gas-breakdown.ts'

let node: AnvilInstance
let publicClient: PublicClient
let deployment: LitgateDeployment
let tmp: string
const account = (i: number): Account => mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i })
const [deployer, admin, operator, quoteSigner, payer, treasury, operatorPayee, guardian, upgrader, relayer] =
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
const gas = new Map<string, bigint>()
const PRICE = 10_000_000n // 10 tUSDC per 30 days
const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000' as Address
const ZERO_ID = `0x${'00'.repeat(32)}` as Hex
const MAX = 2n ** 256n - 1n
let planId = 0
const roles = (): LitgateRoles => ({
  admin: admin.address,
  upgrader: upgrader.address,
  operator: operator.address,
  guardian: guardian.address,
  quoteSigner: quoteSigner.address,
  operatorPayee: operatorPayee.address,
  treasury: treasury.address,
})

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

function wallet(who: Account) {
  return createWalletClient({ account: who, chain: anvilChain, transport: http(node.url) })
}

async function mined(hash: Hex): Promise<TransactionReceipt> {
  const receipt = await publicClient.waitForTransactionReceipt({ hash })
  assert.equal(receipt.status, 'success')
  return receipt
}

async function now(): Promise<bigint> {
  return (await publicClient.getBlock({ blockTag: 'latest' })).timestamp
}

function usdc(): Address {
  return deployment.tokens.usdc as Address
}

async function signQuote(quote: Quote): Promise<Hex> {
  return wallet(quoteSigner).signTypedData({
    domain: quoteDomain(deployment.chainId, deployment.paymentProcessor),
    types: quoteTypes,
    primaryType: 'Quote',
    message: quote,
  })
}

async function newQuote(forPayer: Address, id: string, subscriptionId: Hex = ZERO_ID): Promise<Quote> {
  return {
    quoteId: keccak256(stringToHex(id)),
    payer: forPayer,
    beneficiary: ZERO_ADDRESS,
    subscriptionId,
    token: usdc(),
    amount: PRICE,
    planId,
    periods: 1,
    validUntil: (await now()) + 300n,
  }
}

async function write(who: Account, functionName: string, args: readonly unknown[], address?: Address) {
  return mined(
    await wallet(who).writeContract({
      address: address ?? deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName,
      args,
    } as never),
  )
}

async function mintAndApprove(who: Account, amount: bigint): Promise<void> {
  await mined(
    await wallet(deployer).writeContract({
      address: usdc(),
      abi: testUsdcAbi,
      functionName: 'mint',
      args: [who.address, amount],
    }),
  )
  await mined(
    await wallet(who).writeContract({
      address: usdc(),
      abi: testUsdcAbi,
      functionName: 'approve',
      args: [deployment.paymentProcessor, MAX],
    }),
  )
}

const tokenDomain = () =>
  ({ name: 'Test USD Coin', version: '1', chainId: deployment.chainId, verifyingContract: usdc() }) as const

before(async () => {
  // Struct-log traces (for LITGATE_GAS_BREAKDOWN) need anvil's step tracing; off by default.
  node = await startAnvil(process.env.LITGATE_GAS_BREAKDOWN === '1' ? { args: ['--steps-tracing'] } : {})
  publicClient = createPublicClient({ chain: anvilChain, transport: http(node.url), cacheTime: 0 })
  tmp = await mkdtemp(join(tmpdir(), 'litgate-deploy-'))
  deployment = await deployLitgate(
    { walletClient: wallet(deployer), publicClient },
    { roles: roles(), operatorFeeBps: 2_000, adminDelaySeconds: 86_400, testTokens: true },
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
})

after(async () => {
  // Gas table for contracts/README.md (node --test prints diagnostics).
  for (const [name, used] of gas) process.stdout.write(`# gasUsed ${name}: ${used}\n`)
  await node?.stop()
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true })
})

test('deploys the proxy with roles on the configured addresses and none on the deployer', async () => {
  const hasRole = (role: Hex, who: Address) =>
    publicClient.readContract({
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName: 'hasRole',
      args: [role, who],
    })
  assert.equal(await hasRole(roleIds.admin, admin.address), true)
  assert.equal(await hasRole(roleIds.upgrader, upgrader.address), true)
  assert.equal(await hasRole(roleIds.operator, operator.address), true)
  for (const role of Object.values(roleIds)) assert.equal(await hasRole(role, deployer.address), false)
  const read = <T>(functionName: string, args: readonly unknown[] = []) =>
    publicClient.readContract({
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName,
      args,
    } as never) as Promise<T>
  assert.equal(await read<number>('defaultAdminDelay'), 86_400)
  const cfg = await read<{ quoteSigner: Address; operatorFeeBps: number; paused: boolean }>('config')
  assert.equal(cfg.quoteSigner, quoteSigner.address)
  assert.equal(cfg.operatorFeeBps, 2_000)
  assert.equal(await read<Address>('ADMIN_EXTENSION'), deployment.implementations.paymentProcessorAdmin)

  const path = await writeDeployment(tmp, deployment)
  assert.equal(path, join(tmp, '31337.json'))
  assert.deepEqual(await readDeployment(tmp, 31337), deployment)
})

test('refuses out-of-range options before sending anything (no truncation)', async () => {
  const deps = { walletClient: wallet(deployer), publicClient }
  const nonce = await publicClient.getTransactionCount({ address: deployer.address, blockTag: 'pending' })
  await assert.rejects(deployLitgate(deps, { roles: roles(), operatorFeeBps: 10_001 }), (err: unknown) => {
    assert.ok(err instanceof DeployError)
    assert.match(err.message, /operatorFeeBps must be an integer from 0 to 10000, got 10001/)
    return true
  })
  await assert.rejects(
    deployLitgate(deps, { roles: roles(), operatorFeeBps: 12.5 }),
    /operatorFeeBps .* got 12\.5/,
  )
  await assert.rejects(
    deployLitgate(deps, { roles: roles(), adminDelaySeconds: 2 ** 48 }),
    /adminDelaySeconds .* got 281474976710656/,
  )
  assert.equal(
    await publicClient.getTransactionCount({ address: deployer.address, blockTag: 'pending' }),
    nonce,
  )
})

test('pays a quote, emits PaymentReceived with everything the monitor needs, renews; both under 100,000 gas', async () => {
  await mintAndApprove(payer, 1_000n * PRICE)
  const quote = await newQuote(payer.address, 'quote-1')
  const signature = await signQuote(quote)
  const receipt = await write(payer, 'pay', [quote, signature])
  gas.set('pay (new subscriber, first payment to the contract)', receipt.gasUsed)
  const digest = await publicClient.readContract({
    address: deployment.paymentProcessor,
    abi: paymentProcessorAbi,
    functionName: 'hashQuote',
    args: [quote],
  })
  const [event] = parseEventLogs({
    abi: paymentProcessorAbi,
    eventName: 'PaymentReceived',
    logs: receipt.logs,
  })
  assert.ok(event)
  assert.equal(event.args.digest, digest)
  assert.equal(event.args.subscriptionId, digest, 'a creation: subscription id = quote digest')
  assert.equal(event.args.payer, payer.address)
  assert.equal(event.args.beneficiary, payer.address)
  assert.equal(event.args.token, usdc())
  assert.equal(event.args.amount, PRICE)
  assert.equal(event.args.planId, planId)
  assert.equal(BigInt(event.args.end - event.args.start), 30n * 86_400n)
  const sub = await publicClient.readContract({
    address: deployment.paymentProcessor,
    abi: paymentProcessorAbi,
    functionName: 'getSubscription',
    args: [digest],
  })
  assert.equal(sub.owner, payer.address)
  assert.equal(sub.end, event.args.end)
  assert.equal(
    await publicClient.readContract({
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName: 'isActive',
      args: [digest],
    }),
    true,
  )
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

  const renewal = await newQuote(payer.address, 'quote-renew', digest)
  const renewed = await write(payer, 'pay', [renewal, await signQuote(renewal)])
  gas.set('pay (renewal)', renewed.gasUsed)
  assert.ok(renewed.gasUsed < 100_000n, `renewal used ${renewed.gasUsed} gas`)
  const [r] = parseEventLogs({ abi: paymentProcessorAbi, eventName: 'PaymentReceived', logs: renewed.logs })
  assert.equal(r?.args.subscriptionId, digest)
  assert.equal(r?.args.end, sub.end + 30 * 86_400)

  // Steady state: a new subscriber pays a contract that already holds tUSDC (forge GasTest's setting).
  await mintAndApprove(operator, 2n * PRICE)
  const fresh = await newQuote(operator.address, 'quote-steady')
  const steady = await write(operator, 'pay', [fresh, await signQuote(fresh)])
  gas.set('pay (new subscriber, steady state)', steady.gasUsed)
  assert.ok(steady.gasUsed < 100_000n, `paid creation used ${steady.gasUsed} gas`)
  if (process.env.LITGATE_GAS_BREAKDOWN === '1') {
    // Opcode-class breakdown of the steady-state payment (see contracts/README.md, Gas).
    const trace = await node.rpc<{ structLogs: StructLog[] }>('debug_traceTransaction', [
      steady.transactionHash,
      { enableMemory: false, disableStack: true, disableStorage: true },
    ])
    const tx = await publicClient.getTransaction({ hash: steady.transactionHash })
    const rows = [...gasByClass(trace.structLogs)].sort((a, b) => b[1] - a[1])
    rows.unshift(['intrinsic', 21_000], ['calldata', calldataGas(tx.input)])
    for (const [k, v] of rows) process.stdout.write(`# breakdown ${k}: ${v}\n`)
    process.stdout.write(
      `# breakdown total: ${rows.reduce((a, [, v]) => a + v, 0)} (receipt ${steady.gasUsed})\n`,
    )
  }
})

test('a new subscriber pays with EIP-2612 permit, and another through a relayer with EIP-3009 receive', async () => {
  await mined(
    await wallet(deployer).writeContract({
      address: usdc(),
      abi: testUsdcAbi,
      functionName: 'mint',
      args: [relayer.address, PRICE],
    }),
  )
  const quote = await newQuote(relayer.address, 'quote-permit')
  const deadline = (await now()) + 3_600n
  const permit = parseSignature(
    await wallet(relayer).signTypedData({
      domain: tokenDomain(),
      types: permitTypes,
      primaryType: 'Permit',
      message: {
        owner: relayer.address,
        spender: deployment.paymentProcessor,
        value: PRICE,
        nonce: 0n,
        deadline,
      },
    }),
  )
  const viaPermit = await write(relayer, 'payWithPermit', [
    quote,
    await signQuote(quote),
    deadline,
    Number(permit.v),
    permit.r,
    permit.s,
  ])
  gas.set('payWithPermit (new subscriber)', viaPermit.gasUsed)

  await mined(
    await wallet(deployer).writeContract({
      address: usdc(),
      abi: testUsdcAbi,
      functionName: 'mint',
      args: [guardian.address, PRICE],
    }),
  )
  const gifted = await newQuote(guardian.address, 'quote-3009')
  const digest = await publicClient.readContract({
    address: deployment.paymentProcessor,
    abi: paymentProcessorAbi,
    functionName: 'hashQuote',
    args: [gifted],
  })
  const validBefore = (await now()) + 3_600n
  const auth = parseSignature(
    await wallet(guardian).signTypedData({
      domain: tokenDomain(),
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
    }),
  )
  const via3009 = await write(operatorPayee, 'payWithAuthorization', [
    gifted,
    await signQuote(gifted),
    0n,
    validBefore,
    Number(auth.v),
    auth.r,
    auth.s,
  ])
  gas.set('payWithAuthorization (EIP-3009 receive, relayer submits)', via3009.gasUsed)
  const [event] = parseEventLogs({
    abi: paymentProcessorAbi,
    eventName: 'PaymentReceived',
    logs: via3009.logs,
  })
  assert.equal(event?.args.payer, guardian.address)
})

test('an x402-style TransferWithAuthorization pays once; a front-run one is honoured by the quote signer', async () => {
  const client = account(10)
  await mined(
    await wallet(deployer).writeContract({
      address: usdc(),
      abi: testUsdcAbi,
      functionName: 'mint',
      args: [client.address, 3n * PRICE],
    }),
  )
  const sign = async (nonce: Hex, validBefore: bigint) =>
    parseSignature(
      await wallet(client).signTypedData({
        domain: tokenDomain(),
        types: transferWithAuthorizationTypes,
        primaryType: 'TransferWithAuthorization',
        message: {
          from: client.address,
          to: deployment.paymentProcessor,
          value: PRICE,
          validAfter: 0n,
          validBefore,
          nonce,
        },
      }),
    )
  const nonce = toHex(randomBytes(32))
  const validBefore = (await now()) + 3_600n
  const quote = {
    ...(await newQuote(client.address, 'unused')),
    quoteId: transferAuthorizationQuoteId(usdc(), client.address, nonce),
  }
  const a = await sign(nonce, validBefore)
  const paid = await write(relayer, 'payWithTransferAuthorization', [
    quote,
    await signQuote(quote),
    0n,
    validBefore,
    nonce,
    Number(a.v),
    a.r,
    a.s,
  ])
  gas.set('payWithTransferAuthorization (x402/MPP client, relayer submits)', paid.gasUsed)
  assert.equal(
    parseEventLogs({ abi: paymentProcessorAbi, eventName: 'PaymentReceived', logs: paid.logs }).length,
    1,
  )

  // Someone submits the next authorization to the token directly: the funds arrive unrecorded.
  const nonce2 = toHex(randomBytes(32))
  const b = await sign(nonce2, validBefore)
  await mined(
    await wallet(relayer).writeContract({
      address: usdc(),
      abi: testUsdcAbi,
      functionName: 'transferWithAuthorization',
      args: [
        client.address,
        deployment.paymentProcessor,
        PRICE,
        0n,
        validBefore,
        nonce2,
        Number(b.v),
        b.r,
        b.s,
      ],
    }),
  )
  const unrecorded = () =>
    publicClient.readContract({
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName: 'unrecorded',
      args: [usdc()],
    })
  assert.equal(await unrecorded(), PRICE)
  const late = {
    ...(await newQuote(client.address, 'unused')),
    quoteId: transferAuthorizationQuoteId(usdc(), client.address, nonce2),
  }
  const honoured = await write(quoteSigner, 'honourTransferAuthorization', [late, nonce2])
  gas.set('honourTransferAuthorization (front-run x402 payment, quote signer)', honoured.gasUsed)
  assert.equal(await unrecorded(), 0n)
  await assert.rejects(
    publicClient.simulateContract({
      account: quoteSigner,
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName: 'honourTransferAuthorization',
      args: [late, nonce2],
    }),
    /AuthorizationAlreadySettled/,
  )
})
