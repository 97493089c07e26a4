/**
 * Plans as config, compiled once at config load: prices as bigints keyed by lower-case token address, a
 * price version (a hash of every plan's id and prices: quotes carry it, equal inputs at one version give
 * equal terms), and the pure check of a plan set against what the PaymentProcessor says on-chain.
 */
import { createHash } from 'node:crypto'
import { getAddress, type Address } from 'viem'
import type { PaidAccessConfig, QosConfig } from '../config/index.ts'

export interface PlanPrice {
  /** Checksummed token address. */
  readonly token: Address
  /** Price of one period in token base units. */
  readonly amount: bigint
}

export interface CompiledPlan {
  readonly name: string
  readonly planId: number
  readonly displayName: string
  /** Keyed by lower-case token address. */
  readonly prices: ReadonlyMap<string, PlanPrice>
  readonly qos: QosConfig
}

export interface PlanCatalog {
  readonly plans: ReadonlyMap<string, CompiledPlan>
  /** Short hash of every plan's name, id and prices. */
  readonly priceVersion: string
  /** Every token any plan is priced in (lower-case address → checksummed). */
  readonly tokens: ReadonlyMap<string, Address>
}

/** Compiles the validated `paidAccess.plans` (pure). */
export function compilePlans(paid: Pick<PaidAccessConfig, 'plans'>): PlanCatalog {
  const plans = new Map<string, CompiledPlan>()
  const tokens = new Map<string, Address>()
  for (const plan of paid.plans) {
    const prices = new Map<string, PlanPrice>()
    for (const [token, amount] of Object.entries(plan.prices) as [string, string][]) {
      const checksummed = getAddress(token)
      prices.set(checksummed.toLowerCase(), Object.freeze({ token: checksummed, amount: BigInt(amount) }))
      tokens.set(checksummed.toLowerCase(), checksummed)
    }
    plans.set(
      plan.name,
      Object.freeze({
        name: plan.name,
        planId: plan.planId,
        displayName: plan.displayName,
        prices,
        qos: plan.qos,
      }),
    )
  }
  const canonical = [...plans.values()]
    .map((p) => [p.name, p.planId, [...p.prices.entries()].sort().map(([t, v]) => [t, v.amount.toString()])])
    .sort()
  const priceVersion = createHash('sha256').update(JSON.stringify(canonical)).digest('hex').slice(0, 16)
  return Object.freeze({ plans, priceVersion, tokens })
}

/** What the PaymentProcessor says about the configured plans (read by readPlanFacts). */
export interface PlanChainFacts {
  readonly quoteSigner: Address
  /** Period length of each configured plan id that exists on-chain (absent: unknown plan). */
  readonly planPeriods: ReadonlyMap<number, number>
  /** `sale(planId, token)` keyed `${planId}:${lower-case token}`. */
  readonly sales: ReadonlyMap<string, { readonly price: bigint; readonly onSale: boolean }>
  /** Token allow-list flag, keyed by lower-case address. */
  readonly listed: ReadonlyMap<string, boolean>
}

export const saleKey = (planId: number, token: string): string => `${planId}:${token.toLowerCase()}`

/**
 * Checks a plan set against on-chain facts. Returns one message per mismatch, each naming the plan (and
 * token): the plan exists, every priced token is listed and on sale for that plan, the configured price is ≥
 * the on-chain price (the contract refuses less), and the gateway's signer is the contract's quote signer.
 */
export function checkPlansAgainstChain(
  catalog: PlanCatalog,
  facts: PlanChainFacts,
  signer: Address,
): string[] {
  const problems: string[] = []
  if (facts.quoteSigner.toLowerCase() !== signer.toLowerCase()) {
    problems.push(
      `quote signer ${signer} is not the contract's quote signer ${facts.quoteSigner}: every quote would be refused (InvalidQuoteSignature)`,
    )
  }
  for (const plan of catalog.plans.values()) {
    const label = `plan ${JSON.stringify(plan.name)} (on-chain id ${plan.planId})`
    if (!facts.planPeriods.has(plan.planId)) {
      problems.push(`${label}: no such plan on the contract`)
      continue
    }
    for (const [key, price] of plan.prices) {
      if (facts.listed.get(key) !== true) {
        problems.push(`${label}: token ${price.token} is not listed on the contract`)
        continue
      }
      const sale = facts.sales.get(saleKey(plan.planId, key))
      if (sale === undefined || !sale.onSale) {
        problems.push(`${label}: not on sale in token ${price.token}`)
        continue
      }
      if (price.amount < sale.price) {
        problems.push(
          `${label}: price ${price.amount} in token ${price.token} is below the on-chain price ${sale.price} (the contract refuses it)`,
        )
      }
    }
  }
  return problems
}
