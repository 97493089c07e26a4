/**
 * Config schema pieces for backend health and request resilience (health checks, outlier ejection,
 * slow start, panic mode, circuit breakers, retries, load shedding). Every knob has a safe default.
 */
import { z } from 'zod'

const ms = (min: number, max: number) => z.int().min(min).max(max)
const statusRange = z
  .string()
  .regex(/^[1-5]\d\d(-[1-5]\d\d)?$/, 'must be a status like "200" or a range like "200-399"')

export const healthCheckSchema = z
  .strictObject({
    type: z.enum(['http', 'tcp']).default('http').meta({ description: 'HTTP request or bare TCP connect.' }),
    path: z.string().startsWith('/').default('/healthz'),
    method: z.enum(['GET', 'HEAD']).default('GET'),
    host: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Host header for HTTP checks (default: the backend address).' }),
    expectedStatuses: z.array(statusRange).min(1).default(['200-399']),
    bodyContains: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'HTTP checks pass only if the body (first 64 KiB) contains this.' }),
    intervalMs: ms(100, 3_600_000).default(5000),
    jitterPercent: z
      .int()
      .min(0)
      .max(50)
      .default(20)
      .meta({ description: 'Each interval is randomised ±this percent so checks never synchronise.' }),
    timeoutMs: ms(10, 600_000).default(2000),
    rise: z
      .int()
      .min(1)
      .max(100)
      .default(2)
      .meta({ description: 'Consecutive passes to bring an ejected backend back.' }),
    fall: z
      .int()
      .min(1)
      .max(100)
      .default(3)
      .meta({ description: 'Consecutive failures to eject a backend.' }),
  })
  .meta({ description: 'Active health checks, run off the request path.' })

export const outlierSchema = z
  .strictObject({
    consecutive5xx: z
      .int()
      .min(0)
      .max(1000)
      .default(5)
      .meta({ description: 'Consecutive 5xx responses that eject (0 = off).' }),
    consecutiveGatewayErrors: z
      .int()
      .min(0)
      .max(1000)
      .default(3)
      .meta({ description: 'Consecutive connect failures, resets or timeouts that eject (0 = off).' }),
    baseEjectionMs: ms(100, 3_600_000)
      .default(30_000)
      .meta({ description: 'Ejection time; multiplied by the number of times the backend was ejected.' }),
    maxEjectionMs: ms(100, 86_400_000).default(300_000),
    maxEjectionPercent: z
      .int()
      .min(0)
      .max(100)
      .default(50)
      .meta({ description: 'Most of the pool passive detection may eject at once (at least one backend).' }),
  })
  .meta({ description: 'Passive failure detection (outlier ejection).' })

export const outlierDefaults = outlierSchema.parse({})

export const slowStartSchema = z
  .strictObject({
    windowMs: ms(0, 3_600_000)
      .default(10_000)
      .meta({ description: 'Ramp duration after recovery (0 = off).' }),
    floorPercent: z
      .int()
      .min(1)
      .max(100)
      .default(10)
      .meta({ description: 'Starting weight share of a recovering backend.' }),
  })
  .meta({ description: 'Weight ramp of a recovering backend.' })

export const panicSchema = z
  .strictObject({
    thresholdPercent: z.int().min(0).max(100).default(50),
    mode: z
      .enum(['spread', 'fail-fast'])
      .default('spread')
      .meta({
        description: 'Below the threshold of usable backends: spread over all (Envoy panic) or answer 503.',
      }),
  })
  .meta({ description: 'What to do when too few backends are healthy.' })

export const circuitBreakerSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    failureRatio: z.number().gt(0).max(1).default(0.5),
    minRequests: z.int().min(1).max(1_000_000).default(20),
    windowMs: ms(1000, 3_600_000).default(10_000),
    openMs: ms(100, 3_600_000).default(10_000),
    halfOpenProbes: z.int().min(1).max(1000).default(3),
  })
  .meta({ description: 'Per-backend breaker on the failure ratio over a sliding window.' })

export const retrySchema = z
  .strictObject({
    maxRetries: z
      .int()
      .min(0)
      .max(5)
      .default(1)
      .meta({
        description: 'Extra attempts after the first, each on a different backend when one is available.',
      }),
    perTryTimeoutMs: ms(1, 3_600_000)
      .optional()
      .meta({ description: 'Deadline for one attempt to get a response head.' }),
    backoffBaseMs: ms(0, 60_000).default(25),
    backoffMaxMs: ms(0, 600_000).default(250),
    retryOn: z
      .array(z.int().min(500).max(599))
      .default([])
      .meta({
        description:
          'Upstream statuses that are retried (idempotent requests only); connect failures, resets and header timeouts always are.',
      }),
    idempotencyKeyHeader: z
      .string()
      .regex(/^[a-z0-9-]+$/)
      .optional()
      .meta({
        description:
          'POST/PATCH requests carrying this header may be retried (the client made them idempotent).',
      }),
    maxReplayBodyBytes: z
      .int()
      .min(0)
      .max(16 * 1024 * 1024)
      .default(0)
      .meta({
        description:
          'Request bodies up to this size are buffered so they can be replayed on retry (0 = bodies are streamed, never retried).',
      }),
    budget: z
      .strictObject({
        percent: z.number().min(0).max(100).default(20),
        minRetriesPerSecond: z.number().min(0).max(10_000).default(3),
        windowMs: ms(1000, 600_000).default(10_000),
      })
      .default({ percent: 20, minRetriesPerSecond: 3, windowMs: 10_000 })
      .meta({ description: 'Retries may not exceed this share of recent requests (plus a small floor).' }),
  })
  .meta({
    description:
      'Safe retries: only when the request provably was not sent, or is idempotent with a replayable body.',
  })

export const retryDefaults = retrySchema.parse({})

export const loadSheddingSchema = z
  .strictObject({
    maxConcurrent: z
      .int()
      .min(1)
      .max(10_000_000)
      .optional()
      .meta({ description: 'Requests in flight on the route; beyond it, immediate 503 with Retry-After.' }),
  })
  .meta({ description: 'Per-route concurrency limit (fail fast, never a growing queue).' })
