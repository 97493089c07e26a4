/**
 * Public surface of the paid-access layer (quotes and the 402 challenge): plan catalog and its check against
 * the chain, quote terms and signing, the quote endpoints with their QuoteStore port, and the admission
 * stage that answers 402 on paid routes.
 */
export {
  compilePlans,
  checkPlansAgainstChain,
  saleKey,
  type CompiledPlan,
  type PlanCatalog,
  type PlanChainFacts,
  type PlanPrice,
} from './plans.ts'
export {
  buildQuote,
  createQuoteSigner,
  quoteAnswer,
  QuoteInputError,
  ZERO_ADDRESS,
  ZERO_ID,
  type Quote,
  type QuoteInputs,
  type QuoteSigner,
  type QuoteTerms,
  type TokenDomain,
  type TokenInfo,
} from './quote.ts'
export {
  readChainTime,
  readPermitNonce,
  readPlanFacts,
  readPreviewDue,
  readSubscription,
  readTokenInfo,
  type PaymentChainPort,
  type SubscriptionFacts,
} from './chain-facts.ts'
export {
  createMemoryQuoteStore,
  type InsertOutcome,
  type QuoteLimits,
  type QuoteStore,
  type StoredQuote,
} from './quote-store.ts'
export { createTokenBuckets, type TokenBuckets } from './rate-limit.ts'
export {
  createQuoteEndpoints,
  parseQuoteRequest,
  type QuoteChainPort,
  type QuoteEndpoints,
  type QuoteEndpointsDeps,
} from './quote-http.ts'
export {
  canonicalJson,
  compileChallenge,
  noCredentialIsValid,
  paymentChallengeId,
  type ChallengeInputs,
  type ChallengeStage,
  type CredentialCheck,
  type CredentialVerdict,
  type X402Accept,
} from './challenge.ts'
export { createPaidAccess, type PaidAccess, type PaidAccessDeps, type SecretRef } from './paid-access.ts'
export { paidChainSettings, confirmationFromConfig } from './paid-chain.ts'
export {
  registerPaidAccessGauge,
  startPaidLayer,
  type PaidLayer,
  type PaidLayerDeps,
  type PaidLayerPhase,
  type PaidLayerStatus,
} from './paid-layer.ts'
