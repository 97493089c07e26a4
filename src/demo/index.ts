export { startDemoUpstream, type DemoUpstream } from './demo-upstream.ts'
export {
  demoConfig,
  demoPaidLayer,
  DEMO_FREE_PATH,
  DEMO_PAID_PREFIX,
  DEMO_PLAN,
  type DemoPaidOptions,
} from './demo-config.ts'
export {
  ANVIL_MNEMONIC,
  AnvilStartError,
  anvilBinary,
  startAnvil,
  type AnvilInstance,
  type AnvilOptions,
} from './anvil.ts'
export { DEMO_PRICE, startDemoChain, type DemoChain } from './demo-chain.ts'
export {
  DEMO_FLOW_STEPS,
  flowContext,
  formatStepLine,
  payStep,
  quoteStep,
  runFlow,
  type FlowContext,
  type FlowOutcome,
  type FlowStep,
  type StepResult,
} from './demo-flow.ts'
export { nonceStep, refreshStep, tokenStep, type TokenFlowState } from './demo-token-steps.ts'
export { demoBanner, type DemoBannerOptions } from './demo-banner.ts'
export { openDemoStorage, templateKey, type DemoStorage, type DemoStorageOptions } from './demo-storage.ts'
