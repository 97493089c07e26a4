/**
 * Prometheus metrics of the subscriptions subsystem, created on the registry passed in (the chain-metrics
 * pattern). Labels are bounded: `cause` is the closed set of audit causes. Per-subscription data is never a
 * label (that is metering, not metrics).
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { SubscriptionsStatus } from './degraded-status.ts'
import type { SubscriptionAudit } from './types.ts'

export interface SubscriptionMetrics {
  /** Counts one audit entry: a transition (by cause) or a refusal, and its anomalies. */
  observeAudit(audit: SubscriptionAudit): void
  /** Counts one reconciliation pass's outcome. */
  observeReconciliation(report: { readonly repaired: number; readonly failed: number }): void
  /** Counts one access decision answered from cache while the chain was unreachable. */
  countServedFromCache(): void
}

/** Registers the metrics; gauges read `status()` at scrape time. */
export function createSubscriptionMetrics(
  registry: Registry,
  deps: { readonly status: () => SubscriptionsStatus },
): SubscriptionMetrics {
  const registers = [registry]
  new Gauge({
    name: 'litgate_subscriptions_chain_reachable',
    help: '1 while the chain answers (subscriptions verified), 0 in degraded mode (served from cache).',
    registers,
    collect() {
      this.set(deps.status().chainReachable ? 1 : 0)
    },
  })
  new Gauge({
    name: 'litgate_subscriptions_chain_state_since_seconds',
    help: 'Unix time of the last change of litgate_subscriptions_chain_reachable (0 before the first observation).',
    registers,
    collect() {
      const since = deps.status().sinceMs
      this.set(since === null ? 0 : Math.floor(since / 1000))
    },
  })
  new Gauge({
    name: 'litgate_subscriptions_cached',
    help: 'Subscriptions held in the request-path cache.',
    registers,
    collect() {
      this.set(deps.status().cachedSubscriptions)
    },
  })
  const servedFromCache = new Counter({
    name: 'litgate_subscriptions_served_from_cache_total',
    help: 'Access decisions answered from cached subscriptions while the chain was unreachable.',
    registers,
  })
  const transitions = new Counter({
    name: 'litgate_subscriptions_transitions_total',
    help: 'Subscription changes written (with their audit entry), by cause.',
    labelNames: ['cause'],
    registers,
  })
  const refusals = new Counter({
    name: 'litgate_subscriptions_refused_total',
    help: 'Subscription events refused (unauthorized actor, unknown subscription, ...), audited, by cause.',
    labelNames: ['cause'],
    registers,
  })
  const anomalies = new Counter({
    name: 'litgate_subscriptions_anomalies_total',
    help: 'Audit entries that carry an anomaly (chain values differing from the expectation or the cache), by cause.',
    labelNames: ['cause'],
    registers,
  })
  const repairs = new Counter({
    name: 'litgate_subscriptions_reconciliation_repairs_total',
    help: 'Rows repaired from the chain by reconciliation passes.',
    registers,
  })
  const readFailures = new Counter({
    name: 'litgate_subscriptions_reconciliation_read_failures_total',
    help: 'Verified chain reads of a reconciliation pass that failed (retried next pass).',
    registers,
  })
  return {
    observeAudit(audit) {
      const isChange = audit.toVersion !== audit.fromVersion
      ;(isChange ? transitions : refusals).inc({ cause: audit.cause })
      if (audit.anomalies.length > 0) anomalies.inc({ cause: audit.cause })
    },
    observeReconciliation(report) {
      if (report.repaired > 0) repairs.inc(report.repaired)
      if (report.failed > 0) readFailures.inc(report.failed)
    },
    countServedFromCache: () => servedFromCache.inc(),
  }
}
