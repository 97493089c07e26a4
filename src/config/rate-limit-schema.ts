/**
 * The `rateLimit` section (per-client-IP limits, GCRA, src/limits) and the per-route override
 * `routes[].rateLimit`. Quotas and windows are integers because the RateLimit-Policy field carries them
 * as integers (`q`, `w`).
 */
import { z } from 'zod'
import { secretRefSchema } from './secret-ref-schema.ts'

export const rateLimitPolicySchema = z
  .strictObject({
    requests: z
      .int()
      .min(1)
      .max(1_000_000_000)
      .meta({ description: 'Requests allowed per window and client address (`q` in RateLimit-Policy).' }),
    windowSeconds: z
      .int()
      .min(1)
      .max(31 * 86_400)
      .meta({ description: 'The window in seconds (`w` in RateLimit-Policy).' }),
    burst: z.int().min(1).max(1_000_000_000).optional().meta({
      description:
        'Requests that may arrive at once from a full state; default `requests` (the whole quota). Lower smooths the rate.',
    }),
  })
  .meta({ description: 'A GCRA limit: `requests` per `windowSeconds`, refilled continuously.' })

export const routeRateLimitSchema = z
  .strictObject({
    perIp: z.union([z.literal('off'), rateLimitPolicySchema]).meta({
      description:
        'This route\'s own per-client-IP limit (a bucket per address for this route alone, instead of `rateLimit.perIp`), or `"off"` to exempt the route.',
    }),
  })
  .meta({ description: 'Per-route override of `rateLimit.perIp`.' })

export const rateLimitRedisSchema = z
  .strictObject({
    url: secretRefSchema.meta({
      description:
        'Redis URL (`redis://[user:password@]host:port/db`) as a secret reference: `{ fromEnv: NAME }` or `{ file: PATH }`.',
    }),
    keyPrefix: z
      .string()
      .min(1)
      .max(200)
      .default('litgate:rl:')
      .meta({ description: 'Prefix of every key the limiter writes (share one Redis between deployments).' }),
    commandTimeoutMs: z
      .int()
      .min(1)
      .max(10_000)
      .default(100)
      .meta({ description: 'Longest wait for one decision before it counts as a Redis failure.' }),
    onError: z.enum(['allow', 'deny']).default('allow').meta({
      description:
        'When Redis cannot decide (down, timeout): `allow` the request (fail open) or refuse it with 503 `RATE_LIMIT_UNAVAILABLE` (fail closed). Logged and counted either way.',
    }),
  })
  .meta({
    description: 'The shared store: every gateway instance pointing at it enforces one limit per key.',
  })

export const rateLimitSchema = z
  .strictObject({
    perIp: rateLimitPolicySchema.optional().meta({
      description:
        'Limit per client address (after `server.trustedProxies` resolution) on every route without its own `rateLimit`. Unset: no global limit.',
    }),
    ipv6PrefixLength: z.int().min(32).max(128).default(64).meta({
      description:
        'IPv6 clients are limited per network of this prefix length (a /64 is one subscriber line; 128 = per address).',
    }),
    store: z.enum(['memory', 'redis']).default('memory').meta({
      description: '`memory`: per gateway process. `redis`: shared by every instance (needs `redis`).',
    }),
    maxTrackedKeys: z.int().min(1000).max(10_000_000).default(100_000).meta({
      description:
        'Memory store: hard cap on client keys held (about 180 bytes each). At the cap the key closest to a full burst is dropped (docs/security.md).',
    }),
    redis: rateLimitRedisSchema.optional(),
  })
  .meta({
    description: 'Per-client-IP rate limits (GCRA): 429 with Retry-After, RateLimit-Policy and RateLimit.',
  })

export type RateLimitConfig = z.output<typeof rateLimitSchema>
export type RateLimitPolicyConfig = z.output<typeof rateLimitPolicySchema>
