/**
 * Prometheus metrics of the chain subsystem, created on the registry passed in. Labels are bounded:
 * `endpoint` is the configured endpoint name (never its URL), `method` an allow-listed JSON-RPC method or
 * `other`, the rest small fixed sets.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

export interface ChainMetrics {
  readonly rpcDuration: Histogram<'endpoint' | 'method' | 'outcome'>
  readonly rpcFailures: Counter<'endpoint' | 'kind'>
  readonly failovers: Counter<'endpoint'>
  readonly endpointHeadLag: Gauge<'endpoint'>
  readonly endpointHead: Gauge<'endpoint'>
  readonly endpointUsable: Gauge<'endpoint'>
  readonly endpointBreaker: Gauge<'endpoint'>
  readonly endpointRefused: Counter<'endpoint' | 'reason'>
  readonly disagreements: Counter<'check'>
  readonly chainState: Gauge
  readonly feeCapExceeded: Counter<'action'>
  readonly baseFee: Gauge
  readonly txEvents: Counter<'event'>
  readonly txPending: Gauge
}

export function createChainMetrics(registry: Registry): ChainMetrics {
  const registers = [registry]
  return {
    rpcDuration: new Histogram({
      name: 'litgate_chain_rpc_request_duration_seconds',
      help: 'Duration of JSON-RPC attempts per endpoint; outcome ok, rpc_error or the failure kind.',
      labelNames: ['endpoint', 'method', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    rpcFailures: new Counter({
      name: 'litgate_chain_rpc_failures_total',
      help: 'Failed JSON-RPC attempts per endpoint by kind (timeout, connect, reset, http, rate_limited, invalid_response, wrong_chain).',
      labelNames: ['endpoint', 'kind'],
      registers,
    }),
    failovers: new Counter({
      name: 'litgate_chain_rpc_failovers_total',
      help: 'Calls moved away from an endpoint after it failed.',
      labelNames: ['endpoint'],
      registers,
    }),
    endpointHeadLag: new Gauge({
      name: 'litgate_chain_endpoint_head_lag_blocks',
      help: 'Blocks the endpoint is behind the best head seen across endpoints.',
      labelNames: ['endpoint'],
      registers,
    }),
    endpointHead: new Gauge({
      name: 'litgate_chain_endpoint_head_block',
      help: 'Latest block number reported by the endpoint.',
      labelNames: ['endpoint'],
      registers,
    }),
    endpointUsable: new Gauge({
      name: 'litgate_chain_endpoint_usable',
      help: '1 when the endpoint may serve calls (right chain, breaker closed, not lagging).',
      labelNames: ['endpoint'],
      registers,
    }),
    endpointBreaker: new Gauge({
      name: 'litgate_chain_endpoint_breaker_state',
      help: 'Circuit breaker of the endpoint: 0 closed, 1 half-open, 2 open.',
      labelNames: ['endpoint'],
      registers,
    }),
    endpointRefused: new Counter({
      name: 'litgate_chain_endpoint_refused_total',
      help: 'Times an endpoint was refused: wrong_chain, wrong_genesis, lagging, suspect (head not believed) or disagreed (outvoted on a verified read).',
      labelNames: ['endpoint', 'reason'],
      registers,
    }),
    disagreements: new Counter({
      name: 'litgate_chain_rpc_disagreements_total',
      help: 'Verified reads on which two endpoints disagreed, by check (receipt, logs, tag, call).',
      labelNames: ['check'],
      registers,
    }),
    chainState: new Gauge({
      name: 'litgate_chain_state',
      help: 'Chain connectivity: 2 up, 1 degraded, 0 down (payments refused).',
      registers,
    }),
    feeCapExceeded: new Counter({
      name: 'litgate_chain_fee_cap_exceeded_total',
      help: 'Sends that met a base fee above the configured cap: refused, queued, or expired while queued.',
      labelNames: ['action'],
      registers,
    }),
    baseFee: new Gauge({
      name: 'litgate_chain_base_fee_wei',
      help: 'Base fee per gas of the latest block seen by the transaction sender.',
      registers,
    }),
    txEvents: new Counter({
      name: 'litgate_chain_tx_events_total',
      help: 'Transaction lifecycle events: sent, confirmed, reverted, reorged, rebroadcast, bumped, dropped, replaced, nonce_resync.',
      labelNames: ['event'],
      registers,
    }),
    txPending: new Gauge({
      name: 'litgate_chain_tx_pending',
      help: 'Transactions sent and not yet confirmed or given up.',
      registers,
    }),
  }
}
