/**
 * A small in-memory token bucket per key (client IP, payer), for quote creation. Bounded: at most
 * `maxKeys` buckets; when full, buckets that have refilled completely are dropped, then the oldest.
 */
export interface TokenBuckets {
  /** Takes one token for `key` at `nowMs`: 0 when allowed, else the seconds until one is available. */
  take(key: string, nowMs: number): number
}

export function createTokenBuckets(perMinute: number, maxKeys = 100_000): TokenBuckets {
  const capacity = perMinute
  const refillPerMs = perMinute / 60_000
  const buckets = new Map<string, { tokens: number; at: number }>()
  const level = (b: { tokens: number; at: number }, now: number): number =>
    Math.min(capacity, b.tokens + Math.max(0, now - b.at) * refillPerMs)
  return {
    take(key, nowMs) {
      let b = buckets.get(key)
      if (b === undefined) {
        if (buckets.size >= maxKeys) {
          for (const [k, v] of buckets) if (level(v, nowMs) >= capacity) buckets.delete(k)
          if (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value as string)
        }
        b = { tokens: capacity, at: nowMs }
        buckets.set(key, b)
      }
      const tokens = level(b, nowMs)
      if (tokens < 1) return Math.max(1, Math.ceil((1 - tokens) / refillPerMs / 1000))
      b.tokens = tokens - 1
      b.at = nowMs
      return 0
    },
  }
}
