/**
 * Public surface of the contracts subsystem: typed ABIs (`as const`) and bytecode generated from the
 * Foundry build, the viem deploy path, deployments-file helpers, and the EIP-712 types the gateway signs.
 */
export {
  erc1967ProxyAbi,
  paymentProcessorAbi,
  paymentProcessorAdminAbi,
  paymentProcessorImplAbi,
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
  permitTypes,
  quoteDomain,
  quoteTypes,
  receiveWithAuthorizationTypes,
  roleIds,
  transferAuthorizationQuoteId,
  transferWithAuthorizationTypes,
} from './typed-data.ts'
