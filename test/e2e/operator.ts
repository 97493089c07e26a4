import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'

export const ROOT = resolve(import.meta.dirname, '../..')

/** A gateway started the way an operator starts it (node, npm start, npx), with its stdout log lines. */
export interface Started {
  /** The process the operator holds: node itself, or npm. */
  readonly holderPid: number
  /** The gateway's own pid, from its `gateway serving` line. */
  readonly gatewayPid: number
  readonly port: number
  readonly adminPort: number
  readonly logs: Array<Record<string, unknown>>
  readonly holderExited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  waitForLog(
    predicate: (l: Record<string, unknown>) => boolean,
    from?: number,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>
  /** SIGKILL, by pid, whatever this test started and is still alive (holder, shell, gateway). */
  cleanup(): Promise<void>
}

/** The pid of the anvil `litgate demo` started, from its `demo chain and storage ready` line. */
export function demoAnvilPid(logs: ReadonlyArray<Record<string, unknown>>): number | undefined {
  const line = logs.find((l) => l['msg'] === 'demo chain and storage ready')
  return typeof line?.['pid'] === 'number' ? line['pid'] : undefined
}

/** True when the process is gone (no such pid, or a zombie nobody reaped yet). */
export function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state === 'Z' || state === 'X'
  } catch {
    return true
  }
}

/** Polls until `pid` is gone; false when it is still there after `timeoutMs`. */
export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!isGone(pid)) {
    if (performance.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 50))
  }
  return true
}

/** True when nothing listens on 127.0.0.1:port (we can bind it ourselves, then release it). */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const probe = createServer()
    probe.once('error', () => resolvePromise(false))
    probe.listen({ host: '127.0.0.1', port, exclusive: true }, () => probe.close(() => resolvePromise(true)))
  })
}

/**
 * Spawns `command args` in the repository root with the pinned Node first on PATH (as npm scripts have
 * it) and waits for the `gateway serving` and `admin listening` lines.
 */
export async function startEntry(
  command: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<Started> {
  const child: ChildProcess = spawn(command, [...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      PATH: `${join(ROOT, 'node_modules/.bin')}${delimiter}${process.env['PATH'] ?? ''}`,
      LITGATE_LOG_LEVEL: 'info',
      ...env,
    },
  })
  const holderPid = child.pid as number
  const logs: Array<Record<string, unknown>> = []
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()))
  const holderExited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  )
  const waiters = new Set<() => void>()
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (!line.startsWith('{')) return // npm's "> litgate start" banner, the demo's help text
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>)
    } catch {
      return
    }
    for (const w of waiters) w()
  })
  const waitForLog = (
    predicate: (l: Record<string, unknown>) => boolean,
    from = 0,
    timeoutMs = 20_000,
  ): Promise<Record<string, unknown>> =>
    new Promise((resolvePromise, reject) => {
      const check = (): boolean => {
        const found = logs.slice(from).find(predicate)
        if (found === undefined) return false
        waiters.delete(check)
        clearTimeout(timer)
        resolvePromise(found)
        return true
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`timed out waiting for a log line; stderr: ${stderr}`))
      }, timeoutMs)
      if (!check()) waiters.add(check)
    })
  const known = new Set<number>([holderPid])
  const cleanup = async (): Promise<void> => {
    for (const line of logs) {
      for (const pid of (line['wrapperPids'] as number[] | undefined) ?? []) known.add(pid)
      // The demo's anvil (litgate demo / npm start), started by the gateway and stopped at its exit.
      const anvilPid = demoAnvilPid([line])
      if (anvilPid !== undefined) known.add(anvilPid)
    }
    for (const pid of known) {
      if (!isGone(pid)) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
    }
    if (child.exitCode === null && child.signalCode === null) await holderExited
    for (const pid of known) await waitGone(pid, 5000)
  }
  try {
    // Generous: the demo (npm start) starts anvil and PGlite before it serves.
    const serving = await waitForLog((l) => l['msg'] === 'gateway serving', 0, 90_000)
    const gatewayPid = serving['pid'] as number
    known.add(gatewayPid)
    const admin = await waitForLog((l) => l['msg'] === 'admin listening')
    const port = Object.values(serving['listeners'] as Record<string, { port: number }>)[0]?.port as number
    const adminPort = (admin['address'] as { port: number }).port
    return { holderPid, gatewayPid, port, adminPort, logs, holderExited, waitForLog, cleanup }
  } catch (err) {
    await cleanup()
    throw err
  }
}
