/**
 * `litgate demo --flow`: a scripted buyer against the running demo gateway. The flow is an ordered list of
 * steps over one shared context; each step either behaves as expected (`ok`), fails (the flow stops, the
 * rest are skipped, the exit code is non-zero) or is `pending`: it checks today's behaviour of a capability
 * that is not built yet (shown as such, never as a success of the missing feature). Appending a step is
 * how the flow grows; the access-token steps are in demo-token-steps.ts.
 */
import { parseEventLogs, parseSignature, type Account, type Address, type Hex, type PublicClient } from 'viem'
import { paymentProcessorAbi, testUsdcAbi } from '../contracts/index.ts'
import { DEMO_FREE_PATH, DEMO_PAID_PREFIX, DEMO_PLAN } from './demo-config.ts'
import { demoPublicClient, demoWalletClient } from './demo-chain.ts'
import { TOKEN_FLOW_STEPS, type TokenFlowState } from './demo-token-steps.ts'

/** The signed quote answer of `POST {base}/quote` (docs/payments.md), as far as the buyer reads it. */
export interface QuoteAnswer {
  readonly quoteId: Hex
  readonly digest: Hex
  readonly signature: Hex
  readonly amount: string
  readonly validUntil: string
  readonly quote: Readonly<Record<string, string | number>>
  readonly receiveWithAuthorization?: {
    readonly typedData: {
      readonly domain: Record<string, unknown>
      readonly types: Record<string, unknown>
      readonly message: Readonly<Record<string, string>>
    }
  }
}

/** What the steps share: the endpoints and the buyer, then what earlier steps produced. */
export interface FlowContext {
  readonly gatewayUrl: string
  readonly adminUrl: string
  readonly basePath: string
  readonly rpcUrl: string
  readonly chainId: number
  readonly paymentProcessor: Address
  /** The token the buyer pays with (EIP-3009: tUSDC). */
  readonly token: Address
  readonly buyer: Account
  readonly publicClient: PublicClient
  /** How long a step may wait for something to happen (activation). */
  readonly waitMs: number
  quote?: QuoteAnswer
  /** The new subscription's id (from the PaymentReceived event of the payment). */
  subscriptionId?: Hex
  payment?: { readonly txHash: Hex; readonly block: bigint }
  /** The access-token steps' state (nonce, tokens, the spent refresh token). */
  readonly tokenFlow: TokenFlowState
}

export type StepStatus = 'ok' | 'pending' | 'failed' | 'skipped'

export interface StepResult {
  readonly status: Exclude<StepStatus, 'skipped'>
  /** One line: ids, tx hash, block, what was observed. */
  readonly detail: string
}

export interface FlowStep {
  readonly name: string
  run(ctx: FlowContext): Promise<StepResult>
}

export interface FlowOutcome {
  readonly isOk: boolean
  readonly results: ReadonlyArray<{ name: string; status: StepStatus; detail: string; ms: number }>
  readonly totalMs: number
}

const ok = (detail: string): StepResult => ({ status: 'ok', detail })
const failed = (detail: string): StepResult => ({ status: 'failed', detail })
const short = (hex: string): string => (hex.length > 14 ? `${hex.slice(0, 10)}…${hex.slice(-4)}` : hex)

async function readBody(res: Response): Promise<string> {
  return (await res.text()).slice(0, 4_000)
}

/** The free route answers without payment. */
export const freeRouteStep: FlowStep = {
  name: 'free route',
  async run(ctx) {
    const res = await fetch(`${ctx.gatewayUrl}${DEMO_FREE_PATH}`)
    const body = await readBody(res)
    if (res.status !== 200) return failed(`GET ${DEMO_FREE_PATH} → ${res.status} (expected 200): ${body}`)
    const backend = (JSON.parse(body) as { backend?: string }).backend
    return ok(`GET ${DEMO_FREE_PATH} → 200 from ${String(backend)}`)
  },
}

/** The paid route without a credential: 402 with the x402 PAYMENT-REQUIRED header and the plans. */
export const challengeStep: FlowStep = {
  name: 'challenge',
  async run(ctx) {
    const path = `${DEMO_PAID_PREFIX}/data`
    const res = await fetch(`${ctx.gatewayUrl}${path}`)
    const body = await readBody(res)
    if (res.status !== 402) return failed(`GET ${path} → ${res.status} (expected 402): ${body}`)
    const header = res.headers.get('payment-required')
    if (header === null) return failed(`GET ${path} → 402 without PAYMENT-REQUIRED`)
    const required = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as {
      x402Version?: number
      accepts?: Array<{ network: string; asset: string; amount: string; payTo: string }>
    }
    const offer = required.accepts?.[0]
    if (offer === undefined || offer.payTo.toLowerCase() !== ctx.paymentProcessor.toLowerCase())
      return failed(`PAYMENT-REQUIRED does not offer payment to the PaymentProcessor: ${header}`)
    const problem = JSON.parse(body) as { code?: string; requestId?: string }
    if (problem.code !== 'PAYMENT_REQUIRED') return failed(`402 body code ${String(problem.code)}`)
    return ok(
      `GET ${path} → 402 ${problem.code} requestId=${String(problem.requestId)}; PAYMENT-REQUIRED: x402 v${String(
        required.x402Version,
      )}, ${offer.amount} of ${short(offer.asset)} on ${offer.network} to ${short(offer.payTo)}`,
    )
  },
}

/** `POST {base}/quote` for the buyer: a signed quote with the EIP-3009 payload. */
export const quoteStep: FlowStep = {
  name: 'quote',
  async run(ctx) {
    const res = await fetch(`${ctx.gatewayUrl}${ctx.basePath}/quote`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ plan: DEMO_PLAN, token: ctx.token, payer: ctx.buyer.address, periods: 1 }),
    })
    const body = await readBody(res)
    if (res.status !== 201)
      return failed(`POST ${ctx.basePath}/quote → ${res.status} (expected 201): ${body}`)
    const answer = JSON.parse(body) as QuoteAnswer
    if (answer.receiveWithAuthorization === undefined)
      return failed('the quote answer carries no receiveWithAuthorization payload')
    ctx.quote = answer
    return ok(
      `POST ${ctx.basePath}/quote → 201 quoteId=${answer.quoteId} subscription=${answer.digest} amount=${answer.amount} validUntil=${answer.validUntil}`,
    )
  },
}

/** The buyer signs ReceiveWithAuthorization and submits payWithAuthorization itself. */
export const payStep: FlowStep = {
  name: 'pay (EIP-3009)',
  async run(ctx) {
    const answer = ctx.quote
    if (answer?.receiveWithAuthorization === undefined) return failed('no quote to pay')
    const td = answer.receiveWithAuthorization.typedData
    const big = (k: string): bigint => BigInt(td.message[k] ?? '0')
    const message = {
      ...td.message,
      value: big('value'),
      validAfter: big('validAfter'),
      validBefore: big('validBefore'),
    }
    const wallet = demoWalletClient(ctx.rpcUrl, ctx.buyer)
    const before = await balanceOf(ctx)
    const sig = parseSignature(
      await wallet.signTypedData({
        domain: td.domain,
        types: td.types,
        primaryType: 'ReceiveWithAuthorization',
        message,
      } as never),
    )
    const q = answer.quote
    const struct = {
      quoteId: q['quoteId'] as Hex,
      payer: q['payer'] as Address,
      beneficiary: q['beneficiary'] as Address,
      subscriptionId: q['subscriptionId'] as Hex,
      token: q['token'] as Address,
      amount: BigInt(q['amount'] as string),
      planId: Number(q['planId']),
      periods: Number(q['periods']),
      validUntil: BigInt(q['validUntil'] as string),
    }
    const txHash = await wallet.writeContract({
      address: ctx.paymentProcessor,
      abi: paymentProcessorAbi,
      functionName: 'payWithAuthorization',
      args: [struct, answer.signature, message.validAfter, message.validBefore, Number(sig.v), sig.r, sig.s],
    })
    const receipt = await ctx.publicClient.waitForTransactionReceipt({ hash: txHash, pollingInterval: 50 })
    if (receipt.status !== 'success') return failed(`payWithAuthorization tx=${txHash} reverted`)
    const [event] = parseEventLogs({
      abi: paymentProcessorAbi,
      logs: receipt.logs,
      eventName: 'PaymentReceived',
    })
    const subscriptionId = (event?.args as { subscriptionId?: Hex } | undefined)?.subscriptionId
    if (subscriptionId === undefined) return failed(`tx=${txHash}: no PaymentReceived event`)
    ctx.subscriptionId = subscriptionId
    ctx.payment = { txHash, block: receipt.blockNumber }
    const after = await balanceOf(ctx)
    if (before - after !== struct.amount)
      return failed(`tx=${txHash}: the buyer's balance fell by ${before - after}, expected ${struct.amount}`)
    return ok(
      `payWithAuthorization tx=${txHash} block=${receipt.blockNumber} gas=${receipt.gasUsed} subscription=${subscriptionId} buyer ${ctx.buyer.address} paid ${struct.amount}`,
    )
  },
}

function balanceOf(ctx: FlowContext): Promise<bigint> {
  return ctx.publicClient.readContract({
    address: ctx.token,
    abi: testUsdcAbi,
    functionName: 'balanceOf',
    args: [ctx.buyer.address],
  })
}

/**
 * The payment monitor sees the payment (policy `latest + 1`: the payment's own block, anvil automines) and
 * the admin lookup says active. Polls until `waitMs`.
 */
export const activationStep: FlowStep = {
  name: 'activation',
  async run(ctx) {
    const id = ctx.subscriptionId
    if (id === undefined) return failed('no subscription to wait for')
    const url = `${ctx.adminUrl}${ctx.basePath}/subscriptions/${id}`
    const deadline = performance.now() + ctx.waitMs
    let polls = 0
    let last = ''
    while (performance.now() < deadline) {
      polls++
      const res = await fetch(url)
      last = `${res.status} ${await readBody(res)}`
      if (res.status === 200) {
        const view = JSON.parse(last.slice(4)) as { state?: string; accessAllowed?: boolean; end?: number }
        if (view.state === 'active' && view.accessAllowed === true)
          return ok(
            `GET admin ${ctx.basePath}/subscriptions/${short(id)} → active, accessAllowed, end=${new Date(
              (view.end ?? 0) * 1000,
            ).toISOString()} after ${polls} poll(s) (payment block ${String(ctx.payment?.block)})`,
          )
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    return failed(`subscription ${id} not active within ${ctx.waitMs} ms; last answer ${last}`)
  },
}

/** The whole flow: payment, then the access token's life (demo-token-steps.ts). */
export const DEMO_FLOW_STEPS: readonly FlowStep[] = Object.freeze([
  freeRouteStep,
  challengeStep,
  quoteStep,
  payStep,
  activationStep,
  ...TOKEN_FLOW_STEPS,
])

/** One printed line per step: number, status, name, time, detail. */
export function formatStepLine(
  index: number,
  total: number,
  r: { name: string; status: StepStatus; detail: string; ms: number },
): string {
  const n = `${index + 1}/${total}`.padStart(5)
  return `${n} ${r.status.toUpperCase().padEnd(7)} ${r.name.padEnd(16)} ${`${r.ms} ms`.padStart(8)}  ${r.detail}\n`
}

/** Runs the steps in order; after a failure the rest are skipped. `isOk`: none failed. */
export async function runFlow(
  steps: readonly FlowStep[],
  ctx: FlowContext,
  write: (line: string) => void,
): Promise<FlowOutcome> {
  const results: Array<{ name: string; status: StepStatus; detail: string; ms: number }> = []
  const t0 = performance.now()
  let hasFailed = false
  for (const [i, step] of steps.entries()) {
    if (hasFailed) {
      const r = { name: step.name, status: 'skipped' as const, detail: 'after a failed step', ms: 0 }
      results.push(r)
      write(formatStepLine(i, steps.length, r))
      continue
    }
    const start = performance.now()
    let result: StepResult
    try {
      result = await step.run(ctx)
    } catch (err) {
      result = failed(`threw: ${(err as Error).message.split('\n')[0] ?? ''}`)
    }
    const r = { name: step.name, ...result, ms: Math.round(performance.now() - start) }
    if (r.status === 'failed') hasFailed = true
    results.push(r)
    write(formatStepLine(i, steps.length, r))
  }
  return { isOk: !hasFailed, results, totalMs: Math.round(performance.now() - t0) }
}

/** The flow's context for a demo gateway, its admin listener and the demo chain. */
export function flowContext(options: {
  gatewayUrl: string
  adminUrl: string
  basePath: string
  rpcUrl: string
  chainId: number
  paymentProcessor: Address
  token: Address
  buyer: Account
  waitMs?: number
}): FlowContext {
  return {
    ...options,
    publicClient: demoPublicClient(options.rpcUrl),
    waitMs: options.waitMs ?? 20_000,
    tokenFlow: {},
  }
}
