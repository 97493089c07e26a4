/**
 * Spawns a real anvil node on a free 127.0.0.1 port for integration tests (`--port 0`: anvil binds an
 * ephemeral port and prints it). Each instance is owned by the test that started it and must be stopped
 * in `after()`; `stop()` ends only this process, by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

export interface AnvilOptions {
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
  /** Sends one JSON-RPC call to this node directly (test control: mine, reorg, set base fee...). */
  rpc<T = unknown>(method: string, params?: readonly unknown[]): Promise<T>
  /** SIGKILLs the process (simulates a crash) and waits for it to exit. */
  kill(): Promise<void>
  /** Stops the process (SIGTERM, then SIGKILL after 2 s) and waits for it to exit. Idempotent. */
  stop(): Promise<void>
}

/** Anvil's default dev mnemonic; its accounts are funded with 10 000 ETH each. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk'

/**
 * The real anvil binary. `node_modules/.bin/anvil` is a Node wrapper that spawns it as a child, so killing
 * the wrapper's pid would orphan the node: spawn the platform package's binary directly when present.
 */
export function anvilBinary(): string {
  if (process.env.ANVIL_BIN !== undefined && process.env.ANVIL_BIN !== '') return process.env.ANVIL_BIN
  const arch = process.arch === 'x64' ? 'amd64' : process.arch
  const direct = join(import.meta.dirname, '..', '..', 'node_modules', '@foundry-rs', `anvil-${process.platform}-${arch}`, 'bin', 'anvil')
  return existsSync(direct) ? direct : 'anvil'
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
  const child = spawn(anvilBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const pid = child.pid
  if (pid === undefined) throw new Error('anvil did not start (is node_modules/.bin on PATH?)')

  let output = ''
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`anvil did not listen within ${options.startTimeoutMs ?? 15_000} ms:\n${output.slice(-2_000)}`))
    }, options.startTimeoutMs ?? 15_000)
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
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`anvil exited early (${code ?? signal}):\n${output.slice(-2_000)}`))
    })
  })
  // Keep draining the pipes: anvil logs every call and would block on a full pipe.
  child.stderr.resume()

  const url = `http://127.0.0.1:${port}`
  let nextId = 1
  let stopping: Promise<void> | undefined
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
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await waitExit(child, 0)
    },
    stop(): Promise<void> {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
        await waitExit(child, 2_000)
      })()
      return stopping
    },
  }
}
