/**
 * The demo's chain: a fresh anvil with the litgate contracts and both test stablecoins deployed, one plan on
 * sale in each, a funded buyer and a deployments file the gateway reads. The quote signer is a fresh random
 * key granted the contract's quote-signer role at deploy; everything else uses anvil's mnemonic accounts.
 */
import {
  createPublicClient,
  createWalletClient,
  http,
  type Account,
  type Address,
  type Hex,
  type PublicClient,
} from 'viem'
import { mnemonicToAccount, privateKeyToAccount } from 'viem/accounts'
import { anvil as anvilChain } from 'viem/chains'
import {
  deployLitgate,
  paymentProcessorAbi,
  testUsdcAbi,
  testUsdtAbi,
  writeDeployment,
  type LitgateDeployment,
} from '../contracts/index.ts'
import { ANVIL_MNEMONIC, startAnvil, type AnvilInstance } from './anvil.ts'

/** One period of the demo plan: 10 test dollars (6 decimals) in either token. */
export const DEMO_PRICE = 10_000_000n
/** What the buyer holds of each token: 100 periods. */
export const DEMO_BUYER_FUNDS = 100n * DEMO_PRICE
export const DEMO_PERIOD_SECONDS = 30 * 86_400

/** Anvil's mnemonic account `i` (10 000 ETH each). */
export const demoAccount = (i: number): Account => mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i })

/** Which mnemonic account plays which part. */
export const DEMO_ACCOUNTS = Object.freeze({
  deployer: 0,
  admin: 1,
  operator: 2,
  guardian: 3,
  buyer: 4,
  treasury: 5,
  operatorPayee: 6,
  upgrader: 7,
})

export interface DemoChain {
  readonly anvil: AnvilInstance
  readonly deployment: LitgateDeployment
  readonly planId: number
  readonly usdc: Address
  readonly usdt: Address
  readonly buyer: Account
  /** The quote signer's private key (hex): handed to the gateway as a secret reference, never printed. */
  readonly quoteSignerKey: Hex
  readonly quoteSigner: Address
  /** Milliseconds: anvil listening, contracts deployed and the plan on sale, buyer funded. */
  readonly timings: { readonly anvilMs: number; readonly deployMs: number; readonly fundMs: number }
}

export interface DemoChainOptions {
  /** The anvil binary (default: the npm package's). */
  readonly anvilBinary?: string
  /** Where the deployments file (`<chainId>.json`) is written. */
  readonly deploymentsDir: string
  /** 32 random bytes for the quote signer key. */
  readonly randomBytes: (n: number) => Uint8Array
  /** Told as soon as anvil listens (so a signal during the deploy can still stop it). */
  readonly onAnvilStarted?: (anvil: AnvilInstance) => void
}

/** A viem public client that polls fast (a local node mines on every transaction). */
export function demoPublicClient(url: string): PublicClient {
  return createPublicClient({ chain: anvilChain, transport: http(url), pollingInterval: 50, cacheTime: 0 })
}

export function demoWalletClient(url: string, account: Account) {
  return createWalletClient({ account, chain: anvilChain, transport: http(url), pollingInterval: 50 })
}

/** Starts anvil and deploys everything; on failure the anvil it started is stopped again. */
export async function startDemoChain(options: DemoChainOptions): Promise<DemoChain> {
  const t0 = performance.now()
  const anvil = await startAnvil(options.anvilBinary === undefined ? {} : { binary: options.anvilBinary })
  const t1 = performance.now()
  options.onAnvilStarted?.(anvil)
  try {
    const publicClient = demoPublicClient(anvil.url)
    const as = (i: number) => demoWalletClient(anvil.url, demoAccount(i))
    const mined = async (hash: Hex): Promise<void> => {
      const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 })
      if (receipt.status !== 'success') throw new Error(`demo setup transaction ${hash} reverted`)
    }
    const quoteSignerKey = `0x${Buffer.from(options.randomBytes(32)).toString('hex')}` as Hex
    const quoteSigner = privateKeyToAccount(quoteSignerKey).address
    const role = (i: number): Address => demoAccount(i).address
    const deployment = await deployLitgate(
      { walletClient: as(DEMO_ACCOUNTS.deployer), publicClient },
      {
        roles: {
          admin: role(DEMO_ACCOUNTS.admin),
          upgrader: role(DEMO_ACCOUNTS.upgrader),
          operator: role(DEMO_ACCOUNTS.operator),
          guardian: role(DEMO_ACCOUNTS.guardian),
          quoteSigner,
          operatorPayee: role(DEMO_ACCOUNTS.operatorPayee),
          treasury: role(DEMO_ACCOUNTS.treasury),
        },
        operatorFeeBps: 2_000,
        testTokens: true,
      },
    )
    const usdc = deployment.tokens.usdc as Address
    const usdt = deployment.tokens.usdt as Address
    const operator = as(DEMO_ACCOUNTS.operator)
    const qos = {
      requestsPerSecond: 10,
      requestsPerDay: 100_000n,
      requestsPerMonth: 3_000_000n,
      bandwidthBytesPerPeriod: 10n << 30n,
      maxConcurrentStreams: 4,
    }
    const { result: planId } = await publicClient.simulateContract({
      account: operator.account,
      address: deployment.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName: 'createPlan',
      args: [qos, DEMO_PERIOD_SECONDS],
    })
    await mined(
      await operator.writeContract({
        address: deployment.paymentProcessor,
        abi: paymentProcessorAbi,
        functionName: 'createPlan',
        args: [qos, DEMO_PERIOD_SECONDS],
      }),
    )
    for (const token of [usdc, usdt]) {
      await mined(
        await operator.writeContract({
          address: deployment.paymentProcessor,
          abi: paymentProcessorAbi,
          functionName: 'setSale',
          args: [planId, token, DEMO_PRICE, true],
        }),
      )
    }
    await writeDeployment(options.deploymentsDir, deployment)
    const t2 = performance.now()
    const buyer = demoAccount(DEMO_ACCOUNTS.buyer)
    const minter = as(DEMO_ACCOUNTS.deployer)
    await mined(
      await minter.writeContract({
        address: usdc,
        abi: testUsdcAbi,
        functionName: 'mint',
        args: [buyer.address, DEMO_BUYER_FUNDS],
      }),
    )
    await mined(
      await minter.writeContract({
        address: usdt,
        abi: testUsdtAbi,
        functionName: 'mint',
        args: [buyer.address, DEMO_BUYER_FUNDS],
      }),
    )
    const t3 = performance.now()
    return {
      anvil,
      deployment,
      planId,
      usdc,
      usdt,
      buyer,
      quoteSignerKey,
      quoteSigner,
      timings: {
        anvilMs: Math.round(t1 - t0),
        deployMs: Math.round(t2 - t1),
        fundMs: Math.round(t3 - t2),
      },
    }
  } catch (err) {
    await anvil.stop()
    throw err
  }
}
