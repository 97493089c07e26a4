import type { Redis } from 'ioredis'
import { GCRA_LUA_PRELUDE } from '../limits/index.ts'
import { quotaDecision, type QuotaDecision, type SettleUsage } from './decision.ts'
import type { QuotaLimits, QuotaWindows } from './limits.ts'
import { QuotaStoreError, SETTLE_MEMORY_SECONDS, type QuotaStore, type UsageSnapshot } from './store.ts'

/**
 * reserveInState (decision.ts) as one script: GCRA on Redis's clock plus the day/month counters and the
 * period's byte total, decided together and charged only when every limit admits.
 * KEYS: rps, day, month, period (hash n/bi/bo). ARGV: interval µs, capacity µs, day limit, month limit,
 * byte limit (0 = none), day TTL ms, month TTL ms. Returns { violated, now µs, TAT µs, day, month, bytes }.
 */
export const QOS_RESERVE_LUA = `${GCRA_LUA_PRELUDE}local dayLimit = tonumber(ARGV[3])
local monthLimit = tonumber(ARGV[4])
local bytesLimit = tonumber(ARGV[5])
local nextTat = tat + interval
local violated = 0
if nextTat - now > capacity then violated = 1 end
local day = tonumber(redis.call('GET', KEYS[2]) or '0')
local month = tonumber(redis.call('GET', KEYS[3]) or '0')
local b = redis.call('HMGET', KEYS[4], 'bi', 'bo')
local bytes = tonumber(b[1] or '0') + tonumber(b[2] or '0')
if dayLimit > 0 and day >= dayLimit then violated = violated + 2 end
if monthLimit > 0 and month >= monthLimit then violated = violated + 4 end
if bytesLimit > 0 and bytes >= bytesLimit then violated = violated + 8 end
if violated ~= 0 then return { violated, now, tat, day, month, bytes } end
redis.call('SET', KEYS[1], string.format('%.0f', nextTat), 'PX', math.ceil((nextTat - now) / 1000))
day = redis.call('INCR', KEYS[2])
if day == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[6]) end
month = redis.call('INCR', KEYS[3])
if month == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[7]) end
return { 0, now, nextTat, day, month, bytes }
`

/**
 * settleInState as one script, idempotent by the request's marker key (SET NX): counted adds the bytes to
 * the reservation's period; uncounted gives the request back to its day and month and its GCRA interval.
 * KEYS: rps, day, month, period, marker. ARGV: counted 0|1, bytes in, bytes out, interval µs, period TTL
 * ms, marker TTL s. Returns 1, or 0 when the request was settled before.
 */
export const QOS_SETTLE_LUA = `
if not redis.call('SET', KEYS[5], '1', 'NX', 'EX', ARGV[6]) then return 0 end
if ARGV[1] == '1' then
  redis.call('HINCRBY', KEYS[4], 'n', 1)
  redis.call('HINCRBY', KEYS[4], 'bi', ARGV[2])
  redis.call('HINCRBY', KEYS[4], 'bo', ARGV[3])
  redis.call('PEXPIRE', KEYS[4], ARGV[5])
  return 1
end
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
if tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then redis.call('DECR', KEYS[3]) end
local stored = redis.call('GET', KEYS[1])
if stored then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local v = tonumber(stored)
  if v and v > now then
    local n = math.max(now, v - tonumber(ARGV[4]))
    if n > now then
      redis.call('SET', KEYS[1], string.format('%.0f', n), 'PX', math.ceil((n - now) / 1000))
    else
      redis.call('DEL', KEYS[1])
    end
  end
end
return 1
`

/** KEYS: rps, day, month, period, streams. Returns { now µs, TAT µs, day, month, n, bi, bo, streams }. */
export const QOS_USAGE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local p = redis.call('HMGET', KEYS[4], 'n', 'bi', 'bo')
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', math.floor(now / 1000))
return { now, tat, tonumber(redis.call('GET', KEYS[2]) or '0'), tonumber(redis.call('GET', KEYS[3]) or '0'),
  tonumber(p[1] or '0'), tonumber(p[2] or '0'), tonumber(p[3] or '0'), redis.call('ZCARD', KEYS[5]) }
`

/** KEYS: streams (zset lease → expiry ms). ARGV: limit, lease id, TTL ms. Returns 1 when held. */
export const QOS_STREAM_LUA = `
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', nowMs)
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], nowMs + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`

type Script = (...args: (string | number)[]) => Promise<unknown>

/** Counters outlive their window by this much (a late settle still finds them; clocks differ a little). */
const WINDOW_SLACK_MS = 60_000
/** A period's totals are kept this long after the period ends (usage API, persistence flush). */
export const PERIOD_RETENTION_MS = 7 * 86_400_000

export interface RedisQuotaStoreOptions {
  /** Prepended to every key (`rateLimit.redis.keyPrefix`), before the `{sub:<id>}` hash tag. */
  readonly keyPrefix: string
  /** Wall-clock milliseconds for key lifetimes. Default Date.now. */
  readonly nowMs?: () => number
}

/**
 * QoS state in Redis, shared by every instance on the same Redis and prefix. Every key of a subscription
 * carries the hash tag `{sub:<id>}` so that each script touches one Redis Cluster slot. One round trip
 * per reserve and one per settle. The client belongs to the composition root.
 */
export class RedisQuotaStore implements QuotaStore {
  readonly kind = 'redis' as const
  readonly #prefix: string
  readonly #nowMs: () => number
  readonly #reserve: Script
  readonly #settle: Script
  readonly #usage: Script
  readonly #stream: Script
  readonly #client: Redis

  constructor(client: Redis, options: RedisQuotaStoreOptions) {
    this.#client = client
    this.#prefix = options.keyPrefix
    this.#nowMs = options.nowMs ?? Date.now
    const c = client as unknown as Record<string, Script>
    const define = (name: string, keys: number, lua: string): Script => {
      if (typeof c[name] !== 'function') client.defineCommand(name, { numberOfKeys: keys, lua })
      return (c[name] as Script).bind(client)
    }
    this.#reserve = define('litgateQosReserve', 4, QOS_RESERVE_LUA)
    this.#settle = define('litgateQosSettle', 5, QOS_SETTLE_LUA)
    this.#usage = define('litgateQosUsage', 5, QOS_USAGE_LUA)
    this.#stream = define('litgateQosStream', 1, QOS_STREAM_LUA)
  }

  /** The key base of a subscription: every key of it shares the hash tag. */
  base(id: string): string {
    return `${this.#prefix}{sub:${id}}:`
  }

  async reserve(id: string, limits: QuotaLimits, windows: QuotaWindows): Promise<QuotaDecision> {
    const b = this.base(id)
    const now = this.#nowMs()
    let reply: unknown
    try {
      reply = await this.#reserve(
        `${b}rps`,
        `${b}d:${windows.day.index}`,
        `${b}m:${windows.month.index}`,
        `${b}p:${windows.period.index}`,
        limits.rps.intervalUs,
        limits.rps.capacityUs,
        limits.perDay ?? 0,
        limits.perMonth ?? 0,
        limits.bytesPerPeriod ?? 0,
        Math.max(1, windows.day.endSec * 1000 - now) + WINDOW_SLACK_MS,
        Math.max(1, windows.month.endSec * 1000 - now) + WINDOW_SLACK_MS,
      )
    } catch (err) {
      throw new QuotaStoreError(`redis quota reserve failed: ${(err as Error).message}`, { cause: err })
    }
    if (!Array.isArray(reply) || reply.length !== 6)
      throw new QuotaStoreError('redis quota reserve failed: unexpected script reply')
    const [violated, nowUs, tatUs, dayUsed, monthUsed, bytesUsed] = reply as number[] as [
      number,
      number,
      number,
      number,
      number,
      number,
    ]
    return quotaDecision({ violated, nowUs, tatUs, dayUsed, monthUsed, bytesUsed }, limits)
  }

  async settle(
    id: string,
    limits: QuotaLimits,
    windows: QuotaWindows,
    requestId: string,
    usage: SettleUsage,
  ): Promise<boolean> {
    const b = this.base(id)
    try {
      const reply = await this.#settle(
        `${b}rps`,
        `${b}d:${windows.day.index}`,
        `${b}m:${windows.month.index}`,
        `${b}p:${windows.period.index}`,
        `${b}s:${requestId}`,
        usage.counted ? 1 : 0,
        usage.bytesIn,
        usage.bytesOut,
        limits.rps.intervalUs,
        Math.max(1, windows.period.endSec * 1000 - this.#nowMs()) + PERIOD_RETENTION_MS,
        SETTLE_MEMORY_SECONDS,
      )
      return reply === 1
    } catch (err) {
      throw new QuotaStoreError(`redis quota settle failed: ${(err as Error).message}`, { cause: err })
    }
  }

  async usage(id: string, limits: QuotaLimits, windows: QuotaWindows): Promise<UsageSnapshot> {
    const b = this.base(id)
    let reply: unknown
    try {
      reply = await this.#usage(
        `${b}rps`,
        `${b}d:${windows.day.index}`,
        `${b}m:${windows.month.index}`,
        `${b}p:${windows.period.index}`,
        `${b}ws`,
      )
    } catch (err) {
      throw new QuotaStoreError(`redis quota usage failed: ${(err as Error).message}`, { cause: err })
    }
    const [nowUs, tatUs, dayUsed, monthUsed, n, bi, bo, streams] = reply as number[] as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ]
    return {
      dayUsed,
      monthUsed,
      periodRequests: n,
      periodBytesIn: bi,
      periodBytesOut: bo,
      rpsRemaining: quotaDecision(
        { violated: 0, nowUs, tatUs: Math.max(tatUs, nowUs), dayUsed, monthUsed, bytesUsed: 0 },
        limits,
      ).rps.remaining,
      streams,
    }
  }

  async acquireStream(id: string, limit: number, leaseId: string, ttlMs: number): Promise<boolean> {
    try {
      return (await this.#stream(`${this.base(id)}ws`, limit, leaseId, ttlMs)) === 1
    } catch (err) {
      throw new QuotaStoreError(`redis stream lease failed: ${(err as Error).message}`, { cause: err })
    }
  }

  async releaseStream(id: string, leaseId: string): Promise<void> {
    try {
      await this.#client.zrem(`${this.base(id)}ws`, leaseId)
    } catch (err) {
      throw new QuotaStoreError(`redis stream release failed: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Nothing to release: the client belongs to the composition root. */
  close(): Promise<void> {
    return Promise.resolve()
  }
}
