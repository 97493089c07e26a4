// The buyer's side of litgate: `createLitgateClient` holds one wallet's access to one gateway (in memory) and
// exposes a fetch that pays when it has to. The request path:
//
//   request ──► same origin as the gateway? ── no ──► plain fetch (no token ever leaves for another origin)
//      │ yes: attach the Bearer token (refreshed first when due, single-flight)
//      ▼
//   answer 503 CHAIN_UNAVAILABLE ──► wait Retry-After, retry (bounded) ──► ChainUnavailableError
//   answer 401 on our token ──► forget it, retry once (refresh, or a fresh sign-in)
//   answer 402 PAYMENT_REQUIRED ──► a newer token arrived meanwhile? retry with it
//      │ else: the ONE purchase in flight (started now or joined): sign in with a known subscription, or
//      │ balance check → quote → pay → wait for activation (POST {base}/token) → token; the quote renews
//      │ the known subscription when it has lapsed (its end, as the gateway last stated it, has passed)
//      ▼
//   retry with Bearer; a second 402 in the same call is returned as it is (never two payments per call)
import { publicActions, type Address, type Hex, type PublicClient } from 'viem'
import { LitgateClientError, QuoteExpiredError } from './errors.ts'
import { safeSink, type EventSink, type LitgateEvent, type PaymentMethod } from './events.ts'
import {
  checkBalance,
  chooseMethod,
  isQuoteStale,
  payQuote,
  type LitgateWallet,
  type PaymentResult,
} from './pay.ts'
import { createTokenSession, type TokenSession, type TokenSet } from './token-session.ts'
import {
  asPaymentRequired,
  httpError,
  parseQuoteAnswer,
  readProblem,
  sendWithChainRetries,
  type PaymentRequired,
  type QuoteAnswer,
} from './wire.ts'

export interface LitgateFetchOptions {
  /** The gateway's origin (`https://api.example.com`); only requests to it get a token. */
  readonly gateway: string | URL
  /** A viem wallet client with an account: it signs, and sends the payment transaction itself. */
  readonly wallet: LitgateWallet
  /** The plan to buy (a name from the 402's `plans`). */
  readonly plan: string
  /** The token to pay with (default: the plan's first price). */
  readonly payWith?: Address
  /** Periods to buy per purchase (default 1). */
  readonly periods?: number
  /** The fetch to send with (default: globalThis.fetch). */
  readonly fetch?: typeof fetch
  /** How long to wait after paying for the gateway to grant a token (default 120 000). */
  readonly activationTimeoutMs?: number
  /** Observer of every step (quote, approval, payment, activation, token). */
  readonly onEvent?: (event: LitgateEvent) => void
  /** Allowed payment methods (default all three; the SDK prefers authorization, then permit, then approve). */
  readonly payMethods?: readonly PaymentMethod[]
  /** Reads (balance, allowance, receipts, chain time); default: the wallet's transport with public actions. */
  readonly publicClient?: PublicClient
  /** The gateway's `paidAccess.basePath` (default `/litgate/v1`; learnt from a 402's quote href). */
  readonly basePath?: string
  /** A subscription this wallet already holds: signed in on a 402 before anything is bought. */
  readonly subscriptionId?: Hex
  /** Retries after a 503 CHAIN_UNAVAILABLE (default 3). */
  readonly chainRetries?: number
  /** Cap of one Retry-After wait (default 30 000). */
  readonly maxRetryDelayMs?: number
  /**
   * Interval of the activation polls (default 2000: the gateway allows 30 token requests per IP and minute,
   * shared by nonce, token and refresh; each poll re-posts the same signed message, one request).
   */
  readonly pollIntervalMs?: number
  /** Refresh the access token this long before it expires (default 60 000, at most half its lifetime). */
  readonly refreshBeforeExpiryMs?: number
  /** Clock (ms since the epoch); for tests. */
  readonly now?: () => number
  /** Waits (Retry-After, activation polls); for tests. */
  readonly sleep?: (ms: number) => Promise<void>
}

/** One wallet's access to one gateway. */
export interface LitgateClient {
  /** A fetch-compatible function that buys access on a 402 and sends the Bearer token. */
  readonly fetch: typeof fetch
  /** The current tokens (undefined before the first purchase or sign-in). */
  tokens(): TokenSet | undefined
  /**
   * Gets access now as a 402 would, given its problem body: joins the acquisition in flight, waits for a payment
   * already made, signs in with a held subscription, or buys (quote → pay → activation → token).
   */
  purchase(offer: PaymentRequired): Promise<TokenSet>
  /**
   * Requests a quote for the plan (payer = the wallet); with `renewal`, one that renews that subscription
   * (`subscriptionId` in the quote request), in its own token when given.
   */
  quote(offer: PaymentRequired, renewal?: Renewal): Promise<QuoteAnswer>
  /** Pays a quote (the wallet submits the transaction) and returns its hash, block and subscription id. */
  pay(answer: QuoteAnswer): Promise<PaymentResult>
}

/** A held subscription to renew, and the token it is paid in when known (a renewal must use it). */
export interface Renewal {
  readonly subscriptionId: Hex
  readonly token?: Address
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const DEFAULT_METHODS: readonly PaymentMethod[] = ['authorization', 'permit', 'approve']

/** Creates a client; see `createLitgateFetch` for the common case. */
export function createLitgateClient(options: LitgateFetchOptions): LitgateClient {
  const gateway = new URL(options.gateway)
  const send = options.fetch ?? globalThis.fetch
  const now = options.now ?? Date.now
  const sleep = options.sleep ?? realSleep
  const emit: EventSink = safeSink(options.onEvent)
  const wallet = options.wallet
  const publicClient = options.publicClient ?? (wallet.extend(publicActions) as unknown as PublicClient)
  const periods = options.periods ?? 1
  const activationTimeoutMs = options.activationTimeoutMs ?? 120_000
  const pollIntervalMs = options.pollIntervalMs ?? 2000
  const methods = options.payMethods ?? DEFAULT_METHODS
  if (!Number.isInteger(periods) || periods < 1)
    throw new RangeError(`periods must be an integer ≥ 1, got ${periods}`)
  let basePath = options.basePath ?? '/litgate/v1'
  let chainId: number | undefined = wallet.chain?.id
  let knownSubscription = options.subscriptionId
  // The token this client paid the known subscription in (undefined for one passed in `subscriptionId`).
  let knownToken: Address | undefined
  // A payment mined but not (yet) granted: never paid again by this client; the next 402 waits for it.
  let unconfirmed: { subscriptionId: Hex; txHash: Hex } | undefined
  const chainDeps = {
    fetch: send,
    now,
    sleep,
    chainRetries: options.chainRetries ?? 3,
    maxRetryDelayMs: options.maxRetryDelayMs ?? 30_000,
    onRetry: (i: { url: string; attempt: number; retryAfterMs: number }) =>
      emit({ type: 'chain-unavailable', ...i }),
  }
  const session: TokenSession = createTokenSession({
    gateway,
    basePath: () => basePath,
    wallet,
    chainId: async () => (chainId ??= await publicClient.getChainId()),
    fetch: send,
    now,
    sleep,
    emit,
    refreshBeforeExpiryMs: options.refreshBeforeExpiryMs ?? 60_000,
  })
  const payDeps = { wallet, publicClient, emit }
  let latest: TokenSet | undefined
  let purchasing: Promise<TokenSet> | undefined

  const learn = (offer: PaymentRequired) => {
    chainId = offer.chainId
    const href = offer.quote.href
    if (href.endsWith('/quote')) basePath = new URL(href, gateway).pathname.slice(0, -'/quote'.length)
  }

  async function quote(offer: PaymentRequired, renewal?: Renewal): Promise<QuoteAnswer> {
    learn(offer)
    const plan = offer.plans.find((p) => p.name === options.plan)
    if (plan === undefined)
      throw new LitgateClientError('PLAN_NOT_OFFERED', `plan "${options.plan}" is not offered for this route`)
    const wanted = renewal?.token ?? options.payWith
    const price =
      wanted === undefined
        ? plan.prices[0]
        : plan.prices.find((p) => p.token.toLowerCase() === wanted.toLowerCase())
    if (price === undefined)
      throw new LitgateClientError(
        'TOKEN_NOT_ACCEPTED',
        `plan "${plan.name}" is not priced in ${wanted ?? 'any token'}`,
      )
    const payer = wallet.account.address
    // Balance first: an unfunded wallet never takes a quote (they are capped per payer).
    const balance = await checkBalance(payDeps, price.token, payer, BigInt(price.amount) * BigInt(periods))
    const target = new URL(offer.quote.href, gateway)
    const res = await sendWithChainRetries(
      () =>
        new Request(target, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({
            plan: plan.name,
            periods,
            payer,
            token: price.token,
            ...(renewal === undefined ? {} : { subscriptionId: renewal.subscriptionId }),
          }),
        }),
      chainDeps,
    )
    if (res.status !== 201) throw httpError(res, await readProblem(res))
    const answer = parseQuoteAnswer(await res.json(), res.url)
    emit({
      type: 'quote',
      quoteId: answer.quoteId,
      digest: answer.digest,
      token: answer.token,
      amount: BigInt(answer.amount),
      validUntil: BigInt(answer.validUntil),
      ...(renewal === undefined ? {} : { renews: renewal.subscriptionId }),
    })
    // A renewal can cost more than one period's list price.
    if (BigInt(answer.amount) > balance)
      await checkBalance(payDeps, answer.token, payer, BigInt(answer.amount))
    return answer
  }

  async function pay(answer: QuoteAnswer): Promise<PaymentResult> {
    const result = await payQuote(payDeps, answer, chooseMethod(answer, methods), activationTimeoutMs)
    emit({ type: 'paid', ...result, digest: answer.digest })
    return result
  }

  const activation = (paid: { subscriptionId: Hex; txHash: Hex }) =>
    session
      .waitForActivation(paid.subscriptionId, {
        deadlineMs: now() + activationTimeoutMs,
        pollIntervalMs,
        txHash: paid.txHash,
      })
      .then((set) => {
        if (unconfirmed?.subscriptionId === paid.subscriptionId) unconfirmed = undefined
        return set
      })

  /**
   * The known subscription, to renew rather than buy anew, when it has lapsed: its end as the gateway last
   * stated it (in a token answer) has passed. A subscription refused for another reason (an operator hold, a
   * payment not confirmed yet) or of unknown end is not paid for again: a new one is bought, as before.
   */
  function lapsedRenewal(): Renewal | undefined {
    const set = latest
    if (knownSubscription === undefined || set === undefined) return undefined
    if (set.subscriptionId.toLowerCase() !== knownSubscription.toLowerCase()) return undefined
    if (set.subscriptionEndsAtMs === undefined || set.subscriptionEndsAtMs > now()) return undefined
    return { subscriptionId: knownSubscription, ...(knownToken === undefined ? {} : { token: knownToken }) }
  }

  async function purchase(offer: PaymentRequired): Promise<TokenSet> {
    if (wallet.chain !== undefined && wallet.chain.id !== offer.chainId)
      throw new LitgateClientError(
        'CHAIN_MISMATCH',
        `the gateway sells on chain ${offer.chainId}, the wallet is on chain ${wallet.chain.id}`,
      )
    let renewal = lapsedRenewal()
    // A renewal the gateway refuses (the subscription cancelled or revoked on chain, its token no longer
    // sold for the plan) falls back to a new subscription.
    const quoteOnce = async (): Promise<QuoteAnswer> => {
      if (renewal !== undefined) {
        try {
          return await quote(offer, renewal)
        } catch (err) {
          // The gateway's 400 QUOTE_SUBSCRIPTION_INVALID, or the plan no longer priced in its token (ours).
          const isRefused =
            err instanceof LitgateClientError &&
            (err.code === 'QUOTE_SUBSCRIPTION_INVALID' || err.code === 'TOKEN_NOT_ACCEPTED')
          if (!isRefused) throw err
          emit({ type: 'renewal-refused', subscriptionId: renewal.subscriptionId, reason: err.message })
          renewal = undefined
        }
      }
      return quote(offer)
    }
    let answer = await quoteOnce()
    // One fresh quote when the first is (nearly) expired by chain time; then give up.
    if (await isQuoteStale(payDeps, answer)) {
      answer = await quoteOnce()
      if (await isQuoteStale(payDeps, answer))
        throw new QuoteExpiredError({ quoteId: answer.quoteId, validUntil: BigInt(answer.validUntil) })
    }
    const paid = await pay(answer)
    knownSubscription = paid.subscriptionId
    knownToken = answer.token
    unconfirmed = paid
    return activation(paid)
  }

  /** The one access acquisition in flight: concurrent 402s join it. */
  function acquire(offer: PaymentRequired): Promise<TokenSet> {
    purchasing ??= (async () => {
      learn(offer)
      if (unconfirmed !== undefined) return activation(unconfirmed)
      if (knownSubscription !== undefined) {
        const signedIn = await session.signIn(knownSubscription)
        if (signedIn.ok) return signedIn.tokens
      }
      return purchase(offer)
    })()
      .then((set) => (latest = set))
      .finally(() => {
        purchasing = undefined
      })
    return purchasing
  }

  const litgateFetch = async (input: Request | string | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init)
    if (new URL(request.url).origin !== gateway.origin) return send(request)
    let acquired = false
    let retriedAuth = false
    for (;;) {
      const set = await session.current()
      if (set !== undefined) latest = set
      const generation = session.generation
      const res = await sendWithChainRetries(() => withBearer(request.clone(), set), chainDeps)
      if (res.status === 401 && set !== undefined && !retriedAuth) {
        const problem = await readProblem(res)
        if (problem?.code === 'TOKEN_INVALID' || res.headers.has('www-authenticate')) {
          await res.body?.cancel()
          session.invalidate(set.accessToken, problem?.code ?? 'HTTP_401')
          retriedAuth = true
          continue
        }
        return res
      }
      if (res.status !== 402 || acquired) return res
      const offer = asPaymentRequired(await readProblem(res))
      if (offer === undefined) return res
      await res.body?.cancel()
      acquired = true
      if (session.generation !== generation) continue
      emit({ type: 'payment-required', url: request.url, plan: options.plan })
      await acquire(offer)
    }
  }

  return {
    fetch: litgateFetch as typeof fetch,
    tokens: () => latest,
    purchase: acquire,
    quote,
    pay,
  }
}

function withBearer(request: Request, set: TokenSet | undefined): Request {
  if (set === undefined) return request
  const headers = new Headers(request.headers)
  headers.set('authorization', `Bearer ${set.accessToken}`)
  return new Request(request, { headers })
}

/**
 * A fetch that meets a litgate 402, quotes, pays (EIP-3009, else permit, else approve + pay), waits for the
 * subscription to be active, signs in for a token, and retries the request with `Authorization: Bearer`.
 */
export function createLitgateFetch(options: LitgateFetchOptions): typeof fetch {
  return createLitgateClient(options).fetch
}
