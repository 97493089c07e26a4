import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { resolveSecretRef, type RateLimitConfig } from '../config/index.ts'
import { GatewayError } from '../errors/index.ts'
import { MemoryLimiterStore } from './memory-store.ts'
import { RedisLimiterStore, redisClientOptions } from './redis-store.ts'
import type { LimiterStore } from './store.ts'

export interface OpenLimiterStoreDeps {
  /** The process environment (main.ts passes process.env). */
  readonly env: Readonly<Record<string, string | undefined>>
  readonly log: Logger
  /** Constructs the Redis client (main.ts: `new Redis(url, options)`); never called for the memory store. */
  readonly createRedis: (url: string, options: ReturnType<typeof redisClientOptions>) => Redis
  readonly readFile?: (path: string) => Promise<string>
  /** Milliseconds, for spacing out connection error lines. Default performance.now. */
  readonly nowMs?: () => number
}

/** A store and how to release what was opened for it. */
export interface OpenedLimiterStore {
  readonly store: LimiterStore
  close(): Promise<void>
}

/** At most one connection error line per this interval (ioredis reports every reconnect attempt). */
const CONNECTION_LOG_INTERVAL_MS = 10_000

/**
 * The store `rateLimit.store` names. Redis: resolves `rateLimit.redis.url` (environment variable or file,
 * trimmed; a reference that resolves to nothing is CONFIG_INVALID naming the variable or file, never a
 * value), creates the client with redisClientOptions and connects in the background: start-up never waits
 * for Redis, decisions made before it answers follow `onError`. Connection errors are logged, spaced out.
 */
export async function openLimiterStore(
  config: RateLimitConfig,
  deps: OpenLimiterStoreDeps,
): Promise<OpenedLimiterStore> {
  if (config.store === 'memory') {
    const store = new MemoryLimiterStore({ maxKeys: config.maxTrackedKeys })
    return { store, close: () => store.close() }
  }
  const redis = config.redis
  if (redis === undefined)
    throw new GatewayError('CONFIG_INVALID', 'rateLimit.store is "redis" but rateLimit.redis is not set')
  const url = await resolveSecretRef(
    redis.url,
    { field: 'rateLimit.redis.url', code: 'CONFIG_INVALID' },
    deps,
  )
  const client = deps.createRedis(url, redisClientOptions(redis.commandTimeoutMs))
  const nowMs = deps.nowMs ?? (() => performance.now())
  let lastLogAt = -Infinity
  client.on('error', (err: Error) => {
    const now = nowMs()
    if (now - lastLogAt < CONNECTION_LOG_INTERVAL_MS) return
    lastLogAt = now
    // ioredis messages name the host and port, never the URL's credentials.
    deps.log.warn({ code: 'RATE_LIMIT_UNAVAILABLE', err: err.message }, 'rate limit redis connection error')
  })
  const store = new RedisLimiterStore(client, { keyPrefix: redis.keyPrefix })
  return {
    store,
    close: async () => {
      try {
        await client.quit()
      } catch {
        client.disconnect()
      }
    },
  }
}
