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
    npx litgate demo --flow
        a scripted buyer: quote → pay (EIP-3009) → activation → paid request, one line per step
    curl -s ${o.adminUrl}/metrics
        Prometheus metrics
  stop: Ctrl-C (drains, stops anvil, removes the data directory)

`
}
