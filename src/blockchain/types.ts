/** Types shared by the modules of the blockchain subsystem. */
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'

/** Milliseconds since the epoch; injected so pure logic is testable with a fake clock. */
export interface Clock {
  now(): number
}

/** Collaborators every adapter of this subsystem receives. */
export interface ChainDeps {
  readonly log: Logger
  readonly clock: Clock
  /** Metrics are created on this registry (never the global default one). */
  readonly registry: Registry
  /** Uniform in [0, 1); injected for backoff jitter. Defaults to Math.random. */
  readonly random?: () => number
}

/** A 0x-prefixed hex string. */
export type Hex = `0x${string}`

/** A 0x-prefixed, 20-byte address. */
export type Address = `0x${string}`
