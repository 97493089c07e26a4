// Process plumbing for the macro benchmarks: spawning children we own (and only those), pinning to
// cores, reading a process's CPU time and RSS from /proc, and checking the external tools exist.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { readFileSync, existsSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { delimiter, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/** Kernel clock ticks per second (utime/stime unit in /proc/PID/stat). */
export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())

/** utime + stime of a whole process (all threads), in clock ticks: /proc/PID/stat fields 14 and 15. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Field 2 (comm) may contain spaces and parentheses: split after the last ')'. fields[0] is field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

/** Resident set size of a process in KiB (/proc/PID/status VmRSS). */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status)
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(m[1])
}

/** Busy and total jiffies per CPU from /proc/stat (busy = everything except idle and iowait). */
export function coreTimes(): { busy: number; total: number }[] {
  const out: { busy: number; total: number }[] = []
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (.*)$/.exec(line)
    if (m === null) continue
    const v = (m[2] as string).trim().split(/\s+/).map(Number)
    // user nice system idle iowait irq softirq steal (guest time is already inside user/nice)
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0)
    const idle = (v[3] ?? 0) + (v[4] ?? 0)
    out[Number(m[1])] = { busy: total - idle, total }
  }
  return out
}

/** Pins this process (all its threads) to `core`; children inherit the affinity. */
export function pinSelf(core: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(core), String(process.pid)], { stdio: 'ignore' })
}

/** Returns the absolute path of an executable on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const p = join(dir, name)
    if (existsSync(p)) return p
  }
  for (const dir of ['/usr/sbin', '/sbin']) {
    const p = join(dir, name)
    if (existsSync(p)) return p
  }
  return undefined
}

/** Exits with an install hint when a required tool is missing. */
export function requireTools(tools: readonly { name: string; apt: string }[]): Record<string, string> {
  const found: Record<string, string> = {}
  const missing: string[] = []
  for (const t of tools) {
    const p = which(t.name)
    if (p === undefined) missing.push(t.apt)
    else found[t.name] = p
  }
  if (missing.length > 0) {
    process.stderr.write(
      `bench: missing ${missing.join(', ')}. Install with:\n  apt-get update && apt-get install -y ${[...new Set(missing)].join(' ')}\n`,
    )
    process.exit(2)
  }
  return found
}

/** Children started by this process; all of them (and only them) are killed on exit. */
export class Children {
  readonly #children = new Set<ChildProcess>()

  constructor() {
    const killAll = (): void => this.killAll()
    process.once('exit', killAll)
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        killAll()
        process.exit(130)
      })
    }
  }

  /** Spawns a child we own. `stdout`/`stderr` are file descriptors or 'ignore'. */
  spawn(
    cmd: string,
    args: readonly string[],
    opts: {
      stdout?: number | 'ignore' | 'pipe'
      stderr?: number | 'ignore' | 'pipe'
      env?: NodeJS.ProcessEnv
    } = {},
  ): ChildProcess {
    const child = spawn(cmd, args, {
      stdio: ['ignore', opts.stdout ?? 'ignore', opts.stderr ?? 'ignore'],
      env: opts.env ?? process.env,
    })
    if (child.pid === undefined) throw new Error(`cannot spawn ${cmd}`)
    this.#children.add(child)
    child.once('exit', () => this.#children.delete(child))
    return child
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
  async stop(child: ChildProcess, graceMs = 3000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await exited
    clearTimeout(timer)
  }

  killAll(): void {
    for (const child of this.#children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  }
}

/** A currently free TCP port on 127.0.0.1 (bound and released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/** Waits until something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port: number, timeoutMs = 10_000, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`process exited (code ${String(child.exitCode)}) before listening on ${port}`)
    }
    const isUp = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (isUp) return
    if (Date.now() > deadline) throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`)
    await sleep(50)
  }
}

/** 1-minute load average and the number of runnable tasks, from /proc/loadavg. */
export function loadAvg(): { load1: number; load5: number; running: number } {
  const [l1, l5, , runnable] = readFileSync('/proc/loadavg', 'utf8').trim().split(' ')
  return { load1: Number(l1), load5: Number(l5), running: Number((runnable ?? '0/0').split('/')[0]) }
}

/** Share of all cores busy over `sampleMs`, in % (100 = every core busy). */
export async function machineBusyPct(sampleMs = 1000): Promise<number> {
  const a = coreTimes()
  await sleep(sampleMs)
  const b = coreTimes()
  let busy = 0
  let total = 0
  for (let i = 0; i < b.length; i++) {
    busy += (b[i]?.busy ?? 0) - (a[i]?.busy ?? 0)
    total += (b[i]?.total ?? 0) - (a[i]?.total ?? 0)
  }
  return total === 0 ? 0 : (100 * busy) / total
}

/**
 * Waits (up to `maxWaitS`) until the machine is quiet: less than `thresholdPct` busy over a 1 s sample.
 * Other people's builds and tests on a shared machine would otherwise land in the measurement.
 * Returns the last busy share seen.
 */
export async function waitQuiet(
  maxWaitS: number,
  thresholdPct: number,
  say: (msg: string) => void,
): Promise<number> {
  const deadline = Date.now() + maxWaitS * 1000
  let busy = await machineBusyPct()
  let hasSaid = false
  while (busy >= thresholdPct && Date.now() < deadline) {
    if (!hasSaid) say(`machine ${busy.toFixed(0)}% busy: waiting up to ${maxWaitS}s for it to go quiet`)
    hasSaid = true
    busy = await machineBusyPct()
  }
  if (busy >= thresholdPct)
    say(`machine still ${busy.toFixed(0)}% busy: measuring anyway (see the "other" columns)`)
  return busy
}
