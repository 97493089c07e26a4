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

export type SignInResult =
  { readonly ok: true; readonly tokens: TokenSet } | { readonly ok: false; readonly retryAfterMs?: number }

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
    const set: TokenSet = {
      accessToken: answer.accessToken,
      refreshToken: answer.refreshToken,
      subscriptionId: answer.subscriptionId,
      plan: answer.plan,
      accessExpiresAtMs: now + lifetimeMs,
      refreshExpiresAtMs: now + answer.refreshExpiresIn * 1000,
      refreshAtMs: now + Math.max(lifetimeMs - deps.refreshBeforeExpiryMs, lifetimeMs / 2),
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
    deps.fetch(
      new Request(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
      }),
    )

  async function signIn(subscriptionId: Hex, activation?: { startedMs: number }): Promise<SignInResult> {
    const nonceRes = await deps.fetch(new Request(url('/nonce'), { headers: { accept: 'application/json' } }))
    if (nonceRes.status !== 200) throw httpError(nonceRes, await readProblem(nonceRes))
    const { nonce } = (await nonceRes.json()) as { nonce?: unknown }
    if (typeof nonce !== 'string')
      throw new LitgateHttpError({ status: 200, url: nonceRes.url, code: 'NONCE_ANSWER_INVALID' })
    const issuedAt = new Date(deps.now())
    // EIP-4361: domain = the gateway's host, uri = its origin, one resource naming the subscription.
    const message = createSiweMessage({
      domain: deps.gateway.host,
      address: deps.wallet.account.address,
      uri: deps.gateway.origin,
      version: '1',
      chainId: await deps.chainId(),
      nonce,
      issuedAt,
      expirationTime: new Date(issuedAt.getTime() + 5 * 60_000),
      statement: 'Sign in to litgate with this subscription.',
      resources: [`urn:litgate:subscription:${subscriptionId.toLowerCase()}`],
    })
    const signature = await deps.wallet.signMessage({ account: deps.wallet.account, message })
    const res = await postJson(url('/token'), { message, signature })
    if (res.status === 200) {
      const answer = parseTokenAnswer(await res.json(), res.url)
      if (activation !== undefined)
        deps.emit({ type: 'active', subscriptionId, waitedMs: deps.now() - activation.startedMs })
      return { ok: true, tokens: store(answer, 'sign-in') }
    }
    const problem = await readProblem(res)
    await res.body?.cancel()
    // Not active yet (the payment is not confirmed), or the chain is briefly unreadable: both are "wait".
    if (
      (res.status === 402 && problem?.code === 'SUBSCRIPTION_INACTIVE') ||
      (res.status === 503 && problem?.code === 'CHAIN_UNAVAILABLE')
    ) {
      const after = retryAfterMs(res, deps.now())
      return after === undefined ? { ok: false } : { ok: false, retryAfterMs: after }
    }
    throw httpError(res, problem)
  }

  async function refresh(current: TokenSet): Promise<TokenSet | undefined> {
    const res = await postJson(url('/token/refresh'), { refreshToken: current.refreshToken })
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
      for (let attempt = 1; ; attempt++) {
        const result = await signIn(subscriptionId, { startedMs: started })
        if (result.ok) return result.tokens
        deps.emit({ type: 'activation-pending', subscriptionId, attempt })
        const wait = Math.max(opts.pollIntervalMs, Math.min(result.retryAfterMs ?? 0, 5_000))
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
