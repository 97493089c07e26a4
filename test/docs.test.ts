/**
 * docs/ and README.md against the running gateway and the code: every metric (with its labels), admin
 * endpoint, error code, environment variable, config key (with its value), repository file and link a
 * page names must exist, every example config must be valid, and every registered metric, admin
 * endpoint and access-log field must be documented somewhere. The notation is in test/helpers/doc-mentions.ts; a
 * failure names the page and line ("docs/x.md:12 names metric litgate_foo, which is not registered").
 *
 * The facts come from a real `litgate run` (listener, backend and admin listener on loopback port 0,
 * the chain client switched on against a dead loopback port so its metrics register too): the metric
 * names are what its /metrics serves, the admin endpoints what its admin router answers. Error codes
 * come from src/errors/codes.ts (the errors.md table itself is checked row by row, status, source and
 * retryability included, by src/errors/codes.test.ts), config keys from the zod schema.
 */
import { generateKeyPairSync } from 'node:crypto'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { Registry } from 'prom-client'
import { parse as parseYaml } from 'yaml'
import { ERROR_CODES } from '../src/errors/index.ts'
import { parseConfig, formatIssue } from '../src/config/index.ts'
import { configJsonSchema } from '../src/config/docs.ts'
import { GatewayMetrics } from '../src/observability/index.ts'
import { CHAIN_ENV_VARIABLES, createChainMetrics } from '../src/blockchain/index.ts'
import { registerPaidAccessGauge } from '../src/payments/index.ts'
import { createSubscriptionMetrics } from '../src/subscriptions/index.ts'
import { createLimiterMetrics, MemoryLimiterStore } from '../src/limits/index.ts'
import { createTokenMetrics } from '../src/tokens/index.ts'
import { createQosMetrics, MemoryQuotaStore } from '../src/qos/index.ts'
import { deadPort, eventually, startUpstream, type TestUpstream } from './helpers/upstream.ts'
import {
  metricBaseName,
  scanDoc,
  schemaPaths,
  withoutArraySteps,
  type DocMentions,
} from './helpers/doc-mentions.ts'

const ROOT = resolve(import.meta.dirname, '..')

// ---------------------------------------------------------------------------------------------------
// The pages

interface Doc {
  /** Path relative to the repository root, as messages print it. */
  readonly file: string
  readonly text: string
  readonly mentions: DocMentions
}

function markdownUnder(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...markdownUnder(path))
    else if (name.endsWith('.md')) out.push(path)
  }
  return out
}

function loadDoc(file: string, text: string): Doc {
  return { file, text, mentions: scanDoc(text) }
}

const DOCS: readonly Doc[] = [join(ROOT, 'README.md'), ...markdownUnder(join(ROOT, 'docs'))].map((path) =>
  loadDoc(relative(ROOT, path), readFileSync(path, 'utf8')),
)

// ---------------------------------------------------------------------------------------------------
// What the code knows

interface Facts {
  /** Metric families the running gateway serves on /metrics, with their type. */
  readonly metrics: ReadonlyMap<string, string>
  /** Label names per family: declared in code (prom-client) or seen on a served series. */
  readonly labels: ReadonlyMap<string, ReadonlySet<string>>
  /** `METHOD /path` the admin router serves (its own list, each probed live). */
  readonly endpoints: ReadonlySet<string>
  /** Status of each documented admin request, probed live (`GET /readyz?verbose` → 200). */
  readonly probe: (method: string, target: string) => Promise<number>
  readonly errorCodes: ReadonlySet<string>
  /** Fields of the access-log lines the running gateway wrote for the requests above. */
  readonly accessLogFields: ReadonlySet<string>
  readonly envNames: ReadonlySet<string>
  /** Config paths from the schema, `[]` removed (`routes.retry.maxRetries`), with their schema node. */
  readonly configPaths: ReadonlyMap<
    string,
    { readonly spelling: string; readonly node: Record<string, unknown> }
  >
  readonly configTopKeys: ReadonlySet<string>
  /** Keys whose value is an object or a list of objects, at any depth (`retry`, `pool`, `tls`, …). */
  readonly configSections: ReadonlySet<string>
}

/**
 * Names the pages may use that are neither ours nor error codes: variables of other programs the
 * benchmark notes mention (glibc malloc tuning, the dynamic loader, POSIX sysconf).
 */
const FOREIGN_UPPER_NAMES = new Set([
  'MALLOC_ARENA_MAX',
  'MALLOC_TRIM_THRESHOLD_',
  'LD_PRELOAD',
  'CLK_TCK',
  // TLS 1.3 cipher suite names (RFC 8446 §B.4), and the client-certificate log value for "none presented"
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'NO_CERTIFICATE',
  // HTTP/2 (RFC 9113 §6.5.2) setting names
  'SETTINGS_MAX_HEADER_LIST_SIZE',
  'SETTINGS_MAX_CONCURRENT_STREAMS',
  // HTTP/2 frame types and error codes (RFC 9113 §6, §7)
  'RST_STREAM',
  'NO_ERROR',
  'REFUSED_STREAM',
  'PROTOCOL_ERROR',
  'GOAWAY',
  'FRAME_SIZE_ERROR',
  'ENHANCE_YOUR_CALM',
  'REFUSED_STREAM',
  'FLOW_CONTROL_ERROR',
  'STREAM_CLOSED',
  'WINDOW_UPDATE',
  // nghttp2's library error code Node reports for an unsolicited PING ACK (security.md, strict input)
  'NGHTTP2_ERR_PROTO',
  // Linux capabilities
  'CAP_NET_BIND_SERVICE',
])

function solidityFiles(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...solidityFiles(path))
    else if (name.endsWith('.sol')) out.push(path)
  }
  return out
}

/** Environment variables the code reads or CI sets, and Solidity constants, found in the sources (not in tests). */
function environmentNames(): Set<string> {
  const names = new Set<string>(CHAIN_ENV_VARIABLES)
  const read = /\benv(?:\[['"]|\.)([A-Z][A-Z0-9_]*)/g
  const files = [
    ...sourceFiles(join(ROOT, 'src')),
    ...sourceFiles(join(ROOT, 'bin')),
    ...sourceFiles(join(ROOT, 'scripts')),
    ...sourceFiles(join(ROOT, 'bench')),
  ]
  for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(read)) names.add(m[1] as string)
  for (const m of readFileSync(join(ROOT, '.ci/run'), 'utf8').matchAll(/^\s*export ([A-Z][A-Z0-9_]*)=/gm))
    names.add(m[1] as string)
  for (const m of readFileSync(join(ROOT, '.env.example'), 'utf8').matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm))
    names.add(m[1] as string)
  // Solidity constants (role ids such as UPGRADER_ROLE) declared in the contracts.
  for (const f of solidityFiles(join(ROOT, 'contracts/src')))
    for (const m of readFileSync(f, 'utf8').matchAll(/\bconstant\s+([A-Z][A-Z0-9_]*)\s*=/g))
      names.add(m[1] as string)
  return names
}

function sourceFiles(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path))
    else if (/\.(ts|js)$/.test(name) && !name.endsWith('.test.ts')) out.push(path)
  }
  return out
}

function configFacts(): Pick<Facts, 'configPaths' | 'configTopKeys' | 'configSections'> {
  const schema = configJsonSchema()
  const paths = schemaPaths(schema)
  const configPaths = new Map<string, { spelling: string; node: Record<string, unknown> }>()
  const configSections = new Set<string>()
  for (const [path, node] of paths) {
    configPaths.set(withoutArraySteps(path), { spelling: path, node })
    const last = path.split('.').at(-1) as string
    if ([...paths.keys()].some((p) => p.startsWith(`${path}.`) || p.startsWith(`${path}[].`)))
      configSections.add(last.replace('[]', ''))
  }
  const configTopKeys = new Set(Object.keys(schema['properties'] as Record<string, unknown>))
  return { configPaths, configTopKeys, configSections }
}

/** Label names declared in code, from registries built as src/main.ts builds the gateway's. */
function declaredLabels(): Map<string, Set<string>> {
  const registry = new Registry()
  new GatewayMetrics(registry)
  createChainMetrics(registry)
  // The paid layer's (main.ts builds them with paidAccess).
  registerPaidAccessGauge(registry, () => false)
  createSubscriptionMetrics(registry, {
    status: () => ({
      chainReachable: true,
      sinceMs: null,
      servedFromCacheWhileDegraded: 0,
      cachedSubscriptions: 0,
      lastReconciliation: null,
    }),
  })
  createLimiterMetrics(registry, new MemoryLimiterStore({ maxKeys: 1000 }))
  createTokenMetrics(registry)
  createQosMetrics(registry, new MemoryQuotaStore())
  const out = new Map<string, Set<string>>()
  for (const metric of registry.getMetricsAsArray()) {
    const labelNames = (metric as { labelNames?: readonly string[] }).labelNames
    if (labelNames !== undefined) out.set(metric.name, new Set(labelNames))
  }
  return out
}

/** Families and per-family labels of a Prometheus text exposition. */
function parseExposition(text: string): { types: Map<string, string>; labels: Map<string, Set<string>> } {
  const types = new Map<string, string>()
  const labels = new Map<string, Set<string>>()
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (type !== null) {
      types.set(type[1] as string, type[2] as string)
      continue
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/.exec(line)
    if (sample === null) continue
    const family = metricBaseName(sample[1] as string, new Set(types.keys()))
    const set = labels.get(family) ?? new Set<string>()
    for (const m of (sample[2] as string).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) {
      if (m[1] !== 'le' && m[1] !== 'quantile') set.add(m[1] as string)
    }
    labels.set(family, set)
  }
  return { types, labels }
}

interface RunningGateway {
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
  readonly port: number
  readonly adminPort: number
  readonly dir: string
  /** Every stdout line so far (JSON log lines). */
  readonly lines: readonly string[]
}

/** `node bin/litgate.js run -c FILE`; resolves when both the gateway and its admin listener are up. */
async function startGateway(backend: TestUpstream): Promise<RunningGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'litgate-docs-'))
  const file = join(dir, 'config.json')
  const chainRpc = `http://127.0.0.1:${await deadPort()}`
  await writeFile(
    file,
    JSON.stringify({
      version: 1,
      listeners: [{ name: 'public', host: '127.0.0.1', port: 0 }],
      upstreams: [{ id: 'api', backends: [{ url: backend.url }] }],
      routes: [
        { id: 'paid', match: { path: { prefix: '/paid' } }, upstream: 'api', access: ['pro'] },
        { id: 'api', match: { path: { prefix: '/' } }, upstream: 'api' },
      ],
      admin: { enabled: true, host: '127.0.0.1', port: 0 },
      // The paid layer registers its metrics and admin routes; its chain is a dead port (degraded mode).
      storage: { dataDir: join(dir, 'data') },
      paidAccess: {
        chain: { preset: 'anvil', rpc: [{ name: 'dead', http: chainRpc }] },
        contract: { paymentProcessor: '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0' },
        quoteSigner: { fromEnv: 'LITGATE_DOCS_QUOTE_KEY' },
        tokens: { signingKeys: [{ kid: 'docs', privateKey: { fromEnv: 'LITGATE_DOCS_TOKEN_KEY' } }] },
        plans: [
          {
            name: 'pro',
            planId: 1,
            displayName: 'Pro',
            prices: { '0x5FbDB2315678afecb367f032d93F642f64180aa3': '1000000' },
            qos: { requestsPerSecond: 1, burst: 1 },
          },
        ],
      },
    }),
  )
  const child = spawn(process.execPath, [join(ROOT, 'bin/litgate.js'), 'run', '-c', file], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env['PATH'] ?? '',
      LITGATE_LOG_LEVEL: 'info',
      LITGATE_DOCS_QUOTE_KEY: `0x${'ab'.repeat(32)}`,
      LITGATE_DOCS_TOKEN_KEY: generateKeyPairSync('ed25519')
        .privateKey.export({ format: 'pem', type: 'pkcs8' })
        .toString(),
    },
  })
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()))
  const lines: string[] = []
  const started = new Promise<{ port: number; adminPort: number }>((resolvePorts, reject) => {
    let port: number | undefined
    let adminPort: number | undefined
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    rl.on('line', (line) => {
      lines.push(line)
      let entry: { msg?: string; listeners?: Record<string, { port: number }>; address?: { port: number } }
      try {
        entry = JSON.parse(line) as typeof entry
      } catch {
        return
      }
      if (entry.msg === 'gateway serving') port = Object.values(entry.listeners ?? {})[0]?.port
      if (entry.msg === 'admin listening') adminPort = entry.address?.port
      if (port !== undefined && adminPort !== undefined) resolvePorts({ port, adminPort })
    })
    void exited.then((code) => reject(new Error(`gateway exited (${code}) before serving: ${stderr}`)))
  })
  // As spawnLitgate: PGlite's first open (initdb and the migrations) took 17-23 s on the shared 2-core host
  // at load average 10; 15 s failed every test of this file there.
  const ports = await within(
    60_000,
    'gateway start (the "gateway serving" and "admin listening" log lines)',
    started,
  ).catch(async (err: unknown) => {
    child.kill('SIGKILL')
    await exited
    await rm(dir, { recursive: true, force: true })
    throw err
  })
  return { child, exited, dir, lines, ...ports }
}

/** Rejects after `ms` unless `promise` settles first; the timer never outlives it. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

let gateway: RunningGateway | undefined
let backend: TestUpstream | undefined
let facts: Facts

before(async () => {
  // `/flaky` resets the connection of its first attempt, so one line carries a retry (`attemptLog`).
  let hasFlaked = false
  backend = await startUpstream((req, res) => {
    if (req.url === '/flaky' && !hasFlaked) {
      hasFlaked = true
      req.socket.destroy()
      return
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
  })
  gateway = await startGateway(backend)
  const admin = `http://127.0.0.1:${gateway.adminPort}`
  // One proxied request and one refused one, so that per-request series exist and show their labels.
  await (
    await fetch(`http://127.0.0.1:${gateway.port}/hello?token=x`, {
      headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    })
  ).text()
  await (await fetch(`http://127.0.0.1:${gateway.port}/%2e%2e/x`)).text()
  await (await fetch(`http://127.0.0.1:${gateway.port}/flaky`)).text()
  // Access-log lines are batched (up to 250 ms): wait for all three.
  const running = gateway
  await eventually(
    () => running.lines.filter((l) => l.includes('"log":"access"')).length >= 3,
    5000,
    'three access-log lines',
  )
  const scrape = parseExposition(await (await fetch(`${admin}/metrics`)).text())
  const labels = new Map<string, Set<string>>(scrape.labels)
  for (const [name, set] of declaredLabels()) labels.set(name, set)
  // The router's own list of endpoints (its 404 answer).
  const notFound = (await (await fetch(`${admin}/no-such-endpoint`)).json()) as { endpoints: string[] }
  facts = {
    metrics: scrape.types,
    labels,
    endpoints: new Set(notFound.endpoints),
    probe: async (method, target) => {
      const res = await fetch(`${admin}${target}`, { method })
      await res.arrayBuffer()
      return res.status
    },
    errorCodes: new Set(Object.keys(ERROR_CODES)),
    accessLogFields: accessLogFields(gateway.lines),
    envNames: environmentNames(),
    ...configFacts(),
  }
})

after(async () => {
  if (gateway !== undefined) {
    gateway.child.kill('SIGTERM')
    await gateway.exited
    await rm(gateway.dir, { recursive: true, force: true })
  }
  await backend?.close()
})

// ---------------------------------------------------------------------------------------------------
// The checks: each returns every problem, one line each, so a failure lists them all.

function metricProblems(docs: readonly Doc[], f: Facts): string[] {
  const problems: string[] = []
  const histograms = new Set([...f.metrics].filter(([, t]) => t === 'histogram').map(([n]) => n))
  for (const doc of docs) {
    for (const m of doc.mentions.metrics) {
      for (const written of m.names) {
        const where = `${doc.file}:${m.line}`
        if (m.isPrefix) {
          if (![...f.metrics.keys()].some((n) => n.startsWith(written)))
            problems.push(`${where} names metric family ${written}*, but no registered metric starts with it`)
          continue
        }
        const name = metricBaseName(written, histograms)
        if (!f.metrics.has(name)) {
          problems.push(
            `${where} names metric ${written}, which is not registered${didYouMean(name, f.metrics.keys())}`,
          )
          continue
        }
        const known = f.labels.get(name)
        for (const label of m.labels) {
          if (known !== undefined && !known.has(label))
            problems.push(
              `${where} names label ${label} of ${name}, which has labels {${[...known].join(',')}}`,
            )
        }
      }
    }
  }
  return problems
}

function undocumentedMetrics(docs: readonly Doc[], f: Facts): string[] {
  const exact = new Set<string>()
  const prefixes: string[] = []
  const histograms = new Set([...f.metrics].filter(([, t]) => t === 'histogram').map(([n]) => n))
  for (const doc of docs) {
    for (const m of doc.mentions.metrics) {
      for (const n of m.names) {
        if (m.isPrefix) prefixes.push(n)
        else exact.add(metricBaseName(n, histograms))
      }
    }
  }
  return [...f.metrics.keys()]
    .filter((name) => !exact.has(name) && !prefixes.some((p) => name.startsWith(p)))
    .map((name) => `metric ${name} is registered but no page documents it (docs/operations/observability.md)`)
}

/**
 * Rows of a `| Metric | Labels | … |` table list a family's labels completely (`—` for none); the
 * labels must be exactly those of the family (declared in code, or seen on a served series).
 */
function metricTableProblems(docs: readonly Doc[], f: Facts): string[] {
  const problems: string[] = []
  for (const doc of docs) {
    const lines = doc.text.split('\n')
    let inTable = false
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string
      if (/^\|\s*Metric\s*\|\s*Labels\s*\|/.test(line)) {
        inTable = true
        continue
      }
      if (!line.startsWith('|')) {
        inTable = false
        continue
      }
      if (!inTable || /^\|\s*-/.test(line)) continue
      const cells = line.split('|').map((c) => c.trim())
      const names = [...(cells[1] ?? '').matchAll(/`(litgate_[a-z0-9_]+)`/g)].map((m) => m[1] as string)
      const labelCell = cells[2] ?? ''
      const documented = new Set(labelCell === '—' || labelCell === '-' ? [] : labelCell.split(/,\s*/))
      for (const name of names) {
        const known = f.labels.get(name)
        if (known === undefined) {
          // Neither declared in code (prom-client labelNames) nor seen on a served series.
          if (f.metrics.has(name))
            problems.push(`${doc.file}:${i + 1}: the labels of ${name} cannot be checked (no series served)`)
          continue
        }
        const missing = [...known].filter((l) => !documented.has(l))
        const extra = [...documented].filter((l) => !known.has(l))
        if (missing.length > 0 || extra.length > 0)
          problems.push(
            `${doc.file}:${i + 1} lists labels {${[...documented].join(',')}} for ${name}, ` +
              `which has {${[...known].join(',')}}`,
          )
      }
    }
  }
  return problems
}

async function endpointProblems(docs: readonly Doc[], f: Facts): Promise<string[]> {
  const problems: string[] = []
  for (const doc of docs) {
    for (const e of doc.mentions.endpoints) {
      const where = `${doc.file}:${e.line}`
      if (
        !f.endpoints.has(`${e.method} ${e.path}`) &&
        !(e.method === 'HEAD' && f.endpoints.has(`GET ${e.path}`))
      ) {
        problems.push(
          `${where} names admin endpoint ${e.method} ${e.path}, which the admin router does not serve ` +
            `(it serves ${[...f.endpoints].join(', ')})`,
        )
        continue
      }
      const status = await f.probe(e.method, e.target)
      if (status === 404 || status === 405)
        problems.push(`${where}: ${e.method} ${e.target} on the admin listener answers ${status}`)
    }
  }
  return problems
}

async function undocumentedEndpoints(docs: readonly Doc[], f: Facts): Promise<string[]> {
  const documented = new Set(docs.flatMap((d) => d.mentions.endpoints.map((e) => `${e.method} ${e.path}`)))
  const problems: string[] = []
  for (const endpoint of f.endpoints) {
    if (!documented.has(endpoint))
      problems.push(`admin endpoint ${endpoint} is served but no page names it (write it as \`${endpoint}\`)`)
    const [method, path] = endpoint.split(' ') as [string, string]
    const status = await f.probe(method, path)
    if (status === 404 || status === 405)
      problems.push(`the admin router lists ${endpoint} but answers it with ${status}`)
  }
  return problems
}

function upperNameProblems(docs: readonly Doc[], f: Facts): string[] {
  const problems: string[] = []
  for (const doc of docs) {
    for (const { line, name } of doc.mentions.upperNames) {
      if (FOREIGN_UPPER_NAMES.has(name) || f.errorCodes.has(name) || f.envNames.has(name)) continue
      const where = `${doc.file}:${line}`
      if (name.endsWith('*')) {
        const prefix = name.slice(0, -1)
        if (![...f.envNames, ...f.errorCodes].some((n) => n.startsWith(prefix)))
          problems.push(
            `${where} names ${name}, but no error code or environment variable the code reads starts with ${prefix}`,
          )
        continue
      }
      if (name.startsWith('LITGATE_'))
        problems.push(
          `${where} names environment variable ${name}, which the code does not read` +
            didYouMean(name, f.envNames),
        )
      else
        problems.push(
          `${where} names error code ${name}, which is not in src/errors/codes.ts` +
            (didYouMean(name, f.errorCodes) ||
              " (another program's name? add it to FOREIGN_UPPER_NAMES in test/docs.test.ts)"),
        )
    }
  }
  return problems
}

function configProblems(docs: readonly Doc[], f: Facts): string[] {
  const problems: string[] = []
  const paths = [...f.configPaths.keys()]
  const spellings = [...f.configPaths.values()].map((p) => p.spelling)
  /** Records a problem when a written config path (or its value) is not in the schema. */
  const check = (
    where: string,
    written: string,
    segments: readonly string[],
    isRooted: boolean,
    value: unknown,
  ): void => {
    const first = (segments[0] as string).replace('[]', '')
    const norm = withoutArraySteps(segments.join('.'))
    let node: Record<string, unknown> | undefined
    if (isRooted || f.configTopKeys.has(first)) {
      node = f.configPaths.get(norm)?.node
    } else if (f.configSections.has(first)) {
      const match = paths.find((p) => p.endsWith(`.${norm}`))
      node = match === undefined ? undefined : f.configPaths.get(match)?.node
    } else {
      return // not a config path (`target.path`, `options.random`)
    }
    if (node === undefined) {
      problems.push(
        `${where} names config key \`${written}\`, which is not in src/config/schema.ts` +
          didYouMean(
            segments.join('.'),
            isRooted || f.configTopKeys.has(first) ? spellings : suffixes(spellings, segments.length),
          ),
      )
      return
    }
    if (value === undefined) return
    const problem = valueProblem(node, value)
    if (problem !== undefined) problems.push(`${where}: \`${written}\` ${problem}`)
  }
  for (const doc of docs) {
    for (const c of doc.mentions.configPaths) {
      check(
        `${doc.file}:${c.line}`,
        c.text,
        c.segments,
        c.isRooted,
        c.value === undefined ? undefined : scalar(c.value),
      )
    }
    for (const y of doc.mentions.inlineYaml) {
      let parsed: unknown
      try {
        parsed = parseYaml(y.text)
      } catch {
        continue
      }
      if (typeof parsed !== 'object' || parsed === null) continue
      for (const [path, value] of leaves(parsed as Record<string, unknown>, [])) {
        check(`${doc.file}:${y.line}`, path.join('.'), path, false, value)
      }
    }
  }
  return problems
}

function yamlExampleProblems(docs: readonly Doc[]): string[] {
  const problems: string[] = []
  for (const doc of docs) {
    for (const block of doc.mentions.yamlConfigs) {
      const result = parseConfig(block.text, 'yaml')
      const issues = result.ok ? result.warnings : result.issues
      for (const issue of issues)
        problems.push(`${doc.file}:${block.line} example config: ${formatIssue(issue)}`)
    }
  }
  return problems
}

/** The last `n` segments of each path (candidates for a relative path of `n` segments). */
function suffixes(paths: readonly string[], n: number): string[] {
  return paths.map((p) => p.split('.').slice(-n).join('.'))
}

/** pino's own fields and the child logger's binding: the same on every line, not access-log fields. */
const LOG_LINE_BASE = new Set(['level', 'time', 'service', 'log', 'msg'])

function accessLogFields(lines: readonly string[]): Set<string> {
  const fields = new Set<string>()
  for (const line of lines) {
    let entry: Record<string, unknown>
    try {
      entry = JSON.parse(line) as Record<string, unknown>
    } catch {
      continue
    }
    if (entry['log'] !== 'access') continue
    for (const key of Object.keys(entry)) if (!LOG_LINE_BASE.has(key)) fields.add(key)
  }
  return fields
}

/** Every field an access-log line carries is in a `| Field | Meaning |` table of a page. */
function accessLogProblems(docs: readonly Doc[], f: Facts): string[] {
  const documented = new Set<string>()
  for (const doc of docs) {
    let inTable = false
    for (const line of doc.text.split('\n')) {
      if (/^\|\s*Field\s*\|\s*Meaning\s*\|/.test(line)) inTable = true
      else if (!line.startsWith('|')) inTable = false
      else if (inTable)
        for (const m of (line.split('|')[1] ?? '').matchAll(/`([A-Za-z]+)`/g)) documented.add(m[1] as string)
    }
  }
  const problems = [...f.accessLogFields]
    .filter((field) => !documented.has(field))
    .map(
      (field) => `access-log field ${field} is written but docs/operations/observability.md does not list it`,
    )
  if (f.accessLogFields.size === 0) problems.push('the running gateway wrote no access-log line')
  return problems
}

/**
 * Repository paths in code spans must exist, from the root or from src/ (`http/proxy.ts`), unless they
 * are git-ignored output (`.bench-out/`); relative link targets must exist from the page's folder.
 */
function fileProblems(docs: readonly Doc[]): string[] {
  const ignored = readFileSync(join(ROOT, '.gitignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim().replace(/^\//, ''))
    .filter((l) => l !== '' && !l.startsWith('#'))
  const problems: string[] = []
  for (const doc of docs) {
    for (const { line, name } of doc.mentions.files) {
      if (ignored.some((i) => name === i || name.startsWith(i.endsWith('/') ? i : `${i}/`))) continue
      if (!existsSync(join(ROOT, name)) && !existsSync(join(ROOT, 'src', name)))
        problems.push(`${doc.file}:${line} names file ${name}, which does not exist (from the root or src/)`)
    }
    for (const { line, name } of doc.mentions.links) {
      if (!existsSync(resolve(ROOT, dirname(doc.file), name)))
        problems.push(`${doc.file}:${line} links to ${name}, which does not exist`)
    }
  }
  return problems
}

/** Leaf paths of an inline YAML mapping (`{ a: { b: 1 } }` → `[['a','b'], 1]`). */
function leaves(obj: Record<string, unknown>, prefix: readonly string[]): Array<[string[], unknown]> {
  const out: Array<[string[], unknown]> = []
  for (const [k, v] of Object.entries(obj)) {
    const path = [...prefix, k]
    if (typeof v === 'object' && v !== null && !Array.isArray(v))
      out.push(...leaves(v as Record<string, unknown>, path))
    else out.push([path, v])
  }
  return out
}

function scalar(text: string): unknown {
  try {
    return parseYaml(text) as unknown
  } catch {
    return text
  }
}

/** Whether a written value fits a schema leaf: enums, booleans and integer ranges are checked. */
function valueProblem(node: Record<string, unknown>, value: unknown): string | undefined {
  if (Array.isArray(node['enum']) && !(node['enum'] as unknown[]).includes(value))
    return `has value ${JSON.stringify(value)}, not one of ${(node['enum'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`
  if (node['type'] === 'boolean' && typeof value !== 'boolean')
    return `is a boolean, not ${JSON.stringify(value)}`
  if (node['type'] === 'integer') {
    if (typeof value !== 'number' || !Number.isInteger(value))
      return `is an integer, not ${JSON.stringify(value)}`
    const min = node['minimum'] as number | undefined
    const max = node['maximum'] as number | undefined
    if ((min !== undefined && value < min) || (max !== undefined && value > max))
      return `is out of range (${min ?? ''}–${max ?? ''}): ${value}`
  }
  return undefined
}

/** ` (did you mean X?)` for the closest candidate within a few edits, else ''. */
function didYouMean(name: string, candidates: Iterable<string>): string {
  let best: string | undefined
  let bestDistance = Math.max(3, Math.floor(name.length / 4)) + 1
  for (const c of candidates) {
    const d = editDistance(name, c)
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return best === undefined ? '' : ` (did you mean ${best}?)`
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        (prev[j] as number) + 1,
        (cur[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      )
    }
    prev = cur
  }
  return prev[b.length] as number
}

// ---------------------------------------------------------------------------------------------------
// The pages against the code

test('every metric a page names is registered by the running gateway, with the labels it names', () => {
  assert.deepEqual([...metricProblems(DOCS, facts), ...metricTableProblems(DOCS, facts)], [])
})

test('every metric the running gateway registers is documented', () => {
  assert.deepEqual(undocumentedMetrics(DOCS, facts), [])
})

test('every admin endpoint a page names is served by the admin router, and every served one is documented', async () => {
  // The router's list must be its real routes: every built-in entry of the admin route table is in it.
  const source = readFileSync(join(ROOT, 'src/admin/admin-server.ts'), 'utf8')
  const routed = [...source.matchAll(/builtin\('(?:GET|POST)', '(\/[^']*)'/g)].map((m) => m[1] as string)
  assert.ok(routed.length >= 5, 'the admin route table was not found')
  const listed = new Set([...facts.endpoints].map((e) => e.split(' ')[1]))
  assert.deepEqual(
    routed.filter((p) => !listed.has(p)),
    [],
    'src/admin/admin-server.ts routes paths its 404 endpoint list does not name',
  )
  assert.deepEqual(
    [...(await endpointProblems(DOCS, facts)), ...(await undocumentedEndpoints(DOCS, facts))],
    [],
  )
})

test('every error code a page names is in src/errors/codes.ts, every LITGATE_ variable is read by the code', () => {
  assert.deepEqual(upperNameProblems(DOCS, facts), [])
})

test('every config key a page names is in the schema, with a value it accepts', () => {
  assert.deepEqual(configProblems(DOCS, facts), [])
})

test('every example config in the pages (a yaml block starting with version: 1) is valid', () => {
  assert.deepEqual(yamlExampleProblems(DOCS), [])
})

test('every field the access log writes is documented', () => {
  assert.deepEqual(accessLogProblems(DOCS, facts), [])
})

test('every repository file and relative link a page names exists', () => {
  assert.deepEqual(fileProblems(DOCS), [])
})

// ---------------------------------------------------------------------------------------------------
// The checker itself: planted wrong names are reported with page and line.

const PLANTED = loadDoc(
  'docs/planted.md',
  [
    '# Planted',
    'Watch `litgate_foo_total` and `litgate_requests_total{route,colour}`.',
    'Ask `GET /version` or `POST /status`.',
    'It answers `UPSTREAM_MELTED`; set `LITGATE_CHAIN_RPC_URL`.',
    'Raise `routes[].retry.maxAttempts`, `server.shutdownTimeout` or `pool.maxQeue`; keep `panic.mode: scatter`.',
    '| Metric | Labels | What |',
    '| --- | --- | --- |',
    '| `litgate_retries_total` | route, backend | extra attempts |',
    '```yaml',
    'version: 1',
    'listeners: [{ name: public, port: 8080 }]',
    'upstreams: [{ id: api, backends: [{ url: "http://10.0.0.1:80" }] }]',
    'routes: [{ id: r, match: { path: { prefix: / } }, upstream: nope }]',
    '```',
    'Unchecked: `target.path`, `options.random`, `maxBodyBytes`, `/admin`, `GET example.com/users`.',
    'See `src/http/prox.ts`, `http/websocket.ts`, `.bench-out/x.json` and [reload](operations/reload.md), [gone](nope.md#x).',
  ].join('\n'),
)

test('the checker names page, line and the unknown metric, label, endpoint, code, variable and key', async () => {
  const problems = [
    ...metricProblems([PLANTED], facts),
    ...metricTableProblems([PLANTED], facts),
    ...(await endpointProblems([PLANTED], facts)),
    ...upperNameProblems([PLANTED], facts),
    ...configProblems([PLANTED], facts),
    ...yamlExampleProblems([PLANTED]),
    ...fileProblems([PLANTED]),
  ]
  const expected = [
    /^docs\/planted\.md:2 names metric litgate_foo_total, which is not registered/,
    /^docs\/planted\.md:2 names label colour of litgate_requests_total/,
    /^docs\/planted\.md:3 names admin endpoint GET \/version, which the admin router does not serve/,
    /^docs\/planted\.md:3 names admin endpoint POST \/status/,
    /^docs\/planted\.md:4 names error code UPSTREAM_MELTED, which is not in src\/errors\/codes\.ts/,
    /^docs\/planted\.md:4 names environment variable LITGATE_CHAIN_RPC_URL, .*did you mean LITGATE_CHAIN_RPC_URLS\?/,
    /^docs\/planted\.md:5 names config key `routes\[\]\.retry\.maxAttempts`, .*did you mean routes\[\]\.retry\.maxRetries\?/,
    /^docs\/planted\.md:5 names config key `server\.shutdownTimeout`, .*did you mean server\.shutdownTimeoutMs\?/,
    /^docs\/planted\.md:5 names config key `pool\.maxQeue`/,
    /^docs\/planted\.md:5: `panic\.mode: scatter` has value "scatter", not one of "spread", "fail-fast"/,
    /^docs\/planted\.md:8 lists labels \{route,backend\} for litgate_retries_total, which has \{route\}/,
    /^docs\/planted\.md:9 example config: error: routes\[0\]\.upstream: unknown upstream/,
    /^docs\/planted\.md:9 example config: warning: upstreams\[0\]: upstream is not used/,
    /^docs\/planted\.md:16 names file src\/http\/prox\.ts, which does not exist/,
    /^docs\/planted\.md:16 links to nope\.md, which does not exist/,
  ]
  for (const pattern of expected)
    assert.ok(
      problems.some((p) => pattern.test(p)),
      `expected a problem matching ${pattern}; got:\n${problems.join('\n')}`,
    )
  assert.equal(problems.length, expected.length, `unexpected problems:\n${problems.join('\n')}`)
})

test('the checker reports a registered metric and a served endpoint that no page documents', async () => {
  const withoutRetries = DOCS.map((d) =>
    loadDoc(d.file, d.text.replaceAll('litgate_retries_total', 'retries')),
  )
  assert.deepEqual(undocumentedMetrics(withoutRetries, facts), [
    'metric litgate_retries_total is registered but no page documents it (docs/operations/observability.md)',
  ])
  const withoutStatus = DOCS.map((d) => loadDoc(d.file, d.text.replaceAll('GET /status', 'GET')))
  assert.deepEqual(await undocumentedEndpoints(withoutStatus, facts), [
    'admin endpoint GET /status is served but no page names it (write it as `GET /status`)',
  ])
})
