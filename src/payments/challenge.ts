/**
 * The 402 challenge: an admission stage that, on a route whose `access` lists plans, refuses a request
 * without a valid credential with 402 PAYMENT_REQUIRED, an RFC 9457 body (plans, prices, the quote endpoint),
 * `Cache-Control: no-store`, an x402 v2 `PAYMENT-REQUIRED` header and, when enabled, a
 * `WWW-Authenticate: Payment` challenge (stateless: its id is an HMAC). Nothing is stored per challenge.
 * Everything static is precomputed by compileChallenge at config load; per request only the absolute
 * resource URL, the expiry and the HMAC are computed.
 */
import { createHmac } from 'node:crypto'
import type { Address } from 'viem'
import type { PaidAccessConfig, RouteConfig } from '../config/index.ts'
import type { AdmissionGrant, AdmissionRefusal, AdmissionRequest, AdmissionStage } from '../runtime/index.ts'
import type { PlanCatalog } from './plans.ts'
import type { TokenInfo } from './quote.ts'

/**
 * What a credential check decided: `false` (no credential, or one that no longer buys access: the 402
 * challenge), `true` (admitted as is), an AdmissionGrant (admitted with head changes: the access tokens'
 * subscription headers) or an AdmissionRefusal of its own (a bad token: 401 TOKEN_INVALID).
 */
export type CredentialVerdict = boolean | AdmissionGrant | AdmissionRefusal

/**
 * Decides whether a request carries a valid credential for one of `plans`. A port: src/tokens implements
 * it with access tokens; `noCredentialIsValid` is the default.
 */
export type CredentialCheck = (
  request: AdmissionRequest,
  plans: readonly string[],
) => CredentialVerdict | Promise<CredentialVerdict>

export const noCredentialIsValid: CredentialCheck = () => false

export interface ChallengeInputs {
  readonly paid: PaidAccessConfig
  /**
   * The routes, or a getter of the serving config's routes (e.g. `() => gateway.runtime.config.routes`):
   * with a getter, the per-route table is recompiled whenever the routes array changes (a reload), so a
   * renamed or added paid route is never proxied unpaid.
   */
  readonly routes: readonly RouteConfig[] | (() => readonly RouteConfig[])
  readonly catalog: PlanCatalog
  readonly chainId: number
  readonly contract: Address
  /** Token capabilities read at start (`eip712Domain()`, EIP-3009, decimals), keyed by lower-case address. */
  readonly tokens: ReadonlyMap<string, TokenInfo>
  /** HMAC key of Payment challenge ids (≥ 32 bytes); required when paymentAuth is enabled. */
  readonly paymentAuthSecret?: Uint8Array
  readonly credential?: CredentialCheck
  /** Wall clock in ms (the Payment challenge's `expires`). */
  readonly nowMs: () => number
}

/** One entry of x402 v2 `accepts`. */
export interface X402Accept {
  readonly scheme: 'exact'
  readonly network: string
  readonly amount: string
  readonly asset: Address
  readonly payTo: Address
  readonly maxTimeoutSeconds: number
  readonly extra: { readonly name: string; readonly version: string }
}

interface PaidRoute {
  readonly plans: readonly string[]
  readonly problemMembers: string
  /** `PAYMENT-REQUIRED` JSON before and after the JSON-encoded resource URL. */
  readonly x402Head: string
  readonly x402Tail: string
  /** base64url(JCS(request)) of the Payment challenge, when enabled. */
  readonly paymentRequest: string | undefined
}

/** RFC 8785 JSON canonicalisation for the plain values used here (strings, integers, arrays, objects). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

/** The `id` of a Payment challenge: base64url(HMAC-SHA256(secret, realm|method|intent|request|expires|digest|opaque)). */
export function paymentChallengeId(
  secret: Uint8Array,
  parts: {
    realm: string
    method: string
    intent: string
    request: string
    expires: string
    digest?: string
    opaque?: string
  },
): string {
  const input = [
    parts.realm,
    parts.method,
    parts.intent,
    parts.request,
    parts.expires,
    parts.digest ?? '',
    parts.opaque ?? '',
  ].join('|')
  return createHmac('sha256', secret).update(input).digest('base64url')
}

export interface ChallengeStage {
  readonly stage: AdmissionStage
  /** The x402 `accepts` entries offered on a route (for tests and the admin API). */
  accepts(routeId: string): readonly X402Accept[]
}

export function compileChallenge(inputs: ChallengeInputs): ChallengeStage {
  const { paid, catalog, chainId, contract } = inputs
  const challenge = paid.challenge
  const auth = challenge.paymentAuth
  if (auth.enabled && (inputs.paymentAuthSecret === undefined || inputs.paymentAuthSecret.length < 32))
    throw new Error('paidAccess.challenge.paymentAuth: the secret must be at least 32 bytes')
  const quoteHref = `${paid.basePath}/quote`
  const network = `eip155:${chainId}`
  const credential = inputs.credential ?? noCredentialIsValid
  const compileRoutes = (list: readonly RouteConfig[]) => {
    const routes = new Map<string, PaidRoute>()
    const acceptsByRoute = new Map<string, readonly X402Accept[]>()
    for (const route of list) {
      if (route.access === 'public') continue
      const plans = route.access.map((name) => {
        const plan = catalog.plans.get(name)
        if (plan === undefined) throw new Error(`invariant: route ${route.id} names unknown plan ${name}`)
        return plan
      })
      const accepts: X402Accept[] = []
      let paymentRequest: string | undefined
      for (const plan of plans) {
        for (const price of plan.prices.values()) {
          const token = inputs.tokens.get(price.token.toLowerCase())
          if (token?.supportsAuthorization !== true || token.domain === undefined) continue
          accepts.push(
            Object.freeze({
              scheme: 'exact',
              network,
              amount: price.amount.toString(),
              asset: price.token,
              payTo: contract,
              maxTimeoutSeconds: challenge.maxTimeoutSeconds,
              extra: Object.freeze({ name: token.domain.name, version: token.domain.version }),
            }),
          )
          if (paymentRequest === undefined && auth.enabled && token.decimals !== undefined) {
            paymentRequest = Buffer.from(
              canonicalJson({
                amount: price.amount.toString(),
                currency: price.token,
                recipient: contract,
                methodDetails: { chainId, credentialTypes: ['authorization'], decimals: token.decimals },
              }),
            ).toString('base64url')
          }
        }
      }
      const description = `Paid access (${plans.map((p) => p.displayName).join(', ')})`
      const head = `{"x402Version":2,"error":"payment required","resource":{"url":`
      const tail = `,"description":${JSON.stringify(description)},"mimeType":""},"accepts":${JSON.stringify(accepts)}}`
      const body = {
        detail: `This route is sold. Request a quote at ${quoteHref} for one of the plans below, pay it, then retry.`,
        plans: plans.map((p) => ({
          name: p.name,
          displayName: p.displayName,
          planId: p.planId,
          prices: [...p.prices.values()].map((x) => ({ token: x.token, amount: x.amount.toString() })),
          qos: p.qos,
        })),
        quote: { href: quoteHref, method: 'POST' },
        chainId,
        contract,
      }
      const json = JSON.stringify(body)
      routes.set(
        route.id,
        Object.freeze({
          plans: route.access,
          problemMembers: json.slice(1, -1),
          x402Head: head,
          x402Tail: tail,
          paymentRequest,
        }),
      )
      acceptsByRoute.set(route.id, Object.freeze(accepts))
    }
    return { routes, acceptsByRoute }
  }
  const getRoutes =
    typeof inputs.routes === 'function' ? inputs.routes : () => inputs.routes as readonly RouteConfig[]
  let compiledFrom = getRoutes()
  let table = compileRoutes(compiledFrom)
  /** The table for the serving routes (recompiled only when the array identity changes: at most once per reload). */
  const current = () => {
    const list = getRoutes()
    if (list !== compiledFrom) {
      table = compileRoutes(list)
      compiledFrom = list
    }
    return table
  }

  const origin = challenge.publicOrigin?.replace(/\/+$/, '')

  const refuse = (request: AdmissionRequest, route: PaidRoute): AdmissionRefusal => {
    const host = request.headers.host ?? (request.headers[':authority'] as string | undefined) ?? 'localhost'
    const url = `${origin ?? `http://${host}`}${request.path}`
    const headers: Record<string, string> = {
      'cache-control': 'no-store',
      'payment-required': Buffer.from(route.x402Head + JSON.stringify(url) + route.x402Tail).toString(
        'base64',
      ),
    }
    if (route.paymentRequest !== undefined && inputs.paymentAuthSecret !== undefined) {
      const expires = new Date(inputs.nowMs() + challenge.maxTimeoutSeconds * 1000)
        .toISOString()
        .replace(/\.\d{3}Z$/, 'Z')
      const parts = {
        realm: auth.realm,
        method: 'evm',
        intent: 'charge',
        request: route.paymentRequest,
        expires,
      }
      const id = paymentChallengeId(inputs.paymentAuthSecret, parts)
      headers['www-authenticate'] =
        `Payment id="${id}", realm="${auth.realm}", method="evm", intent="charge", request="${route.paymentRequest}", expires="${expires}"`
    }
    return { code: 'PAYMENT_REQUIRED', headers, problemMembers: route.problemMembers }
  }

  const stage: AdmissionStage = (request) => {
    const route = current().routes.get(request.routeId)
    if (route === undefined) return undefined
    const verdict = credential(request, route.plans)
    if (verdict === true) return undefined
    if (verdict === false) return refuse(request, route)
    if (!(verdict instanceof Promise)) return verdict
    return verdict.then((v) => (v === true ? undefined : v === false ? refuse(request, route) : v))
  }

  return { stage, accepts: (routeId) => current().acceptsByRoute.get(routeId) ?? [] }
}
