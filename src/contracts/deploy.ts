/**
 * Deploys the litgate contracts with viem: implementations, ERC-1967 (UUPS) proxies initialised in their
 * constructor call, roles granted at initialisation to explicit addresses (never implicitly to the deployer),
 * and optionally the 6-decimal test stablecoins. Same result and deployments-file format as
 * contracts/script/Deploy.s.sol. Clients are parameters; nothing here holds state.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  encodeFunctionData,
  getAddress,
  getContractAddress,
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
  accessTokenAbi,
  erc1967ProxyAbi,
  paymentProcessorAbi,
  subscriptionManagerAbi,
  testUsdcAbi,
  testUsdtAbi,
} from './abis.ts'
import {
  accessTokenBytecode,
  erc1967ProxyBytecode,
  paymentProcessorBytecode,
  subscriptionManagerBytecode,
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
  /** Operator share of each payment in basis points (default 0: all to the treasury). */
  readonly operatorFeeBps?: number
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
  readonly subscriptionManager: Address
  readonly paymentProcessor: Address
  readonly accessToken: Address
  readonly implementations: {
    readonly subscriptionManager: Address
    readonly paymentProcessor: Address
    readonly accessToken: Address
  }
  readonly tokens: { readonly usdc?: Address; readonly usdt?: Address }
  readonly roles: LitgateRoles
  /** A block at or before the deployment: where a payment monitor can start scanning. */
  readonly startBlock: number
}

/** Thrown when the deployment cannot complete as planned (a transaction failed or an address moved). */
export class DeployError extends Error {
  override readonly name = 'DeployError'
}

async function deploy(
  deps: DeployLitgateDeps,
  abi: Abi,
  bytecode: Hex,
  args: readonly unknown[],
  nonce?: number,
): Promise<Address> {
  const hash = await deps.walletClient.deployContract({
    abi,
    bytecode,
    args,
    ...(nonce === undefined ? {} : { nonce }),
  } as Parameters<typeof deps.walletClient.deployContract>[0])
  const receipt = await deps.publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success' || receipt.contractAddress == null) {
    throw new DeployError(`deployment transaction ${hash} failed`)
  }
  return getAddress(receipt.contractAddress)
}

/** Deploys and wires the litgate contracts; resolves once every transaction is mined. */
export async function deployLitgate(deps: DeployLitgateDeps, options: DeployLitgateOptions): Promise<LitgateDeployment> {
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
  const implementations = {
    subscriptionManager: await deploy(deps, subscriptionManagerAbi, subscriptionManagerBytecode, []),
    paymentProcessor: await deploy(deps, paymentProcessorAbi, paymentProcessorBytecode, []),
    accessToken: await deploy(deps, accessTokenAbi, accessTokenBytecode, []),
  }

  // The manager grants ISSUER_ROLE to the PaymentProcessor proxy in its initializer: that proxy is the
  // deployer's next creation after the manager's, so its address is known in advance (explicit nonces).
  const nonce = await publicClient.getTransactionCount({ address: deployer, blockTag: 'pending' })
  const predicted = getContractAddress({ from: deployer, nonce: BigInt(nonce + 1) })
  const smInit = encodeFunctionData({
    abi: subscriptionManagerAbi,
    functionName: 'initialize',
    args: [roles.admin, roles.upgrader, roles.operator, predicted],
  })
  const subscriptionManager = await deploy(
    deps,
    erc1967ProxyAbi,
    erc1967ProxyBytecode,
    [implementations.subscriptionManager, smInit],
    nonce,
  )
  const ppInit = encodeFunctionData({
    abi: paymentProcessorAbi,
    functionName: 'initialize',
    args: [
      {
        admin: roles.admin,
        upgrader: roles.upgrader,
        guardian: roles.guardian,
        quoteSigner: roles.quoteSigner,
        subscriptionManager,
        operatorPayee: roles.operatorPayee,
        treasury: roles.treasury,
        operatorFeeBps: options.operatorFeeBps ?? 0,
        acceptedTokens: accepted,
      },
    ],
  })
  const paymentProcessor = await deploy(
    deps,
    erc1967ProxyAbi,
    erc1967ProxyBytecode,
    [implementations.paymentProcessor, ppInit],
    nonce + 1,
  )
  if (paymentProcessor !== predicted) {
    throw new DeployError('PaymentProcessor proxy address differs from the predicted issuer address')
  }
  const atInit = encodeFunctionData({
    abi: accessTokenAbi,
    functionName: 'initialize',
    args: [roles.admin, roles.upgrader, roles.operator, subscriptionManager],
  })
  const accessToken = await deploy(deps, erc1967ProxyAbi, erc1967ProxyBytecode, [implementations.accessToken, atInit])

  return {
    chainId,
    deployer,
    subscriptionManager,
    paymentProcessor,
    accessToken,
    implementations,
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
