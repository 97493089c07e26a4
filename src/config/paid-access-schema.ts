/**
 * The `paidAccess` section: which chain and PaymentProcessor the gateway sells access on, the quote signer,
 * the gateway's own endpoints, quote bounds, the 402 challenge, and the plans. Prices are decimal strings of
 * token base units (never JS numbers); QoS limits are stored now and enforced by a later capability.
 */
import { z } from 'zod'

const MAX_SAFE = Number.MAX_SAFE_INTEGER

const planName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1-64 chars of letters, digits, ".", "_" or "-"')

export const addressSchema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address')

/** A token amount in base units: a positive decimal integer string that fits a uint128 (the contract's price type). */
export const baseUnitsSchema = z
  .string()
  .regex(
    /^[1-9][0-9]{0,38}$/,
    'must be a positive decimal integer string in token base units (e.g. "10000000")',
  )
  .refine((s) => !/^[0-9]+$/.test(s) || BigInt(s) < 2n ** 128n, {
    message: 'must be below 2^128 (the contract stores prices as uint128)',
  })

/** `{ fromEnv: NAME }` or `{ file: PATH }` (one object with exactly one member, so reload compares each member). */
const secretRef = z
  .strictObject({
    fromEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name')
      .optional(),
    file: z.string().min(1).optional(),
  })
  .refine((r) => (r.fromEnv === undefined) !== (r.file === undefined), {
    message: 'set exactly one of `fromEnv` or `file`',
  })

const rpcEndpointSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be 1-32 chars of lower-case letters, digits or "-"')
    .meta({ description: 'Name used in logs and metrics (never the URL, which may carry an API key).' }),
  http: z.url({ protocol: /^https?$/ }).meta({ description: 'HTTP(S) JSON-RPC URL.' }),
  ws: z
    .url({ protocol: /^wss?$/ })
    .optional()
    .meta({ description: 'WebSocket URL of the same provider.' }),
})

export const paidChainSchema = z
  .strictObject({
    preset: z.enum(['litvm-liteforge', 'anvil']).optional().meta({
      description: 'A named chain preset of src/blockchain: its id, RPC endpoints and policies.',
    }),
    id: z
      .int()
      .min(1)
      .max(2 ** 53 - 1)
      .optional()
      .meta({ description: 'Chain id (required without `preset`).' }),
    rpc: z
      .array(rpcEndpointSchema)
      .min(1)
      .max(16)
      .optional()
      .meta({ description: "RPC endpoints; override the preset's. Verified reads need two or more." }),
  })
  .refine((c) => c.preset !== undefined || (c.id !== undefined && c.rpc !== undefined), {
    message: 'set `preset`, or both `id` and `rpc`',
  })
  .meta({ description: "The chain the PaymentProcessor lives on (reuses the chain client's config types)." })

export const paidContractSchema = z
  .strictObject({
    paymentProcessor: addressSchema
      .optional()
      .meta({ description: 'Address of the PaymentProcessor proxy.' }),
    deploymentsDir: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Directory of deployment files written by `deployLitgate` (`<chainId>.json`).' }),
  })
  .refine((c) => (c.paymentProcessor === undefined) !== (c.deploymentsDir === undefined), {
    message: 'set exactly one of `paymentProcessor` or `deploymentsDir`',
  })
  .meta({ description: '`{ paymentProcessor: "0x…" }` or `{ deploymentsDir: "deployments" }`.' })

export const qosSchema = z
  .strictObject({
    requestsPerSecond: z.int().min(1).max(1_000_000).meta({ description: 'Sustained request rate.' }),
    burst: z
      .int()
      .min(1)
      .max(10_000_000)
      .meta({ description: 'Token-bucket burst above the sustained rate.' }),
    requestsPerDay: z
      .int()
      .min(1)
      .max(MAX_SAFE)
      .optional()
      .meta({ description: 'Requests per day window [start + k·86400, start + (k+1)·86400).' }),
    requestsPerMonth: z
      .int()
      .min(1)
      .max(MAX_SAFE)
      .optional()
      .meta({ description: 'Requests per 30-day window anchored to the subscription start.' }),
    bytesPerPeriod: z.int().min(1).max(MAX_SAFE).optional().meta({
      description:
        'Content bytes (request + response bodies) per plan period, anchored to the subscription start (docs/qos.md).',
    }),
    concurrentStreams: z
      .int()
      .min(1)
      .max(100_000)
      .optional()
      .meta({ description: 'Open WebSockets/streams at once.' }),
  })
  .meta({
    description:
      'The QoS tier a plan grants, enforced per subscription on paid HTTP routes (docs/qos.md): `rps` GCRA, day and 30-day month windows and the period byte budget, all anchored to the subscription start.',
  })

export const planSchema = z.strictObject({
  name: planName.meta({ description: 'Plan name, referenced by `routes[].access` and quote requests.' }),
  planId: z
    .int()
    .min(1)
    .max(65_535)
    .meta({ description: 'On-chain plan id (PaymentProcessor `createPlan`).' }),
  displayName: z.string().min(1).max(80).meta({ description: 'Human name shown in the 402 body.' }),
  prices: z
    .record(addressSchema, baseUnitsSchema)
    .refine((r) => Object.keys(r).length >= 1 && Object.keys(r).length <= 16, {
      message: 'must list 1 to 16 tokens',
    })
    .meta({
      description: 'Price of one period per accepted token: token address → base units as a decimal string.',
    }),
  qos: qosSchema,
})

export const quotesSchema = z
  .strictObject({
    ttlSeconds: z.int().min(30).max(3600).default(300).meta({
      description: 'Quote lifetime: `validUntil` = chain time + this (the contract refuses it after).',
    }),
    maxPeriods: z.int().min(1).max(120).default(12).meta({ description: 'Most periods one quote may buy.' }),
    maxOpenPerPayer: z
      .int()
      .min(1)
      .max(1000)
      .default(10)
      .meta({ description: 'Unexpired quotes one payer may hold (429 QUOTE_LIMIT_REACHED beyond).' }),
    maxOpen: z
      .int()
      .min(1)
      .max(10_000_000)
      .default(100_000)
      .meta({ description: 'Unexpired quotes held in total (503 QUOTE_CAPACITY_EXHAUSTED beyond).' }),
    createPerIpPerMinute: z
      .int()
      .min(1)
      .max(100_000)
      .default(60)
      .meta({ description: 'Quote creations per client IP per minute.' }),
    createPerPayerPerMinute: z
      .int()
      .min(1)
      .max(100_000)
      .default(20)
      .meta({ description: 'Quote creations per payer per minute.' }),
    retentionSeconds: z
      .int()
      .min(3_600)
      .max(366 * 86_400)
      .default(7 * 86_400)
      .meta({
        description:
          'How long an unpaid quote row is kept after it expires (the payment monitor must find the quote of a payment it processes late, e.g. after downtime). Swept every minute.',
      }),
  })
  .meta({ description: 'Bounds of the quote endpoint.' })

export const paymentAuthSchema = z
  .strictObject({
    enabled: z.boolean().default(false).meta({
      description:
        "Emit `WWW-Authenticate: Payment` (HTTP Payment auth scheme) beside PAYMENT-REQUIRED. mppx clients rank it first and then need the token's EIP-712 name/version configured.",
    }),
    realm: z
      .string()
      .regex(/^[\x21\x23-\x5b\x5d-\x7e ]{1,128}$/, 'must be 1-128 printable chars without `"` or `\\`')
      .default('litgate')
      .meta({ description: 'Challenge realm.' }),
    secret: secretRef
      .optional()
      .meta({ description: 'HMAC key (≥ 32 bytes) binding challenge ids; required when enabled.' }),
  })
  .refine((p) => !p.enabled || p.secret !== undefined, {
    message: '`secret` is required when `enabled` is true',
  })

export const challengeSchema = z
  .strictObject({
    maxTimeoutSeconds: z
      .int()
      .min(10)
      .max(3600)
      .default(300)
      .meta({ description: "x402 `maxTimeoutSeconds`, and the Payment challenge's `expires` offset." }),
    publicOrigin: z
      .url({ protocol: /^https?$/ })
      .optional()
      .meta({
        description:
          'Origin used for the absolute `resource.url` (e.g. https://api.example.com); default: http://<Host header>.',
      }),
    paymentAuth: paymentAuthSchema.default({ enabled: false, realm: 'litgate' }),
  })
  .meta({ description: 'The 402 challenge sent on paid routes.' })

/** `latest+N`, `safe` or `finalized`: when a payment counts as confirmed (activation). */
export const confirmationSchema = z
  .union([
    z.enum(['safe', 'finalized']),
    z.strictObject({
      latest: z
        .int()
        .min(1)
        .max(1_000)
        .meta({ description: 'Blocks on top of the payment block, itself included.' }),
    }),
  ])
  .meta({
    description:
      "`safe`, `finalized`, or `{ latest: N }` (N confirmations). Default: the chain preset's (`safe` on LitVM, `{ latest: 1 }` on anvil), `finalized` on a custom chain.",
  })

export const monitorSchema = z
  .strictObject({
    confirmation: confirmationSchema.optional(),
    startBlock: z
      .int()
      .min(0)
      .max(2 ** 53 - 1)
      .optional()
      .meta({
        description:
          "First block scanned on an empty database (the deployment block). Default: the deployments file's `startBlock`, else 0.",
      }),
    pollIntervalMs: z
      .int()
      .min(100)
      .max(60_000)
      .default(1_000)
      .meta({ description: 'Pause between monitor polls once caught up with the chain head.' }),
    maxRangeBlocks: z
      .int()
      .min(1)
      .max(100_000)
      .default(1_000)
      .meta({ description: 'Widest `eth_getLogs` range (shrinks on provider limits).' }),
  })
  .meta({ description: 'The payment monitor: confirmation policy, where to start, how often to poll.' })

const headerName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'must be a lower-case HTTP field name')

export const tokensSchema = z
  .strictObject({
    signingKeys: z
      .array(
        z.strictObject({
          kid: z
            .string()
            .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 chars of letters, digits, ".", "_" or "-"')
            .meta({ description: 'Key id (JWS `kid`, JWKS entry).' }),
          privateKey: secretRef.meta({
            description:
              'Ed25519 private key as PKCS#8 PEM or a private JWK (`{ fromEnv }` or `{ file }`); never logged.',
          }),
        }),
      )
      .min(1)
      .max(8)
      .refine((keys) => new Set(keys.map((k) => k.kid)).size === keys.length, {
        message: 'key ids must be unique',
      })
      .meta({
        description:
          'Access-token signing keys: the first signs, all verify (rotation: add the new key second, then move it first once every instance has it, then drop the old one after the access lifetime).',
      }),
    issuer: z.string().min(1).max(256).optional().meta({
      description: 'JWT `iss`. Default: `paidAccess.challenge.publicOrigin` when set, else `litgate`.',
    }),
    audience: z.string().min(1).max(256).default('litgate').meta({ description: 'JWT `aud`.' }),
    accessTtlSeconds: z.int().min(30).max(900).default(600).meta({
      description: 'Access-token lifetime (never past the subscription end).',
    }),
    refreshTtlSeconds: z
      .int()
      .min(300)
      .max(30 * 86_400)
      .default(86_400)
      .meta({ description: 'Refresh-token lifetime (each refresh issues a new one).' }),
    nonceTtlSeconds: z.int().min(30).max(3600).default(300).meta({ description: 'Sign-in nonce lifetime.' }),
    maxOpenNonces: z
      .int()
      .min(1)
      .max(10_000_000)
      .default(100_000)
      .meta({ description: 'Unexpired nonces held in total (503 TOKEN_CAPACITY_EXHAUSTED beyond).' }),
    requestsPerIpPerMinute: z
      .int()
      .min(1)
      .max(100_000)
      .default(30)
      .meta({ description: 'Nonce, token and refresh requests per client IP per minute.' }),
    clockSkewSeconds: z
      .int()
      .min(0)
      .max(300)
      .default(30)
      .meta({ description: 'Tolerance on `exp`/`nbf` and on the SIWE message times.' }),
    verificationCacheMaxEntries: z
      .int()
      .min(1)
      .max(10_000_000)
      .default(100_000)
      .meta({ description: 'Verified access tokens held by the edge (least recently used evicted).' }),
    upstreamHeaders: z
      .strictObject({
        subscription: headerName.default('x-litgate-subscription'),
        plan: headerName.default('x-litgate-plan'),
      })
      .default({ subscription: 'x-litgate-subscription', plan: 'x-litgate-plan' })
      .meta({ description: 'Request fields the upstream receives on a request admitted by a token.' }),
    revocations: z
      .strictObject({
        channel: z
          .string()
          .regex(/^[A-Za-z0-9:._-]{1,128}$/, 'must be 1-128 chars of letters, digits, ":", ".", "_" or "-"')
          .default('litgate:revocations')
          .meta({ description: 'Redis pub/sub channel of revocations.' }),
        redis: z
          .strictObject({ url: secretRef.meta({ description: 'Redis URL as a secret reference.' }) })
          .optional()
          .meta({ description: 'Redis for the revocation fan-out. Default: `rateLimit.redis` when set.' }),
        pollIntervalMs: z.int().min(100).max(60_000).default(1_000).meta({
          description: "How often the database's revoked families are read (the fan-out's backstop).",
        }),
      })
      .default({ channel: 'litgate:revocations', pollIntervalMs: 1_000 }),
  })
  .meta({ description: 'Access tokens (Sign-In with Ethereum → EdDSA JWT); absent: no credential is valid.' })

export const paidAccessSchema = z
  .strictObject({
    chain: paidChainSchema,
    contract: paidContractSchema,
    quoteSigner: secretRef.meta({
      description:
        'Private key of the quote signer (`{ fromEnv }` or `{ file }`): not the hot wallet; never logged.',
    }),
    basePath: z
      .string()
      .regex(
        /^(\/[A-Za-z0-9._~-]+)+$/,
        'must be an absolute path of one or more segments without a trailing "/"',
      )
      .default('/litgate/v1')
      .meta({
        description:
          "Path prefix of the gateway's own endpoints (`{basePath}/quote`); routes may not lie inside it.",
      }),
    quotes: quotesSchema.default(quotesSchema.parse({})),
    challenge: challengeSchema.default(challengeSchema.parse({})),
    monitor: monitorSchema.default(monitorSchema.parse({})),
    subscriptionGraceSeconds: z.int().min(0).max(86_400).default(0).meta({
      description:
        'Degraded mode: access continues this long after a subscription ends while the chain is unreachable.',
    }),
    subscriptionCacheMaxEntries: z
      .int()
      .min(1)
      .max(10_000_000)
      .default(10_000)
      .meta({ description: 'Subscriptions held in the request-path cache (least recently used evicted).' }),
    tokens: tokensSchema.optional(),
    rateLimitHeaders: z.boolean().default(true).meta({
      description:
        "Send `RateLimit-Policy` and `RateLimit` (the subscription's QoS state) on admitted paid responses too, not only on 429 QUOTA_EXCEEDED.",
    }),
    plans: z.array(planSchema).min(1).max(64),
  })
  .meta({ description: 'Sell access to routes: plans, prices, quotes and the 402 challenge.' })

/** Access rule of a route: `public` (default) or the plans that unlock it. */
export const routeAccessSchema = z
  .union([z.literal('public'), z.array(planName).min(1).max(64)])
  .default('public')
  .meta({
    description:
      '`public` (proxied to anyone) or a list of `paidAccess.plans[].name` that unlock the route (402 otherwise).',
  })

export type PaidAccessConfig = z.output<typeof paidAccessSchema>
export type PlanConfig = PaidAccessConfig['plans'][number]
export type QosConfig = PlanConfig['qos']
export type TokensConfig = NonNullable<PaidAccessConfig['tokens']>
