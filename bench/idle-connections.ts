// Idle keep-alive connections and memory: does the gateway's RSS come back down after 10,000 idle
// keep-alive connections come and go? `npm run bench:idle [-- --connections 10000 --cycles 2]`.
//
// The gateway runs as its own process (pinned to core 0) in front of a small node:http upstream in this
// process. Steps: start → warm up (2,000 requests, then close) → baseline RSS (median of 5 samples) →
// per cycle: open N connections, each sending one request and reading its 200 so that it is a real
// keep-alive HTTP connection, leave them idle, sample RSS (peak) → close them all → sample RSS once a
// second for --settle seconds. RSS is /proc/PID/status VmRSS. Writes .bench-out/idle-<timestamp>.json.
import { parseArgs } from 'node:util'
import { createServer } from 'node:http'
import { connect, type Socket } from 'node:net'
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ChildProcess } from 'node:child_process'
import { Children, freePort, loadAvg, pinSelf, requireTools, rssKiB, waitForPort } from './lib/proc.ts'
import { litgateConfig, REPO_ROOT, startLitgate } from './lib/litgate.ts'

const { values: flags } = parseArgs({
  options: {
    connections: { type: 'string', default: process.env['BENCH_IDLE_CONNECTIONS'] ?? '10000' },
    cycles: { type: 'string', default: process.env['BENCH_IDLE_CYCLES'] ?? '2' },
    settle: { type: 'string', default: process.env['BENCH_IDLE_SETTLE'] ?? '20' },
    // node-bare: the same test against bench/lib/bare-proxy.ts, to tell Node's own behaviour from litgate's.
    target: { type: 'string', default: process.env['BENCH_IDLE_TARGET'] ?? 'litgate' },
  },
})
const N = Number(flags.connections)
const CYCLES = Number(flags.cycles)
const SETTLE_S = Number(flags.settle)
const TARGET = flags.target
if (
  ![N, CYCLES, SETTLE_S].every((x) => Number.isInteger(x) && x > 0) ||
  (TARGET !== 'litgate' && TARGET !== 'node-bare')
) {
  process.stderr.write(
    'usage: node bench/idle-connections.ts [--connections N] [--cycles N] [--settle S] [--target litgate|node-bare]\n',
  )
  process.exit(2)
}
requireTools([{ name: 'taskset', apt: 'util-linux' }])

const BODY = Buffer.alloc(1024, 'x')
const CRLFCRLF = Buffer.from('\r\n\r\n')

/** Opens a connection, sends one GET, resolves with the socket once the whole 200 response is read. */
function openKeepAlive(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' })
    let buf = Buffer.alloc(0)
    s.setTimeout(30_000, () => s.destroy(new Error('timeout')))
    s.on('error', reject) // after resolve this is a no-op: a reset of an idle connection is not a failure
    s.once('connect', () => s.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`))
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk])
      const end = buf.indexOf(CRLFCRLF)
      if (end < 0) return
      const head = buf.toString('latin1', 0, end)
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head)
      if (!head.startsWith('HTTP/1.1 200') || m === null) {
        s.destroy()
        reject(new Error(`unexpected response: ${head.split('\r\n')[0]}`))
        return
      }
      if (buf.length < end + 4 + Number(m[1])) return
      s.off('data', onData)
      s.setTimeout(0)
      resolve(s)
    }
    s.on('data', onData)
  })
}

/** Opens `n` idle keep-alive connections, `parallel` handshakes at a time. */
async function openMany(port: number, n: number, parallel = 256): Promise<Socket[]> {
  const sockets: Socket[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++
      sockets.push(await openKeepAlive(port))
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker))
  return sockets
}

async function closeAll(sockets: readonly Socket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.once('close', () => resolve())
          s.end()
          setTimeout(() => s.destroy(), 5000).unref()
        }),
    ),
  )
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}
/** Open file descriptors of a process (sockets included). */
const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length
const mib = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`

async function samples(pid: number, count: number, everyMs: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < count; i++) {
    await sleep(everyMs)
    out.push(rssKiB(pid))
  }
  return out
}

async function main(): Promise<void> {
  const children = new Children()
  pinSelf(1)
  const work = mkdtempSync(join(tmpdir(), 'litgate-idle-'))
  process.once('exit', () => rmSync(work, { recursive: true, force: true }))
  const upstream = createServer({ keepAliveTimeout: 300_000 }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY.length })
    res.end(BODY)
  })
  const upstreamPort = await freePort()
  await new Promise<void>((resolve) => upstream.listen(upstreamPort, '127.0.0.1', resolve))
  const port = await freePort()
  const config = litgateConfig(port, upstreamPort, { server: { maxConnections: 20_000 } })
  // BENCH_IDLE_NODE_ARGS: extra node flags for the gateway (diagnostics, e.g. --max-semi-space-size=…).
  const nodeArgs = (process.env['BENCH_IDLE_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '')
  let child: ChildProcess
  if (TARGET === 'litgate') {
    // BENCH_LITGATE_ROOT: run the gateway from another checkout (a snapshot of a commit, a patched copy).
    const root = process.env['BENCH_LITGATE_ROOT'] ?? REPO_ROOT
    child = (await startLitgate({ children, dir: work, port, config, pinCore: 0, nodeArgs, root })).child
  } else {
    const script = join(REPO_ROOT, 'bench/lib/bare-proxy.ts')
    child = children.spawn('taskset', [
      '-c',
      '0',
      process.execPath,
      ...nodeArgs,
      script,
      String(port),
      String(upstreamPort),
    ])
    await waitForPort(port, 10_000, child)
  }
  const pid = child.pid as number
  const load = loadAvg()
  process.stdout.write(
    `idle keep-alive connections vs ${TARGET} RSS (pid ${pid}); load average ${load.load1}\n`,
  )
  try {
    await sleep(1000)
    const startup = rssKiB(pid)
    // Warm up: JIT, the upstream pool, server internals. Close those connections too.
    const warm = await openMany(port, 50, 50)
    for (let i = 0; i < 40; i++) {
      await Promise.all(warm.map(async () => (await openKeepAlive(port)).destroy()))
    }
    await closeAll(warm)
    const baselineSamples = await samples(pid, 5, 1000)
    const baseline = median(baselineSamples)
    process.stdout.write(
      `startup ${mib(startup)}, warm baseline ${mib(baseline)} (median of ${baselineSamples.map(mib).join(', ')})\n`,
    )

    const baselineFds = fdCount(pid)
    const cycles: {
      peakKiB: number
      idleKiB: number
      afterKiB: number
      afterSeries: number[]
      openMs: number
      idleFds: number
      afterFds: number
    }[] = []
    for (let c = 1; c <= CYCLES; c++) {
      const t0 = performance.now()
      const sockets = await openMany(port, N)
      const openMs = performance.now() - t0
      const idle = await samples(pid, 3, 1000)
      const peak = Math.max(...idle)
      const idleFds = fdCount(pid)
      await closeAll(sockets)
      const series = await samples(pid, SETTLE_S, 1000)
      const after = median(series.slice(-5))
      const afterFds = fdCount(pid)
      cycles.push({
        peakKiB: peak,
        idleKiB: median(idle),
        afterKiB: after,
        afterSeries: series,
        openMs,
        idleFds,
        afterFds,
      })
      process.stdout.write(
        `cycle ${c}: ${N} connections open in ${(openMs / 1000).toFixed(1)} s; idle RSS ${mib(peak)} ` +
          `(+${(((peak - baseline) * 1024) / N / 1024).toFixed(1)} KiB per connection); ` +
          `${SETTLE_S} s after closing ${mib(after)} = ${(after / baseline).toFixed(3)}× baseline; ` +
          `gateway fds ${baselineFds} → ${idleFds} → ${afterFds}\n`,
      )
    }
    const last = cycles[cycles.length - 1]
    const ratio = last === undefined ? NaN : last.afterKiB / baseline
    process.stdout.write(
      `\n| RSS | MiB |\n| --- | --- |\n| after start-up | ${(startup / 1024).toFixed(1)} |\n| warm baseline | ${(baseline / 1024).toFixed(1)} |\n` +
        cycles
          .map(
            (cy, i) =>
              `| cycle ${i + 1}: ${N} idle connections (peak) | ${(cy.peakKiB / 1024).toFixed(1)} |\n| cycle ${i + 1}: ${SETTLE_S} s after closing | ${(cy.afterKiB / 1024).toFixed(1)} |\n`,
          )
          .join('') +
        `\nafter ÷ baseline = ${ratio.toFixed(3)} → ${Math.abs(ratio - 1) <= 0.1 ? 'flat (within 10%)' : 'NOT within 10%'}\n`,
    )
    const outDir = join(REPO_ROOT, '.bench-out')
    mkdirSync(outDir, { recursive: true })
    const file = join(outDir, `idle-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
    writeFileSync(
      file,
      JSON.stringify(
        {
          at: new Date().toISOString(),
          target: TARGET,
          node: process.version,
          connections: N,
          load,
          startupKiB: startup,
          baselineKiB: baseline,
          baselineSamples,
          cycles,
          ratio,
        },
        null,
        2,
      ),
    )
    process.stdout.write(`results: ${file}\n`)
  } finally {
    await children.stop(child)
    upstream.closeAllConnections()
    upstream.close()
  }
}

await main()
