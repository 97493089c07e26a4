/**
 * Public surface of the payment pipeline: the database-backed ports (MonitorStore, SubscriptionStore,
 * QuoteLookup, QuoteStore) and `createPaymentPipeline`, which wires the payment monitor to the
 * subscriptions ledger.
 * docs/payment-monitor.md and docs/subscriptions.md, "Wiring".
 */
export {
  createDbMonitorStore,
  type DbMonitorStore,
  type EffectConsumer,
  type EffectContext,
} from './db-monitor-store.ts'
export { createDbQuoteLookup } from './db-quote-lookup.ts'
export {
  createDbQuoteStore,
  DEFAULT_QUOTE_RETENTION_SECONDS,
  type DbQuoteStoreOptions,
} from './db-quote-store.ts'
export { auditEntryOf, createDbSubscriptionStore } from './db-subscription-store.ts'
export {
  MONITOR_ACTOR,
  createEffectConsumer,
  createPaymentPipeline,
  type PaymentPipeline,
  type PaymentPipelineDeps,
  type PaymentPipelineOptions,
} from './payment-pipeline.ts'
