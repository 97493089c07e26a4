// The paid targets of the proxy benchmark (`litgate-auth`; a metering target later): what a gateway needs to
// sell its catch-all route, and a buyer holding an access token, all made the way `litgate demo` makes them
// (src/demo): anvil with the contracts, the demo plan on sale and a funded buyer (startDemoChain); the
// gateway's PGlite storage copied from the demo's migrated template (openDemoStorage); then, against the
// running gateway, one real purchase (quote, EIP-3009 payment, activation by the payment monitor) and an
// EIP-4361 sign-in for the access token: the demo flow's own steps, over the gateway's wire.
//
// Anvil is started by this process, so it inherits the bench's pinning (core 1, away from the proxy under
// test); that is checked, and it is stopped by its pid (also on exit).
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Hex } from 'viem'
import {
  DEMO_PLAN,
  DEMO_PRICE,
  demoPaidLayer,
  flowContext,
  nonceStep,
  openDemoStorage,
  payStep,
  quoteStep,
  refreshStep,
  runFlow,
  startDemoChain,
  tokenStep,
  type AnvilInstance,
  type FlowContext,
  type FlowStep,
} from '../../src/demo/index.ts'

/** The environment variables the gateway reads its two keys from (set in its own env only). */
const QUOTE_KEY_ENV = 'LITGATE_BENCH_QUOTE_KEY'
const TOKEN_KEY_ENV = 'LITGATE_BENCH_TOKEN_KEY'
const BASE_PATH = '/litgate/v1'
/** A token is refreshed when it would expire within a phase's length plus this. */
const TOKEN_MARGIN_S = 15

export type GatewayConfig = Record<string, unknown>
/** The paid sections a transform merges: `storage` and `paidAccess`. */
export type PaidLayer = ReturnType<typeof demoPaidLayer>
/** Makes a paid target's gateway config from the bench's plain one (litgateConfig) and the paid layer. */
export type PaidConfigTransform = (config: GatewayConfig, layer: PaidLayer) => GatewayConfig

/**
 * `litgate-auth`: the plain config with the paid layer at its defaults, and every route (the one catch-all)
 * sold through the demo plan, so every request carries a Bearer token through the edge token check.
 */
export const paidCatchAll: PaidConfigTransform = (config, layer) => ({
  ...config,
  ...layer,
  routes: (config['routes'] as GatewayConfig[]).map((r) => ({ ...r, access: [DEMO_PLAN] })),
})

/** A buyer's access token to a running gateway, refreshed (rotation) when a phase would outlive it. */
export interface PaidSession {
  readonly subscriptionId: Hex
  /** The current access token. */
  accessToken(): string
  /** `{ authorization: 'Bearer …' }` with the current token. */
  headers(): Record<string, string>
  /** Seconds the current token still lives. */
  remainingS(): number
  /**
   * Refreshes the token unless it lives `seconds` more (plus a margin): true when it did. Throws when even
   * a fresh token would not last.
   */
  ensureFor(seconds: number): Promise<boolean>
}

export interface PaidTarget {
  readonly anvilPid: number
  readonly rpcUrl: string
  /** The gateway's environment: ours plus the quote-signer and access-token keys. */
  readonly env: NodeJS.ProcessEnv
  /** Setup times, ms: chain (anvil, contracts, plan, funded buyer) and storage (template copy). */
  readonly timings: { readonly chainMs: number; readonly storageMs: number }
  /** The gateway config of this target: `transform(base, paid layer)`. */
  config(base: GatewayConfig, transform?: PaidConfigTransform): GatewayConfig
  /**
   * Against a gateway started with `config()` and `env`: the first time, buys a subscription (quote, pay,
   * activation); every time, signs in for a fresh access token. Throws with the flow's lines on failure.
   */
  signIn(gatewayUrl: string): Promise<PaidSession>
  /** Stops anvil (by pid). Idempotent. */
  stop(): Promise<void>
}

/** The cores a process may run on (`/proc/PID/status` Cpus_allowed_list, e.g. "1" or "0-1"). */
function allowedCores(pid: number): Set<number> {
  const m = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  const cores = new Set<number>()
  for (const part of (m?.[1] ?? '').split(',')) {
    const [a, b = a] = part.split('-').map(Number)
    if (a === undefined || b === undefined || Number.isNaN(a)) continue
    for (let c = a; c <= b; c++) cores.add(c)
  }
  return cores
}

/** The `exp` claim (seconds) of a JWT, read for scheduling only (the gateway verifies it). */
function expiresAtS(jwt: string): number {
  const claims = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
    exp?: number
  }
  if (typeof claims.exp !== 'number') throw new Error('the access token has no exp claim')
  return claims.exp
}

/**
 * Starts the chain and prepares the storage in `dir` (`cacheDir` keeps the demo's PGlite template between
 * runs). `avoidCore`: the core anvil must not be allowed on (the proxy's); anvil inherits this process's
 * affinity, so pin this process first.
 */
export async function startPaidTarget(opts: {
  readonly dir: string
  readonly cacheDir: string
  readonly avoidCore: number
  readonly say?: (line: string) => void
}): Promise<PaidTarget> {
  const say = opts.say ?? (() => {})
  const t0 = performance.now()
  const deploymentsDir = join(opts.dir, 'deployments')
  let anvil: AnvilInstance | undefined
  const killOnExit = (): void => anvil?.killNow()
  process.once('exit', killOnExit)
  const started = await startDemoChain({
    deploymentsDir,
    randomBytes: (n) => randomBytes(n),
    onAnvilStarted: (a) => {
      anvil = a
      if (allowedCores(a.pid).has(opts.avoidCore)) {
        a.killNow()
        throw new Error(`anvil (pid ${a.pid}) may run on core ${opts.avoidCore}, the proxy's`)
      }
    },
  })
  const t1 = performance.now()
  const dataDir = join(opts.dir, 'data')
  try {
    // The bench process migrates a copy of the template and closes it; the gateway opens it by its directory.
    const opened = await openDemoStorage({ dataDir, cacheDir: opts.cacheDir })
    await opened.storage.close()
  } catch (err) {
    await started.anvil.stop()
    throw err
  }
  const t2 = performance.now()
  say(
    `paid target: anvil pid ${started.anvil.pid} at ${started.anvil.url}, contracts and plan in ${Math.round(t1 - t0)} ms, storage in ${Math.round(t2 - t1)} ms`,
  )
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    [QUOTE_KEY_ENV]: started.quoteSignerKey,
    [TOKEN_KEY_ENV]: generateKeyPairSync('ed25519')
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString(),
  }
  const layer = demoPaidLayer(
    {
      rpcUrl: started.anvil.url,
      deploymentsDir,
      dataDir,
      planId: started.planId,
      prices: { [started.usdc]: DEMO_PRICE },
      quoteSignerEnv: QUOTE_KEY_ENV,
      tokenKeyEnv: TOKEN_KEY_ENV,
    },
    { hasFastMonitor: false },
  )
  let subscriptionId: Hex | undefined

  const run = async (steps: readonly FlowStep[], ctx: FlowContext): Promise<void> => {
    const lines: string[] = []
    const outcome = await runFlow(steps, ctx, (l) => lines.push(l))
    if (!outcome.isOk) throw new Error(`paid target setup failed:\n${lines.join('')}`)
  }

  return {
    anvilPid: started.anvil.pid,
    rpcUrl: started.anvil.url,
    env,
    timings: { chainMs: Math.round(t1 - t0), storageMs: Math.round(t2 - t1) },
    config: (base, transform = paidCatchAll) => transform(base, layer),
    async signIn(gatewayUrl) {
      const ctx = flowContext({
        gatewayUrl,
        adminUrl: '', // not used: activation is awaited by the sign-in (402 SUBSCRIPTION_INACTIVE → retry)
        basePath: BASE_PATH,
        rpcUrl: started.anvil.url,
        chainId: started.deployment.chainId,
        paymentProcessor: started.deployment.paymentProcessor,
        token: started.usdc,
        buyer: started.buyer,
        waitMs: 30_000,
      })
      if (subscriptionId === undefined) {
        await run([quoteStep, payStep], ctx)
        subscriptionId = ctx.subscriptionId as Hex
        say(`paid target: subscription ${subscriptionId} bought`)
      } else {
        ctx.subscriptionId = subscriptionId
      }
      await run([nonceStep, tokenStep], ctx)
      const id = subscriptionId
      const current = (): string => {
        const t = ctx.tokenFlow.tokens?.accessToken
        if (t === undefined) throw new Error('invariant: signed in without an access token')
        return t
      }
      const remainingS = (): number => expiresAtS(current()) - Date.now() / 1000
      return {
        subscriptionId: id,
        accessToken: current,
        headers: () => ({ authorization: `Bearer ${current()}` }),
        remainingS,
        async ensureFor(seconds) {
          const left = remainingS()
          if (left >= seconds + TOKEN_MARGIN_S) return false
          await run([refreshStep], ctx)
          if (remainingS() < seconds + TOKEN_MARGIN_S)
            throw new Error(
              `a ${seconds} s phase outlives a fresh access token (${Math.floor(remainingS())} s): shorten it or raise paidAccess.tokens.accessTtlSeconds`,
            )
          return true
        },
      }
    },
    async stop() {
      process.off('exit', killOnExit)
      await started.anvil.stop()
    },
  }
}
