/**
 * The paid layer as `litgate run` serves it: one object that owns the payment pipeline (monitor +
 * subscriptions over the database) and the quote/402 surface, and stays correct while the chain is away.
 *
 * Phases (explicit; docs/payments.md "Degraded mode"):
 *
 *   loading --(chain facts read and checked)--> ready
 *   loading --(chain unreachable)--> degraded --(retry succeeds)--> ready
 *   loading/degraded --(plan, key or chain mismatch)--> failed   (at start: start-up fails instead)
 *
 * Until `ready`, a paid route is refused with 503 CHAIN_UNAVAILABLE and Retry-After (fail closed: never
 * proxied unpaid, never a 402 whose prices were not checked against the contract), and `{base}/…` answers
 * the same. Once ready, the quote endpoint itself answers 503 while chain reads fail (quote-http.ts).
 * The pipeline starts independently: it needs only the contract address (config or deployments file) and
 * the database; its monitor retries on its own while the chain is down.
 */
import { createHash } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { Gauge, type Registry } from 'prom-client'
import { getAddress, type Address } from 'viem'
import type { AdminRoute } from '../admin/index.ts'
import { confirmationFromConfig } from './paid-chain.ts'
import type { Chain, ConfirmationPolicy } from '../blockchain/index.ts'
import type { Config, RouteConfig } from '../config/index.ts'
import { readDeployment } from '../contracts/index.ts'
import {
  buildProblem,
  ERROR_CODES,
  GatewayError,
  isGatewayError,
  PROBLEM_CONTENT_TYPE,
  type ErrorCode,
} from '../errors/index.ts'
import type { LocalEndpoints } from '../http/index.ts'
import {
  compileQuotaLimits,
  createQosGate,
  createQosMetrics,
  createUsageFlusher,
  createUsageRoute,
  MemoryQuotaStore,
  MONTH_SECONDS,
  type OpenedQuotaStore,
  type QosGate,
  type QuotaLimits,
} from '../qos/index.ts'
import { isAdmissionGrant, type AdmissionStage } from '../runtime/index.ts'
import type { CredentialCheck, CredentialVerdict } from './challenge.ts'
import type { Storage } from '../storage/index.ts'
import type { Bytes32 } from '../subscriptions/index.ts'
import { JWKS_PATH, startTokens, type RevocationBus, type Tokens } from '../tokens/index.ts'
import { canonicalJson } from './challenge.ts'
import { createPaidAccess, type PaidAccess, type SecretRef } from './paid-access.ts'
import { createPaymentPipeline, type PaymentPipeline } from './pipeline/index.ts'
import type { QuoteStore } from './quote-store.ts'
import { createTokenBuckets } from './rate-limit.ts'

export type PaidLayerPhase = 'loading' | 'degraded' | 'ready' | 'failed'

/** Errors that no retry can cure: the configuration disagrees with the chain or a secret is unusable. */
const FATAL: ReadonlySet<ErrorCode> = new Set([
  'PLAN_CHAIN_MISMATCH',
  'CHAIN_KEY_INVALID',
  'CHAIN_CONFIG_INVALID',
  'CHAIN_WRONG_ID',
  'TOKEN_KEY_INVALID',
])

export interface PaidLayerDeps {
  readonly log: Logger
  readonly registry?: Registry
  /** The chain client serving `paidAccess.chain` (started by the layer). */
  readonly chain: Chain
  /** Migrated storage; the caller closes it after `close()`. */
  readonly storage: Storage
  /** The serving config's routes (`() => gateway.runtime.config.routes`), so reloads are followed. */
  readonly routes: () => readonly RouteConfig[]
  readonly readSecret: (ref: SecretRef) => Promise<string>
  readonly randomBytes: (n: number) => Uint8Array
  readonly nextRequestId: () => string
  /** The quote store (default: the in-memory one of createPaidAccess). */
  readonly quoteStore?: QuoteStore
  readonly nowMs?: () => number
  /** Pause between attempts to read the chain facts while degraded (default 5 s, doubling up to 60 s). */
  readonly retryBaseMs?: number
  /** Access-token revocations to and from the other instances (Redis pub/sub), with `paidAccess.tokens`. */
  readonly revocationBus?: RevocationBus
  /**
   * Per-subscription QoS state (src/qos; main.ts opens it after `rateLimit.store`). Default: in memory.
   * The layer closes it.
   */
  readonly quota?: OpenedQuotaStore
  /** `rateLimit.redis.onError` for the QoS store (default allow). */
  readonly quotaOnError?: 'allow' | 'deny'
}

export interface PaidLayerStatus {
  readonly phase: PaidLayerPhase
  readonly chainId: number
  readonly contract: Address
  readonly confirmation: ConfirmationPolicy
  readonly quoteSigner: Address | null
  readonly plans: readonly string[]
  /** Why the layer is degraded or failed (an error code and message; never a secret). */
  readonly lastError: { readonly code: string; readonly message: string } | null
  readonly monitor: { readonly running: boolean; readonly halted: string | null }
  readonly subscriptions: ReturnType<PaymentPipeline['subscriptions']['status']>
}

export interface PaidLayer {
  readonly phase: PaidLayerPhase
  /** Install in GatewayDeps.admission (first: a paid route is refused or challenged before anything else). */
  readonly admission: AdmissionStage
  /** Install as GatewayDeps.localEndpoints. */
  readonly localEndpoints: LocalEndpoints
  /** For AdminDeps.routes (`GET {base}/subscriptions/:id`). */
  readonly adminRoutes: readonly AdminRoute[]
  readonly pipeline: PaymentPipeline
  /** The quote/402 surface once ready. */
  readonly access: PaidAccess | undefined
  /** The access tokens (`paidAccess.tokens`); undefined when not configured. */
  readonly tokens: Tokens | undefined
  status(): PaidLayerStatus
  close(): Promise<void>
}

/** `litgate_paid_access_ready`: read at scrape time. */
export function registerPaidAccessGauge(registry: Registry, isReady: () => boolean): void {
  new Gauge({
    name: 'litgate_paid_access_ready',
    help: 'Whether the paid layer sells (1: chain facts checked, quotes served) or refuses paid routes (0).',
    registers: [registry],
    collect() {
      this.set(isReady() ? 1 : 0)
    },
  })
}

const describe = (err: unknown): { code: string; message: string } =>
  isGatewayError(err)
    ? { code: err.code, message: err.message }
    : { code: 'INTERNAL_ERROR', message: err instanceof Error ? err.message : String(err) }

/**
 * Whether a route id has a property, from the serving routes: the id set is rebuilt only when the routes
 * array changes (a reload swaps it), so the request path pays one Set lookup.
 */
function routeIdPredicate(
  routes: () => readonly RouteConfig[],
  pick: (route: RouteConfig) => boolean,
): (routeId: string) => boolean {
  let seen: readonly RouteConfig[] | undefined
  let ids = new Set<string>()
  return (routeId) => {
    const current = routes()
    if (current !== seen) {
      seen = current
      ids = new Set(current.filter(pick).map((r) => r.id))
    }
    return ids.has(routeId)
  }
}

/**
 * Builds and starts the paid layer of `config.paidAccess`. Resolves once the first attempt to read the
 * chain facts ended: ready, or degraded (retrying in the background). Rejects (having released what it
 * started) when the chain says the configuration is wrong: PLAN_CHAIN_MISMATCH, CHAIN_KEY_INVALID,
 * CHAIN_CONFIG_INVALID, CHAIN_WRONG_ID.
 */
export async function startPaidLayer(config: Config, deps: PaidLayerDeps): Promise<PaidLayer> {
  const paid = config.paidAccess
  if (paid === undefined) throw new Error('startPaidLayer: the config has no paidAccess section')
  const log = deps.log.child({ subsystem: 'paid-access' })
  const nowMs = deps.nowMs ?? Date.now
  const chainId = deps.chain.config.id
  // The contract and the monitor's first block come from config or the deployments file: no chain needed.
  let contract: Address
  let startBlock = paid.monitor.startBlock
  if (paid.contract.paymentProcessor !== undefined) {
    contract = getAddress(paid.contract.paymentProcessor)
  } else {
    const dir = paid.contract.deploymentsDir as string
    let deployment
    try {
      deployment = await readDeployment(dir, chainId)
    } catch (err) {
      throw new GatewayError(
        'CHAIN_CONFIG_INVALID',
        `paidAccess.contract.deploymentsDir: cannot read the deployment of chain ${chainId} in ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      )
    }
    contract = getAddress(deployment.paymentProcessor)
    startBlock ??= deployment.startBlock
  }
  if (startBlock === undefined) {
    startBlock = 0
    if (chainId !== 31337)
      log.warn(
        { chainId },
        'paidAccess.monitor.startBlock unset: the monitor scans from block 0 (set it to the deployment block)',
      )
  }
  const confirmation = confirmationFromConfig(paid.monitor.confirmation, deps.chain.config.confirmation)

  const pipeline = createPaymentPipeline(
    {
      chainId,
      contract,
      policy: confirmation,
      startBlock,
      maxRangeBlocks: paid.monitor.maxRangeBlocks,
      pollIntervalMs: paid.monitor.pollIntervalMs,
      subscriptions: {
        basePath: paid.basePath,
        graceMs: paid.subscriptionGraceSeconds * 1000,
        cacheMaxEntries: paid.subscriptionCacheMaxEntries,
      },
    },
    {
      storage: deps.storage,
      rpc: deps.chain.rpc,
      chainState: () => deps.chain.status().state,
      log,
      ...(deps.registry === undefined ? {} : { registry: deps.registry }),
      nowMs,
    },
  )

  let phase: PaidLayerPhase = 'loading'
  let access: PaidAccess | undefined
  let lastError: { code: string; message: string } | null = null
  let isClosed = false
  let retryTimer: NodeJS.Timeout | undefined
  let monitorRunning = false
  let monitorTimer: NodeJS.Timeout | undefined

  if (deps.registry !== undefined) registerPaidAccessGauge(deps.registry, () => phase === 'ready')

  const loadAccess = (): Promise<PaidAccess | undefined> =>
    createPaidAccess(config, {
      rpc: deps.chain.rpc,
      chainId,
      readSecret: deps.readSecret,
      randomBytes: deps.randomBytes,
      nowMs,
      requestIdHeader: config.server.requestIdHeader,
      nextRequestId: deps.nextRequestId,
      routes: deps.routes,
      ...(deps.quoteStore === undefined ? {} : { store: deps.quoteStore }),
      ...(tokens === undefined ? {} : { credential: metered(tokens.credential) }),
    })

  // Per-subscription QoS on token-admitted requests (docs/qos.md): limits compiled per PaidAccess (its
  // catalog and the on-chain periods), the store shared with the other instances when it is Redis.
  const quota =
    deps.quota ??
    (() => {
      const store = new MemoryQuotaStore()
      return { store, close: () => store.close() }
    })()
  let compiledFor: PaidAccess | undefined
  let limitsByPlan = new Map<string | number, QuotaLimits>()
  /** By plan name or on-chain plan id; compiled once per PaidAccess (its catalog and periods). */
  const limitsFor = (plan: string | number): QuotaLimits | undefined => {
    const a = access
    if (a === undefined) return undefined
    if (compiledFor !== a) {
      compiledFor = a
      limitsByPlan = new Map()
      for (const p of a.catalog.plans.values()) {
        const limits = compileQuotaLimits(p.name, p.qos, a.planPeriods.get(p.planId) ?? MONTH_SECONDS)
        limitsByPlan.set(p.name, limits)
        limitsByPlan.set(p.planId, limits)
      }
    }
    return limitsByPlan.get(plan)
  }
  // Per-period totals persisted off the request path (greatest upserts, once a minute and at close).
  const flusher = createUsageFlusher({ store: quota.store, repository: deps.storage.usage, log, nowMs })
  const gate: QosGate = createQosGate(
    { rateLimitHeaders: paid.rateLimitHeaders, onError: deps.quotaOnError ?? 'allow' },
    {
      store: quota.store,
      limitsFor,
      subscription: (id) =>
        pipeline.subscriptions.cache.peek(id as Bytes32) ?? pipeline.subscriptions.cache.get(id as Bytes32),
      log,
      ...(deps.registry === undefined ? {} : { hooks: createQosMetrics(deps.registry, quota.store) }),
      nowMs,
      onCounted: (id, limits, windows) => flusher.touch(id, limits, windows),
    },
  )
  const usageDeps = {
    store: quota.store,
    subscription: (id: string) => pipeline.subscriptions.cache.get(id as Bytes32),
    limitsForPlanId: limitsFor,
    nowMs,
  }
  const usageRoute = createUsageRoute(paid.basePath, usageDeps)
  const adminUsageRoute = createUsageRoute(paid.basePath, {
    ...usageDeps,
    history: (id) => deps.storage.usage.listTotals(id as Bytes32, 24),
  })
  const metered = (check: CredentialCheck): CredentialCheck => {
    const after = (v: CredentialVerdict, request: Parameters<CredentialCheck>[0]) =>
      typeof v === 'object' && isAdmissionGrant(v) ? gate.admit(v, request) : v
    return (request, plans) => {
      const v = check(request, plans)
      return v instanceof Promise ? v.then((r) => after(r, request)) : after(v, request)
    }
  }

  // The monitor's start reads the chain's tags: retried in the background until it works.
  // In flight while the pipeline starts: close() waits for it, so a start racing a close never leaves the
  // monitor's poll loop running (it would keep the process alive after a failed start-up).
  let starting: Promise<void> | undefined
  /** Backoff of the background retries (monitor start, chain facts): base doubling up to 60 s. */
  const retryDelayMs = (attempt: number): number =>
    Math.min(60_000, (deps.retryBaseMs ?? 5_000) * 2 ** Math.min(attempt, 4))
  const startPipeline = (attempt: number): void => {
    if (isClosed) return
    starting = (async () => {
      try {
        await pipeline.start()
        monitorRunning = true
        log.info({ contract, startBlock, confirmation }, 'payment monitor running')
      } catch (err) {
        if (isClosed) return
        const delay = retryDelayMs(attempt)
        log.warn({ ...describe(err), retryInMs: delay }, 'payment monitor could not start; retrying')
        monitorTimer = setTimeout(() => startPipeline(attempt + 1), delay)
        monitorTimer.unref()
      }
    })()
  }

  const attemptAccess = async (): Promise<'ready' | 'retry' | 'fatal'> => {
    try {
      access = await loadAccess()
      if (access === undefined) throw new Error('invariant: paidAccess vanished')
      phase = 'ready'
      lastError = null
      log.info(
        {
          contract,
          quoteSigner: access.signerAddress,
          plans: [...access.catalog.plans.keys()],
          confirmation,
        },
        'paid access ready: quotes and 402 challenges served',
      )
      return 'ready'
    } catch (err) {
      lastError = describe(err)
      if (isGatewayError(err) && FATAL.has(err.code)) {
        phase = 'failed'
        return 'fatal'
      }
      phase = 'degraded'
      return 'retry'
    }
  }

  const scheduleRetry = (attempt: number): void => {
    if (isClosed) return
    const delay = retryDelayMs(attempt)
    retryTimer = setTimeout(() => {
      void attemptAccess().then((outcome) => {
        if (outcome === 'retry') scheduleRetry(attempt + 1)
        else if (outcome === 'fatal')
          log.error(
            lastError ?? {},
            'paid access failed: the chain disagrees with the configuration; paid routes refused until restart',
          )
      })
    }, delay)
    retryTimer.unref()
  }

  // Access tokens (paidAccess.tokens): keys read now (an unusable key fails the start), the edge check handed
  // to the challenge stage as its CredentialCheck.
  let tokens: Tokens | undefined
  if (paid.tokens !== undefined) {
    const perIp = createTokenBuckets(paid.tokens.requestsPerIpPerMinute)
    try {
      tokens = await startTokens(
        {
          config: paid.tokens,
          basePath: paid.basePath,
          chainId,
          requestIdHeader: config.server.requestIdHeader,
          ...(paid.challenge.publicOrigin === undefined ? {} : { publicOrigin: paid.challenge.publicOrigin }),
        },
        {
          store: deps.storage.tokens,
          subscriptions: {
            // Fresh rows only: a row another instance may have changed is re-read (at most 1 s old).
            peek: (id) => pipeline.subscriptions.cache.fresh(id),
            get: (id) => pipeline.subscriptions.cache.get(id),
            isAllowed: (row, now) => pipeline.subscriptions.isAllowed(row, now),
          },
          // lv: the plan's configuration hash (changes when its QoS or prices change).
          plansById: new Map(
            paid.plans.map((p) => [
              p.planId,
              {
                name: p.name,
                limitsVersion: createHash('sha256').update(canonicalJson(p)).digest('hex').slice(0, 16),
              },
            ]),
          ),
          verifyMessage: (args) => deps.chain.publicClient.verifyMessage(args),
          readSecret: deps.readSecret,
          takePerIp: (ip, now) => perIp.take(ip, now),
          passAuthorization: routeIdPredicate(deps.routes, (r) => r.passAuthorization),
          subscriptionLookup: pipeline.subscriptions.adminRoute,
          usageLookup: usageRoute,
          ...(deps.revocationBus === undefined ? {} : { bus: deps.revocationBus }),
          log,
          ...(deps.registry === undefined ? {} : { registry: deps.registry }),
          randomBytes: deps.randomBytes,
          nowMs,
          nextRequestId: deps.nextRequestId,
        },
      )
    } catch (err) {
      await deps.revocationBus?.close()
      await pipeline.close()
      throw err
    }
  }

  // chain.start() resolves even with every endpoint down; it rejects only when they serve another chain.
  try {
    await deps.chain.start()
  } catch (err) {
    await tokens?.close()
    await pipeline.close()
    throw err
  }
  startPipeline(0)
  // Expired quotes are swept once a minute (the store keeps each for its retention after expiry).
  const quoteStore = deps.quoteStore
  const sweepTimer =
    quoteStore === undefined
      ? undefined
      : setInterval(() => {
          quoteStore.sweep(BigInt(Math.floor(nowMs() / 1000))).then(
            (n) => {
              if (n > 0) log.debug({ swept: n }, 'expired quotes swept')
            },
            (err: unknown) => log.warn(describe(err), 'quote sweep failed; retried in a minute'),
          )
        }, 60_000)
  sweepTimer?.unref()
  const first = await attemptAccess()
  const why = (): { code: string; message: string } => lastError ?? { code: 'INTERNAL_ERROR', message: '' }
  if (first === 'fatal') {
    isClosed = true
    clearTimeout(monitorTimer)
    clearInterval(sweepTimer)
    await starting
    await tokens?.close()
    await pipeline.close()
    throw new GatewayError(why().code as ErrorCode, why().message)
  }
  if (first === 'retry') {
    log.warn(
      why(),
      'paid access degraded: chain facts unreadable; paid routes answer 503 CHAIN_UNAVAILABLE until they are read',
    )
    scheduleRetry(0)
  }

  const isPaidRoute = routeIdPredicate(deps.routes, (r) => r.access !== 'public')
  const retryAfter = String(Math.ceil((deps.retryBaseMs ?? 5_000) / 1000))
  const unavailable = {
    code: 'CHAIN_UNAVAILABLE' as const,
    headers: { 'retry-after': retryAfter, 'cache-control': 'no-store' },
  }
  const admission: AdmissionStage = (request) => {
    if (access !== undefined) return access.challenge.stage(request)
    return isPaidRoute(request.routeId) ? unavailable : undefined
  }

  const base = paid.basePath
  const localEndpoints: LocalEndpoints = (req, res, context) => {
    if (access !== undefined)
      return (tokens?.endpoints.handle(req, res, context) ?? false) || access.quotes.handle(req, res, context)
    const url = req.url ?? '/'
    // The JWKS needs no chain: served while degraded too.
    if (tokens !== undefined && url.startsWith(JWKS_PATH)) return tokens.endpoints.handle(req, res, context)
    if (url !== base && !url.startsWith(`${base}/`) && !url.startsWith(`${base}?`)) return false
    req.resume()
    const body = JSON.stringify(
      buildProblem(
        'CHAIN_UNAVAILABLE',
        context.requestId,
        'the paid layer cannot read the chain yet; retry later',
      ),
    )
    ;(res as ServerResponse).writeHead(ERROR_CODES.CHAIN_UNAVAILABLE.status, {
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'retry-after': retryAfter,
      [config.server.requestIdHeader]: context.requestId,
    })
    if (req.method === 'HEAD') res.end()
    else res.end(body)
    return true
  }

  return {
    get phase() {
      return phase
    },
    admission,
    localEndpoints,
    adminRoutes:
      tokens === undefined
        ? [pipeline.subscriptions.adminRoute, adminUsageRoute]
        : [pipeline.subscriptions.adminRoute, adminUsageRoute, tokens.adminRoute],
    pipeline,
    get access() {
      return access
    },
    tokens,
    status: () => ({
      phase,
      chainId,
      contract,
      confirmation,
      quoteSigner: access?.signerAddress ?? null,
      plans: paid.plans.map((p) => p.name),
      lastError,
      monitor: { running: monitorRunning, halted: monitorRunning ? pipeline.monitor.halted : null },
      subscriptions: pipeline.subscriptions.status(),
    }),
    async close() {
      isClosed = true
      clearTimeout(retryTimer)
      clearTimeout(monitorTimer)
      clearInterval(sweepTimer)
      await starting
      await tokens?.close()
      await flusher.close()
      await pipeline.close()
      await quota.close()
    },
  }
}
