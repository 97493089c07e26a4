import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import type { ConfigInput } from '../../src/config/index.ts'

const ROOT = resolve(import.meta.dirname, '../..')

/** Resident memory of a process, from /proc/<pid>/status (bytes). */
export interface MemoryReading {
  /** Current resident set size (VmRSS). */
  readonly rssBytes: number
  /** Peak resident set size since start or the last `resetPeak` (VmHWM). */
  readonly peakBytes: number
}

export interface ChildGateway {
  readonly pid: number
  readonly port: number
  readonly url: string
  /** Every stdout line (JSON log lines) seen so far. */
  readonly lines: string[]
  memory(): MemoryReading
  /** Resets the kernel's peak-RSS mark (VmHWM) to the current RSS; false when the kernel refuses. */
  resetPeak(): boolean
  /** SIGTERM, wait for exit; returns the exit code. Removes the temporary config. */
  stop(): Promise<number | null>
}

/**
 * Runs the real CLI (`node bin/litgate.js run -c <tmp config>`) as a child process, so its memory can
 * be measured apart from the test's clients and backends. Resolves once the "gateway serving" log line
 * reports the bound port (listeners use port 0).
 */
export async function spawnGateway(config: Omit<ConfigInput, 'version'>): Promise<ChildGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'litgate-child-'))
  const file = join(dir, 'config.json')
  await writeFile(file, JSON.stringify({ version: 1, ...config }))
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'bin/litgate.js'), 'run', '-c', file], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LITGATE_LOG_LEVEL: 'info' },
  })
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  const lines: string[] = []
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()))
  const port = await new Promise<number>((resolvePort, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    rl.on('line', (line) => {
      lines.push(line)
      try {
        const entry = JSON.parse(line) as { msg?: string; listeners?: Record<string, { port: number }> }
        if (entry.msg === 'gateway serving') {
          const first = Object.values(entry.listeners ?? {})[0]
          if (first !== undefined) resolvePort(first.port)
        }
      } catch {
        /* not JSON: ignore */
      }
    })
    void exited.then((code) => reject(new Error(`gateway exited (${code}) before serving: ${stderr}`)))
  })
  const pid = child.pid as number
  const memory = (): MemoryReading => {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (field: string): number =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
    return { rssBytes: kb('VmRSS') * 1024, peakBytes: kb('VmHWM') * 1024 }
  }
  return {
    pid,
    port,
    url: `http://127.0.0.1:${port}`,
    lines,
    memory,
    resetPeak: () => {
      try {
        // proc(5): writing 5 to clear_refs resets the peak resident set size (Linux ≥ 4.0).
        writeFileSync(`/proc/${pid}/clear_refs`, '5')
        return true
      } catch {
        return false
      }
    },
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM')
      const code = await exited
      await rm(dir, { recursive: true, force: true })
      return code
    },
  }
}
