import type { ConfigInput } from '../config/index.ts'

/** Where the demo's paid layer finds its chain, contract, database and quote signer. */
export interface DemoPaidOptions {
  readonly rpcUrl: string
  readonly deploymentsDir: string
  /** PGlite data directory (fresh per run). */
  readonly dataDir: string
  readonly planId: number
  /** Token address → price of one period in base units. */
  readonly prices: Readonly<Record<string, bigint>>
  /** The environment variable the quote signer key is handed over in (the demo's own env, never the shell's). */
  readonly quoteSignerEnv: string
  /** The environment variable the access-token signing key (Ed25519, PKCS#8 PEM, fresh per run) is handed over in. */
  readonly tokenKeyEnv: string
}

/** The kid of the demo's one access-token signing key. */
export const DEMO_TOKEN_KID = 'demo-1'

/** The plan the demo sells, and the paths of its two routes. */
export const DEMO_PLAN = 'pro'
export const DEMO_PAID_PREFIX = '/paid'
export const DEMO_FREE_PATH = '/hello'

/**
 * The embedded demo: one listener, two demo backends balanced round robin, a WebSocket route, the admin
 * listener; with `paid`, a route under /paid sold through the `pro` plan (PGlite storage, the monitor on
 * `latest + 1`, polling fast; access tokens signed with the run's own Ed25519 key) while every other path stays
 * free.
 */
export function demoConfig(
  port: number,
  backendUrls: readonly string[],
  adminPort: number,
  paid?: DemoPaidOptions,
): ConfigInput {
  const base: ConfigInput = {
    version: 1,
    listeners: [{ name: 'demo', host: '127.0.0.1', port, http2: true }],
    admin: { enabled: true, port: adminPort },
    upstreams: [{ id: 'demo-api', balancing: 'round-robin', backends: backendUrls.map((url) => ({ url })) }],
    routes: [
      { id: 'websocket', match: { path: { exact: '/ws' } }, upstream: 'demo-api' },
      ...(paid === undefined
        ? []
        : [
            {
              id: 'paid',
              match: { path: { prefix: DEMO_PAID_PREFIX } },
              upstream: 'demo-api',
              access: [DEMO_PLAN],
            },
          ]),
      { id: 'api', match: { path: { prefix: '/' } }, upstream: 'demo-api' },
    ],
  }
  return paid === undefined ? base : { ...base, ...demoPaidLayer(paid) }
}

/**
 * The demo's paid layer, the `storage` and `paidAccess` sections: PGlite in `paid.dataDir`, the chain and
 * contract, the quote signer and the access-token key from the environment, the `pro` plan. With
 * `hasFastMonitor` (the demo's) the payment monitor polls every 100 ms on `latest + 1`; without it, at its
 * defaults (the bench's, bench/lib/paid-target.ts, which must not add background work of its own).
 */
export function demoPaidLayer(
  paid: DemoPaidOptions,
  opts: { readonly hasFastMonitor?: boolean } = {},
): Pick<ConfigInput, 'storage' | 'paidAccess'> {
  return {
    storage: { dataDir: paid.dataDir },
    paidAccess: {
      chain: { preset: 'anvil', rpc: [{ name: 'demo-anvil', http: paid.rpcUrl }] },
      contract: { deploymentsDir: paid.deploymentsDir },
      quoteSigner: { fromEnv: paid.quoteSignerEnv },
      ...(opts.hasFastMonitor === false
        ? {}
        : { monitor: { confirmation: { latest: 1 }, pollIntervalMs: 100 } }),
      plans: [
        {
          name: DEMO_PLAN,
          planId: paid.planId,
          displayName: 'Pro (demo)',
          prices: Object.fromEntries(Object.entries(paid.prices).map(([t, p]) => [t, p.toString()])),
          qos: { requestsPerSecond: 10, burst: 20 },
        },
      ],
      tokens: { signingKeys: [{ kid: DEMO_TOKEN_KID, privateKey: { fromEnv: paid.tokenKeyEnv } }] },
    },
  }
}
