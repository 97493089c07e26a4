// Macro benchmark: litgate beside nginx, a bare node:http + undici proxy and direct-to-upstream, in one run
// under the same load. `npm run bench [-- --duration 10 --connections 50 --rate 3000 ...]`.
//
// Layout on a 2-core machine: the proxy under test (nginx, bare node or litgate) is pinned to core 0 and
// nothing else of ours runs there; this script, wrk, the fixed-rate generator and the upstream (an nginx
// returning a fixed 1 KiB body, identical for every target) share core 1. For each target:
//   1. warm-up: wrk for --warmup seconds (JIT, connection pools);
//   2. throughput: wrk -t1 -c<connections> -d<duration> --latency (closed loop): req/s, p50/p99;
//   3. fixed rate: open-loop generator at --rate req/s (bench/lib/fixed-rate.ts): p50/p99 at a load
//      every target carries.
// Around 2 and 3 the proxy's CPU time (utime+stime of all its threads, /proc/PID/stat) is read, and
// divided by the completed requests: CPU µs per request. /proc/stat tells how busy core 0 was with
// anything else (other people's builds), reported so a noisy run is visible.
// Writes .bench-out/proxy-<timestamp>.json. Not run in CI; needs nginx, wrk and taskset.
import { parseArgs } from 'node:util'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir, cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { spawnSync, type ChildProcess } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  Children,
  CLK_TCK,
  coreTimes,
  cpuTicks,
  freePort,
  loadAvg,
  pinSelf,
  requireTools,
  rssKiB,
  waitForPort,
  waitQuiet,
} from './lib/proc.ts'
import { BODY_BYTES, proxyConfig, startNginx, upstreamConfig } from './lib/nginx.ts'
import { runWrk, type WrkResult } from './lib/wrk.ts'
import { runFixedRate, type FixedRateResult } from './lib/fixed-rate.ts'
import { litgateConfig, REPO_ROOT, startLitgate } from './lib/litgate.ts'
import { startPaidTarget, type PaidSession, type PaidTarget } from './lib/paid-target.ts'

// nginx and litgate run with their access logs on (litgate: every default, i.e. everything on); the
// -nolog variants turn the access log off, to show what it costs. litgate-auth is litgate with its
// catch-all route paid and every request carrying an access token (bench/lib/paid-target.ts).
const TARGETS = [
  'direct',
  'nginx',
  'nginx-nolog',
  'node-bare',
  'litgate',
  'litgate-auth',
  'litgate-nolog',
] as const
const DEFAULT_TARGETS: readonly Target[] = [
  'direct',
  'nginx',
  'node-bare',
  'litgate',
  'litgate-auth',
  'litgate-nolog',
]
type Target = (typeof TARGETS)[number]
/** Targets that need the chain, the storage and a subscription (started once per run). */
const PAID_TARGETS: readonly Target[] = ['litgate-auth']

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    rate: { type: 'string' },
    'rate-duration': { type: 'string' },
    'rate-warmup': { type: 'string' },
    'rate-connections': { type: 'string' },
    targets: { type: 'string' },
    rounds: { type: 'string' },
    'litgate-config': { type: 'string' },
    'litgate-root': { type: 'string' },
    'quiet-wait': { type: 'string' },
    retries: { type: 'string' },
    profile: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (flags.help === true) {
  process.stdout
    .write(`usage: node bench/proxy.ts [options]   (each also as env BENCH_<NAME>, e.g. BENCH_RATE)
  --duration S          throughput run length (default 8)
  --warmup S            wrk warm-up before it (default 2)
  --connections N       wrk connections (default 50)
  --rate R              fixed-rate run: requests/s (default 3000)
  --rate-duration S     fixed-rate measured window (default 8)
  --rate-warmup S       fixed-rate lead-in, not measured (default 2)
  --rate-connections N  keep-alive connections of the fixed-rate generator (default 50)
  --targets LIST        comma-separated subset of ${TARGETS.join(',')}
                        (default ${DEFAULT_TARGETS.join(',')})
  --rounds N            repeat the whole set N times; medians are reported (default 1)
  --quiet-wait S        before each target, wait up to S s for the machine to be < 10% busy (default 60)
  --retries N           re-measure a target up to N times when something else used > 5% of core 0
                        during its measurement (default 2; the least disturbed attempt is kept)
  --litgate-config F    gateway config to use instead of the built-in one (listener on BENCH_LITGATE_PORT, default 18480;
                        not with litgate-auth, whose config is generated)
  --litgate-root DIR    run the gateway from another checkout (a snapshot of a commit, a patched copy)
  --profile             run litgate with --cpu-prof; the profile lands in .bench-out/profiles/
`)
  process.exit(0)
}

function num(name: keyof typeof flags, env: string, dflt: number, min = Number.MIN_VALUE): number {
  const raw = (flags[name] as string | undefined) ?? process.env[env]
  if (raw === undefined) return dflt
  const n = Number(raw)
  if (!Number.isFinite(n) || n < min) {
    process.stderr.write(`bench: invalid ${name}: ${raw}\n`)
    process.exit(2)
  }
  return n
}

const opts = {
  durationS: num('duration', 'BENCH_DURATION', 8),
  warmupS: num('warmup', 'BENCH_WARMUP', 2),
  connections: num('connections', 'BENCH_CONNECTIONS', 50),
  rate: num('rate', 'BENCH_RATE', 3000),
  rateDurationS: num('rate-duration', 'BENCH_RATE_DURATION', 8),
  rateWarmupS: num('rate-warmup', 'BENCH_RATE_WARMUP', 2),
  rateConnections: num('rate-connections', 'BENCH_RATE_CONNECTIONS', 50),
  rounds: num('rounds', 'BENCH_ROUNDS', 1),
  quietWaitS: num('quiet-wait', 'BENCH_QUIET_WAIT', 60, 0),
  retries: Math.floor(num('retries', 'BENCH_RETRIES', 2, 0)),
  targets: ((flags.targets ?? process.env['BENCH_TARGETS'])?.split(',') ?? [...DEFAULT_TARGETS]) as Target[],
  litgateConfigPath: flags['litgate-config'] ?? process.env['BENCH_LITGATE_CONFIG'],
  litgateRoot: flags['litgate-root'] ?? process.env['BENCH_LITGATE_ROOT'] ?? REPO_ROOT,
  isProfiling: flags.profile === true,
}
for (const t of opts.targets) {
  if (!TARGETS.includes(t)) {
    process.stderr.write(`bench: unknown target ${t} (known: ${TARGETS.join(', ')})\n`)
    process.exit(2)
  }
}
const hasPaidTarget = opts.targets.some((t) => PAID_TARGETS.includes(t))
if (hasPaidTarget && opts.litgateConfigPath !== undefined) {
  process.stderr.write(
    'bench: --litgate-config cannot be combined with litgate-auth (its config is generated)\n',
  )
  process.exit(2)
}
if (Number(process.versions.node.split('.')[0]) < 24) {
  process.stderr.write(
    'bench: needs Node >= 24: run it as `npm run bench` (puts node_modules/.bin first on PATH)\n',
  )
  process.exit(2)
}
if (cpus().length < 2) {
  process.stderr.write('bench: needs at least 2 CPUs (proxy on core 0, load + upstream on core 1)\n')
  process.exit(2)
}

const tools = requireTools([
  { name: 'nginx', apt: 'nginx' },
  { name: 'wrk', apt: 'wrk' },
  { name: 'taskset', apt: 'util-linux' },
])
const nginxBin = tools['nginx'] as string
const wrkBin = tools['wrk'] as string

// --- measurement helpers

interface Window {
  readonly proxyTicks: number
  readonly upstreamTicks: number
  readonly cores: { busy: number; total: number }[]
  readonly atMs: number
}

function snapshot(proxy: ChildProcess | undefined, upstream: ChildProcess): Window {
  return {
    proxyTicks: proxy === undefined ? 0 : cpuTicks(proxy.pid as number),
    upstreamTicks: cpuTicks(upstream.pid as number),
    cores: coreTimes(),
    atMs: performance.now(),
  }
}

interface Usage {
  /** Proxy CPU time per completed request, µs (NaN for direct). */
  readonly proxyCpuUsPerReq: number
  /** Proxy CPU time as a share of one core over the window, %. */
  readonly proxyCpuPct: number
  readonly upstreamCpuUsPerReq: number
  /** Core 0 busy with anything other than the proxy, % of the window. */
  readonly core0OtherPct: number
  /** Core 1 (load generator + upstream + everyone else) busy, %. */
  readonly core1BusyPct: number
}

function usage(a: Window, b: Window, requests: number, hasProxy: boolean): Usage {
  const proxy = b.proxyTicks - a.proxyTicks
  const c0 = {
    busy: (b.cores[0]?.busy ?? 0) - (a.cores[0]?.busy ?? 0),
    total: (b.cores[0]?.total ?? 1) - (a.cores[0]?.total ?? 0),
  }
  const c1 = {
    busy: (b.cores[1]?.busy ?? 0) - (a.cores[1]?.busy ?? 0),
    total: (b.cores[1]?.total ?? 1) - (a.cores[1]?.total ?? 0),
  }
  const seconds = (b.atMs - a.atMs) / 1000
  return {
    proxyCpuUsPerReq: hasProxy ? ((proxy / CLK_TCK) * 1e6) / requests : NaN,
    proxyCpuPct: hasProxy ? (100 * proxy) / CLK_TCK / seconds : NaN,
    upstreamCpuUsPerReq: (((b.upstreamTicks - a.upstreamTicks) / CLK_TCK) * 1e6) / requests,
    core0OtherPct: (100 * Math.max(0, c0.busy - proxy)) / c0.total,
    core1BusyPct: (100 * c1.busy) / c1.total,
  }
}

interface TargetResult {
  readonly target: Target
  readonly throughput: WrkResult & Usage
  readonly fixedRate: FixedRateResult & Usage
  /** Proxy RSS after both runs, KiB. */
  readonly rssKiB: number
  readonly loadAvgAfter: number
  /** Measurement attempts made (more than one when earlier ones were disturbed). */
  readonly attempts: number
}

/** How much of core 0 something other than the proxy used during the worse of the two windows, %. */
const disturbance = (r: TargetResult): number =>
  Math.max(r.throughput.core0OtherPct, r.fixedRate.core0OtherPct)
const NOISE_PCT = 5

// --- the run

const children = new Children()
pinSelf(1) // this process, wrk, the generator and the upstream: core 1
const work = mkdtempSync(join(tmpdir(), 'litgate-bench-'))
const outDir = join(REPO_ROOT, '.bench-out')
mkdirSync(outDir, { recursive: true })
process.once('exit', () => rmSync(work, { recursive: true, force: true }))

async function checkBody(port: number, headers: Record<string, string> = {}): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { headers })
  const body = await res.arrayBuffer()
  if (res.status !== 200 || body.byteLength !== BODY_BYTES) {
    throw new Error(
      `sanity check on :${port}: status ${res.status}, ${body.byteLength} bytes (want 200, ${BODY_BYTES})`,
    )
  }
}

/** A paid target's route must refuse a request without the token (402): else the check is not measured. */
async function checkPaid(port: number): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/`)
  await res.arrayBuffer()
  if (res.status !== 402)
    throw new Error(`sanity check on :${port}: ${res.status} without a token (want 402)`)
}

/** The paid targets' chain, storage and buyer (started in main when one of them is measured). */
let paid: PaidTarget | undefined

interface StartedProxy {
  readonly child: ChildProcess | undefined
  readonly port: number
  /** Paid targets: the buyer's access token, sent on every request. */
  readonly session?: PaidSession
}

async function startProxy(target: Target, upstreamPort: number, round: number): Promise<StartedProxy> {
  const dir = join(work, `${target}-${round}`)
  mkdirSync(dir, { recursive: true })
  switch (target) {
    case 'direct':
      return { child: undefined, port: upstreamPort }
    case 'nginx':
    case 'nginx-nolog': {
      const port = await freePort()
      const conf = proxyConfig(dir, port, upstreamPort, target === 'nginx')
      const child = await startNginx(children, nginxBin, dir, conf, port, 0)
      return { child, port }
    }
    case 'node-bare': {
      const port = await freePort()
      const child = children.spawn(
        'taskset',
        [
          '-c',
          '0',
          process.execPath,
          join(REPO_ROOT, 'bench/lib/bare-proxy.ts'),
          String(port),
          String(upstreamPort),
        ],
        { stderr: 'ignore' },
      )
      await waitForPort(port, 10_000, child)
      return { child, port }
    }
    case 'litgate':
    case 'litgate-nolog': {
      let port: number
      let configPath: string | undefined
      if (opts.litgateConfigPath !== undefined) {
        // A custom config: its listener port is read from BENCH_LITGATE_PORT (default 18480).
        port = Number(process.env['BENCH_LITGATE_PORT'] ?? 18480)
        configPath = opts.litgateConfigPath
      } else {
        port = await freePort()
      }
      const profileDir = join(outDir, 'profiles')
      const started = await startLitgate({
        children,
        dir,
        port,
        ...(configPath === undefined
          ? { config: litgateConfig(port, upstreamPort, { hasAccessLog: target === 'litgate' }) }
          : { configPath }),
        pinCore: 0,
        root: opts.litgateRoot,
        nodeArgs: opts.isProfiling ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
      })
      return { child: started.child, port }
    }
    case 'litgate-auth': {
      if (paid === undefined) throw new Error('invariant: the paid target was not set up')
      const port = await freePort()
      const started = await startLitgate({
        children,
        dir,
        port,
        config: paid.config(litgateConfig(port, upstreamPort)),
        env: paid.env,
        pinCore: 0,
        root: opts.litgateRoot,
        nodeArgs: opts.isProfiling ? ['--cpu-prof', `--cpu-prof-dir=${join(outDir, 'profiles')}`] : [],
      })
      try {
        return { child: started.child, port, session: await paid.signIn(`http://127.0.0.1:${port}`) }
      } catch (err) {
        await children.stop(started.child)
        throw err
      }
    }
  }
}

/** A measurement with failed requests in it: never reported. */
class InvalidMeasurement extends Error {
  /** Some answers were refusals (non-2xx: a 401/402 of an expired or refused token, a 5xx). */
  readonly hasRefusals: boolean
  constructor(message: string, hasRefusals: boolean) {
    super(message)
    this.hasRefusals = hasRefusals
  }
}

/**
 * A figure with errors in it is not reported. `refused`: non-2xx answers (stop the run at once);
 * `lost`: requests that got no answer (socket errors, timeouts: an overloaded target, re-measured like a
 * disturbed one while --retries allow, then the run stops).
 */
function requireClean(target: Target, phase: string, refused: number, lost: number, detail: string): void {
  if (refused === 0 && lost === 0) return
  throw new InvalidMeasurement(
    `${target}: ${refused + lost} failed requests in the ${phase} (${detail}): round invalid, no figures`,
    refused > 0,
  )
}

/** Measures a target, re-measuring (up to --retries times) when another process disturbed core 0. */
async function measureQuietly(
  target: Target,
  upstream: ChildProcess,
  upstreamPort: number,
  round: number,
): Promise<TargetResult> {
  let best: TargetResult | undefined
  for (let attempt = 1; attempt <= opts.retries + 1; attempt++) {
    await waitQuiet(opts.quietWaitS, 10, (msg) => process.stdout.write(`  (${msg})\n`))
    let measured: Omit<TargetResult, 'attempts'>
    try {
      measured = await measure(target, upstream, upstreamPort, round)
    } catch (err) {
      const canRetry = err instanceof InvalidMeasurement && !err.hasRefusals && attempt <= opts.retries
      if (!canRetry) throw err
      process.stdout.write(
        `\n  (${err.message.replace(/: round invalid.*$/, '')}: measuring ${target} again)\n`,
      )
      continue
    }
    const r = { ...measured, attempts: attempt }
    if (best === undefined || disturbance(r) < disturbance(best)) best = r
    if (disturbance(r) <= NOISE_PCT) break
    if (attempt <= opts.retries)
      process.stdout.write(
        `  (core 0 was ${disturbance(r).toFixed(0)}% busy with other work: measuring ${target} again)\n`,
      )
  }
  if (best === undefined) throw new Error(`invariant: ${target} measured without a result`)
  return best
}

async function measure(
  target: Target,
  upstream: ChildProcess,
  upstreamPort: number,
  round: number,
): Promise<Omit<TargetResult, 'attempts'>> {
  const { child, port, session } = await startProxy(target, upstreamPort, round)
  // Before each phase: a token that would expire during it is refreshed first (its first use is a miss).
  const headersFor = async (seconds: number): Promise<Record<string, string>> => {
    if (session === undefined) return {}
    if (await session.ensureFor(seconds)) process.stdout.write(' (token refreshed)')
    return session.headers()
  }
  const wrkErrors = (w: WrkResult): [number, number, string] => [
    w.non2xx,
    w.socketErrors,
    `${w.non2xx} non-2xx, ${w.socketErrors} socket errors or timeouts`,
  ]
  try {
    try {
      await checkBody(port, await headersFor(1))
      if (session !== undefined) await checkPaid(port)
    } catch (err) {
      const log = join(work, `${target}-${round}`, target.startsWith('litgate') ? 'litgate.log' : 'error.log')
      process.stderr.write(`\n${target} log (${log}):\n${readFileSync(log, 'utf8').slice(-3000)}\n`)
      throw err
    }
    const url = `http://127.0.0.1:${port}/`
    const warmHeaders = await headersFor(opts.warmupS)
    process.stdout.write(`  ${target}: warm-up ${opts.warmupS}s`)
    const warm = await runWrk(wrkBin, url, opts.connections, opts.warmupS, warmHeaders)
    requireClean(target, 'warm-up', ...wrkErrors(warm))

    const throughputHeaders = await headersFor(opts.durationS)
    process.stdout.write(`, throughput ${opts.durationS}s`)
    await sleep(300)
    const t0 = snapshot(child, upstream)
    const wrk = await runWrk(wrkBin, url, opts.connections, opts.durationS, throughputHeaders)
    const t1 = snapshot(child, upstream)
    requireClean(target, 'throughput run', ...wrkErrors(wrk))
    const throughput = { ...wrk, ...usage(t0, t1, wrk.requests, child !== undefined) }

    // The generator waits up to 5 s for the tail after the schedule ends.
    const fixedHeaders = await headersFor(opts.rateWarmupS + opts.rateDurationS + 5)
    process.stdout.write(`, fixed rate ${opts.rate}/s ${opts.rateWarmupS}+${opts.rateDurationS}s`)
    await sleep(300)
    // The CPU window of the fixed-rate run covers its measured part only.
    const fixedPromise = runFixedRate({
      port,
      rate: opts.rate,
      warmupS: opts.rateWarmupS,
      durationS: opts.rateDurationS,
      connections: opts.rateConnections,
      headers: fixedHeaders,
    })
    await sleep(opts.rateWarmupS * 1000 + 20)
    const f0 = snapshot(child, upstream)
    await sleep(opts.rateDurationS * 1000)
    const f1 = snapshot(child, upstream)
    const fixed = await fixedPromise
    const refused = Object.values(fixed.refusedByStatus).reduce((a, b) => a + b, 0)
    requireClean(
      target,
      'fixed-rate run',
      refused,
      Math.max(0, fixed.failed - refused),
      `${fixed.failed} of the measured failed; answers other than 200 by status: ${JSON.stringify(fixed.refusedByStatus)}; the rest unanswered 5 s after the schedule's end`,
    )
    const fixedRate = {
      ...fixed,
      ...usage(f0, f1, opts.rate * ((f1.atMs - f0.atMs) / 1000), child !== undefined),
    }
    const rss = child === undefined ? NaN : rssKiB(child.pid as number)
    process.stdout.write(' done\n')
    return { target, throughput, fixedRate, rssKiB: rss, loadAvgAfter: loadAvg().load1 }
  } finally {
    if (child !== undefined) await children.stop(child)
  }
}

// --- reporting

function median(xs: readonly number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

/** Field-wise median of same-shaped results (numbers only; other fields from the first). */
function medianOf<T>(items: readonly T[]): T {
  const first = items[0] as T
  if (typeof first === 'number') return median(items as readonly number[]) as T
  if (first === null || typeof first !== 'object') return first
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(first))
    out[key] = medianOf(items.map((i) => (i as Record<string, unknown>)[key]))
  return out as T
}

const us = (x: number): string =>
  Number.isNaN(x)
    ? '—'
    : Math.abs(x) >= 10_000
      ? `${(x / 1000).toFixed(1)} ms`
      : Math.abs(x) >= 1000
        ? `${(x / 1000).toFixed(2)} ms`
        : `${x.toFixed(0)} µs`
const f1 = (x: number): string => (Number.isNaN(x) ? '—' : x.toFixed(1))
const int = (x: number): string => (Number.isNaN(x) ? '—' : Math.round(x).toLocaleString('en-US'))
const ratio = (a: number, b: number): string =>
  Number.isNaN(a) || Number.isNaN(b) || b === 0 ? '—' : `${(a / b).toFixed(2)}×`

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const lines = [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`)
  return lines.join('\n')
}

/**
 * The edge token check's cost: litgate-auth (paid catch-all, a Bearer token on every request) minus litgate
 * (the same config without the paid layer), from the same run. The differences are taken per round and their
 * median reported, beside the medians of both; issue 12: ≤ 15 µs CPU and < 1 ms p99 per request.
 */
function tokenCheckReport(
  results: readonly TargetResult[],
  rounds: readonly (readonly TargetResult[])[],
): string | undefined {
  const on = results.find((r) => r.target === 'litgate-auth')
  const off = results.find((r) => r.target === 'litgate')
  if (on === undefined || off === undefined) return undefined
  const pairs = rounds.map((r) => ({
    on: r.find((x) => x.target === 'litgate-auth') as TargetResult,
    off: r.find((x) => x.target === 'litgate') as TargetResult,
  }))
  const diffs = (get: (r: TargetResult) => number): number[] => pairs.map((p) => get(p.on) - get(p.off))
  const rows: string[][] = []
  const row = (name: string, get: (r: TargetResult) => number, fmt: (x: number) => string): void => {
    const d = diffs(get)
    rows.push([
      name,
      fmt(get(off)),
      fmt(get(on)),
      ratio(get(on), get(off)),
      fmt(median(d)),
      d.map(fmt).join(' / '),
    ])
  }
  const cpuT = (r: TargetResult): number => r.throughput.proxyCpuUsPerReq
  const cpuF = (r: TargetResult): number => r.fixedRate.proxyCpuUsPerReq
  const p50F = (r: TargetResult): number => r.fixedRate.fromTick.p50Us
  const p99F = (r: TargetResult): number => r.fixedRate.fromTick.p99Us
  row('CPU µs/req (throughput run)', cpuT, f1)
  row(`CPU µs/req (at ${opts.rate}/s)`, cpuF, f1)
  row('throughput req/s', (r) => r.throughput.rps, int)
  row(`p50 at ${opts.rate}/s`, p50F, us)
  row(`p99 at ${opts.rate}/s`, p99F, us)
  const cpu = Math.max(median(diffs(cpuT)), median(diffs(cpuF)))
  const p99 = median(diffs(p99F))
  return [
    '\n### Token check (litgate-auth − litgate, same run)\n',
    table(['metric', 'litgate (auth off)', 'litgate-auth', 'ratio', 'difference', 'per round'], rows),
    `\nTargets (issue 12, token check on a cache hit): ≤ 15 µs CPU/request: ${f1(cpu)} µs (the larger of the two runs) → ${cpu <= 15 ? 'MET' : 'MISSED'}; ` +
      `p99 added at ${opts.rate}/s < 1 ms: ${us(p99)} → ${p99 >= 1000 ? 'MISSED' : p99 < 0 ? 'MET (a negative difference: within the noise of this run)' : 'MET'}`,
  ].join('\n')
}

function report(results: readonly TargetResult[], rounds: readonly (readonly TargetResult[])[]): string {
  const by = new Map(results.map((r) => [r.target, r]))
  const out: string[] = []
  out.push(`### Throughput (wrk -t1 -c${opts.connections}, ${opts.durationS} s, closed loop)\n`)
  out.push(
    table(
      [
        'target',
        'req/s',
        'proxy CPU µs/req',
        'proxy CPU %',
        'p50',
        'p90',
        'p99',
        'upstream µs/req',
        'core 0 other %',
        'core 1 busy %',
        'errors',
      ],
      results.map((r) => {
        const t = r.throughput
        return [
          r.target,
          int(t.rps),
          f1(t.proxyCpuUsPerReq),
          f1(t.proxyCpuPct),
          us(t.p50Us),
          us(t.p90Us),
          us(t.p99Us),
          f1(t.upstreamCpuUsPerReq),
          f1(t.core0OtherPct),
          f1(t.core1BusyPct),
          String(t.non2xx + t.socketErrors),
        ]
      }),
    ),
  )
  out.push(
    `\n### Fixed rate (${opts.rate} req/s open loop, ${opts.rateConnections} keep-alive connections, ${opts.rateDurationS} s measured)\n`,
  )
  out.push(
    table(
      [
        'target',
        'achieved req/s',
        'proxy CPU µs/req',
        'proxy CPU %',
        'p50',
        'p90',
        'p99',
        'p99.9',
        'max',
        'p99 from due time',
        'queued %',
        'failed',
        'core 0 other %',
      ],
      results.map((r) => {
        const f = r.fixedRate
        return [
          r.target,
          int(f.achievedRps),
          f1(f.proxyCpuUsPerReq),
          f1(f.proxyCpuPct),
          us(f.fromTick.p50Us),
          us(f.fromTick.p90Us),
          us(f.fromTick.p99Us),
          us(f.fromTick.p999Us),
          us(f.fromTick.maxUs),
          us(f.fromDue.p99Us),
          f1(100 * f.queuedShare),
          String(f.failed),
          f1(f.core0OtherPct),
        ]
      }),
    ),
  )
  const ratioTable = (subject: Target, peerList: readonly Target[]): void => {
    const lit = by.get(subject)
    if (lit === undefined) return
    const peers = peerList.filter((p) => by.has(p))
    if (peers.length === 0) return
    out.push(`\n### Ratios (${subject} ÷ peer)\n`)
    const rows: string[][] = []
    const metric = (name: string, get: (r: TargetResult) => number): void => {
      rows.push([name, ...peers.map((p) => ratio(get(lit), get(by.get(p) as TargetResult)))])
    }
    metric('throughput req/s', (r) => r.throughput.rps)
    metric('CPU µs/req (throughput run)', (r) => r.throughput.proxyCpuUsPerReq)
    metric('CPU µs/req (fixed rate)', (r) => r.fixedRate.proxyCpuUsPerReq)
    metric('p50 (throughput run)', (r) => r.throughput.p50Us)
    metric('p99 (throughput run)', (r) => r.throughput.p99Us)
    metric(`p50 at ${opts.rate}/s`, (r) => r.fixedRate.fromTick.p50Us)
    metric(`p99 at ${opts.rate}/s`, (r) => r.fixedRate.fromTick.p99Us)
    out.push(table(['metric', ...peers.map((p) => `÷ ${p}`)], rows))
    const ngx = by.get('nginx')
    if (ngx !== undefined) {
      const cpu = lit.throughput.proxyCpuUsPerReq / ngx.throughput.proxyCpuUsPerReq
      const p99 = lit.fixedRate.fromTick.p99Us / ngx.fixedRate.fromTick.p99Us
      out.push(
        `\nTargets (${subject}): CPU/request ≤ 3.5× nginx: ${cpu.toFixed(2)}× → ${cpu <= 3.5 ? 'MET' : 'MISSED'}; ` +
          `p99 at ${opts.rate}/s ≤ 2× nginx: ${p99.toFixed(2)}× → ${p99 <= 2 ? 'MET' : 'MISSED'}`,
      )
    }
  }
  ratioTable('litgate', ['nginx', 'nginx-nolog', 'node-bare', 'litgate-nolog', 'direct'])
  ratioTable('litgate-auth', ['nginx', 'nginx-nolog', 'node-bare', 'litgate', 'direct'])
  const auth = tokenCheckReport(results, rounds)
  if (auth !== undefined) out.push(auth)
  return out.join('\n')
}

function machine(): Record<string, string> {
  // nginx -v and wrk -v print to stderr: take both streams.
  const sh = (cmd: string, args: string[]): string => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' })
    return `${r.stdout}${r.stderr}`.trim()
  }
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  return {
    cpus: String(cpus().length),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    cpuMHz: /^cpu MHz\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    memoryGiB: (totalmem() / 2 ** 30).toFixed(1),
    kernel: sh('uname', ['-r']),
    node: process.version,
    nginx: sh(nginxBin, ['-v']).replace(/^nginx version: /, ''),
    wrk: sh(wrkBin, ['-v']).split('\n')[0] ?? '',
    litgateRoot: opts.litgateRoot,
    litgateCommit: sh('git', ['-C', opts.litgateRoot, 'rev-parse', '--short', 'HEAD']),
    // Uncommitted changes under src/ at run time (other people's work in progress lands in the numbers).
    litgateDirtySrcFiles: String(
      sh('git', ['-C', opts.litgateRoot, 'status', '--porcelain', 'src'])
        .split('\n')
        .filter((l) => l !== '').length,
    ),
  }
}

async function main(): Promise<void> {
  const env = machine()
  process.stdout.write(
    `litgate proxy benchmark — ${env['cpus']}× ${env['cpuModel']}, ${env['memoryGiB']} GiB, Node ${env['node']}, ${env['nginx']}\n`,
  )
  process.stdout.write(
    `litgate from ${env['litgateRoot']} at ${env['litgateCommit']} (${env['litgateDirtySrcFiles']} uncommitted files under src/)\n`,
  )
  const before = loadAvg()
  process.stdout.write(`load average before: ${before.load1} (1 min), ${before.load5} (5 min)\n`)
  const upstreamPort = await freePort()
  const upstreamDir = join(work, 'upstream')
  const upstream = await startNginx(
    children,
    nginxBin,
    upstreamDir,
    upstreamConfig(upstreamDir, upstreamPort),
    upstreamPort,
    1,
  )
  await checkBody(upstreamPort)
  const rounds: TargetResult[][] = []
  try {
    if (hasPaidTarget) {
      // Once per run: anvil (core 1, like this process), contracts, plan, storage. The subscription is
      // bought on the first start of a paid target; each start then signs in for a fresh token.
      paid = await startPaidTarget({
        dir: join(work, 'paid'),
        cacheDir: join(outDir, 'cache'),
        avoidCore: 0,
        say: (line) => process.stdout.write(`${line}\n`),
      })
    }
    for (let round = 0; round < opts.rounds; round++) {
      if (opts.rounds > 1) process.stdout.write(`round ${round + 1}/${opts.rounds}\n`)
      const results: TargetResult[] = []
      for (const target of opts.targets)
        results.push(await measureQuietly(target, upstream, upstreamPort, round))
      rounds.push(results)
    }
  } finally {
    await children.stop(upstream)
    await paid?.stop()
  }
  const final = opts.targets.map((t, i) => medianOf(rounds.map((r) => r[i] as TargetResult)))
  const after = loadAvg()
  const text = report(final, rounds)
  process.stdout.write(
    `\n${opts.rounds > 1 ? `(medians of ${opts.rounds} rounds)\n` : ''}${text}\n\nload average after: ${after.load1} (1 min)\n`,
  )
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const file = join(outDir, `proxy-${stamp}.json`)
  writeFileSync(
    file,
    JSON.stringify(
      {
        at: new Date().toISOString(),
        machine: env,
        options: opts,
        ...(paid === undefined ? {} : { paidSetupMs: paid.timings }),
        loadBefore: before,
        loadAfter: after,
        results: final,
        rounds,
      },
      null,
      2,
    ),
  )
  process.stdout.write(`results: ${file}\n`)
}

try {
  await main()
} catch (err) {
  process.stderr.write(`\nbench: ${(err as Error).message}\n`)
  process.exitCode = 1
}
