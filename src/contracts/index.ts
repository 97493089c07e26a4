/**
 * Public surface of the contracts subsystem: typed ABIs (`as const`) and bytecode generated from the
 * Foundry build, the viem deploy path, deployments-file helpers, and the EIP-712 types the gateway signs.
 */
export {
  accessTokenAbi,
  erc1967ProxyAbi,
  paymentProcessorAbi,
  subscriptionManagerAbi,
  testUsdcAbi,
  testUsdtAbi,
} from './abis.ts'
export {
  DeployError,
  deployLitgate,
  deploymentPath,
  readDeployment,
  writeDeployment,
  type DeployLitgateDeps,
  type DeployLitgateOptions,
  type LitgateDeployment,
  type LitgateRoles,
} from './deploy.ts'
export {
  accessProofDomain,
  accessProofTypes,
  permitTypes,
  quoteDomain,
  quoteTypes,
  receiveWithAuthorizationTypes,
  roleIds,
} from './typed-data.ts'
