/**
 * Prometheus metrics of the limiter, on the registry passed in. Labels are bounded: `policy` is `ip` or
 * `ip-<route id>` (routes come from the config), the rest small fixed sets. Store counters are read at
 * scrape time; only a refusal or a store failure does work on the request path.
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { LimiterHooks } from './per-ip-stage.ts'
import type { LimiterStore } from './store.ts'

/** Creates the metric families and returns the hooks the stage calls. */
export function createLimiterMetrics(registry: Registry, store: LimiterStore): LimiterHooks {
  const registers = [registry]
  const limited = new Counter({
    name: 'litgate_rate_limited_total',
    help: "Requests refused with 429 RATE_LIMITED, by policy (ip, or ip-<route> for a route's own limit).",
    labelNames: ['policy'],
    registers,
  })
  const storeErrors = new Counter({
    name: 'litgate_rate_limit_store_errors_total',
    help: 'Rate limit decisions the store could not make, by what happened to the request (allowed = fail open, refused = fail closed).',
    labelNames: ['action'],
    registers,
  })
  if (store.kind === 'memory') registerMemoryStoreMetrics(registers, store)
  return {
    onLimited: (policy) => limited.inc({ policy }),
    onStoreError: (action) => storeErrors.inc({ action }),
  }
}

/** Read at scrape time from the in-memory store (the Redis store holds no keys in the process). */
function registerMemoryStoreMetrics(registers: Registry[], store: LimiterStore): void {
  new Gauge({
    name: 'litgate_rate_limit_tracked_keys',
    help: 'Client keys held by the in-memory rate limit store (at most rateLimit.maxTrackedKeys).',
    registers,
    collect() {
      const n = store.stats().trackedKeys
      if (n !== undefined) this.set(n)
    },
  })
  new Counter({
    name: 'litgate_rate_limit_evictions_total',
    help: 'Keys the in-memory store dropped at its cap: expired (TAT passed, nothing lost) or active (still in debt: the table was full).',
    labelNames: ['kind'],
    registers,
    collect() {
      const s = store.stats()
      this.reset()
      this.inc({ kind: 'expired' }, s.evictedExpired)
      this.inc({ kind: 'active' }, s.evictedActive)
    },
  })
}
