/**
 * Spawns a local anvil node (the `@foundry-rs/anvil` npm package's binary) on a free 127.0.0.1 port
 * (`--port 0`: anvil binds an ephemeral port and prints it). Used by `litgate demo` and by the integration
 * tests (through test/helpers/anvil.ts). Each instance is owned by whoever started it; `stop()` ends only
 * this process, by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'

export interface AnvilOptions {
  /** The anvil executable (default: {@link anvilBinary}). */
  readonly binary?: string
  readonly chainId?: number
  /** Mine every N seconds instead of on every transaction. */
  readonly blockTimeSec?: number
  /** Start without mining at all (mine with `evm_mine` / `anvil_mine`). */
  readonly noMining?: boolean
  readonly mnemonic?: string
  /** Extra command-line arguments. */
  readonly args?: readonly string[]
  /** Milliseconds to wait for anvil to listen. */
  readonly startTimeoutMs?: number
}

export interface AnvilInstance {
  readonly url: string
  readonly host: string
  readonly port: number
  readonly pid: number
  readonly chainId: number
  /** Sends one JSON-RPC call to this node directly (control: mine, reorg, set base fee...). */
  rpc<T = unknown>(method: string, params?: readonly unknown[]): Promise<T>
  /** SIGKILLs the process (simulates a crash) and waits for it to exit. */
  kill(): Promise<void>
  /** SIGKILLs the process without waiting: for a synchronous `process.on('exit')` handler. */
  killNow(): void
  /** Stops the process (SIGTERM, then SIGKILL after 2 s) and waits for it to exit. Idempotent. */
  stop(): Promise<void>
}

/** Anvil's default dev mnemonic; its accounts are funded with 10 000 ETH each. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk'

/** Raised when no anvil binary can be started (the dev dependency is not installed, say). */
export class AnvilStartError extends Error {
  override readonly name = 'AnvilStartError'
}

/**
 * The real anvil binary. `node_modules/.bin/anvil` is a Node wrapper that spawns it as a child, so killing
 * the wrapper's pid would orphan the node: use the platform package's binary directly when it is installed
 * (resolved like an import, so it is found from a hoisted node_modules too), else `anvil` on PATH.
 */
export function anvilBinary(override?: string): string {
  if (override !== undefined && override !== '') return override
  const arch = process.arch === 'x64' ? 'amd64' : process.arch
  const name = `@foundry-rs/anvil-${process.platform}-${arch}`
  try {
    const manifest = createRequire(import.meta.url).resolve(`${name}/package.json`)
    const direct = join(dirname(manifest), 'bin', 'anvil')
    if (existsSync(direct)) return direct
  } catch {
    // not installed for this platform: fall back to PATH
  }
  return 'anvil'
}

async function waitExit(child: ChildProcess, killAfterMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
  await exited
  clearTimeout(timer)
}

export async function startAnvil(options: AnvilOptions = {}): Promise<AnvilInstance> {
  const chainId = options.chainId ?? 31337
  const args = ['--host', '127.0.0.1', '--port', '0', '--chain-id', String(chainId)]
  if (options.blockTimeSec !== undefined) args.push('--block-time', String(options.blockTimeSec))
  if (options.noMining === true) args.push('--no-mining')
  if (options.mnemonic !== undefined) args.push('--mnemonic', options.mnemonic)
  args.push(...(options.args ?? []))
  const binary = options.binary ?? anvilBinary()
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const spawnError = new Promise<never>((_resolve, reject) =>
    child.once('error', (err) =>
      reject(
        new AnvilStartError(
          `cannot start anvil (${binary}): ${err.message}; install the @foundry-rs/anvil package (npm install)`,
        ),
      ),
    ),
  )
  const startTimeoutMs = options.startTimeoutMs ?? 15_000
  let output = ''
  const listening = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(
        new AnvilStartError(`anvil did not listen within ${startTimeoutMs} ms:\n${output.slice(-2_000)}`),
      )
    }, startTimeoutMs)
    const lines = createInterface({ input: child.stdout })
    lines.on('line', (line) => {
      if (output.length < 20_000) output += `${line}\n`
      const m = /Listening on 127\.0\.0\.1:(\d+)/.exec(line)
      if (m) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    })
    child.stderr.on('data', (d: Buffer) => {
      if (output.length < 20_000) output += d.toString()
    })
    child.once('error', () => clearTimeout(timer))
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new AnvilStartError(`anvil exited early (${code ?? signal}):\n${output.slice(-2_000)}`))
    })
  })
  const port = await Promise.race([listening, spawnError])
  const pid = child.pid as number
  // Keep draining the pipes: anvil logs every call and would block on a full pipe.
  child.stderr.resume()

  const url = `http://127.0.0.1:${port}`
  let nextId = 1
  let stopping: Promise<void> | undefined
  const isRunning = (): boolean => child.exitCode === null && child.signalCode === null
  return {
    url,
    host: '127.0.0.1',
    port,
    pid,
    chainId,
    async rpc<T>(method: string, params: readonly unknown[] = []): Promise<T> {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
      })
      const body = (await res.json()) as { result?: T; error?: { code: number; message: string } }
      if (body.error !== undefined) throw new Error(`${method}: ${body.error.message}`)
      return body.result as T
    },
    async kill(): Promise<void> {
      if (isRunning()) child.kill('SIGKILL')
      await waitExit(child, 0)
    },
    killNow(): void {
      if (isRunning()) child.kill('SIGKILL')
    },
    stop(): Promise<void> {
      stopping ??= (async () => {
        if (isRunning()) child.kill('SIGTERM')
        await waitExit(child, 2_000)
      })()
      return stopping
    },
  }
}
