import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { resolveSecretRef, type RateLimitConfig } from '../config/index.ts'
import { GatewayError } from '../errors/index.ts'
import { redisClientOptions } from '../limits/index.ts'
import { MemoryQuotaStore } from './memory-store.ts'
import { RedisQuotaStore } from './redis-store.ts'
import type { QuotaStore } from './store.ts'

/** The limiter's client options under the QoS connection name. */
export type QuotaRedisOptions = Omit<ReturnType<typeof redisClientOptions>, 'connectionName'> & {
  readonly connectionName: string
}

export interface OpenQuotaStoreDeps {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly log: Logger
  readonly createRedis: (url: string, options: QuotaRedisOptions) => Redis
  readonly readFile?: (path: string) => Promise<string>
}

export interface OpenedQuotaStore {
  readonly store: QuotaStore
  close(): Promise<void>
}

/**
 * The QoS store follows the rate limiter's choice (`rateLimit.store`, `rateLimit.redis`): in memory, or
 * the same Redis with its own connection (`litgate-qos`) and keys under `<keyPrefix>qos:{sub:<id>}:`.
 * Start-up never waits for Redis; decisions made before it answers follow `rateLimit.redis.onError`.
 */
export async function openQuotaStore(
  config: RateLimitConfig,
  deps: OpenQuotaStoreDeps,
): Promise<OpenedQuotaStore> {
  if (config.store === 'memory') {
    const store = new MemoryQuotaStore()
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
  const client = deps.createRedis(url, {
    ...redisClientOptions(redis.commandTimeoutMs),
    connectionName: 'litgate-qos',
  })
  let lastLogAt = -Infinity
  client.on('error', (err: Error) => {
    if (performance.now() - lastLogAt < 10_000) return
    lastLogAt = performance.now()
    deps.log.warn({ code: 'RATE_LIMIT_UNAVAILABLE', err: err.message }, 'qos redis connection error')
  })
  return {
    store: new RedisQuotaStore(client, { keyPrefix: `${redis.keyPrefix}qos:` }),
    close: async () => {
      try {
        await client.quit()
      } catch {
        client.disconnect()
      }
    },
  }
}
