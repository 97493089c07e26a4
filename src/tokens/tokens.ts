/**
 * The access-token subsystem assembled for the paid layer: signing keys read from secret references, the
 * token service and endpoints, the edge's credential check, the revocation set fed in process, by the
 * revocation bus (Redis pub/sub) and by a poll of the database, and the sweeps of expired rows.
 */
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { TokensConfig } from '../config/index.ts'
import { buildProblem, GatewayError, isGatewayError } from '../errors/index.ts'
import type { Hex, TokenRepository } from '../storage/index.ts'
import { MAX_ACCESS_TTL_SECONDS } from './claims.ts'
import { createTokenCredentialCheck, type TokenCredentialCheck } from './credential-check.ts'
import { createRevocationSet, type RevocationBus, type RevocationSet } from './revocations.ts'
import { createAccessTokenCodec, parseSigningKey, type AccessTokenCodec } from './signing-keys.ts'
import { createTokenEndpoints, type TokenEndpoints, type TokenEndpointsDeps } from './token-http.ts'
import { createTokenMetrics, type RevocationSource } from './token-metrics.ts'
import {
  createTokenService,
  type TokenPlan,
  type TokenServiceDeps,
  type TokenSubscriptions,
} from './token-service.ts'

/** A secret reference (`{ fromEnv }` | `{ file }`). */
export type TokenSecretRef = TokensConfig['signingKeys'][number]['privateKey']

export interface TokensOptions {
  readonly config: TokensConfig
  readonly basePath: string
  readonly chainId: number
  readonly publicOrigin?: string
  readonly requestIdHeader: string
}

export interface TokensDeps {
  readonly store: TokenRepository
  readonly subscriptions: TokenSubscriptions
  /** Plans this gateway sells, by on-chain plan id. */
  readonly plansById: ReadonlyMap<number, TokenPlan>
  readonly verifyMessage: TokenServiceDeps['verifyMessage']
  readonly readSecret: (ref: TokenSecretRef) => Promise<string>
  readonly takePerIp: (clientAddress: string, nowMs: number) => number
  readonly passAuthorization: (routeId: string) => boolean
  /** The subscriptions' lookup route: served on the client listener to the holder of a token for it. */
  readonly subscriptionLookup?: TokenEndpointsDeps['subscriptionLookup']
  /** The QoS usage route (`{base}/usage/:id`), served the same way. */
  readonly usageLookup?: TokenEndpointsDeps['usageLookup']
  /** Fan-out to the other instances (Redis pub/sub); absent: this instance and the database poll only. */
  readonly bus?: RevocationBus
  readonly log: Logger
  readonly registry?: Registry
  readonly randomBytes: (n: number) => Uint8Array
  readonly nowMs: () => number
  readonly nextRequestId: () => string
}

export interface Tokens {
  /** The paid layer's CredentialCheck. */
  readonly credential: TokenCredentialCheck
  /** Tried before the quote endpoints in the paid layer's localEndpoints. */
  readonly endpoints: TokenEndpoints
  readonly codec: AccessTokenCodec
  readonly revocations: RevocationSet
  /**
   * `POST {base}/revocations/:kind/:id` for the admin listener (`kind`: `subscription` or `family`):
   * the operator's revocation, answered with the families revoked.
   */
  readonly adminRoute: {
    readonly endpoint: string
    readonly method: 'POST'
    readonly prefix: string
    answer(rest: string): Promise<{
      readonly status: number
      readonly type: string
      readonly body: string
      /** What the admin audit records: the subscription or family id, and what changed. */
      readonly audit?: { readonly subject: string; readonly after: Readonly<Record<string, unknown>> }
    }>
  }
  /** Revokes one family everywhere (database, this instance, the bus). */
  revokeFamily(id: string, reason: string): Promise<boolean>
  /** Revokes every family of a subscription everywhere; answers their ids. */
  revokeSubscription(id: Hex, reason: string): Promise<string[]>
  close(): Promise<void>
}

const refName = (ref: TokenSecretRef): string =>
  ref.fromEnv !== undefined ? `env:${ref.fromEnv}` : `file:${String(ref.file)}`

/** Reads the keys (TOKEN_KEY_INVALID naming the kid and reference) and starts the timers (unref'd). */
export async function startTokens(options: TokensOptions, deps: TokensDeps): Promise<Tokens> {
  const config = options.config
  const log = deps.log.child({ component: 'tokens' })
  const keys = []
  for (const entry of config.signingKeys) {
    let text: string
    try {
      text = await deps.readSecret(entry.privateKey)
    } catch {
      throw new GatewayError(
        'TOKEN_KEY_INVALID',
        `paidAccess.tokens.signingKeys ${JSON.stringify(entry.kid)} (${refName(entry.privateKey)}) could not be read`,
      )
    }
    keys.push(parseSigningKey(entry.kid, text, refName(entry.privateKey)))
  }
  const issuer = config.issuer ?? options.publicOrigin?.replace(/\/+$/, '') ?? 'litgate'
  const codec = createAccessTokenCodec(keys, {
    issuer,
    audience: config.audience,
    clockSkewSeconds: config.clockSkewSeconds,
  })
  const metrics = deps.registry === undefined ? undefined : createTokenMetrics(deps.registry)
  const skewMs = config.clockSkewSeconds * 1000
  // An entry is useless once every access token it can concern has expired.
  const revocations = createRevocationSet((MAX_ACCESS_TTL_SECONDS + config.clockSkewSeconds + 60) * 1000)
  const origin = Buffer.from(deps.randomBytes(8)).toString('hex')

  const learn = (id: string, source: RevocationSource): void => {
    const before = revocations.size
    revocations.revokeFamily(id, deps.nowMs())
    if (revocations.size > before) metrics?.revoked(source)
  }
  const spread = (id: string, source: RevocationSource): void => {
    learn(id, source)
    void deps.bus?.publish({ kind: 'family', id, origin })
  }
  deps.bus?.onMessage((m) => {
    if (m.origin === origin) return
    if (m.kind === 'family') learn(m.id, 'peer')
    else revocations.revokeJti(m.id, deps.nowMs())
  })

  const retentionMs = (MAX_ACCESS_TTL_SECONDS + config.clockSkewSeconds) * 1000
  const poll = async (sinceMs: number): Promise<void> => {
    for (const r of await deps.store.listRevokedSince(sinceMs, 10_000)) learn(r.id, 'database')
  }
  await poll(deps.nowMs() - retentionMs)
  const pollTimer = setInterval(() => {
    poll(deps.nowMs() - 2 * config.revocations.pollIntervalMs - skewMs).catch((err: unknown) =>
      log.warn({ code: isGatewayError(err) ? err.code : 'STORAGE_UNAVAILABLE' }, 'revocation poll failed'),
    )
  }, config.revocations.pollIntervalMs)
  pollTimer.unref()
  const sweepTimer = setInterval(() => {
    revocations.sweep(deps.nowMs())
    deps.store.sweep(deps.nowMs(), 10_000).catch(() => {
      log.warn({}, 'token sweep failed; retried in a minute')
    })
  }, 60_000)
  sweepTimer.unref()

  const service = createTokenService(
    {
      chainId: options.chainId,
      issuer,
      audience: config.audience,
      accessTtlSeconds: config.accessTtlSeconds,
      refreshTtlSeconds: config.refreshTtlSeconds,
      nonceTtlSeconds: config.nonceTtlSeconds,
      maxOpenNonces: config.maxOpenNonces,
      clockSkewSeconds: config.clockSkewSeconds,
      ...(options.publicOrigin === undefined ? {} : { publicOrigin: options.publicOrigin }),
    },
    {
      store: deps.store,
      codec,
      subscriptions: deps.subscriptions,
      plansById: deps.plansById,
      verifyMessage: deps.verifyMessage,
      onFamilyRevoked: (id) => {
        log.warn({ family: id }, 'refresh token reused: token family revoked')
        spread(id, 'refresh-reuse')
      },
      ...(metrics === undefined ? {} : { onIssued: metrics.issued }),
      randomBytes: deps.randomBytes,
      nowMs: deps.nowMs,
    },
  )
  const endpoints = createTokenEndpoints({
    basePath: options.basePath,
    service,
    jwks: codec.jwks,
    takePerIp: deps.takePerIp,
    nowMs: deps.nowMs,
    requestIdHeader: options.requestIdHeader,
    nextRequestId: deps.nextRequestId,
    ...(metrics === undefined ? {} : { onRefused: metrics.refused }),
    ...(deps.subscriptionLookup === undefined ? {} : { subscriptionLookup: deps.subscriptionLookup }),
    ...(deps.usageLookup === undefined ? {} : { usageLookup: deps.usageLookup }),
    authorize: async (token, nowMs) => {
      const v = await codec.verify(token, nowMs)
      if (!v.ok) return { ok: false, description: `the access token is invalid (${v.reason})` }
      if (revocations.isRevoked(v.claims.fam, v.claims.jti))
        return { ok: false, description: 'the access token was revoked' }
      return { ok: true, sub: v.claims.sub }
    },
    onError: (err) =>
      log.warn(
        {
          code: isGatewayError(err) ? err.code : 'INTERNAL_ERROR',
          err: err instanceof Error ? err.message : '',
        },
        'token request failed',
      ),
  })
  const credential = createTokenCredentialCheck(
    { cacheMaxEntries: config.verificationCacheMaxEntries, upstreamHeaders: config.upstreamHeaders },
    {
      codec,
      revocations,
      subscriptions: deps.subscriptions,
      passAuthorization: deps.passAuthorization,
      nowMs: deps.nowMs,
      ...(metrics === undefined ? {} : { onCheck: metrics.check, onCacheLookup: metrics.cacheLookup }),
    },
  )
  log.info({ kids: keys.map((k) => k.kid), issuer, audience: config.audience }, 'access tokens ready')
  const revokeFamily = async (id: string, reason: string): Promise<boolean> => {
    const changed = await deps.store.revokeFamily(id, reason, deps.nowMs())
    spread(id, 'operator')
    return changed
  }
  const revokeSubscription = async (id: Hex, reason: string): Promise<string[]> => {
    const ids = await deps.store.revokeSubscription(id, reason, deps.nowMs())
    for (const fam of ids) spread(fam, 'operator')
    return ids
  }
  const json = (status: number, body: unknown) => ({
    status,
    type: status === 200 ? 'application/json' : 'application/problem+json',
    body: JSON.stringify(body),
  })
  const adminPrefix = `${options.basePath}/revocations/`
  const adminRoute = {
    endpoint: `POST ${options.basePath}/revocations/:kind/:id`,
    method: 'POST' as const,
    prefix: adminPrefix,
    async answer(rest: string) {
      const slash = rest.indexOf('/')
      const kind = rest.slice(0, slash)
      const id = rest.slice(slash + 1)
      if (kind === 'subscription' && /^0x[0-9a-fA-F]{64}$/.test(id)) {
        const families = await revokeSubscription(id.toLowerCase() as Hex, 'operator')
        log.warn(
          { subscriptionId: id.toLowerCase(), families: families.length },
          'operator revoked the tokens of a subscription',
        )
        return {
          ...json(200, { revoked: families }),
          audit: { subject: id.toLowerCase(), after: { revokedFamilies: families.length } },
        }
      }
      if (kind === 'family' && /^[A-Za-z0-9_-]{16,64}$/.test(id)) {
        const changed = await revokeFamily(id, 'operator')
        log.warn({ family: id }, 'operator revoked a token family')
        return {
          ...json(200, { revoked: changed ? [id] : [] }),
          audit: { subject: id, after: { revoked: changed } },
        }
      }
      return json(
        400,
        buildProblem(
          'TOKEN_REQUEST_INVALID',
          deps.nextRequestId(),
          'POST {base}/revocations/subscription/<0x… 32-byte id> or /revocations/family/<family id>',
        ),
      )
    },
  }
  return {
    adminRoute,
    credential,
    endpoints,
    codec,
    revocations,
    revokeFamily,
    revokeSubscription,
    async close() {
      clearInterval(pollTimer)
      clearInterval(sweepTimer)
      await deps.bus?.close()
    },
  }
}
