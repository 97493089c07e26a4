// Real Redis for tests: REDIS_URL (CI and the dev machine set it; the local default is the dev service).
// Each test file works under its own random key prefix and deletes what it wrote, so files run
// concurrently on one server. An unreachable server fails the test; it never skips.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { redisClientOptions } from '../../src/limits/index.ts'

export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379/0'

/** A unique key prefix for one test file or test. */
export function uniquePrefix(tag: string): string {
  return `litgate-test:${tag}:${process.pid}-${randomBytes(4).toString('hex')}:`
}

/** A client configured as main.ts configures the limiter's, connected (rejects if Redis is unreachable). */
export async function connectRedis(commandTimeoutMs = 1000, url = REDIS_URL): Promise<Redis> {
  const client = new Redis(url, { ...redisClientOptions(commandTimeoutMs), lazyConnect: true })
  client.on('error', () => undefined)
  try {
    await client.connect()
  } catch (err) {
    client.disconnect() // stops the reconnect loop, which would keep the process alive
    throw err
  }
  return client
}

/** Every key under `prefix` (SCAN, never KEYS: the server is shared). */
export async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const out: string[] = []
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    out.push(...keys)
  } while (cursor !== '0')
  return out.sort()
}

/** Deletes every key under `prefix` (SCAN, never KEYS). */
export async function deletePrefix(client: Redis, prefix: string): Promise<number> {
  let cursor = '0'
  let deleted = 0
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) deleted += await client.del(...keys)
  } while (cursor !== '0')
  return deleted
}
