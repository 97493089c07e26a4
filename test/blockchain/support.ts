/** Shared set-up of the blockchain integration tests: captured logs, a private registry, fast tuning. */
import { pino, type Logger } from 'pino'
import { Registry } from 'prom-client'
import {
  DEFAULT_RPC_TUNING,
  DEFAULT_TX_TUNING,
  type RpcTuning,
  type TxTuning,
} from '../../src/blockchain/index.ts'

export interface CapturedLog {
  readonly log: Logger
  /** Every line written, as emitted (JSON). */
  readonly lines: string[]
  /** Parsed lines whose `msg` equals `msg`. */
  find(msg: string): Record<string, unknown>[]
}

/** A pino logger at `trace` that keeps every line in memory. */
export function captureLog(): CapturedLog {
  const lines: string[] = []
  const log = pino({ level: 'trace' }, { write: (s: string) => void lines.push(s) })
  return {
    log,
    lines,
    find: (msg) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => o.msg === msg),
  }
}

export function testDeps() {
  const captured = captureLog()
  return { log: captured.log, captured, clock: { now: () => Date.now() }, registry: new Registry() }
}

/** Short timeouts and cooldowns so failure tests run in well under a second each. */
export const FAST_RPC: RpcTuning = {
  ...DEFAULT_RPC_TUNING,
  timeoutMs: 300,
  maxAttempts: 3,
  backoffBaseMs: 20,
  backoffMaxMs: 100,
  breakerFailureThreshold: 2,
  breakerOpenBaseMs: 200,
  breakerOpenMaxMs: 1_000,
  probeIntervalMs: 60_000, // tests drive probe() themselves
  identityRecheckMs: 60_000,
  maxBlocksPerSecond: 1_000, // tests mine blocks in bursts (anvil_mine)
}

export const FAST_TX: TxTuning = {
  ...DEFAULT_TX_TUNING,
  pollIntervalMs: 50,
  stuckAfterMs: 60_000,
  feeRecheckMs: 50,
  sendTimeoutMs: 10_000,
}

/** Anvil dev account #0 (public test key of the well-known dev mnemonic). */
export const DEV_KEY0 = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
export const DEV_ADDR0 = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
export const DEV_ADDR1 = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'

/** Polls `predicate` every 10 ms until it holds or `timeoutMs` passes (integration tests only). */
export async function eventually(
  predicate: () => boolean,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
