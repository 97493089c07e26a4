/**
 * The composition root and CLI. The only module that reads process.env, installs signal handlers
 * and constructs the root logger; everything else receives its dependencies.
 *
 *   litgate run -c FILE        serve with a config file (SIGHUP reloads it, SIGTERM/SIGINT drain)
 *   litgate validate -c FILE   check a config file (like nginx -t); exit 0 when valid
 *   litgate reload -c FILE     validate FILE, then ask the running gateway (admin API) to reload it
 *   litgate demo [--port N]    start two demo backends and a gateway in front of them
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { propagation, trace } from '@opentelemetry/api'
import type { Logger, LevelWithSilent } from 'pino'
import { Registry } from 'prom-client'
import { startAdminServer, type AdminServer } from './admin/index.ts'
import {
  configSchema,
  ConfigError,
  formatIssue,
  formatOf,
  loadConfigFile,
  parseConfig,
  type Config,
} from './config/index.ts'
import { demoConfig, startDemoUpstream } from './demo/index.ts'
import {
  Gateway,
  Reloader,
  watchConfigFile,
  type ConfigSource,
  type ReloadOutcome,
} from './lifecycle/index.ts'
import { AccessLog, createRootLogger, describeUpstream, GatewayMetrics } from './observability/index.ts'
import { createChain, loadChainEnv, loadSigner, type Chain } from './blockchain/index.ts'

/** Exit codes (docs/operations/shutdown.md): 0 drained, 1 failure, 2 usage/config, 3 forced. */
export const EXIT = Object.freeze({ ok: 0, failure: 1, usage: 2, forced: 3 })

const USAGE = `usage:
  litgate run -c FILE [--log-level LEVEL]   serve (SIGHUP reloads, SIGTERM/SIGINT drain)
  litgate validate -c FILE                  check a config file; exit 0 when valid
  litgate reload -c FILE [--admin URL]      validate FILE, then reload the running gateway through its
                                            admin API (default: admin.host/port from FILE)
  litgate demo [--port N]                   demo backends + gateway on 127.0.0.1
`

type Env = Record<string, string | undefined>

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

export async function main(argv: readonly string[], env: Env): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        port: { type: 'string' },
        admin: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`)
    return EXIT.usage
  }
  const { values, positionals } = parsed
  const command = positionals[0] ?? (values.config !== undefined ? 'run' : undefined)
  if (values.help === true || command === undefined) {
    process.stdout.write(USAGE)
    return values.help === true ? EXIT.ok : EXIT.usage
  }
  // An explicit level (flag or environment) wins over the config's logging.level, also on reload.
  const levelOverride = values['log-level'] ?? env['LITGATE_LOG_LEVEL']
  if (levelOverride !== undefined && !LEVELS.includes(levelOverride)) {
    return usage(`invalid log level ${JSON.stringify(levelOverride)} (one of ${LEVELS.join(', ')})`)
  }
  const level = levelOverride as LevelWithSilent | undefined
  switch (command) {
    case 'validate':
      return validate(values.config)
    case 'reload':
      return requestReload(values.config, values.admin)
    case 'run': {
      if (values.config === undefined) return usage('run needs -c FILE')
      const log = createRootLogger({ level: level ?? 'info' })
      return run(values.config, log, level, env)
    }
    case 'demo': {
      const port = Number(values.port ?? env['PORT'] ?? 8080)
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        return usage(`invalid --port ${String(values.port)}`)
      const log = createRootLogger({ level: level ?? 'info' })
      return demo(port, log, level, env)
    }
    default:
      return usage(`unknown command ${JSON.stringify(command)}`)
  }
}

function usage(message: string): number {
  process.stderr.write(`${message}\n${USAGE}`)
  return EXIT.usage
}

async function readConfigText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    process.stderr.write(`error: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'EIO'})\n`)
    return undefined
  }
}

async function validate(path: string | undefined): Promise<number> {
  if (path === undefined) return usage('validate needs -c FILE')
  const text = await readConfigText(path)
  if (text === undefined) return EXIT.usage
  const result = parseConfig(text, formatOf(path))
  const issues = result.ok ? result.warnings : result.issues
  for (const issue of issues) process.stderr.write(`${formatIssue(issue)}\n`)
  if (!result.ok) {
    process.stderr.write(
      `${path}: invalid (${issues.filter((i) => i.severity === 'error').length} error(s))\n`,
    )
    return EXIT.usage
  }
  process.stdout.write(
    `${path}: ok (${result.config.routes.length} routes, ${result.config.upstreams.length} upstreams)\n`,
  )
  return EXIT.ok
}

/**
 * `litgate reload`: validates the file here first (nothing is sent when it is invalid), then asks the
 * running gateway to reload through `POST /reload` on its admin listener. Exit 0 when the gateway
 * applied (or found unchanged) the config, 1 when it refused, 2 for usage or an invalid file.
 */
async function requestReload(path: string | undefined, adminUrl: string | undefined): Promise<number> {
  if (path === undefined) return usage('reload needs -c FILE')
  const text = await readConfigText(path)
  if (text === undefined) return EXIT.usage
  const result = parseConfig(text, formatOf(path))
  if (!result.ok) {
    for (const issue of result.issues) process.stderr.write(`${formatIssue(issue)}\n`)
    process.stderr.write(`${path}: invalid; nothing was sent to the gateway\n`)
    return EXIT.usage
  }
  let base = adminUrl
  if (base === undefined) {
    const admin = result.config.admin
    if (!admin.enabled) return usage('admin listener disabled in the config: pass --admin URL or send SIGHUP')
    const host = admin.host === '0.0.0.0' || admin.host === '::' ? '127.0.0.1' : admin.host
    base = `http://${host.includes(':') ? `[${host}]` : host}:${admin.port}`
  }
  let response: Response
  try {
    response = await fetch(new URL('/reload', base), { method: 'POST', signal: AbortSignal.timeout(30_000) })
  } catch (err) {
    process.stderr.write(`error: cannot reach the admin API at ${base} (${(err as Error).message})\n`)
    return EXIT.failure
  }
  const outcome = (await response.json()) as ReloadOutcome
  if (outcome.ok) {
    process.stdout.write(
      outcome.isChanged
        ? `reloaded: ${outcome.previousVersion} -> ${outcome.version}\n`
        : `unchanged: ${outcome.version}\n`,
    )
    return EXIT.ok
  }
  process.stderr.write(`reload failed: ${outcome.code}: ${outcome.message}\n`)
  for (const issue of outcome.issues) process.stderr.write(`  ${issue}\n`)
  process.stderr.write(`config ${outcome.version} keeps serving\n`)
  return EXIT.failure
}

/** Loads a config file for a reload; invalid files become issues, never exceptions. */
function fileSource(path: string): ConfigSource {
  return async () => {
    try {
      const loaded = await loadConfigFile(path)
      return { ok: true, config: loaded.config, warnings: loaded.warnings.map(formatIssue) }
    } catch (err) {
      if (err instanceof ConfigError) return { ok: false, issues: err.issues.map(formatIssue) }
      throw err
    }
  }
}

interface Operated {
  readonly gateway: Gateway
  readonly admin: AdminServer | undefined
  readonly reloader: Reloader
  readonly metrics: GatewayMetrics
  close(): Promise<void>
}

/**
 * Wires one gateway with its operations: access log and metrics on the exchange hook, tracing when
 * enabled, the reloader (metrics, logging settings and route-series pruning on each outcome), the admin
 * listener and the optional file watch. Returns undefined (after logging why) when anything fails to start.
 */
async function operate(
  config: Config,
  log: Logger,
  levelOverride: LevelWithSilent | undefined,
  source: ConfigSource,
  watchPath: string | undefined,
  env: Env,
): Promise<Operated | undefined> {
  if (levelOverride === undefined) log.level = config.logging.level
  const registry = new Registry()
  // The chain client is opt-in (LITGATE_CHAIN or LITGATE_CHAIN_RPC_URLS set): a plain reverse proxy never
  // touches the network beyond its backends. A bad chain setting fails start-up with the variable named.
  let chain: Chain | undefined
  if (env['LITGATE_CHAIN'] !== undefined || env['LITGATE_CHAIN_RPC_URLS'] !== undefined) {
    try {
      const settings = loadChainEnv(env)
      const signer = settings.signer === null ? null : await loadSigner(settings.signer)
      chain = createChain(
        { chain: settings.chain, rpc: settings.rpc, tx: settings.tx },
        { log: log.child({ subsystem: 'chain' }), clock: { now: Date.now }, registry, signer },
      )
    } catch (err) {
      log.error(
        { code: (err as { code?: string }).code, err: (err as Error).message },
        'chain configuration invalid',
      )
      log.flush()
      return undefined
    }
  }
  const metrics = new GatewayMetrics(registry, { processMetrics: true })
  const accessLog = new AccessLog(config.logging.accessLog, { log })
  const onExchangeEnd = (s: Parameters<typeof accessLog.record>[0]): void => {
    metrics.observeExchange(s)
    accessLog.record(s)
  }
  // Spans need an SDK registered before start (e.g. `node --import ./otel-setup.js bin/litgate.js`). With no
  // propagator registered, continuing the client's trace would drop its traceparent: leave it untouched.
  const isTracing = config.tracing.enabled && propagation.fields().length > 0
  if (config.tracing.enabled && !isTracing) {
    log.warn(
      {},
      'tracing.enabled but no OpenTelemetry SDK/propagator registered: spans off, trace headers passed through',
    )
  }
  let gateway: Gateway
  try {
    gateway = await Gateway.start(config, {
      log,
      onExchangeEnd,
      onAttemptFailure: metrics.observeAttemptFailure,
      // @opentelemetry/api: a no-op tracer until an SDK registers a provider; not created when disabled.
      ...(isTracing ? { tracer: trace.getTracer('litgate') } : {}),
      onHealthTransition: (upstream, t) => metrics.observeHealthTransition(upstream, t.backendId, t.to),
      onBreakerTransition: (backendId, _from, to) => metrics.observeBreakerTransition(backendId, to),
    })
  } catch (err) {
    log.error({ err, code: 'INTERNAL_ERROR' }, 'gateway failed to start')
    log.flush()
    return undefined
  }
  metrics.bind({
    state: () => gateway.state,
    configVersion: () => gateway.runtime.version,
    connections: () => gateway.connections(),
    upstreams: () => Array.from(gateway.runtime.upstreams.values(), describeUpstream),
  })
  // Never block the proxy on the chain: it starts in the background and degrades on its own.
  chain?.start().catch((err: unknown) => {
    log.error(
      { code: (err as { code?: string }).code, err: (err as Error).message },
      'chain client failed to start; payments degraded',
    )
  })
  let routeIds = new Set(config.routes.map((r) => r.id))
  const reloader = new Reloader({
    target: gateway,
    load: source,
    log,
    onOutcome: (outcome, next) => {
      if (!outcome.ok) {
        metrics.observeReload('failure', outcome.code)
        return
      }
      metrics.observeReload(outcome.isChanged ? 'success' : 'unchanged')
      if (next === undefined) return
      accessLog.configure(next.logging.accessLog)
      if (levelOverride === undefined) log.level = next.logging.level
      const nextIds = new Set(next.routes.map((r) => r.id))
      metrics.forgetRoutes([...routeIds].filter((id) => !nextIds.has(id)))
      routeIds = nextIds
    },
  })
  let admin: AdminServer | undefined
  if (config.admin.enabled) {
    try {
      admin = await startAdminServer(config.admin, {
        log,
        registry,
        isReady: () => gateway.isReady(),
        status: () => ({
          state: gateway.state,
          version: gateway.runtime.version,
          connections: gateway.connections(),
          listeners: gateway.addresses(),
          lastReload: reloader.last,
          ...(chain === undefined ? {} : { chain: chain.status() }),
        }),
        ...(chain === undefined ? {} : { readyDetails: () => ({ chain: chain.status() }) }),
        reload: () => reloader.reload('admin'),
      })
    } catch (err) {
      log.error({ err, code: 'INTERNAL_ERROR', admin: config.admin }, 'admin listener failed to start')
      await gateway.stop(0)
      log.flush()
      return undefined
    }
  }
  const unwatch =
    watchPath !== undefined && config.reload.watchFile
      ? watchConfigFile(watchPath, { debounceMs: config.reload.watchDebounceMs }, () => {
          void reloader.reload('watch')
        })
      : undefined
  return {
    gateway,
    admin,
    reloader,
    metrics,
    close: async () => {
      unwatch?.()
      await admin?.close()
      await chain?.close()
    },
  }
}

/**
 * Serves until a signal stops it; resolves with the exit code. SIGHUP reloads; the first SIGTERM or
 * SIGINT drains until server.shutdownTimeoutMs (exit 0 drained, 3 forced); a second one exits at once (3).
 */
function serve(op: Operated, config: Config, log: Logger): Promise<number> {
  const { gateway, reloader, metrics } = op
  return new Promise<number>((resolve) => {
    let isStopping = false
    const onStop = (signal: NodeJS.Signals): void => {
      if (isStopping) {
        log.warn(
          { signal, code: 'SHUTDOWN_DEADLINE_EXCEEDED', connections: gateway.connections() },
          'second signal: exiting now',
        )
        log.flush()
        process.exit(EXIT.forced)
      }
      isStopping = true
      // The config serving now, not the one started with: shutdownTimeoutMs is applied on reload.
      const deadlineMs = gateway.runtime.config.server.shutdownTimeoutMs
      const startedAt = performance.now()
      log.info({ signal, deadlineMs, connections: gateway.connections() }, 'draining')
      void gateway.stop(deadlineMs).then(async (result) => {
        metrics.observeShutdown(result.isForced)
        const tookMs = Math.round(performance.now() - startedAt)
        if (result.isForced) {
          log.error(
            {
              code: 'SHUTDOWN_DEADLINE_EXCEEDED',
              remainingAtDeadline: result.remainingAtDeadline,
              deadlineMs,
              tookMs,
            },
            'forced shutdown',
          )
        } else {
          log.info({ tookMs }, 'drained')
        }
        process.off('SIGHUP', onReload)
        await op.close()
        log.info({ exitCode: result.isForced ? EXIT.forced : EXIT.ok }, 'stopped')
        log.flush()
        resolve(result.isForced ? EXIT.forced : EXIT.ok)
      })
    }
    const onReload = (): void => {
      void reloader.reload('signal')
    }
    process.on('SIGTERM', onStop)
    process.on('SIGINT', onStop)
    process.on('SIGHUP', onReload)
  })
}

/** After the drain, nothing should hold the event loop; if something does, do not hang the deploy. */
function exitSoon(code: number): number {
  setTimeout(() => process.exit(code), 2000).unref()
  return code
}

async function run(
  path: string,
  log: Logger,
  levelOverride: LevelWithSilent | undefined,
  env: Env,
): Promise<number> {
  let loaded
  try {
    loaded = await loadConfigFile(path)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      return EXIT.usage
    }
    throw err
  }
  for (const warning of loaded.warnings) log.warn({ issue: formatIssue(warning) }, 'config warning')
  const op = await operate(loaded.config, log, levelOverride, fileSource(path), path, env)
  if (op === undefined) return EXIT.failure
  return exitSoon(await serve(op, loaded.config, log))
}

async function demo(
  port: number,
  log: Logger,
  levelOverride: LevelWithSilent | undefined,
  env: Env,
): Promise<number> {
  const backends = await Promise.all([startDemoUpstream('backend-a'), startDemoUpstream('backend-b')])
  // The demo shows the admin listener too (ephemeral when the gateway port is).
  const config = configSchema.parse({
    ...demoConfig(
      port,
      backends.map((b) => b.url),
    ),
    admin: { enabled: true, port: port === 0 ? 0 : 9901 },
  })
  // The demo config is built in memory: a reload re-applies it (nothing to re-read).
  const source: ConfigSource = () => Promise.resolve({ ok: true, config, warnings: [] })
  const op = await operate(config, log, levelOverride, source, undefined, env)
  if (op === undefined) {
    await Promise.all(backends.map((b) => b.close()))
    return EXIT.failure
  }
  const url = `http://127.0.0.1:${op.gateway.addresses()['demo']?.port ?? port}`
  const admin = op.admin === undefined ? undefined : `http://127.0.0.1:${op.admin.address().port}`
  process.stdout.write(
    `\nlitgate demo: gateway on ${url} -> backends ${backends.map((b) => b.url).join(', ')}\n` +
      `  try:  curl -s ${url}/hello                            (alternates backend-a / backend-b)\n` +
      `        curl -s --http2-prior-knowledge ${url}/h2       (HTTP/2 cleartext)\n` +
      `        curl -s ${url}/%2e%2e/etc/passwd                (climbs above the root: 400 problem+json)\n` +
      (admin === undefined
        ? ''
        : `        curl -s ${admin}/metrics                     (Prometheus metrics)\n`) +
      `  stop: Ctrl-C (graceful drain)\n\n`,
  )
  const code = await serve(op, config, log)
  await Promise.all(backends.map((b) => b.close()))
  return exitSoon(code)
}
