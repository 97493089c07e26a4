/**
 * Public surface of the payment monitor: the pure core, the chain follower, the ports it needs
 * (`QuoteLookup`, `MonitorStore`, `MonitorChainSource`) and the in-memory store. docs/payment-monitor.md.
 */
export {
  classifyPayment,
  confirmedHeight,
  initialMonitorState,
  recordKeyOf,
  stepMonitor,
  type MonitorCoreOptions,
  type Observation,
  type StepResult,
} from './monitor-core.ts'
export { decodeMonitorLogs, MONITORED_TOPICS, type DecodedLogs } from './monitor-logs.ts'
export {
  createPaymentMonitor,
  createRpcMonitorSource,
  isRangeRefusal,
  type MonitorChainSource,
  type MonitorRpc,
  type PaymentMonitor,
  type PaymentMonitorDeps,
  type PaymentMonitorOptions,
  type PollOutcome,
} from './chain-follower.ts'
export { createMemoryMonitorStore, type MemoryMonitorStore } from './memory-monitor-store.ts'
export type * from './types.ts'
