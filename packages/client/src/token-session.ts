// The buyer's access token, held in memory: sign-in with EIP-4361 (GET {base}/nonce, POST {base}/token),
// refresh before expiry (POST {base}/token/refresh, single-flight, the refresh token rotates on every use),
// and the activation wait (POST {base}/token answers 402 SUBSCRIPTION_INACTIVE until the gateway has seen the
// payment confirmed).
import type { Hex } from 'viem'
import { createSiweMessage } from 'viem/siwe'
import { LitgateHttpError, PaymentNotConfirmedError } from './errors.ts'
import type { EventSink } from './events.ts'
import type { LitgateWallet } from './pay.ts'
import { httpError, parseTokenAnswer, readProblem, retryAfterMs, type TokenAnswer } from './wire.ts'

/** The tokens of one subscription, with absolute expiry times on the SDK's clock. */
export interface TokenSet {
  readonly accessToken: string
  readonly refreshToken: string
  readonly subscriptionId: Hex
  readonly plan: string
  readonly accessExpiresAtMs: number
  readonly refreshExpiresAtMs: number
  /** When to refresh: past it the access token is renewed before use. */
  readonly refreshAtMs: number
  /** The subscription's end as the gateway stated it (`subscriptionEndsAt`), when it did. */
  readonly subscriptionEndsAtMs?: number
}

export interface TokenSessionDeps {
  readonly gateway: URL
  /** Resolves `{base}` (it may be learnt from a 402's quote href). */
  readonly basePath: () => string
  readonly wallet: LitgateWallet
  readonly chainId: () => Promise<number>
  readonly fetch: typeof fetch
  readonly now: () => number
  readonly sleep: (ms: number) => Promise<void>
  readonly emit: EventSink
  /** Refresh this long before the access token expires (at most half its lifetime). */
  readonly refreshBeforeExpiryMs: number
}

/** A signed sign-in message, reusable until its nonce is spent (a token issued) or about to expire. */
export interface Prepared {
  readonly subscriptionId: Hex
  readonly message: string
  readonly signature: Hex
  readonly usableUntilMs: number
}

export type SignInResult =
  | { readonly ok: true; readonly tokens: TokenSet }
  | { readonly ok: false; readonly retryAfterMs?: number; readonly prepared?: Prepared }

/** The message's own expiry (the gateway's nonces live 5 min by default). */
const NONCE_LIFETIME_MS = 5 * 60_000
/** A reused message is replaced this long before its nonce expires. */
const REUSE_MARGIN_MS = 15_000
const RATE_RETRIES = 3
const MAX_RATE_WAIT_MS = 60_000

export interface TokenSession {
  /** A usable token set (refreshed first when due), or undefined when there is none. */
  current(): Promise<TokenSet | undefined>
  /** Bumped every time a new token set is stored: a 402 answered to an older generation is not a reason to pay. */
  readonly generation: number
  /** One sign-in attempt for `subscriptionId`; `ok: false` when the subscription does not grant access (yet). */
  signIn(subscriptionId: Hex): Promise<SignInResult>
  /** Signs in, retrying while the subscription is not active yet, until `deadlineMs` (PaymentNotConfirmedError). */
  waitForActivation(
    subscriptionId: Hex,
    opts: { deadlineMs: number; pollIntervalMs: number; txHash?: Hex },
  ): Promise<TokenSet>
  /** Forgets the access token (the gateway refused it); the refresh token is kept. */
  invalidate(accessToken: string, reason: string): void
  /** Forgets everything. */
  clear(): void
}

export function createTokenSession(deps: TokenSessionDeps): TokenSession {
  let tokens: TokenSet | undefined
  let generation = 0
  let refreshing: Promise<TokenSet | undefined> | undefined

  const url = (path: string) => new URL(`${deps.basePath()}${path}`, deps.gateway)

  const store = (answer: TokenAnswer, reason: 'sign-in' | 'refresh'): TokenSet => {
    const now = deps.now()
    const lifetimeMs = answer.expiresIn * 1000
    const endsAtMs = answer.subscriptionEndsAt === undefined ? NaN : Date.parse(answer.subscriptionEndsAt)
    const set: TokenSet = {
      accessToken: answer.accessToken,
      refreshToken: answer.refreshToken,
      subscriptionId: answer.subscriptionId,
      plan: answer.plan,
      accessExpiresAtMs: now + lifetimeMs,
      refreshExpiresAtMs: now + answer.refreshExpiresIn * 1000,
      refreshAtMs: now + Math.max(lifetimeMs - deps.refreshBeforeExpiryMs, lifetimeMs / 2),
      ...(Number.isNaN(endsAtMs) ? {} : { subscriptionEndsAtMs: endsAtMs }),
    }
    tokens = set
    generation++
    deps.emit({
      type: 'token',
      subscriptionId: set.subscriptionId,
      reason,
      expiresAtMs: set.accessExpiresAtMs,
    })
    return set
  }

  const postJson = (target: URL, body: unknown) =>
    new Request(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    })

  /**
   * Sends a token-endpoint request; a 429 TOKEN_RATE_LIMITED (the gateway allows a few token requests per IP and
   * minute, shared by nonce, token and refresh) is waited out by its Retry-After, at most RATE_RETRIES times.
   */
  async function send(make: () => Request): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      const res = await deps.fetch(make())
      if (res.status !== 429 || attempt > RATE_RETRIES) return res
      const wait = Math.min(retryAfterMs(res, deps.now()) ?? 2_000, MAX_RATE_WAIT_MS)
      await res.body?.cancel()
      deps.emit({ type: 'rate-limited', url: res.url, attempt, retryAfterMs: wait })
      await deps.sleep(wait)
    }
  }

  /** A signed EIP-4361 message for `subscriptionId` over a fresh nonce. */
  async function prepare(subscriptionId: Hex): Promise<Prepared> {
    const nonceRes = await send(() => new Request(url('/nonce'), { headers: { accept: 'application/json' } }))
    if (nonceRes.status !== 200) throw httpError(nonceRes, await readProblem(nonceRes))
    const { nonce, expiresAt } = (await nonceRes.json()) as { nonce?: unknown; expiresAt?: unknown }
    if (typeof nonce !== 'string')
      throw new LitgateHttpError({ status: 200, url: nonceRes.url, code: 'NONCE_ANSWER_INVALID' })
    const issuedAt = new Date(deps.now())
    const expirationTime = new Date(issuedAt.getTime() + NONCE_LIFETIME_MS)
    // EIP-4361: domain = the gateway's host, uri = its origin, one resource naming the subscription.
    const message = createSiweMessage({
      domain: deps.gateway.host,
      address: deps.wallet.account.address,
      uri: deps.gateway.origin,
      version: '1',
      chainId: await deps.chainId(),
      nonce,
      issuedAt,
      expirationTime,
      statement: 'Sign in to litgate with this subscription.',
      resources: [`urn:litgate:subscription:${subscriptionId.toLowerCase()}`],
    })
    const signature = await deps.wallet.signMessage({ account: deps.wallet.account, message })
    // The nonce is spent only when a token is issued: the same message may be posted again until then.
    const nonceExpiry = typeof expiresAt === 'string' ? Date.parse(expiresAt) : Number.NaN
    const usableUntilMs =
      Math.min(Number.isNaN(nonceExpiry) ? Infinity : nonceExpiry, expirationTime.getTime()) - REUSE_MARGIN_MS
    return { subscriptionId, message, signature, usableUntilMs }
  }

  async function signIn(
    subscriptionId: Hex,
    activation?: { startedMs: number; prepared?: Prepared },
  ): Promise<SignInResult> {
    const reused = activation?.prepared
    const fresh = reused === undefined || reused.usableUntilMs <= deps.now()
    const prepared = fresh ? await prepare(subscriptionId) : reused
    const res = await send(() =>
      postJson(url('/token'), { message: prepared.message, signature: prepared.signature }),
    )
    if (res.status === 200) {
      const answer = parseTokenAnswer(await res.json(), res.url)
      if (activation !== undefined)
        deps.emit({ type: 'active', subscriptionId, waitedMs: deps.now() - activation.startedMs })
      return { ok: true, tokens: store(answer, 'sign-in') }
    }
    const problem = await readProblem(res)
    await res.body?.cancel()
    // A reused message whose nonce the gateway no longer knows (swept, or expired early): sign a fresh one.
    if (!fresh && res.status === 401 && problem?.code === 'TOKEN_SIGNATURE_INVALID')
      return signIn(subscriptionId, { startedMs: activation?.startedMs ?? deps.now() })
    // Not active yet (the payment is not confirmed), the chain is briefly unreadable, or (while waiting for
    // activation) still rate limited: all are "wait". Outside the activation wait a 429 is an error, never a
    // reason to buy.
    if (
      (res.status === 402 && problem?.code === 'SUBSCRIPTION_INACTIVE') ||
      (res.status === 503 && problem?.code === 'CHAIN_UNAVAILABLE') ||
      (res.status === 429 && activation !== undefined)
    ) {
      const after = retryAfterMs(res, deps.now())
      return after === undefined ? { ok: false, prepared } : { ok: false, prepared, retryAfterMs: after }
    }
    throw httpError(res, problem)
  }

  async function refresh(current: TokenSet): Promise<TokenSet | undefined> {
    const res = await send(() => postJson(url('/token/refresh'), { refreshToken: current.refreshToken }))
    if (res.status === 200) return store(parseTokenAnswer(await res.json(), res.url), 'refresh')
    const problem = await readProblem(res)
    await res.body?.cancel()
    if (res.status === 401 || res.status === 402 || res.status === 403) {
      // Refresh refused (reused, revoked, expired) or the subscription lapsed: drop the set; a fresh sign-in
      // (no payment) is tried once, and a lapsed subscription ends in the 402 path.
      if (tokens === current) tokens = undefined
      deps.emit({
        type: 'token-dropped',
        subscriptionId: current.subscriptionId,
        reason: problem?.code ?? `HTTP_${res.status}`,
      })
      const again = await signIn(current.subscriptionId)
      return again.ok ? again.tokens : undefined
    }
    throw httpError(res, problem)
  }

  return {
    get generation() {
      return generation
    },
    async current() {
      const set = tokens
      if (set === undefined) return undefined
      const now = deps.now()
      if (now < set.refreshAtMs) return set
      if (now >= set.refreshExpiresAtMs) {
        tokens = undefined
        deps.emit({ type: 'token-dropped', subscriptionId: set.subscriptionId, reason: 'REFRESH_EXPIRED' })
        return undefined
      }
      // Single flight: concurrent callers share one refresh (a second use of the same refresh token would
      // be reuse, which revokes the whole family).
      refreshing ??= refresh(set).finally(() => {
        refreshing = undefined
      })
      return refreshing
    },
    signIn: (subscriptionId) => signIn(subscriptionId),
    async waitForActivation(subscriptionId, opts) {
      const started = deps.now()
      let prepared: Prepared | undefined
      for (let attempt = 1; ; attempt++) {
        // The same signed message is posted again while the answer is "not active yet" (its nonce is unspent).
        const result = await signIn(subscriptionId, {
          startedMs: started,
          ...(prepared === undefined ? {} : { prepared }),
        })
        if (result.ok) return result.tokens
        prepared = result.prepared
        deps.emit({ type: 'activation-pending', subscriptionId, attempt })
        const wait = Math.max(opts.pollIntervalMs, Math.min(result.retryAfterMs ?? 0, MAX_RATE_WAIT_MS))
        if (deps.now() + wait >= opts.deadlineMs) {
          throw new PaymentNotConfirmedError({
            subscriptionId,
            txHash: opts.txHash,
            waitedMs: deps.now() - started,
          })
        }
        await deps.sleep(wait)
      }
    },
    invalidate(accessToken, reason) {
      if (tokens?.accessToken !== accessToken) return
      // Keep the refresh token: force a refresh on next use.
      tokens = { ...tokens, refreshAtMs: 0, accessExpiresAtMs: 0 }
      deps.emit({ type: 'token-dropped', subscriptionId: tokens.subscriptionId, reason })
    },
    clear() {
      tokens = undefined
    },
  }
}
