/**
 * Deploys the litgate contracts with viem: the PaymentProcessorAdmin extension, the PaymentProcessor
 * implementation and its ERC-1967 (UUPS) proxy initialised in the constructor call, roles granted at
 * initialisation to explicit addresses (never implicitly to the deployer), and optionally the 6-decimal test
 * stablecoins. Out-of-range options are refused before any transaction is sent, never truncated. Same result and deployments-file format as
 * contracts/script/Deploy.s.sol. Clients are parameters; nothing here holds state.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  encodeFunctionData,
  getAddress,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem'
import {
  erc1967ProxyAbi,
  paymentProcessorAbi,
  paymentProcessorAdminAbi,
  paymentProcessorImplAbi,
  testUsdcAbi,
  testUsdtAbi,
} from './abis.ts'
import {
  erc1967ProxyBytecode,
  paymentProcessorAdminBytecode,
  paymentProcessorImplBytecode,
  testUsdcBytecode,
  testUsdtBytecode,
} from './bytecode.ts'

/** Who holds each role (and receives each fee bucket). */
export interface LitgateRoles {
  readonly admin: Address
  readonly upgrader: Address
  readonly operator: Address
  readonly guardian: Address
  readonly quoteSigner: Address
  readonly operatorPayee: Address
  readonly treasury: Address
}

export interface DeployLitgateOptions {
  readonly roles: LitgateRoles
  /** Operator share of each payment in basis points, an integer 0..10000 (default 0: all to the treasury). */
  readonly operatorFeeBps?: number
  /**
   * Delay of a default-admin transfer and of an upgrader grant by the admin, in seconds (integer below 2^48;
   * default 2 days).
   */
  readonly adminDelaySeconds?: number
  /** Stablecoins (6 decimals) accepted from the start. */
  readonly acceptedTokens?: readonly Address[]
  /** Deploy and accept TestUSDC (permit + EIP-3009) and TestUSDT (neither); the deployer is their minter. */
  readonly testTokens?: boolean
}

export interface DeployLitgateDeps {
  /** Sends the deployment transactions; its account is the deployer (and test-token minter). */
  readonly walletClient: WalletClient<Transport, Chain, Account>
  readonly publicClient: PublicClient
}

/** Addresses of one deployment; the shape of contracts/deployments/<chainId>.json. */
export interface LitgateDeployment {
  readonly chainId: number
  readonly deployer: Address
  /** The proxy: the one address the gateway, the monitor and clients use. */
  readonly paymentProcessor: Address
  readonly implementations: {
    readonly paymentProcessor: Address
    readonly paymentProcessorAdmin: Address
  }
  readonly tokens: { readonly usdc?: Address; readonly usdt?: Address }
  readonly roles: LitgateRoles
  /** A block at or before the deployment: where a payment monitor can start scanning. */
  readonly startBlock: number
}

/** Thrown when the deployment cannot complete as planned (an option out of range, a transaction failed). */
export class DeployError extends Error {
  override readonly name = 'DeployError'
}

const MAX_UINT48 = 2 ** 48 - 1

/** An integer option within [0, max] (default when undefined); anything else is refused, never truncated. */
function bounded(field: string, value: number | undefined, fallback: number, max: number): number {
  const v = value ?? fallback
  if (!Number.isSafeInteger(v) || v < 0 || v > max) {
    throw new DeployError(`${field} must be an integer from 0 to ${max}, got ${String(v)}`)
  }
  return v
}

async function deploy(
  deps: DeployLitgateDeps,
  abi: Abi,
  bytecode: Hex,
  args: readonly unknown[],
): Promise<Address> {
  const hash = await deps.walletClient.deployContract({
    abi,
    bytecode,
    args,
  } as Parameters<typeof deps.walletClient.deployContract>[0])
  const receipt = await deps.publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success' || receipt.contractAddress == null) {
    throw new DeployError(`deployment transaction ${hash} failed`)
  }
  return getAddress(receipt.contractAddress)
}

/** Deploys and wires the litgate contracts; resolves once every transaction is mined. */
export async function deployLitgate(
  deps: DeployLitgateDeps,
  options: DeployLitgateOptions,
): Promise<LitgateDeployment> {
  const operatorFeeBps = bounded('operatorFeeBps', options.operatorFeeBps, 0, 10_000)
  const adminDelay = bounded('adminDelaySeconds', options.adminDelaySeconds, 2 * 86_400, MAX_UINT48)
  const tokenCount = (options.acceptedTokens?.length ?? 0) + (options.testTokens === true ? 2 : 0)
  bounded('acceptedTokens.length', tokenCount, 0, 255)
  const { walletClient, publicClient } = deps
  const deployer = walletClient.account.address
  const chainId = await publicClient.getChainId()
  const startBlock = Number(await publicClient.getBlockNumber({ cacheTime: 0 }))
  const { roles } = options

  const tokens: { usdc?: Address; usdt?: Address } = {}
  const accepted: Address[] = [...(options.acceptedTokens ?? [])]
  if (options.testTokens === true) {
    tokens.usdc = await deploy(deps, testUsdcAbi, testUsdcBytecode, [deployer])
    tokens.usdt = await deploy(deps, testUsdtAbi, testUsdtBytecode, [deployer])
    accepted.push(tokens.usdc, tokens.usdt)
  }
  const paymentProcessorAdmin = await deploy(
    deps,
    paymentProcessorAdminAbi,
    paymentProcessorAdminBytecode,
    [],
  )
  const implementation = await deploy(deps, paymentProcessorImplAbi, paymentProcessorImplBytecode, [
    paymentProcessorAdmin,
  ])
  const init = encodeFunctionData({
    abi: paymentProcessorAbi,
    functionName: 'initialize',
    args: [
      {
        admin: roles.admin,
        adminDelay,
        upgrader: roles.upgrader,
        operator: roles.operator,
        guardian: roles.guardian,
        quoteSigner: roles.quoteSigner,
        operatorPayee: roles.operatorPayee,
        treasury: roles.treasury,
        operatorFeeBps,
        tokens: accepted,
      },
    ],
  })
  const paymentProcessor = await deploy(deps, erc1967ProxyAbi, erc1967ProxyBytecode, [implementation, init])

  return {
    chainId,
    deployer,
    paymentProcessor,
    implementations: { paymentProcessor: implementation, paymentProcessorAdmin },
    tokens,
    roles,
    startBlock,
  }
}

/** Path of the deployments file for `chainId` under `dir` (contracts/deployments in the repo). */
export function deploymentPath(dir: string, chainId: number): string {
  return join(dir, `${chainId}.json`)
}

/** Writes `<dir>/<chainId>.json`; returns its path. */
export async function writeDeployment(dir: string, deployment: LitgateDeployment): Promise<string> {
  await mkdir(dir, { recursive: true })
  const path = deploymentPath(dir, deployment.chainId)
  await writeFile(path, `${JSON.stringify(deployment, null, 2)}\n`)
  return path
}

/** Reads `<dir>/<chainId>.json` (written by writeDeployment or script/Deploy.s.sol). */
export async function readDeployment(dir: string, chainId: number): Promise<LitgateDeployment> {
  return JSON.parse(await readFile(deploymentPath(dir, chainId), 'utf8')) as LitgateDeployment
}
