// @litgate/client: the public surface.
export { createLitgateClient, createLitgateFetch } from './litgate-client.ts'
export type { LitgateClient, LitgateFetchOptions, Renewal } from './litgate-client.ts'
export {
  ChainUnavailableError,
  InsufficientBalanceError,
  LitgateClientError,
  LitgateHttpError,
  PaymentNotConfirmedError,
  QuoteExpiredError,
} from './errors.ts'
export type { LitgateEvent, PaymentMethod } from './events.ts'
export type { LitgateWallet, PaymentResult } from './pay.ts'
export type { TokenSet } from './token-session.ts'
export type { PaymentRequired, QuoteAnswer, TokenAnswer } from './wire.ts'
export { paymentProcessorAbi, erc20Abi } from './abi.ts'
