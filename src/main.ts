/**
 * The composition root and CLI. The only module that reads process.env, installs signal handlers
 * and constructs the root logger; everything else receives its dependencies.
 *
 *   litgate run -c FILE        serve with a config file (SIGHUP reloads it, SIGTERM/SIGINT drain)
 *   litgate validate -c FILE   check a config file (like nginx -t); exit 0 when valid
 *   litgate reload -c FILE     validate FILE, then ask the running gateway (admin API) to reload it
 *   litgate migrate -c FILE    apply pending database migrations (the config's storage section)
 *   litgate demo [--port N]    sell access on embedded defaults: anvil, contracts, PGlite, a free and a paid route
 *   litgate demo --flow        the same, then a scripted buyer runs quote → pay → activation → paid request
 *   litgate --version          package version and git commit
 * The commands that construct nothing (validate, reload, migrate, version) live in src/cli/, one module each.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { mkdtemp, readFile } from 'node:fs/promises'
import { homedir, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { propagation, trace } from '@opentelemetry/api'
import type { Logger, LevelWithSilent } from 'pino'
import { Registry } from 'prom-client'
import { Redis } from 'ioredis'
import {
  assertAdminExposure,
  createAdminAudit,
  loadAdminCredentials,
  startAdminServer,
  type AdminCredentials,
  type AdminServer,
} from './admin/index.ts'
import {
  checkPidFile,
  describeVersion,
  EXIT,
  findNpmWrapper,
  formatVersion,
  migrateCommand,
  readProc,
  reloadCommand,
  removePidFile,
  validateCommand,
  watchWrapper,
  writePidFile,
  type CliIo,
} from './cli/index.ts'
import {
  ConfigError,
  formatIssue,
  loadConfigFile,
  parseConfig,
  type Config,
  type RouteConfig,
} from './config/index.ts'
import {
  DEMO_FLOW_STEPS,
  DEMO_PRICE,
  demoBanner,
  demoConfig,
  flowContext,
  openDemoStorage,
  runFlow,
  startDemoChain,
  startDemoUpstream,
  type DemoChain,
  type DemoStorage,
} from './demo/index.ts'
import { isGatewayError } from './errors/index.ts'
import { Gateway, Reloader, watchConfigFile, type ConfigSource } from './lifecycle/index.ts'
import { AccessLog, createRootLogger, describeUpstream, GatewayMetrics } from './observability/index.ts'
import { createChain, loadChainEnv, loadSigner, type Chain } from './blockchain/index.ts'
import { createRequestIdSource } from './http/index.ts'
import { paidChainSettings, startPaidLayer, type PaidLayer, type SecretRef } from './payments/index.ts'
import { createDbQuoteStore } from './payments/pipeline/index.ts'
import { openStorage, storageOptionsFromConfig, type Storage } from './storage/index.ts'
import {
  createLimiterMetrics,
  openLimiterStore,
  redisClientOptions,
  type OpenedLimiterStore,
} from './limits/index.ts'
import { createRedisRevocationBus, type RevocationBus } from './tokens/index.ts'
import { openQuotaStore, type OpenedQuotaStore } from './qos/index.ts'

const USAGE = `usage:
  litgate run -c FILE [--log-level LEVEL] [--pid-file PATH]
                                            serve (SIGHUP reloads, SIGTERM/SIGINT drain); --pid-file
                                            writes the gateway's pid once listening, removed on exit
  litgate validate -c FILE [--strict]       check a config file and the TLS files it names; exit 0
                                            when valid (--strict: warnings fail too)
  litgate reload -c FILE [--admin ADDR]     validate FILE, then reload the running gateway through its
                                            admin API; ADDR is host:port or http://host:port
                                            (default: admin.host/port from FILE); sends the
                                            bearer token LITGATE_ADMIN_TOKEN when set
  litgate migrate -c FILE                   apply pending database migrations (storage section)
  litgate demo [--port N] [--flow]          sell access on embedded defaults (a local anvil with the
                                            contracts, PGlite, demo backends, a free and a paid route);
                                            --flow: a scripted buyer pays, exit 0 when every step passed
  litgate --version                         package version and git commit
`

const io: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
}

/** The package root (for --version): bin/litgate.js and src/ sit right under it. */
const ROOT = resolve(import.meta.dirname, '..')

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
        'pid-file': { type: 'string' },
        strict: { type: 'boolean' },
        flow: { type: 'boolean' },
        version: { type: 'boolean', short: 'V' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`)
    return EXIT.usage
  }
  const { values, positionals } = parsed
  if (values.version === true || positionals[0] === 'version') {
    io.stdout(formatVersion(describeVersion(ROOT)))
    return EXIT.ok
  }
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
  const pidFile = values['pid-file']
  if (pidFile === '') return usage('--pid-file needs a path')
  switch (command) {
    case 'validate':
      return validateCommand(values.config, { isStrict: values.strict === true }, io)
    case 'reload':
      return reloadCommand(values.config, values.admin, io, env['LITGATE_ADMIN_TOKEN'])
    case 'migrate':
      return migrateCommand(values.config, { env }, io)
    case 'run': {
      if (values.config === undefined) return usage('run needs -c FILE')
      const log = createRootLogger({ level: level ?? 'info' })
      return run(values.config, log, level, env, pidFile)
    }
    case 'demo': {
      const isFlow = values.flow === true
      // The flow picks free ports (a running demo may hold 8080) unless told otherwise.
      const port = Number(values.port ?? (isFlow ? 0 : (env['PORT'] ?? 8080)))
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        return usage(`invalid --port ${String(values.port)}`)
      // The flow's step lines are its output: the gateway logs only warnings unless asked for more.
      const demoLevel = level ?? (isFlow ? 'warn' : undefined)
      const log = createRootLogger({ level: demoLevel ?? 'info' })
      return demo({ port, isFlow }, log, demoLevel, env, pidFile)
    }
    default:
      return usage(`unknown command ${JSON.stringify(command)}`)
  }
}

function usage(message: string): number {
  process.stderr.write(`${message}\n${USAGE}`)
  return EXIT.usage
}

/**
 * Start-up failures with a code of their own (address in use, TLS files, pid file) are one line: in the
 * log and on stderr, no stack. Anything else is a bug: INTERNAL_ERROR with the error, as before.
 */
function reportStartFailure(log: Logger, what: string, err: unknown): void {
  if (isGatewayError(err) && err.code !== 'INTERNAL_ERROR') {
    log.error({ code: err.code, detail: err.message }, `${what} failed to start`)
    process.stderr.write(`error: ${err.code}: ${err.message}\n`)
  } else {
    log.error({ err, code: 'INTERNAL_ERROR' }, `${what} failed to start`)
  }
  log.flush()
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
  configFile: string | null,
  env: Env,
  opened?: OpenedStorage,
): Promise<Operated | undefined> {
  if (levelOverride === undefined) log.level = config.logging.level
  // Fail closed: a route sold through `routes[].access` is never proxied unpaid. The validator already
  // requires paidAccess for it; this guards the composition itself.
  if (config.paidAccess === undefined && config.routes.some((r) => r.access !== 'public')) {
    log.error({ code: 'CONFIG_INVALID' }, 'routes[].access lists plans, but there is no paidAccess section')
    log.flush()
    return undefined
  }
  // The admin tokens are read before anything starts: a non-loopback admin without tokens, or a token
  // that cannot be read, stops the start with nothing bound.
  let adminCredentials: AdminCredentials | undefined
  if (config.admin.enabled) {
    try {
      adminCredentials = await loadAdminCredentials(config.admin, { env })
      assertAdminExposure(config.admin.host, adminCredentials)
    } catch (err) {
      reportStartFailure(log, 'admin listener', err)
      return undefined
    }
    if (!adminCredentials.isEnabled)
      log.warn(
        { host: config.admin.host },
        'admin API without authentication (admin.tokens is empty): anyone on this host can reload and revoke',
      )
  }
  const registry = new Registry()
  // The chain client: for the paid layer (paidAccess.chain, tuned by LITGATE_CHAIN_*), or opt-in through
  // LITGATE_CHAIN / LITGATE_CHAIN_RPC_URLS. A plain reverse proxy never touches the network beyond its
  // backends. A bad chain setting fails start-up with the variable named.
  let chain: Chain | undefined
  const paidConfig = config.paidAccess
  if (
    paidConfig !== undefined ||
    env['LITGATE_CHAIN'] !== undefined ||
    env['LITGATE_CHAIN_RPC_URLS'] !== undefined
  ) {
    try {
      const settings = paidConfig === undefined ? loadChainEnv(env) : paidChainSettings(paidConfig.chain, env)
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
  // The paid layer: storage (migrated at start), the payment pipeline, quotes and the 402 challenge.
  let paid: { layer: PaidLayer; storage: Storage } | undefined
  const serving: { gateway?: Gateway } = {}
  if (paidConfig !== undefined && chain !== undefined) {
    try {
      paid = await startPaid(config, {
        log,
        registry,
        chain,
        env,
        routes: () => serving.gateway?.runtime.config.routes ?? config.routes,
        ...(opened === undefined ? {} : { opened }),
      })
    } catch (err) {
      await chain.close()
      reportStartFailure(log, 'paid access', err)
      return undefined
    }
  }
  const metrics = new GatewayMetrics(registry, { processMetrics: true })
  // Per-IP rate limit state: in memory, or in Redis shared by every instance (ioredis: the one client
  // library for Redis in the project). Start-up does not wait for Redis (see openLimiterStore).
  let limiter: OpenedLimiterStore
  try {
    limiter = await openLimiterStore(config.rateLimit, {
      env,
      log: log.child({ subsystem: 'ratelimit' }),
      createRedis: (url, options) => new Redis(url, options),
    })
  } catch (err) {
    await closePaid(paid, chain)
    reportStartFailure(log, 'rate limiter', err)
    return undefined
  }
  const limiterHooks = createLimiterMetrics(registry, limiter.store)
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
      pid: process.pid,
      ...(paid === undefined
        ? {}
        : { admission: [paid.layer.admission], localEndpoints: paid.layer.localEndpoints }),
      onExchangeEnd,
      onAttemptFailure: metrics.observeAttemptFailure,
      // @opentelemetry/api: a no-op tracer until an SDK registers a provider; not created when disabled.
      ...(isTracing ? { tracer: trace.getTracer('litgate') } : {}),
      onHealthTransition: (upstream, t) => metrics.observeHealthTransition(upstream, t.backendId, t.to),
      onBreakerTransition: (backendId, _from, to) => metrics.observeBreakerTransition(backendId, to),
      rateLimit: { store: limiter.store, hooks: limiterHooks },
      onHttp2Abuse: metrics.observeHttp2Abuse,
    })
  } catch (err) {
    await closePaid(paid, chain)
    await limiter.close()
    reportStartFailure(log, 'gateway', err)
    return undefined
  }
  serving.gateway = gateway
  metrics.bind({
    state: () => gateway.state,
    configVersion: () => gateway.runtime.version,
    connections: () => gateway.connections(),
    slowClients: () => gateway.slowClients(),
    upstreams: () => Array.from(gateway.runtime.upstreams.values(), describeUpstream),
  })
  // Never block the proxy on the chain: it starts in the background and degrades on its own (the paid
  // layer started it already).
  if (paid === undefined)
    chain?.start().catch((err: unknown) => {
      log.error(
        { code: (err as { code?: string }).code, err: (err as Error).message },
        'chain client failed to start; payments degraded',
      )
    })
  let routeIds = new Set(config.routes.map((r) => r.id))
  // Admin tokens are re-read by every reload's load step (a failure fails the reload, nothing applied) and
  // swapped in one assignment when the reload applies.
  let pendingCredentials: AdminCredentials | undefined
  const load: ConfigSource =
    adminCredentials === undefined
      ? source
      : async () => {
          const loaded = await source()
          if (!loaded.ok) return loaded
          const next = await loadAdminCredentials(loaded.config.admin, { env })
          assertAdminExposure(config.admin.host, next)
          if (!next.isEnabled && adminCredentials?.isEnabled === true)
            log.warn(
              { host: config.admin.host },
              'the reloaded config has no admin.tokens: the admin API is open to anyone on this host',
            )
          pendingCredentials = next
          return loaded
        }
  const reloader = new Reloader({
    target: gateway,
    load,
    log,
    onOutcome: (outcome, next) => {
      if (outcome.ok && pendingCredentials !== undefined) adminCredentials = pendingCredentials
      pendingCredentials = undefined
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
        credentials: () => adminCredentials as AdminCredentials,
        audit: createAdminAudit({
          log: log.child({ subsystem: 'admin' }),
          ...(paid === undefined ? {} : { repository: paid.storage.audit }),
        }),
        ...(paid === undefined ? {} : { subscriptions: paid.storage.subscriptions }),
        isReady: () => gateway.isReady(),
        status: () => ({
          pid: process.pid,
          configFile,
          state: gateway.state,
          version: gateway.runtime.version,
          connections: gateway.connections(),
          listeners: gateway.addresses(),
          lastReload: reloader.last,
          ...(chain === undefined ? {} : { chain: chain.status() }),
          ...(paid === undefined ? {} : { paidAccess: paid.layer.status() }),
        }),
        ...(chain === undefined
          ? {}
          : {
              readyDetails: () => ({
                chain: chain.status(),
                ...(paid === undefined ? {} : { paidAccess: paid.layer.status() }),
              }),
            }),
        ...(paid === undefined ? {} : { routes: paid.layer.adminRoutes }),
        reload: () => reloader.reload('admin'),
      })
    } catch (err) {
      await gateway.stop(0)
      await closePaid(paid, chain)
      await limiter.close()
      reportStartFailure(log, 'admin listener', err)
      return undefined
    }
  }
  const unwatch =
    configFile !== null && config.reload.watchFile
      ? watchConfigFile(configFile, { debounceMs: config.reload.watchDebounceMs }, () => {
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
      await closePaid(paid, chain)
      await limiter.close()
    },
  }
}

type OpenedStorage = Awaited<ReturnType<typeof openStorage>>

/** Opens and migrates the storage, then starts the paid layer over it (storage closed again on failure). */
async function startPaid(
  config: Config,
  deps: {
    readonly log: Logger
    readonly registry: Registry
    readonly chain: Chain
    readonly env: Env
    readonly routes: () => readonly RouteConfig[]
    /** The config's storage, opened already (the demo opens it while its chain deploys). */
    readonly opened?: OpenedStorage
  },
): Promise<{ layer: PaidLayer; storage: Storage }> {
  const { storage, migration } =
    deps.opened ??
    (await openStorage(await storageOptionsFromConfig(config.storage, { env: deps.env }), {
      onIdleError: (err) => deps.log.warn({ err: err.message }, 'storage: idle connection error'),
    }))
  if (migration.applied.length > 0)
    deps.log.info(
      { from: migration.from, to: migration.to, applied: migration.applied.map((m) => m.version) },
      'storage migrated',
    )
  let quota: OpenedQuotaStore | undefined
  try {
    const requestIds = createRequestIdSource()
    const revocationBus = await openRevocationBus(config, deps)
    // Per-subscription QoS state: where the per-IP limiter keeps its own (rateLimit.store).
    quota = await openQuotaStore(config.rateLimit, {
      env: deps.env,
      log: deps.log.child({ subsystem: 'qos' }),
      createRedis: (url, options) => new Redis(url, options),
    })
    const layer = await startPaidLayer(config, {
      ...(revocationBus === undefined ? {} : { revocationBus }),
      quota,
      quotaOnError: config.rateLimit.redis?.onError ?? 'allow',
      log: deps.log,
      registry: deps.registry,
      chain: deps.chain,
      storage,
      routes: deps.routes,
      readSecret: (ref) => readSecretRef(ref, deps.env),
      randomBytes: (n) => randomBytes(n),
      nextRequestId: () => requestIds.next(),
      quoteStore: createDbQuoteStore(
        storage,
        config.paidAccess === undefined
          ? {}
          : { retentionSeconds: config.paidAccess.quotes.retentionSeconds },
      ),
    })
    return { layer, storage }
  } catch (err) {
    await quota?.close()
    await storage.close()
    throw err
  }
}

/**
 * The access tokens' revocation fan-out over Redis pub/sub (`paidAccess.tokens.revocations.redis`, else
 * `rateLimit.redis`): a publisher and a subscriber connection (a subscribed connection issues no other
 * command). Undefined without tokens or without Redis (this instance and the database poll only).
 */
async function openRevocationBus(
  config: Config,
  deps: { readonly log: Logger; readonly env: Env },
): Promise<RevocationBus | undefined> {
  const tokens = config.paidAccess?.tokens
  const ref = tokens?.revocations.redis?.url ?? config.rateLimit.redis?.url
  if (tokens === undefined || ref === undefined) return undefined
  const url = (await readSecretRef(ref as SecretRef, deps.env)).trim()
  const log = deps.log.child({ subsystem: 'tokens' })
  const options = { ...redisClientOptions(1000), connectionName: 'litgate-revocations' }
  const publisher = new Redis(url, options)
  // The subscriber queues its SUBSCRIBE until connected and resubscribes after a reconnect.
  const subscriber = new Redis(url, {
    connectionName: 'litgate-revocations',
    connectTimeout: options.connectTimeout,
  })
  let lastLogAt = -Infinity
  const onError = (err: Error): void => {
    if (performance.now() - lastLogAt < 10_000) return
    lastLogAt = performance.now()
    log.warn({ err: err.message }, 'revocation redis error (the database poll still carries revocations)')
  }
  publisher.on('error', onError)
  subscriber.on('error', onError)
  return createRedisRevocationBus(
    {
      publisher,
      subscriber,
      close: async () => {
        publisher.disconnect()
        subscriber.disconnect()
      },
    },
    { channel: tokens.revocations.channel, onError },
  )
}

async function closePaid(
  paid: { layer: PaidLayer; storage: Storage } | undefined,
  chain: Chain | undefined,
): Promise<void> {
  await paid?.layer.close()
  await paid?.storage.close()
  await chain?.close()
}

/** A secret reference of the config: an environment variable or a file (read here, trimmed by the caller). */
async function readSecretRef(ref: SecretRef, env: Env): Promise<string> {
  if (ref.fromEnv !== undefined) {
    const value = env[ref.fromEnv]
    if (value === undefined || value.trim() === '') throw new Error(`${ref.fromEnv} is unset`)
    return value
  }
  return readFile(ref.file as string, 'utf8')
}

interface ServeOptions {
  /** The npm wrapper chain to watch (see watchWrapper); empty when npm did not start us. */
  readonly wrapper: readonly number[]
  /** Runs on every way out of serve (drained, forced, second signal): removes the pid file. */
  readonly onExit: () => void
}

/**
 * Serves until a signal stops it; resolves with the exit code. SIGHUP reloads; the first SIGTERM or
 * SIGINT drains until server.shutdownTimeoutMs (exit 0 drained, 3 forced); a second one exits at once (3).
 * The death of the npm process that started us (see watchWrapper) drains like SIGTERM.
 */
function serve(op: Operated, config: Config, log: Logger, options: ServeOptions): Promise<number> {
  const { gateway, reloader, metrics } = op
  return new Promise<number>((resolve) => {
    let isStopping = false
    const onStop = (signal: NodeJS.Signals | undefined, wrapperPid?: number): void => {
      if (isStopping) {
        // The wrapper dying while we drain (npm re-raises the signal it forwarded) is no second signal.
        if (signal === undefined) return
        log.warn(
          { signal, code: 'SHUTDOWN_DEADLINE_EXCEEDED', connections: gateway.connections() },
          'second signal: exiting now',
        )
        log.flush()
        options.onExit()
        process.exit(EXIT.forced)
      }
      isStopping = true
      stopWatch()
      // The config serving now, not the one started with: shutdownTimeoutMs is applied on reload.
      const deadlineMs = gateway.runtime.config.server.shutdownTimeoutMs
      const startedAt = performance.now()
      const cause = signal === undefined ? { reason: 'wrapper exited', wrapperPid } : { signal }
      log.info({ ...cause, deadlineMs, connections: gateway.connections() }, 'draining')
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
        options.onExit()
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
    const stopWatch = watchWrapper(options.wrapper, {
      ppid: () => process.ppid,
      read: readProc,
      intervalMs: 250,
      onGone: (pid) => onStop(undefined, pid),
    })
  })
}

/**
 * Before anything binds: a pid file naming a live process refuses the start (PID_FILE_IN_USE); a
 * stale one is logged and overwritten later. True when start-up may go on.
 */
function precheckPidFile(log: Logger, pidFile: string | undefined): boolean {
  if (pidFile === undefined) return true
  try {
    const stale = checkPidFile(pidFile, process.pid)
    if (stale !== undefined)
      log.warn({ pidFile, stalePid: stale }, 'stale pid file: its process is gone; overwriting')
    return true
  } catch (err) {
    reportStartFailure(log, 'gateway', err)
    return false
  }
}

/**
 * Once every listener is bound: writes the pid file, finds the npm wrapper to watch (only when npm's
 * environment says npm started us), then serves. The pid file goes away on every exit through serve.
 */
async function serveOperated(
  op: Operated,
  config: Config,
  log: Logger,
  env: Env,
  pidFile: string | undefined,
): Promise<number> {
  if (pidFile !== undefined) {
    try {
      writePidFile(pidFile, process.pid)
    } catch (err) {
      await op.gateway.stop(0)
      await op.close()
      reportStartFailure(log, 'gateway', err)
      return EXIT.failure
    }
  }
  const isUnderNpm = env['npm_command'] !== undefined || env['npm_lifecycle_event'] !== undefined
  const wrapper = isUnderNpm ? findNpmWrapper(process.ppid, readProc) : []
  if (wrapper.length > 0) {
    const fields = { pid: process.pid, wrapperPids: wrapper }
    if (wrapper.length === 1) log.info(fields, 'started by npm: SIGTERM/SIGINT to npm reach the gateway')
    else {
      log.warn(
        fields,
        'started by npm through a shell (npx / npm exec): only the gateway pid takes SIGHUP and SIGINT; ' +
          'SIGTERM to npm drains',
      )
    }
  }
  return serve(op, config, log, {
    wrapper,
    onExit: () => {
      if (pidFile !== undefined) removePidFile(pidFile, process.pid)
    },
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
  pidFile: string | undefined,
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
  if (!precheckPidFile(log, pidFile)) return EXIT.failure
  // The absolute path: `/status` reports it, and `litgate reload -c FILE` compares FILE with it.
  const configFile = resolve(path)
  const op = await operate(loaded.config, log, levelOverride, fileSource(path), configFile, env)
  if (op === undefined) return exitSoon(EXIT.failure)
  return exitSoon(await serveOperated(op, loaded.config, log, env, pidFile))
}

interface DemoOptions {
  readonly port: number
  /** Run the scripted buyer against the demo, then stop (exit 0 only when every step behaved). */
  readonly isFlow: boolean
}

/**
 * Where the demo keeps its PGlite template (see openDemoStorage): `$XDG_CACHE_HOME/litgate`, else
 * `~/.cache/litgate`; `LITGATE_DEMO_CACHE=off` turns the cache off (initdb every run).
 */
function demoCacheDir(env: Env): string | undefined {
  if (env['LITGATE_DEMO_CACHE'] === 'off') return undefined
  const base =
    env['XDG_CACHE_HOME'] !== undefined && env['XDG_CACHE_HOME'] !== ''
      ? env['XDG_CACHE_HOME']
      : join(homedir(), '.cache')
  return join(base, 'litgate')
}

/** The environment variable the demo hands its quote-signer key over in (its own env copy only). */
const DEMO_QUOTE_KEY_ENV = 'LITGATE_DEMO_QUOTE_KEY'
const DEMO_TOKEN_KEY_ENV = 'LITGATE_DEMO_TOKEN_KEY'

/**
 * `litgate demo`: sells access on embedded defaults. A local anvil (the npm package's binary) with the
 * contracts, both test stablecoins, a plan on sale and a funded buyer; PGlite in a fresh temporary
 * directory; two demo backends behind a free and a paid route; the admin listener. Everything it started
 * (anvil by pid, the directory) goes away on every way out, a forced exit included.
 */
async function demo(
  options: DemoOptions,
  log: Logger,
  levelOverride: LevelWithSilent | undefined,
  env: Env,
  pidFile: string | undefined,
): Promise<number> {
  const t0 = performance.now()
  if (!precheckPidFile(log, pidFile)) return EXIT.failure
  const dir = await mkdtemp(join(tmpdir(), 'litgate-demo-'))
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true })
  // Until serve() takes the signals over (and for the whole --flow run): a signal stops what the demo
  // started and exits, instead of Node's default of dying with anvil orphaned.
  let startedAnvil: { killNow(): void } | undefined
  const onEarlySignal = (signal: NodeJS.Signals): void => {
    log.warn({ signal }, 'demo interrupted: stopping anvil, removing the data directory')
    log.flush()
    startedAnvil?.killNow()
    removeDir()
    process.exit(EXIT.forced)
  }
  const takeSignals = (): void => {
    process.on('SIGINT', onEarlySignal)
    process.on('SIGTERM', onEarlySignal)
  }
  const releaseSignals = (): void => {
    process.off('SIGINT', onEarlySignal)
    process.off('SIGTERM', onEarlySignal)
  }
  takeSignals()
  const dataDir = join(dir, 'data')
  // PGlite's first start (initdb in WebAssembly) costs seconds of CPU: it runs while the contracts deploy.
  let storageMs = 0
  const opening = openDemoStorage({
    dataDir,
    cacheDir: demoCacheDir(env),
    onIdleError: (err) => log.warn({ err: err.message }, 'storage: idle connection error'),
  }).then((o) => {
    storageMs = Math.round(performance.now() - t0)
    return o
  })
  let chain: DemoChain
  let opened: DemoStorage
  try {
    const settled = await Promise.allSettled([
      startDemoChain({
        ...(env['ANVIL_BIN'] === undefined ? {} : { anvilBinary: env['ANVIL_BIN'] }),
        deploymentsDir: join(dir, 'deployments'),
        randomBytes: (n) => randomBytes(n),
        onAnvilStarted: (a) => (startedAnvil = a),
      }),
      opening,
    ])
    const [c, o] = settled
    if (c.status === 'rejected' || o.status === 'rejected') {
      if (c.status === 'fulfilled') await c.value.anvil.stop()
      if (o.status === 'fulfilled') await o.value.storage.close()
      throw c.status === 'rejected' ? c.reason : (o as PromiseRejectedResult).reason
    }
    chain = c.value
    opened = o.value
  } catch (err) {
    releaseSignals()
    removeDir()
    log.error({ err: (err as Error).message }, 'demo chain or storage failed to start')
    process.stderr.write(`error: demo failed to start: ${(err as Error).message}\n`)
    log.flush()
    return EXIT.failure
  }
  const { anvil } = chain
  // A synchronous last resort (second signal, uncaught error): never leave anvil or the data behind.
  const onProcessExit = (): void => {
    anvil.killNow()
    removeDir()
  }
  process.once('exit', onProcessExit)
  log.info(
    {
      pid: anvil.pid,
      rpc: anvil.url,
      ...chain.timings,
      storageMs,
      storage: opened.source,
      dataDir,
      migratedTo: opened.migration.to,
    },
    'demo chain and storage ready',
  )
  const tChain = performance.now()
  const backends = await Promise.all([startDemoUpstream('backend-a'), startDemoUpstream('backend-b')])
  const stopDemo = async (): Promise<void> => {
    await Promise.all(backends.map((b) => b.close()))
    await anvil.stop()
    removeDir()
    process.off('exit', onProcessExit)
  }
  const parsed = parseConfig(
    JSON.stringify(
      demoConfig(
        options.port,
        backends.map((b) => b.url),
        // The admin listener is ephemeral when the gateway port is.
        options.port === 0 ? 0 : 9901,
        {
          rpcUrl: anvil.url,
          deploymentsDir: join(dir, 'deployments'),
          dataDir,
          planId: chain.planId,
          prices: { [chain.usdc]: DEMO_PRICE, [chain.usdt]: DEMO_PRICE },
          quoteSignerEnv: DEMO_QUOTE_KEY_ENV,
          tokenKeyEnv: DEMO_TOKEN_KEY_ENV,
        },
      ),
    ),
    'json',
  )
  if (!parsed.ok)
    throw new Error(`invariant: the demo config is invalid: ${parsed.issues.map(formatIssue).join('; ')}`)
  const config = parsed.config
  // The demo config is built in memory: a reload re-applies it (nothing to re-read).
  const source: ConfigSource = () => Promise.resolve({ ok: true, config, warnings: [] })
  const op = await operate(
    config,
    log,
    levelOverride,
    source,
    null,
    {
      ...env,
      [DEMO_QUOTE_KEY_ENV]: chain.quoteSignerKey,
      // A fresh access-token signing key per run, handed over in the demo's own env (never the shell's).
      [DEMO_TOKEN_KEY_ENV]: generateKeyPairSync('ed25519')
        .privateKey.export({ format: 'pem', type: 'pkcs8' })
        .toString(),
    },
    opened,
  )
  if (op === undefined || op.admin === undefined) {
    await op?.gateway.stop(0)
    await op?.close()
    await opened.storage.close() // idempotent: operate may have closed it already
    await stopDemo()
    releaseSignals()
    return EXIT.failure
  }
  const url = `http://127.0.0.1:${op.gateway.addresses()['demo']?.port ?? options.port}`
  const admin = `http://127.0.0.1:${op.admin.address().port}`
  const basePath = config.paidAccess?.basePath ?? '/litgate/v1'
  const timings = {
    // performance.now() counts from the process start: Node and the module graph load first.
    'since process start': Math.round(performance.now()),
    total: Math.round(performance.now() - t0),
    anvil: chain.timings.anvilMs,
    contracts: chain.timings.deployMs,
    buyer: chain.timings.fundMs,
    [`PGlite ${opened.source === 'template' ? 'from the cached template' : 'initdb'} (in parallel)`]:
      storageMs,
    gateway: Math.round(performance.now() - tChain),
  }
  if (options.isFlow) {
    process.stdout.write(
      `litgate demo --flow: gateway ${url}, admin ${admin}, anvil pid ${anvil.pid} at ${anvil.url}; ` +
        `ready ${timings['since process start']} ms after the process started (${Object.entries(timings)
          .map(([k, v]) => `${k} ${v} ms`)
          .join(', ')})\n`,
    )
    const outcome = await runFlow(
      DEMO_FLOW_STEPS,
      flowContext({
        gatewayUrl: url,
        adminUrl: admin,
        basePath,
        rpcUrl: anvil.url,
        chainId: chain.deployment.chainId,
        paymentProcessor: chain.deployment.paymentProcessor,
        token: chain.usdc,
        buyer: chain.buyer,
      }),
      (line) => process.stdout.write(line),
    )
    const count = (s: string): number => outcome.results.filter((r) => r.status === s).length
    const code = outcome.isOk ? EXIT.ok : EXIT.failure
    process.stdout.write(
      `flow: ${count('ok')} ok, ${count('pending')} pending, ${count('failed')} failed, ` +
        `${count('skipped')} skipped in ${outcome.totalMs} ms → exit ${code}\n`,
    )
    await op.gateway.stop(config.server.shutdownTimeoutMs)
    await op.close()
    await stopDemo()
    releaseSignals()
    return exitSoon(code)
  }
  process.stdout.write(
    demoBanner({
      gatewayUrl: url,
      adminUrl: admin,
      backendUrls: backends.map((b) => b.url),
      basePath,
      rpcUrl: anvil.url,
      anvilPid: anvil.pid,
      chainId: chain.deployment.chainId,
      paymentProcessor: chain.deployment.paymentProcessor,
      usdc: chain.usdc,
      usdt: chain.usdt,
      buyer: chain.buyer.address,
      dataDir,
      timings,
    }),
  )
  releaseSignals() // serve() installs its own: drain, then stop the demo below
  const code = await serveOperated(op, config, log, env, pidFile)
  await stopDemo()
  return exitSoon(code)
}
