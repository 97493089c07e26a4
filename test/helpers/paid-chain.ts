// The paid path's test fixture, shared by the files that drive a spawned `litgate run` on anvil
// (test/payments/paid-gateway-anvil.test.ts, test/payments/tokens-anvil.test.ts): anvil with the v2
// PaymentProcessor and both test stablecoins deployed, one plan on sale, the deployments file written; the
// storage a gateway process opens; and a buyer's side of the wire (quote, the three ways to pay, the
// subscription on the admin listener).
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createPublicClient,
  createWalletClient,
  http,
  parseEventLogs,
  parseSignature,
  type Account,
  type Address,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
} from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { anvil as anvilChain } from 'viem/chains'
import {
  deployLitgate,
  paymentProcessorAbi,
  testUsdcAbi,
  writeDeployment,
  type LitgateDeployment,
} from '../../src/contracts/index.ts'
import { openStorage, type StorageOptions } from '../../src/storage/index.ts'
import type { LitgateProcess } from '../e2e/support.ts'
import { ANVIL_MNEMONIC, startAnvil, type AnvilInstance } from './anvil.ts'
import type { StorageBackend } from './storage.ts'

export const PRICE = 10_000_000n

const account = (i: number): Account => mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i })
/** Anvil's mnemonic accounts in their roles (3 is left for the files' own use). */
export const ACCOUNTS = Object.freeze({
  deployer: account(0),
  admin: account(1),
  operator: account(2),
  buyer: account(4),
  treasury: account(5),
  operatorPayee: account(6),
  guardian: account(7),
  upgrader: account(8),
  relayer: account(9),
})

export interface PaidChain {
  readonly node: AnvilInstance
  readonly publicClient: PublicClient
  readonly deployment: LitgateDeployment
  /** Holds `<chainId>.json` for `paidAccess.contract.deploymentsDir`. */
  readonly deploymentsDir: string
  readonly planId: number
  usdc(): Address
  usdt(): Address
  wallet(who: Account): ReturnType<typeof walletFor>
  /** Waits for the receipt and asserts success. */
  mined(hash: Hex): Promise<TransactionReceipt>
  write(
    who: Account,
    address: Address,
    abi: unknown,
    functionName: string,
    args: unknown[],
  ): Promise<TransactionReceipt>
  /** Creates a plan of `periodSeconds` on sale at PRICE in each of `saleTokens` (default tUSDC); its id. */
  createPlan(periodSeconds: number, saleTokens?: readonly ('usdc' | 'usdt')[]): Promise<number>
  /** Stops anvil, removes the deployments directory. */
  close(): Promise<void>
}

const walletFor = (url: string, who: Account) =>
  createWalletClient({ account: who, chain: anvilChain, transport: http(url) })

/**
 * Starts anvil and deploys with `quoteSigner` holding the contract's quote-signer role; plan `planId` (30-day
 * period) on sale at PRICE in each of `saleTokens` (default tUSDC); `fund` minted tUSDC.
 */
export async function startPaidChain(options: {
  readonly quoteSigner: Address
  readonly saleTokens?: readonly ('usdc' | 'usdt')[]
  readonly fund?: { readonly to: Address; readonly amount: bigint }
}): Promise<PaidChain> {
  const { deployer, admin, operator, treasury, operatorPayee, guardian, upgrader } = ACCOUNTS
  const node = await startAnvil()
  const publicClient = createPublicClient({ chain: anvilChain, transport: http(node.url), cacheTime: 0 })
  const mined = async (hash: Hex): Promise<TransactionReceipt> => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash })
    assert.equal(receipt.status, 'success')
    return receipt
  }
  const write: PaidChain['write'] = async (who, address, abi, functionName, args) =>
    mined(await walletFor(node.url, who).writeContract({ address, abi, functionName, args } as never))
  const deployment = await deployLitgate(
    { walletClient: walletFor(node.url, deployer), publicClient },
    {
      roles: {
        admin: admin.address,
        upgrader: upgrader.address,
        operator: operator.address,
        guardian: guardian.address,
        quoteSigner: options.quoteSigner,
        operatorPayee: operatorPayee.address,
        treasury: treasury.address,
      },
      operatorFeeBps: 2_000,
      adminDelaySeconds: 86_400,
      testTokens: true,
    },
  )
  const token = (name: 'usdc' | 'usdt'): Address => deployment.tokens[name] as Address
  const qos = {
    requestsPerSecond: 10,
    requestsPerDay: 100_000n,
    requestsPerMonth: 3_000_000n,
    bandwidthBytesPerPeriod: 10n << 30n,
    maxConcurrentStreams: 4,
  }
  const createPlan: PaidChain['createPlan'] = async (periodSeconds, saleTokens = ['usdc']) => {
    const { result: id } = await publicClient.simulateContract({
      account: operator,
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName: 'createPlan',
      args: [qos, periodSeconds],
    })
    await write(operator, deployment.paymentProcessor, paymentProcessorAbi, 'createPlan', [
      qos,
      periodSeconds,
    ])
    for (const name of saleTokens)
      await write(operator, deployment.paymentProcessor, paymentProcessorAbi, 'setSale', [
        id,
        token(name),
        PRICE,
        true,
      ])
    return id
  }
  const planId = await createPlan(30 * 86_400, options.saleTokens)
  if (options.fund !== undefined)
    await write(deployer, token('usdc'), testUsdcAbi, 'mint', [options.fund.to, options.fund.amount])
  const deploymentsDir = await mkdtemp(join(tmpdir(), 'litgate-deployments-'))
  await writeDeployment(deploymentsDir, deployment)
  return {
    node,
    publicClient,
    deployment,
    deploymentsDir,
    planId,
    usdc: () => token('usdc'),
    usdt: () => token('usdt'),
    wallet: (who) => walletFor(node.url, who),
    mined,
    write,
    createPlan,
    async close() {
      await node.stop()
      await rm(deploymentsDir, { recursive: true, force: true })
    },
  }
}

/** A database a spawned gateway opens (PGlite on disk: the process opens it by its data directory). */
export interface GatewayStorage {
  readonly name: string
  /** The YAML `storage:` value. */
  yaml(): string
  /** Audited activations (`payment-confirmed`) of each subscription (read after the gateway stopped). */
  activations(ids: readonly Hex[]): Promise<number[]>
  cleanup(): Promise<void>
}

export async function freshStorage(backend: StorageBackend): Promise<GatewayStorage> {
  const options = await backend.fresh({ onDisk: true })
  return {
    name: backend.name,
    yaml: () =>
      options.backend === 'pglite'
        ? `{ dataDir: ${JSON.stringify(options.dataDir)} }`
        : `{ url: { fromEnv: DATABASE_URL }, schema: ${String(options.schema)} }`,
    activations: (ids) => countActivations(options, ids),
    cleanup: () => backend.close(),
  }
}

async function countActivations(options: StorageOptions, ids: readonly Hex[]): Promise<number[]> {
  const { storage } = await openStorage(options)
  try {
    const out: number[] = []
    for (const id of ids) {
      const entries = await storage.audit.list('subscription', id.toLowerCase())
      out.push(entries.filter((e) => e.cause === 'payment-confirmed').length)
    }
    return out
  } finally {
    await storage.close()
  }
}

/** The first log line with this `msg`; on a timeout the error carries the last log lines. */
export async function waitForLog(gw: LitgateProcess, msg: string, timeoutMs = 60_000) {
  try {
    return await gw.waitForLog((l) => l['msg'] === msg, 0, timeoutMs)
  } catch (err) {
    const tail = gw.logs
      .slice(-8)
      .map((l) => JSON.stringify(l))
      .join('\n')
    throw new Error(`${(err as Error).message}; last log lines:\n${tail}`, { cause: err })
  }
}

/** SIGTERM, then asserts a clean drain (exit 0). */
export async function stop(gw: LitgateProcess): Promise<void> {
  gw.signal('SIGTERM')
  const { code } = await gw.exited
  assert.equal(code, 0, gw.stderr())
}

export interface QuoteAnswer {
  quoteId: Hex
  digest: Hex
  signature: Hex
  quote: Record<string, string | number>
  permit?: { typedData: { domain: never; types: never; message: Record<string, string> } }
  receiveWithAuthorization?: { typedData: { domain: never; types: never; message: Record<string, string> } }
}

/** The Quote struct for viem from the JSON answer (uint fields as bigint). */
export const structOf = (a: QuoteAnswer) => ({
  quoteId: a.quote['quoteId'] as Hex,
  payer: a.quote['payer'] as Address,
  beneficiary: a.quote['beneficiary'] as Address,
  subscriptionId: a.quote['subscriptionId'] as Hex,
  token: a.quote['token'] as Address,
  amount: BigInt(a.quote['amount'] as string),
  planId: Number(a.quote['planId']),
  periods: Number(a.quote['periods']),
  validUntil: BigInt(a.quote['validUntil'] as string),
})
const uints = (m: Record<string, string>, keys: string[]) =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [k, keys.includes(k) ? BigInt(v) : v]))

/** The subscription id the contract assigned, from the PaymentReceived log of the receipt. */
export function subscriptionOf(receipt: TransactionReceipt): Hex {
  const [event] = parseEventLogs({
    abi: paymentProcessorAbi,
    logs: receipt.logs,
    eventName: 'PaymentReceived',
  })
  assert.ok(event, 'PaymentReceived emitted')
  return (event.args as { subscriptionId: Hex }).subscriptionId
}

export interface SubscriptionView {
  state: string
  accessAllowed: boolean
  end: number
}

/** `GET {admin}/litgate/v1/subscriptions/:id`. */
export async function subscription(
  gw: LitgateProcess,
  id: Hex,
): Promise<{ status: number; body: SubscriptionView }> {
  const res = await fetch(`${gw.adminUrl}/litgate/v1/subscriptions/${id}`)
  return { status: res.status, body: (await res.json()) as SubscriptionView }
}

/** The buyer's side against a gateway on `chain()` (read at call time: the chain starts in `before`). */
export function buyerSide(chain: () => PaidChain) {
  const pp = () => chain().deployment.paymentProcessor
  return {
    async requestQuote(gw: LitgateProcess, payer: Address): Promise<QuoteAnswer> {
      const res = await fetch(`${gw.url}/litgate/v1/quote`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ plan: 'pro', token: chain().usdc(), payer, periods: 1 }),
      })
      const text = await res.text()
      assert.equal(res.status, 201, text)
      return JSON.parse(text) as QuoteAnswer
    },
    /** EIP-3009: `who` signs ReceiveWithAuthorization, the relayer submits payWithAuthorization. */
    async payByAuthorization(a: QuoteAnswer, who: Account): Promise<TransactionReceipt> {
      assert.ok(a.receiveWithAuthorization, 'the answer carries the EIP-3009 payload')
      const td = a.receiveWithAuthorization.typedData
      const message = uints(td.message, ['value', 'validAfter', 'validBefore'])
      const sig = parseSignature(
        await chain()
          .wallet(who)
          .signTypedData({
            domain: td.domain,
            types: td.types,
            primaryType: 'ReceiveWithAuthorization',
            message,
          } as never),
      )
      return chain().write(ACCOUNTS.relayer, pp(), paymentProcessorAbi, 'payWithAuthorization', [
        structOf(a),
        a.signature,
        message['validAfter'],
        message['validBefore'],
        Number(sig.v),
        sig.r,
        sig.s,
      ])
    },
    /** EIP-2612: `who` signs the permit and submits payWithPermit itself. */
    async payByPermit(a: QuoteAnswer, who: Account): Promise<TransactionReceipt> {
      assert.ok(a.permit, 'the answer carries the EIP-2612 payload')
      const td = a.permit.typedData
      const message = uints(td.message, ['value', 'nonce', 'deadline'])
      const sig = parseSignature(
        await chain()
          .wallet(who)
          .signTypedData({
            domain: td.domain,
            types: td.types,
            primaryType: 'Permit',
            message,
          } as never),
      )
      return chain().write(who, pp(), paymentProcessorAbi, 'payWithPermit', [
        structOf(a),
        a.signature,
        message['deadline'],
        Number(sig.v),
        sig.r,
        sig.s,
      ])
    },
    async payByApprove(a: QuoteAnswer, who: Account): Promise<TransactionReceipt> {
      const q = structOf(a)
      await chain().write(who, chain().usdc(), testUsdcAbi, 'approve', [pp(), q.amount])
      return chain().write(who, pp(), paymentProcessorAbi, 'pay', [q, a.signature])
    },
  }
}
