import type { Redis } from 'ioredis'
import { gcraOutcome, type GcraDecision, type GcraPolicy } from './gcra.ts'
import { LimiterStoreError, type LimiterStore, type LimiterStoreStats } from './store.ts'

/**
 * One GCRA decision, atomically (a Lua script runs alone on the server), with Redis's clock so that every
 * gateway instance sharing the store agrees on "now" whatever their own clocks say. The same integer
 * microsecond arithmetic as gcraDecide (gcra.ts). The key expires when its TAT passes (it then equals a
 * fresh key), so Redis holds only keys that carry debt.
 *
 * KEYS[1]: the key. ARGV: interval T (µs), capacity L (µs), cost. Returns { allowed 0|1, now µs, TAT µs }.
 * The TAT is written with %.0f: Lua 5.1's default number formatting keeps only 14 significant digits.
 */
/** Redis's clock (`now`, µs) and the TAT stored at KEYS[1] (`tat`, at least now); ARGV[1] interval, ARGV[2] capacity. Shared with the QoS reserve script. */
export const GCRA_LUA_PRELUDE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  local v = tonumber(stored)
  if v and v > now then tat = v end
end
`

export const GCRA_LUA = `${GCRA_LUA_PRELUDE}local cost = tonumber(ARGV[3])
local nextTat = tat + cost * interval
local ahead = nextTat - now
if ahead > capacity then
  return { 0, now, tat }
end
redis.call('SET', KEYS[1], string.format('%.0f', nextTat), 'PX', math.ceil(ahead / 1000))
return { 1, now, nextTat }
`

export interface RedisStoreOptions {
  /** Prepended to every key (`rateLimit.redis.keyPrefix`). */
  readonly keyPrefix: string
}

type GcraCommand = (key: string, intervalUs: number, capacityUs: number, cost: number) => Promise<unknown>

/**
 * GCRA state in Redis, shared by every gateway instance that uses the same Redis and prefix: one round
 * trip (EVALSHA, EVAL on the first use after a script flush) per decision. Failures (connection down, a
 * command slower than the client's `commandTimeout`, a script error) reject with LimiterStoreError; the
 * caller chooses to fail open or closed. The client is constructed, configured and closed by the
 * composition root (main.ts); this store never creates a connection.
 */
export class RedisLimiterStore implements LimiterStore {
  readonly kind = 'redis' as const
  readonly #prefix: string
  readonly #gcra: GcraCommand

  constructor(client: Redis, options: RedisStoreOptions) {
    this.#prefix = options.keyPrefix
    // defineCommand is idempotent per name on one client; EVALSHA with a NOSCRIPT fallback to EVAL.
    if (typeof (client as unknown as Record<string, unknown>)['litgateGcra'] !== 'function')
      client.defineCommand('litgateGcra', { numberOfKeys: 1, lua: GCRA_LUA })
    const command = (client as unknown as { litgateGcra: GcraCommand }).litgateGcra
    this.#gcra = command.bind(client)
  }

  async take(key: string, policy: GcraPolicy, cost = 1): Promise<GcraDecision> {
    let reply: unknown
    try {
      reply = await this.#gcra(this.#prefix + key, policy.intervalUs, policy.capacityUs, cost)
    } catch (err) {
      throw new LimiterStoreError(`redis decision failed: ${(err as Error).message}`, { cause: err })
    }
    if (!Array.isArray(reply) || reply.length !== 3)
      throw new LimiterStoreError('redis decision failed: unexpected script reply')
    const [allowed, now, tat] = reply as [number, number, number]
    return gcraOutcome(allowed === 1, tat, now, policy, cost)
  }

  stats(): LimiterStoreStats {
    return { trackedKeys: undefined, evictedExpired: 0, evictedActive: 0 }
  }

  /** Nothing to release: the client belongs to the composition root. */
  close(): Promise<void> {
    return Promise.resolve()
  }
}

/**
 * ioredis options for the limiter's client (main.ts constructs it with these): decisions fail fast
 * instead of queueing while Redis is away (a queued command would charge a key long after its request
 * was answered), a command is bounded by `commandTimeoutMs`, and nothing in flight is replayed after a
 * reconnect. Reconnection itself continues in the background with ioredis's capped backoff.
 */
export function redisClientOptions(commandTimeoutMs: number) {
  return {
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(1000, commandTimeoutMs * 10),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectionName: 'litgate-ratelimit',
  } as const
}
