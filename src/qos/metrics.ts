/**
 * Prometheus metrics of per-subscription QoS, on the registry passed in. Labels are small fixed sets
 * (policy names of limits.ts, outcome, operation): never a subscription id.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { QosHooks } from './gate.ts'
import type { QuotaStore } from './store.ts'

export function createQosMetrics(registry: Registry, store: QuotaStore): QosHooks {
  const registers = [registry]
  const decisions = new Counter({
    name: 'litgate_qos_decisions_total',
    help: 'Per-subscription QoS reservations on paid routes, by outcome (admitted, limited).',
    labelNames: ['outcome'],
    registers,
  })
  const limited = new Counter({
    name: 'litgate_qos_limited_total',
    help: 'Requests refused with 429 QUOTA_EXCEEDED, by violated policy (rps, daily, monthly, bw); one request may violate several.',
    labelNames: ['policy'],
    registers,
  })
  const duration = new Histogram({
    name: 'litgate_qos_reserve_duration_seconds',
    help: 'Time of one QoS reservation (the store call: one Redis round trip, or in memory).',
    labelNames: ['store'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05],
    registers,
  })
  const settled = new Counter({
    name: 'litgate_qos_settled_total',
    help: 'Admitted requests settled when their exchange ended: counted (reached an upstream) or released (did not).',
    labelNames: ['kind'],
    registers,
  })
  const bytes = new Counter({
    name: 'litgate_qos_metered_bytes_total',
    help: 'Content bytes metered against subscriptions, by direction (in: request bodies, out: response bodies).',
    labelNames: ['direction'],
    registers,
  })
  const errors = new Counter({
    name: 'litgate_qos_store_errors_total',
    help: 'QoS store calls that failed, by operation (reserve, settle) and what happened (allowed = fail open, refused = fail closed, dropped = usage of a request not recorded).',
    labelNames: ['operation', 'action'],
    registers,
  })
  if (store.kind === 'memory' && 'size' in store) {
    new Gauge({
      name: 'litgate_qos_tracked_subscriptions',
      help: 'Subscriptions with QoS state held by the in-memory store.',
      registers,
      collect() {
        this.set((store as unknown as { size: number }).size)
      },
    })
  }
  const kind = store.kind
  return {
    onReserve(isAllowed, violated, seconds) {
      decisions.inc({ outcome: isAllowed ? 'admitted' : 'limited' })
      for (const policy of violated) limited.inc({ policy })
      duration.observe({ store: kind }, seconds)
    },
    onSettle(counted, bytesIn, bytesOut) {
      settled.inc({ kind: counted ? 'counted' : 'released' })
      if (counted) {
        if (bytesIn > 0) bytes.inc({ direction: 'in' }, bytesIn)
        if (bytesOut > 0) bytes.inc({ direction: 'out' }, bytesOut)
      }
    },
    onStoreError(operation, action) {
      errors.inc({ operation, action })
    },
  }
}
