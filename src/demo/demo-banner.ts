/**
 * The text `litgate demo` prints once serving: where everything is and commands to paste. Pure: the
 * caller writes it.
 */
import { DEMO_BUYER_FUNDS } from './demo-chain.ts'
import { DEMO_FREE_PATH, DEMO_PAID_PREFIX, DEMO_PLAN } from './demo-config.ts'

export interface DemoBannerOptions {
  readonly gatewayUrl: string
  readonly adminUrl: string
  readonly backendUrls: readonly string[]
  readonly basePath: string
  readonly rpcUrl: string
  readonly anvilPid: number
  readonly chainId: number
  readonly paymentProcessor: string
  readonly usdc: string
  readonly usdt: string
  readonly buyer: string
  readonly dataDir: string
  /** Start-up figures in ms. */
  readonly timings: Readonly<Record<string, number>>
}

export function demoBanner(o: DemoBannerOptions): string {
  const quoteBody = JSON.stringify({ plan: DEMO_PLAN, token: o.usdc, payer: o.buyer, periods: 1 })
  const funds = (DEMO_BUYER_FUNDS / 1_000_000n).toString()
  const timings = Object.entries(o.timings)
    .map(([k, v]) => `${k} ${v} ms`)
    .join(', ')
  return `
litgate demo: selling access to ${o.gatewayUrl}${DEMO_PAID_PREFIX}/… for test stablecoins on a local chain
  gateway   ${o.gatewayUrl}  (free: every path; paid: ${DEMO_PAID_PREFIX}/…, plan "${DEMO_PLAN}")
  admin     ${o.adminUrl}
  backends  ${o.backendUrls.join(', ')}
  chain     anvil pid ${o.anvilPid} at ${o.rpcUrl} (chain id ${o.chainId})
  contract  PaymentProcessor ${o.paymentProcessor}; tUSDC ${o.usdc}; tUSDT ${o.usdt}
  buyer     ${o.buyer} (anvil mnemonic account 4, holds ${funds} tUSDC and ${funds} tUSDT)
  database  PGlite in ${o.dataDir} (removed at exit)
  started   ${timings}

  try:
    curl -s ${o.gatewayUrl}${DEMO_FREE_PATH}
        the free route (alternates backend-a / backend-b)
    curl -i ${o.gatewayUrl}${DEMO_PAID_PREFIX}/data
        the paid route: 402 Payment Required, problem+json with the plans
    curl -s -o /dev/null -D - ${o.gatewayUrl}${DEMO_PAID_PREFIX}/data | sed -n 's/^payment-required: //Ip' | tr -d '\\r' | base64 -d; echo
        decodes the x402 PAYMENT-REQUIRED header (base64 JSON: network, asset, amount, payTo)
    curl -s -X POST ${o.gatewayUrl}${o.basePath}/quote -H 'content-type: application/json' \\
         -d '${quoteBody}'
        a signed quote for the buyer: its "digest" is the subscription id once paid
    curl -s ${o.adminUrl}${o.basePath}/subscriptions/:id
        the subscription on the admin listener, :id = the quote's "digest" (404 until paid; "active" once
        the payment is seen)
    curl -s ${o.gatewayUrl}${o.basePath}/nonce
        a single-use nonce (5 min) to sign in with
    curl -s -X POST ${o.gatewayUrl}${o.basePath}/token -H 'content-type: application/json' \\
         -d '{"message":"<EIP-4361 message>","signature":"0x…"}'
        an access token + refresh token: the buyer signs an EIP-4361 message (domain ${new URL(o.gatewayUrl).host},
        chain id ${o.chainId}, the nonce, resource urn:litgate:subscription:<id>) once the subscription is active
    curl -s ${o.gatewayUrl}${DEMO_PAID_PREFIX}/data -H 'authorization: Bearer <accessToken>'
        the paid route with the token: 200 (the backend sees x-litgate-subscription)
    curl -s -X POST ${o.gatewayUrl}${o.basePath}/token/refresh -H 'content-type: application/json' \\
         -d '{"refreshToken":"lgr_…"}'
        a new access token and a NEW refresh token (presenting a spent one revokes the whole family)
    npx litgate demo --flow
        a scripted buyer: quote → pay (EIP-3009) → activation → nonce → token → paid request 200 → refresh →
        reuse revokes → 401 → 402, one line per step
    the SDK does all of it in one fetch (402 → quote → pay → token → retry): see the example in
        packages/client/README.md (@litgate/client, createLitgateFetch)
    curl -s ${o.adminUrl}/metrics
        Prometheus metrics
  stop: Ctrl-C (drains, stops anvil, removes the data directory)

`
}
