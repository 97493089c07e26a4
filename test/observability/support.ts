import { Registry } from 'prom-client'
import { startAdminServer, type AdminServer } from '../../src/admin/index.ts'
import { configSchema, type Config, type ConfigInput } from '../../src/config/index.ts'
import { Gateway, Reloader, type ConfigSource } from '../../src/lifecycle/index.ts'
import { AccessLog, describeUpstream, GatewayMetrics } from '../../src/observability/index.ts'
import { memoryLogger } from '../helpers/gateway.ts'

export type PartialConfig = Omit<ConfigInput, 'version' | 'listeners'> & { listeners?: ConfigInput['listeners'] }

export function makeConfig(input: PartialConfig): Config {
  return configSchema.parse({
    version: 1,
    listeners: input.listeners ?? [{ name: 'main', host: '127.0.0.1', port: 0 }],
    ...input,
  })
}

/** An in-process gateway wired like main.ts: access log, metrics, reloader and admin listener. */
export interface OperatedGateway {
  readonly gateway: Gateway
  readonly url: string
  readonly adminUrl: string
  readonly lines: string[]
  readonly metrics: GatewayMetrics
  readonly registry: Registry
  readonly reloader: Reloader
  /** Sets what the next reload loads (a config, or validation issues). */
  next(config: Config | readonly string[]): void
  scrape(): Promise<string>
  stop(deadlineMs?: number): Promise<void>
}

export async function startOperated(
  input: PartialConfig,
  options: {
    random?: () => number
    tracer?: Parameters<typeof Gateway.start>[1]['tracer']
    rateLimit?: Parameters<typeof Gateway.start>[1]['rateLimit']
  } = {},
): Promise<OperatedGateway> {
  const config = makeConfig(input)
  const { log, lines } = memoryLogger('debug')
  const registry = new Registry()
  const metrics = new GatewayMetrics(registry)
  const accessLog = new AccessLog(config.logging.accessLog, { log, ...(options.random ? { random: options.random } : {}) })
  const gateway = await Gateway.start(config, {
    log,
    onExchangeEnd: (s) => {
      metrics.observeExchange(s)
      accessLog.record(s)
    },
    onAttemptFailure: metrics.observeAttemptFailure,
    ...(options.tracer ? { tracer: options.tracer } : {}),
    ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}),
    onHealthTransition: (u, t) => metrics.observeHealthTransition(u, t.backendId, t.to),
    onBreakerTransition: (b, _f, to) => metrics.observeBreakerTransition(b, to),
  })
  metrics.bind({
    state: () => gateway.state,
    configVersion: () => gateway.runtime.version,
    connections: () => gateway.connections(),
    slowClients: () => gateway.slowClients(),
    upstreams: () => Array.from(gateway.runtime.upstreams.values(), describeUpstream),
  })
  let pending: Config | readonly string[] = config
  const source: ConfigSource = () =>
    Promise.resolve(
      Array.isArray(pending)
        ? { ok: false as const, issues: pending as readonly string[] }
        : { ok: true as const, config: pending as Config, warnings: [] },
    )
  const reloader = new Reloader({
    target: gateway,
    load: source,
    log,
    onOutcome: (o, next) => {
      if (!o.ok) metrics.observeReload('failure', o.code)
      else metrics.observeReload(o.isChanged ? 'success' : 'unchanged')
      if (next !== undefined) accessLog.configure(next.logging.accessLog)
    },
  })
  const admin: AdminServer = await startAdminServer(
    { host: '127.0.0.1', port: 0 },
    {
      log,
      registry,
      isReady: () => gateway.isReady(),
      status: () => ({ state: gateway.state, version: gateway.runtime.version, lastReload: reloader.last }),
      reload: () => reloader.reload('admin'),
    },
  )
  const port = Object.values(gateway.addresses())[0]?.port ?? 0
  return {
    gateway,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${admin.address().port}`,
    lines,
    metrics,
    registry,
    reloader,
    next: (c) => {
      pending = c
    },
    scrape: () => registry.metrics(),
    stop: async (deadlineMs = 1000) => {
      await gateway.stop(deadlineMs)
      await admin.close()
    },
  }
}

/** Parsed JSON log lines. */
export function parsed(lines: readonly string[]): Array<Record<string, unknown>> {
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>)
}

/** Access-log lines only. */
export function accessLines(lines: readonly string[]): Array<Record<string, unknown>> {
  return parsed(lines).filter((l) => l['log'] === 'access')
}

/** Value of one sample in Prometheus text format (undefined when absent). */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line)
    if (m === null || m[1] !== name) continue
    const got: Record<string, string> = {}
    for (const pair of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[pair[1] as string] = pair[2] as string
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4])
  }
  return undefined
}
