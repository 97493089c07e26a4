// The gateway's wire shapes (docs/payments.md, the issue 12 contract) and the few checks the SDK needs to
// trust them: a malformed answer is a LitgateHttpError naming the field, never a TypeError later.
import type { Address, Hex } from 'viem'
import { ChainUnavailableError, LitgateHttpError } from './errors.ts'

/** RFC 9457 problem members the gateway sends. */
export interface Problem {
  readonly status?: number
  readonly code?: string
  readonly detail?: string
  readonly requestId?: string
}

/** The 402 problem body of a paid route. */
export interface PaymentRequired extends Problem {
  readonly code: 'PAYMENT_REQUIRED'
  readonly plans: ReadonlyArray<{
    readonly name: string
    readonly displayName?: string
    readonly planId: number
    readonly prices: ReadonlyArray<{ readonly token: Address; readonly amount: string }>
  }>
  readonly quote: { readonly href: string; readonly method: string }
  readonly chainId: number
  readonly contract: Address
}

interface TypedDataPayload {
  readonly typedData: {
    readonly domain: Record<string, unknown>
    readonly types: Record<string, unknown>
    readonly primaryType: string
    readonly message: Record<string, string>
  }
}

/** `POST {base}/quote` 201 answer (the fields the SDK uses). */
export interface QuoteAnswer {
  readonly quoteId: Hex
  readonly digest: Hex
  readonly plan: string
  readonly chainId: number
  readonly contract: Address
  readonly token: Address
  readonly amount: string
  readonly validUntil: string
  readonly quote: {
    readonly quoteId: Hex
    readonly payer: Address
    readonly beneficiary: Address
    readonly subscriptionId: Hex
    readonly token: Address
    readonly amount: string
    readonly planId: number
    readonly periods: number
    readonly validUntil: string
  }
  readonly signature: Hex
  readonly pay?: { readonly approve: { readonly spender: Address; readonly amount: string } }
  readonly permit?: TypedDataPayload
  readonly receiveWithAuthorization?: TypedDataPayload
}

/** `POST {base}/token` and `/token/refresh` 200 answer. */
export interface TokenAnswer {
  readonly accessToken: string
  readonly tokenType: string
  readonly expiresIn: number
  readonly refreshToken: string
  readonly refreshExpiresIn: number
  readonly subscriptionId: Hex
  readonly plan: string
  /** The access token's expiry (ISO 8601). */
  readonly expiresAt: string
  /** The subscription's end (ISO 8601); the access token never outlives it. */
  readonly subscriptionEndsAt?: string
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null

/** Reads a problem body when the answer is JSON; undefined otherwise (never throws). */
export async function readProblem(res: Response): Promise<Problem | undefined> {
  const type = res.headers.get('content-type') ?? ''
  if (!type.includes('json')) return undefined
  try {
    const body: unknown = await res.clone().json()
    return isObject(body) ? (body as Problem) : undefined
  } catch {
    return undefined
  }
}

/** The litgate 402 problem, or undefined when a 402 is someone else's (an upstream's own 402). */
export function asPaymentRequired(problem: Problem | undefined): PaymentRequired | undefined {
  if (problem?.code !== 'PAYMENT_REQUIRED') return undefined
  const p = problem as Record<string, unknown>
  if (!Array.isArray(p['plans']) || !isObject(p['quote']) || typeof p['quote']['href'] !== 'string')
    return undefined
  if (typeof p['chainId'] !== 'number' || typeof p['contract'] !== 'string') return undefined
  return problem as PaymentRequired
}

export function httpError(res: Response, problem: Problem | undefined): LitgateHttpError {
  return new LitgateHttpError({
    status: res.status,
    url: res.url,
    ...(problem?.code === undefined ? {} : { code: problem.code }),
    ...(problem?.detail === undefined ? {} : { detail: problem.detail }),
    ...(problem?.requestId === undefined ? {} : { requestId: problem.requestId }),
  })
}

/** Checks the fields of a quote answer the SDK relies on. */
export function parseQuoteAnswer(body: unknown, url: string): QuoteAnswer {
  const bad = (field: string) =>
    new LitgateHttpError({ status: 201, url, code: 'QUOTE_ANSWER_INVALID', detail: `field ${field}` })
  if (!isObject(body)) throw bad('(body)')
  for (const f of ['quoteId', 'digest', 'contract', 'token', 'amount', 'validUntil', 'signature'])
    if (typeof body[f] !== 'string') throw bad(f)
  if (typeof body['chainId'] !== 'number') throw bad('chainId')
  if (!isObject(body['quote'])) throw bad('quote')
  return body as unknown as QuoteAnswer
}

/** Checks a token answer. */
export function parseTokenAnswer(body: unknown, url: string): TokenAnswer {
  const bad = (field: string) =>
    new LitgateHttpError({ status: 200, url, code: 'TOKEN_ANSWER_INVALID', detail: `field ${field}` })
  if (!isObject(body)) throw bad('(body)')
  for (const f of ['accessToken', 'refreshToken', 'subscriptionId'])
    if (typeof body[f] !== 'string' || body[f] === '') throw bad(f)
  for (const f of ['expiresIn', 'refreshExpiresIn'])
    if (typeof body[f] !== 'number' || !Number.isFinite(body[f]) || body[f] <= 0) throw bad(f)
  return body as unknown as TokenAnswer
}

/** RFC 9110 §10.2.3 Retry-After: delay-seconds or an HTTP-date, in ms from `nowMs`. */
export function retryAfterMs(res: Response, nowMs: number): number | undefined {
  const value = res.headers.get('retry-after')
  if (value === null) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs)
}

export interface ChainRetryDeps {
  readonly fetch: typeof fetch
  readonly now: () => number
  readonly sleep: (ms: number) => Promise<void>
  /** Retries after the first 503 CHAIN_UNAVAILABLE. */
  readonly chainRetries: number
  /** Cap of one wait (a Retry-After above it is shortened). */
  readonly maxRetryDelayMs: number
  readonly onRetry: (info: { url: string; attempt: number; retryAfterMs: number }) => void
}

/**
 * Sends `make()` and, while the gateway answers 503 CHAIN_UNAVAILABLE, waits its Retry-After (capped) and sends
 * again, at most `chainRetries` times; then throws ChainUnavailableError. Any other answer is returned.
 */
export async function sendWithChainRetries(make: () => Request, deps: ChainRetryDeps): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    const req = make()
    const res = await deps.fetch(req)
    if (res.status !== 503) return res
    const problem = await readProblem(res)
    if (problem?.code !== 'CHAIN_UNAVAILABLE') return res
    const after = retryAfterMs(res, deps.now())
    await res.body?.cancel()
    if (attempt > deps.chainRetries) {
      throw new ChainUnavailableError({
        url: req.url,
        attempts: attempt,
        retryAfterMs: after,
        ...(problem.requestId === undefined ? {} : { requestId: problem.requestId }),
      })
    }
    const waitMs = Math.min(after ?? 1000, deps.maxRetryDelayMs)
    deps.onRetry({ url: req.url, attempt, retryAfterMs: waitMs })
    await deps.sleep(waitMs)
  }
}
