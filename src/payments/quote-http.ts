/**
 * The gateway's quote endpoints: `POST {basePath}/quote` and `GET {basePath}/quote/:id`. A plain
 * node:http request handler with its dependencies injected (store, chain reads, signer, clock, randomness),
 * mounted by whoever owns the listener (see createQuoteEndpoints). Errors are RFC 9457 problems with the
 * request id and a specific code (docs/errors.md "Paid access").
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import { getAddress, isAddress, toHex, type Address, type Hex } from 'viem'
import type { PaidAccessConfig } from '../config/index.ts'
import {
  ERROR_CODES,
  PROBLEM_CONTENT_TYPE,
  buildProblem,
  isGatewayError,
  type ErrorCode,
} from '../errors/index.ts'
import type { PlanCatalog } from './plans.ts'
import type { SubscriptionFacts } from './chain-facts.ts'
import { buildQuote, quoteAnswer, ZERO_ID, type Quote, type QuoteSigner, type TokenInfo } from './quote.ts'
import type { QuoteStore } from './quote-store.ts'
import { createTokenBuckets } from './rate-limit.ts'

/** Chain reads quote creation needs (chain-facts.ts implements them over `chain.rpc`). */
export interface QuoteChainPort {
  /** Chain time in seconds (latest block timestamp). */
  chainTime(): Promise<bigint>
  /** The owner's next EIP-2612 nonce on the token. */
  permitNonce(token: Address, owner: Address): Promise<bigint>
  /** The subscription a renewal names (undefined: unknown id). */
  subscription(id: Hex): Promise<SubscriptionFacts | undefined>
  /** The contract's minimum amount for `quote` paid at `at` (`previewQuote`). */
  previewDue(quote: Quote, at: bigint): Promise<bigint>
}

export interface QuoteEndpointsDeps {
  readonly basePath: string
  readonly quotes: Omit<PaidAccessConfig['quotes'], 'retentionSeconds'>
  readonly catalog: PlanCatalog
  readonly chainId: number
  readonly contract: Address
  readonly signer: QuoteSigner
  /** Token capabilities read at start, keyed by lower-case address. */
  readonly tokens: ReadonlyMap<string, TokenInfo>
  readonly store: QuoteStore
  readonly chain: QuoteChainPort
  readonly randomBytes: (n: number) => Uint8Array
  /** Wall clock, ms (rate limits only; quote expiry is chain time). */
  readonly nowMs: () => number
  readonly requestIdHeader: string
  readonly nextRequestId: () => string
  /** Seconds in Retry-After of a CHAIN_UNAVAILABLE answer. */
  readonly chainRetryAfterSeconds?: number
}

/** What the listener knows about the request (the shape of the gateway's `localEndpoints` hook). */
export interface LocalRequestContext {
  /** The request id the gateway assigned (or accepted from the client). */
  readonly requestId?: string
  /** The client IP, X-Forwarded-For resolved through the trusted proxies (per-IP rate limit). */
  readonly clientAddress: () => string
}

export interface QuoteEndpoints {
  /**
   * Answers the request when its path is under `basePath` and returns true; returns false (touching
   * nothing) otherwise. Fits GatewayDeps.localEndpoints as is.
   */
  handle(req: AnyRequest, res: AnyResponse, context: LocalRequestContext): boolean
}

/** HTTP/1.1 or HTTP/2 (compat API) request and response, as the gateway's listeners hand them over. */
export type AnyRequest = IncomingMessage | Http2ServerRequest
export type AnyResponse = ServerResponse | Http2ServerResponse

const MAX_BODY_BYTES = 4096
const FIELDS = new Set(['plan', 'periods', 'payer', 'token', 'beneficiary', 'subscriptionId'])

class Refusal extends Error {
  readonly code: ErrorCode
  readonly headers: Record<string, string>
  constructor(code: ErrorCode, detail: string, headers: Record<string, string> = {}) {
    super(detail)
    this.code = code
    this.headers = headers
  }
}

interface QuoteRequest {
  readonly plan: string
  readonly periods: number
  readonly payer: Address
  readonly token: Address
  readonly beneficiary?: Address
  readonly subscriptionId?: Hex
}

/** Validates a decoded quote request body (pure). Throws Refusal naming the field and value. */
export function parseQuoteRequest(body: unknown, catalog: PlanCatalog, maxPeriods: number): QuoteRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new Refusal('QUOTE_REQUEST_INVALID', 'the body must be a JSON object')
  const o = body as Record<string, unknown>
  for (const key of Object.keys(o)) {
    if (!FIELDS.has(key))
      throw new Refusal('QUOTE_REQUEST_INVALID', `unknown field ${JSON.stringify(key).slice(0, 80)}`)
  }
  const address = (field: string, required: boolean): Address | undefined => {
    const v = o[field]
    if (v === undefined && !required) return undefined
    if (typeof v !== 'string' || !isAddress(v, { strict: false }))
      throw new Refusal(
        'QUOTE_REQUEST_INVALID',
        `${field} must be a 0x-prefixed 20-byte address, got ${JSON.stringify(v)?.slice(0, 80)}`,
      )
    return getAddress(v)
  }
  if (typeof o.plan !== 'string')
    throw new Refusal('QUOTE_REQUEST_INVALID', 'plan must be a string (a plan name)')
  const plan = catalog.plans.get(o.plan)
  if (plan === undefined)
    throw new Refusal('QUOTE_PLAN_UNKNOWN', `unknown plan ${JSON.stringify(o.plan).slice(0, 80)}`)
  const periods = o.periods ?? 1
  if (typeof periods !== 'number' || !Number.isInteger(periods) || periods < 1 || periods > maxPeriods)
    throw new Refusal(
      'QUOTE_PERIODS_INVALID',
      `periods must be an integer from 1 to ${maxPeriods}, got ${JSON.stringify(periods)?.slice(0, 40)}`,
    )
  const payer = address('payer', true) as Address
  const token = address('token', true) as Address
  if (!plan.prices.has(token.toLowerCase()))
    throw new Refusal(
      'QUOTE_TOKEN_NOT_ACCEPTED',
      `plan ${JSON.stringify(plan.name)} has no price in token ${token}`,
    )
  const beneficiary = address('beneficiary', false)
  let subscriptionId: Hex | undefined
  if (o.subscriptionId !== undefined) {
    if (
      typeof o.subscriptionId !== 'string' ||
      !/^0x[0-9a-fA-F]{64}$/.test(o.subscriptionId) ||
      o.subscriptionId === ZERO_ID
    )
      throw new Refusal(
        'QUOTE_REQUEST_INVALID',
        `subscriptionId must be a non-zero 32-byte hex string, got ${JSON.stringify(o.subscriptionId)?.slice(0, 80)}`,
      )
    subscriptionId = o.subscriptionId.toLowerCase() as Hex
  }
  return {
    plan: plan.name,
    periods,
    payer,
    token,
    ...(beneficiary === undefined ? {} : { beneficiary }),
    ...(subscriptionId === undefined ? {} : { subscriptionId }),
  }
}

function readBody(req: AnyRequest): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY_BYTES) {
        reject(new Refusal('QUOTE_REQUEST_INVALID', `the body is larger than ${MAX_BODY_BYTES} bytes`))
        req.resume()
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

export function createQuoteEndpoints(deps: QuoteEndpointsDeps): QuoteEndpoints {
  const base = deps.basePath
  const quotePath = `${base}/quote`
  const perIp = createTokenBuckets(deps.quotes.createPerIpPerMinute)
  const perPayer = createTokenBuckets(deps.quotes.createPerPayerPerMinute)
  const chainRetry = String(deps.chainRetryAfterSeconds ?? 5)

  const send = (
    res: AnyResponse,
    requestId: string,
    status: number,
    body: string,
    headers: Record<string, string>,
  ) => {
    if (res.headersSent) return
    ;(res as ServerResponse).writeHead(status, {
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      [deps.requestIdHeader]: requestId,
      ...headers,
    })
    res.end(body)
  }
  const problem = (
    res: AnyResponse,
    requestId: string,
    code: ErrorCode,
    detail?: string,
    headers: Record<string, string> = {},
  ) =>
    send(res, requestId, ERROR_CODES[code].status, JSON.stringify(buildProblem(code, requestId, detail)), {
      'content-type': PROBLEM_CONTENT_TYPE,
      ...headers,
    })

  async function create(req: AnyRequest, clientAddress: string): Promise<Record<string, unknown>> {
    const ipWait = perIp.take(clientAddress, deps.nowMs())
    if (ipWait > 0) {
      req.resume()
      throw new Refusal('QUOTE_RATE_LIMITED', 'too many quotes from this client address', {
        'retry-after': String(ipWait),
      })
    }
    const type = req.headers['content-type'] ?? ''
    if (!/^application\/json\b/i.test(type)) {
      req.resume()
      throw new Refusal('QUOTE_REQUEST_INVALID', 'content-type must be application/json')
    }
    const raw = await readBody(req)
    let body: unknown
    try {
      body = JSON.parse(raw.toString('utf8'))
    } catch {
      throw new Refusal('QUOTE_REQUEST_INVALID', 'the body is not valid JSON')
    }
    const request = parseQuoteRequest(body, deps.catalog, deps.quotes.maxPeriods)
    const payerWait = perPayer.take(request.payer.toLowerCase(), deps.nowMs())
    if (payerWait > 0)
      throw new Refusal('QUOTE_RATE_LIMITED', 'too many quotes for this payer', {
        'retry-after': String(payerWait),
      })
    const plan = deps.catalog.plans.get(request.plan)
    if (plan === undefined) throw new Error('invariant: plan vanished')
    const token = deps.tokens.get(request.token.toLowerCase())
    const [now, permitNonce] = await Promise.all([
      deps.chain.chainTime(),
      token?.supportsPermit === true
        ? deps.chain.permitNonce(request.token, request.payer)
        : Promise.resolve(undefined),
    ])
    let amountAtLeast: bigint | undefined
    if (request.subscriptionId !== undefined) {
      // Rule 5 of contracts/SECURITY.md: renew only a Live subscription, in its own token, for its owner or
      // beneficiary; rule 4: never below the contract's due amount at signing time.
      const sub = await deps.chain.subscription(request.subscriptionId)
      if (sub === undefined) throw new Refusal('QUOTE_SUBSCRIPTION_INVALID', 'no such subscription')
      if (sub.status !== 1)
        throw new Refusal('QUOTE_SUBSCRIPTION_INVALID', 'the subscription is not live (cancelled or revoked)')
      if (sub.token.toLowerCase() !== request.token.toLowerCase())
        throw new Refusal('QUOTE_SUBSCRIPTION_INVALID', `the subscription is paid in token ${sub.token}`)
      const who = request.payer.toLowerCase()
      if (sub.owner.toLowerCase() !== who && sub.beneficiary.toLowerCase() !== who)
        throw new Refusal(
          'QUOTE_SUBSCRIPTION_INVALID',
          'the payer is neither the owner nor the beneficiary of the subscription',
        )
    }
    const inputs = {
      plan,
      periods: request.periods,
      payer: request.payer,
      token: request.token,
      ...(request.beneficiary === undefined ? {} : { beneficiary: request.beneficiary }),
      ...(request.subscriptionId === undefined ? {} : { subscriptionId: request.subscriptionId }),
      now,
      ttlSeconds: deps.quotes.ttlSeconds,
      priceVersion: deps.catalog.priceVersion,
      chainId: deps.chainId,
      contract: deps.contract,
      quoteId: toHex(deps.randomBytes(32)),
    }
    if (request.subscriptionId !== undefined)
      amountAtLeast = await deps.chain.previewDue(buildQuote(inputs).quote, now)
    const terms = buildQuote(amountAtLeast === undefined ? inputs : { ...inputs, amountAtLeast })
    const signature = await deps.signer.sign(terms)
    const answer = quoteAnswer(terms, signature, token, {
      plan: plan.name,
      ...(permitNonce === undefined ? {} : { permitNonce }),
    })
    const outcome = await deps.store.insert(
      {
        quoteId: terms.quote.quoteId,
        digest: terms.digest,
        payer: terms.quote.payer,
        beneficiary: terms.quote.beneficiary,
        subscriptionId: terms.quote.subscriptionId,
        token: terms.quote.token,
        amount: terms.quote.amount,
        planId: terms.quote.planId,
        periods: terms.quote.periods,
        validUntil: terms.quote.validUntil,
        signature,
        plan: plan.name,
        answer,
      },
      deps.quotes,
      now,
    )
    if (!outcome.ok) {
      const headers = { 'retry-after': String(outcome.retryAfterSeconds) }
      if (outcome.reason === 'payer-limit')
        throw new Refusal(
          'QUOTE_LIMIT_REACHED',
          `the payer holds ${deps.quotes.maxOpenPerPayer} open quotes`,
          headers,
        )
      throw new Refusal('QUOTE_CAPACITY_EXHAUSTED', 'too many open quotes', headers)
    }
    return answer
  }

  async function lookup(id: string): Promise<Record<string, unknown>> {
    if (!/^0x[0-9a-fA-F]{64}$/.test(id)) throw new Refusal('QUOTE_NOT_FOUND', 'a quote id is 32 bytes of hex')
    const now = await deps.chain.chainTime()
    const quote = await deps.store.get(id as Hex, now)
    if (quote === undefined) throw new Refusal('QUOTE_NOT_FOUND', 'no open quote has this id')
    return quote.answer
  }

  const answer = (
    res: AnyResponse,
    requestId: string,
    status: number,
    work: Promise<Record<string, unknown>>,
    headers: (a: Record<string, unknown>) => Record<string, string> = () => ({}),
  ) => {
    work.then(
      (a) =>
        send(res, requestId, status, JSON.stringify(a), {
          'content-type': 'application/json',
          ...headers(a),
        }),
      (err: unknown) => {
        if (err instanceof Refusal) return problem(res, requestId, err.code, err.message, err.headers)
        if (isGatewayError(err) && err.code.startsWith('CHAIN_'))
          return problem(res, requestId, 'CHAIN_UNAVAILABLE', 'the chain cannot be read right now', {
            'retry-after': chainRetry,
          })
        // The database quote store's failures; the database's own message stays out of the answer.
        if (isGatewayError(err) && err.code === 'STORAGE_UNAVAILABLE')
          return problem(
            res,
            requestId,
            'STORAGE_UNAVAILABLE',
            'the quote store cannot be reached right now',
            {
              'retry-after': chainRetry,
            },
          )
        return problem(res, requestId, 'INTERNAL_ERROR')
      },
    )
  }

  return {
    handle(req, res, context) {
      const url = req.url ?? ''
      const q = url.indexOf('?')
      const path = q === -1 ? url : url.slice(0, q)
      if (path !== base && !path.startsWith(`${base}/`)) return false
      const header = req.headers[deps.requestIdHeader]
      const requestId =
        context.requestId ??
        (typeof header === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(header)
          ? header
          : deps.nextRequestId())
      const method = req.method ?? 'GET'
      if (path === quotePath) {
        if (method !== 'POST') {
          req.resume()
          problem(res, requestId, 'METHOD_NOT_ALLOWED', undefined, { allow: 'POST' })
          return true
        }
        answer(res, requestId, 201, create(req, context.clientAddress()), (a) => ({
          location: `${quotePath}/${String(a.quoteId)}`,
        }))
        return true
      }
      if (path.startsWith(`${quotePath}/`) && !path.slice(quotePath.length + 1).includes('/')) {
        req.resume()
        if (method !== 'GET' && method !== 'HEAD') {
          problem(res, requestId, 'METHOD_NOT_ALLOWED', undefined, { allow: 'GET, HEAD' })
          return true
        }
        answer(res, requestId, 200, lookup(path.slice(quotePath.length + 1)))
        return true
      }
      req.resume()
      problem(res, requestId, 'ROUTE_NOT_FOUND')
      return true
    },
  }
}
