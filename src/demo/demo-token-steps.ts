/**
 * The access-token part of `litgate demo --flow` (issue 12 wire contract, docs/tokens.md): after the payment
 * is active the buyer gets a nonce, signs an EIP-4361 message with its own account, receives an access token
 * and a refresh token, calls the paid route with the token (the upstream sees the subscription), rotates the
 * refresh token, presents the spent one again (the whole family is revoked), sees its access token refused
 * (401) and, without a token, the 402 challenge again.
 */
import { createSiweMessage } from 'viem/siwe'
import { DEMO_PAID_PREFIX } from './demo-config.ts'
import { demoWalletClient } from './demo-chain.ts'
import type { FlowContext, FlowStep, StepResult } from './demo-flow.ts'

/** What the token steps keep in the flow's context. */
export interface TokenFlowState {
  signIn?: { readonly message: string; readonly signature: `0x${string}` }
  nonce?: string
  /** The newest tokens of the family. */
  tokens?: { readonly accessToken: string; readonly refreshToken: string; readonly fam: string }
  /** A refresh token already used once (reusing it revokes the family). */
  spentRefreshToken?: string
}

const ok = (detail: string): StepResult => ({ status: 'ok', detail })
const failed = (detail: string): StepResult => ({ status: 'failed', detail })
const short = (s: string): string => (s.length > 14 ? `${s.slice(0, 10)}…${s.slice(-4)}` : s)
const PAID_PATH = `${DEMO_PAID_PREFIX}/data`

async function readJson(res: Response): Promise<Record<string, unknown>> {
  const text = (await res.text()).slice(0, 4_000)
  try {
    const v: unknown = JSON.parse(text)
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : { text }
  } catch {
    return { text }
  }
}

/** The JWT's header and claims, decoded for display only (the gateway verifies them). */
function peek(jwt: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [h = '', c = ''] = jwt.split('.')
  const part = (s: string) =>
    JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>
  return { header: part(h), claims: part(c) }
}

const post = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

function remember(ctx: FlowContext, body: Record<string, unknown>): string | undefined {
  const { accessToken, refreshToken } = body
  if (typeof accessToken !== 'string' || typeof refreshToken !== 'string')
    return 'no accessToken/refreshToken'
  const fam = String(peek(accessToken).claims['fam'])
  ctx.tokenFlow.tokens = { accessToken, refreshToken, fam }
  return undefined
}

function describeToken(body: Record<string, unknown>): string {
  const { header, claims } = peek(String(body['accessToken']))
  return (
    `kid=${String(header['kid'])} typ=${String(header['typ'])} jti=${String(claims['jti'])} ` +
    `fam=${String(claims['fam'])} plan=${String(body['plan'])} expiresIn=${String(body['expiresIn'])}s ` +
    `refreshToken=${short(String(body['refreshToken']))}`
  )
}

/** `GET {base}/nonce`: a single-use nonce for the sign-in message. */
export const nonceStep: FlowStep = {
  name: 'nonce',
  async run(ctx) {
    const res = await fetch(`${ctx.gatewayUrl}${ctx.basePath}/nonce`)
    const body = await readJson(res)
    if (res.status !== 200 || typeof body['nonce'] !== 'string')
      return failed(`GET ${ctx.basePath}/nonce → ${res.status} (expected 200): ${JSON.stringify(body)}`)
    ctx.tokenFlow.nonce = body['nonce']
    return ok(`GET ${ctx.basePath}/nonce → 200 nonce=${body['nonce']} expiresAt=${String(body['expiresAt'])}`)
  },
}

/**
 * The buyer signs an EIP-4361 message (domain = the gateway's host, the subscription as its one resource)
 * with its own account and `POST {base}/token`s it. A 402 SUBSCRIPTION_INACTIVE (the gateway has not seen the
 * payment yet) leaves the nonce unspent: the same message is posted again, every 2 s, until `waitMs`.
 */
export const tokenStep: FlowStep = {
  name: 'token (EIP-4361)',
  async run(ctx) {
    const nonce = ctx.tokenFlow.nonce
    const id = ctx.subscriptionId
    if (nonce === undefined || id === undefined) return failed('no nonce or subscription')
    const gateway = new URL(ctx.gatewayUrl)
    const issuedAt = new Date()
    const message = createSiweMessage({
      domain: gateway.host,
      address: ctx.buyer.address,
      uri: gateway.origin,
      version: '1',
      chainId: ctx.chainId,
      nonce,
      issuedAt,
      expirationTime: new Date(issuedAt.getTime() + 5 * 60_000),
      statement: 'Sign in to the litgate demo with this subscription.',
      resources: [`urn:litgate:subscription:${id.toLowerCase()}`],
    })
    const signature = await demoWalletClient(ctx.rpcUrl, ctx.buyer).signMessage({
      account: ctx.buyer,
      message,
    })
    ctx.tokenFlow.signIn = { message, signature }
    const deadline = performance.now() + ctx.waitMs
    for (let attempt = 1; ; attempt++) {
      const res = await post(`${ctx.gatewayUrl}${ctx.basePath}/token`, { message, signature })
      const body = await readJson(res)
      if (res.status === 200) {
        const missing = remember(ctx, body)
        if (missing !== undefined) return failed(`POST ${ctx.basePath}/token → 200 but ${missing}`)
        return ok(
          `signed by ${ctx.buyer.address}; POST ${ctx.basePath}/token → 200 after ${attempt} attempt(s): ${describeToken(body)}`,
        )
      }
      if (
        res.status !== 402 ||
        body['code'] !== 'SUBSCRIPTION_INACTIVE' ||
        performance.now() + 2_000 > deadline
      )
        return failed(`POST ${ctx.basePath}/token → ${res.status} (expected 200): ${JSON.stringify(body)}`)
      await new Promise((r) => setTimeout(r, 2_000))
    }
  },
}

/** The paid route with `Authorization: Bearer`: 200, and the upstream saw the subscription, not the token. */
export const paidWithTokenStep: FlowStep = {
  name: 'paid request',
  async run(ctx) {
    const tokens = ctx.tokenFlow.tokens
    const id = ctx.subscriptionId
    if (tokens === undefined || id === undefined) return failed('no access token')
    const res = await fetch(`${ctx.gatewayUrl}${PAID_PATH}`, {
      headers: { authorization: `Bearer ${tokens.accessToken}` },
    })
    const body = await readJson(res)
    if (res.status !== 200)
      return failed(`GET ${PAID_PATH} with the token → ${res.status} (expected 200): ${JSON.stringify(body)}`)
    if (String(body['subscription']).toLowerCase() !== id.toLowerCase())
      return failed(`the upstream saw x-litgate-subscription=${String(body['subscription'])}, expected ${id}`)
    if (body['authorization'] !== undefined) return failed('the upstream received the Authorization header')
    return ok(
      `GET ${PAID_PATH} with Bearer → 200 from ${String(body['backend'])}; upstream saw x-litgate-subscription=${short(
        String(body['subscription']),
      )} x-litgate-plan=${String(body['plan'])}, no Authorization`,
    )
  },
}

/** `POST {base}/token/refresh`: a new access token and a NEW refresh token; the old one is spent. */
export const refreshStep: FlowStep = {
  name: 'refresh',
  async run(ctx) {
    const before = ctx.tokenFlow.tokens
    if (before === undefined) return failed('no refresh token')
    const res = await post(`${ctx.gatewayUrl}${ctx.basePath}/token/refresh`, {
      refreshToken: before.refreshToken,
    })
    const body = await readJson(res)
    if (res.status !== 200)
      return failed(
        `POST ${ctx.basePath}/token/refresh → ${res.status} (expected 200): ${JSON.stringify(body)}`,
      )
    const missing = remember(ctx, body)
    if (missing !== undefined) return failed(`POST ${ctx.basePath}/token/refresh → 200 but ${missing}`)
    const after = ctx.tokenFlow.tokens
    if (after === undefined || after.refreshToken === before.refreshToken)
      return failed('the refresh token was not rotated')
    if (after.fam !== before.fam) return failed(`family changed ${before.fam} → ${after.fam}`)
    ctx.tokenFlow.spentRefreshToken = before.refreshToken
    return ok(
      `POST ${ctx.basePath}/token/refresh → 200: ${describeToken(body)} (was ${short(before.refreshToken)}, now spent)`,
    )
  },
}

/** The spent refresh token presented again: 401 TOKEN_REFRESH_REUSED, the whole family revoked. */
export const refreshReuseStep: FlowStep = {
  name: 'refresh reuse',
  async run(ctx) {
    const spent = ctx.tokenFlow.spentRefreshToken
    if (spent === undefined) return failed('no spent refresh token')
    const res = await post(`${ctx.gatewayUrl}${ctx.basePath}/token/refresh`, { refreshToken: spent })
    const body = await readJson(res)
    if (res.status !== 401 || body['code'] !== 'TOKEN_REFRESH_REUSED')
      return failed(
        `POST ${ctx.basePath}/token/refresh with the spent token → ${res.status} (expected 401 TOKEN_REFRESH_REUSED): ${JSON.stringify(body)}`,
      )
    return ok(
      `POST ${ctx.basePath}/token/refresh with the spent ${short(spent)} → 401 TOKEN_REFRESH_REUSED requestId=${String(
        body['requestId'],
      )}: family fam=${String(ctx.tokenFlow.tokens?.fam)} revoked`,
    )
  },
}

/** The family's newest access token is now refused: 401 TOKEN_INVALID with WWW-Authenticate (within 1 s). */
export const revokedTokenStep: FlowStep = {
  name: 'revoked token',
  async run(ctx) {
    const tokens = ctx.tokenFlow.tokens
    if (tokens === undefined) return failed('no access token')
    const t0 = performance.now()
    for (;;) {
      const res = await fetch(`${ctx.gatewayUrl}${PAID_PATH}`, {
        headers: { authorization: `Bearer ${tokens.accessToken}` },
      })
      const body = await readJson(res)
      if (res.status === 401) {
        const challenge = res.headers.get('www-authenticate') ?? ''
        if (body['code'] !== 'TOKEN_INVALID' || !challenge.includes('invalid_token'))
          return failed(`401 but code=${String(body['code'])} WWW-Authenticate=${challenge}`)
        return ok(
          `GET ${PAID_PATH} with the refreshed token → 401 TOKEN_INVALID after ${Math.round(
            performance.now() - t0,
          )} ms; WWW-Authenticate: ${challenge}`,
        )
      }
      if (performance.now() - t0 > 2_000)
        return failed(`GET ${PAID_PATH} with a revoked token → ${res.status} after 2 s (expected 401)`)
      await new Promise((r) => setTimeout(r, 50))
    }
  },
}

/** No token: the 402 challenge again (the subscription is active, but nothing proves who asks). */
export const noTokenStep: FlowStep = {
  name: 'no token',
  async run(ctx) {
    const res = await fetch(`${ctx.gatewayUrl}${PAID_PATH}`)
    const body = await readJson(res)
    if (res.status !== 402)
      return failed(
        `GET ${PAID_PATH} without a token → ${res.status} (expected 402): ${JSON.stringify(body)}`,
      )
    return ok(
      `GET ${PAID_PATH} without a token → 402 ${String(body['code'])} requestId=${String(body['requestId'])}`,
    )
  },
}

export const TOKEN_FLOW_STEPS: readonly FlowStep[] = Object.freeze([
  nonceStep,
  tokenStep,
  paidWithTokenStep,
  refreshStep,
  refreshReuseStep,
  revokedTokenStep,
  noTokenStep,
])
