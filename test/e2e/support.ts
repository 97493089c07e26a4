import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { Agent, request } from 'undici'

const ROOT = resolve(import.meta.dirname, '../..')

/** A `litgate run` child process on ephemeral ports, with its JSON log lines. */
export interface LitgateProcess {
  readonly pid: number
  readonly url: string
  readonly adminUrl: string
  readonly configFile: string
  /** Parsed stdout log lines so far. */
  readonly logs: Array<Record<string, unknown>>
  readonly stderr: () => string
  /** Resolves with the exit code (or the signal name) once the process exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
  writeConfig(text: string): void
  signal(sig: NodeJS.Signals): void
  /** Open file descriptors of the process (sockets, pools, files), from /proc. */
  openFds(): number
  /** Index of the first log line at or after `from` for which `predicate` holds (waits for it). */
  indexOfLog(
    predicate: (l: Record<string, unknown>) => boolean,
    from: number,
    timeoutMs?: number,
  ): Promise<number>
  /** Waits until `predicate` holds for some log line (counting from `from`). */
  waitForLog(
    predicate: (l: Record<string, unknown>) => boolean,
    from?: number,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>
  /** SIGKILL if still running, remove the temp dir. */
  cleanup(): Promise<void>
}

/**
 * Spawns `node bin/litgate.js run -c <file>`; resolves when the proxy and admin listeners are bound.
 * The log level is forced to info (LITGATE_LOG_LEVEL) unless `keepLogLevel: false`, which leaves the
 * config's `logging.level` in charge (it must then be info or lower for start-up to be observed).
 */
export async function spawnLitgate(
  configText: string,
  options: {
    keepLogLevel?: boolean
    env?: Readonly<Record<string, string>>
    /** Bound of the wait for the listeners (default 60 s: PGlite start-up on a loaded host takes seconds). */
    startTimeoutMs?: number
  } = {},
): Promise<LitgateProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'litgate-e2e-'))
  const configFile = join(dir, 'litgate.yaml')
  writeFileSync(configFile, configText)
  const child: ChildProcess = spawn(
    process.execPath,
    [join(ROOT, 'bin/litgate.js'), 'run', '-c', configFile],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...logEnv(options.keepLogLevel ?? true), ...options.env },
    },
  )
  const pid = child.pid as number
  const logs: Array<Record<string, unknown>> = []
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal, at: performance.now() })),
  )
  const waiters = new Set<() => void>()
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>)
    } catch {
      logs.push({ raw: line })
    }
    for (const w of waiters) w()
  })
  const indexOfLog = (
    predicate: (l: Record<string, unknown>) => boolean,
    from: number,
    timeoutMs = 15_000,
  ): Promise<number> =>
    new Promise((resolvePromise, reject) => {
      let next = from
      const check = (): boolean => {
        for (; next < logs.length; next++) {
          if (predicate(logs[next] as Record<string, unknown>)) {
            waiters.delete(onLine)
            clearTimeout(timer)
            resolvePromise(next)
            return true
          }
        }
        return false
      }
      const onLine = (): void => {
        check()
      }
      const timer = setTimeout(() => {
        waiters.delete(onLine)
        reject(new Error(`timed out waiting for a log line; stderr: ${stderr}`))
      }, timeoutMs)
      if (!check()) waiters.add(onLine)
      void exited.then(() => {
        if (waiters.has(onLine) && !check()) {
          waiters.delete(onLine)
          clearTimeout(timer)
          reject(new Error(`litgate exited; stderr: ${stderr}`))
        }
      })
    })
  const waitForLog = async (
    predicate: (l: Record<string, unknown>) => boolean,
    from = 0,
    timeoutMs = 15_000,
  ): Promise<Record<string, unknown>> =>
    logs[await indexOfLog(predicate, from, timeoutMs)] as Record<string, unknown>
  // Start-up includes PGlite's first open (initdb: seconds on a loaded machine) for paid configs.
  const startTimeoutMs = options.startTimeoutMs ?? 60_000
  let serving: Record<string, unknown>
  let admin: Record<string, unknown>
  try {
    serving = await waitForLog((l) => l['msg'] === 'gateway serving', 0, startTimeoutMs)
    admin = await waitForLog((l) => l['msg'] === 'admin listening', 0, startTimeoutMs)
  } catch (err) {
    // Never leave the child behind when start-up was not observed (a slow start under load, a crash).
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(pid, 'SIGKILL')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  const port = Object.values(serving['listeners'] as Record<string, { port: number }>)[0]?.port
  const adminPort = (admin['address'] as { port: number }).port
  return {
    pid,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    configFile,
    logs,
    stderr: () => stderr,
    exited,
    writeConfig: (text) => writeFileSync(configFile, text),
    signal: (sig) => {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, sig)
    },
    openFds: () => readdirSync(`/proc/${pid}/fd`).length,
    indexOfLog,
    waitForLog,
    cleanup: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(pid, 'SIGKILL')
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

function logEnv(isForced: boolean): NodeJS.ProcessEnv {
  const env = { ...process.env, LITGATE_LOG_LEVEL: 'info' }
  if (!isForced) delete (env as Record<string, string | undefined>)['LITGATE_LOG_LEVEL']
  return env
}

/** Outcome counts of a load run. */
export interface LoadResult {
  readonly sent: number
  readonly ok: number
  readonly failed: number
  /** Failures by error code / status. */
  readonly failures: Record<string, number>
  /** Request ids of the successful responses. */
  readonly okIds: Set<string>
  /** Request ids of the failed requests. */
  readonly failedIds: Set<string>
}

export interface LoadOptions {
  readonly url: string
  readonly paths: readonly string[]
  readonly workers: number
  /** Hard bound on requests sent in total. */
  readonly maxRequests: number
  /** Workers stop when this returns true (checked before each request). */
  readonly shouldStop: () => boolean
  /** Prefix of the x-request-id each request carries (`<prefix>-<n>`). */
  readonly idPrefix: string
  /** Pause after a failure before the next request of that worker (ms). */
  readonly pauseAfterFailureMs?: number
}

/**
 * A bounded closed-loop load generator on loopback: `workers` keep-alive connections, each sending the
 * next request when the previous one finished. Any non-2xx status or transport error is a failure.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ connections: options.workers, pipelining: 1, keepAliveTimeout: 10_000 })
  let sent = 0
  let ok = 0
  const failures: Record<string, number> = {}
  const okIds = new Set<string>()
  const failedIds = new Set<string>()
  const worker = async (w: number): Promise<void> => {
    let i = 0
    while (!options.shouldStop() && sent < options.maxRequests) {
      const id = `${options.idPrefix}-${w}-${i++}`
      const path = options.paths[(w + i) % options.paths.length] as string
      sent++
      try {
        const res = await request(`${options.url}${path}`, {
          dispatcher: agent,
          headers: { 'x-request-id': id },
          headersTimeout: 10_000,
          bodyTimeout: 10_000,
        })
        await res.body.text()
        if (res.statusCode >= 200 && res.statusCode < 300) {
          ok++
          okIds.add(id)
        } else {
          failures[`status ${res.statusCode}`] = (failures[`status ${res.statusCode}`] ?? 0) + 1
          failedIds.add(id)
        }
      } catch (err) {
        const code = (err as { code?: string }).code ?? (err as Error).name
        failures[code] = (failures[code] ?? 0) + 1
        failedIds.add(id)
        if (options.pauseAfterFailureMs !== undefined)
          await new Promise((r) => setTimeout(r, options.pauseAfterFailureMs))
      }
    }
  }
  await Promise.all(Array.from({ length: options.workers }, (_, w) => worker(w)))
  await agent.close()
  return { sent, ok, failed: sent - ok, failures, okIds, failedIds }
}

/** GET/POST on the admin API. */
export async function admin(url: string, method = 'GET'): Promise<{ status: number; body: string }> {
  const res = await request(url, { method: method as 'GET' })
  return { status: res.statusCode, body: await res.body.text() }
}

/** Value of one Prometheus sample. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line)
    if (m === null || m[1] !== name) continue
    const got: Record<string, string> = {}
    for (const p of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      got[p[1] as string] = p[2] as string
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4])
  }
  return undefined
}
