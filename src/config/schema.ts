/**
 * Config schema v1: the single source of format, defaults and types. docs/config.md and
 * docs/config.schema.json are generated from it (`npm run docs:config`); a test fails when they drift.
 * Unknown keys are errors everywhere (`z.strictObject`). Durations are milliseconds (`…Ms`), sizes are
 * bytes (`…Bytes`).
 */
import { z } from 'zod'
import {
  circuitBreakerSchema,
  healthCheckSchema,
  loadSheddingSchema,
  outlierSchema,
  panicSchema,
  retrySchema,
  slowStartSchema,
} from './resilience-schema.ts'
import { paidAccessSchema, routeAccessSchema } from './paid-access-schema.ts'
import {
  corsSchema,
  directResponseSchema,
  hostHeaderSchema,
  securityHeadersSchema,
} from './operator-schema.ts'
import { rateLimitSchema, routeRateLimitSchema } from './rate-limit-schema.ts'
import { secretRefSchema } from './secret-ref-schema.ts'

const MiB = 1024 * 1024

const durationMs = (min: number, max: number) => z.int().min(min).max(max)
const id = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1-64 chars of letters, digits, ".", "_" or "-"')

export { secretRefSchema }

/**
 * The default `listeners[].tls.ciphers`: AEAD suites with forward secrecy only (TLS 1.3: AES-GCM and
 * ChaCha20-Poly1305; TLS 1.2: ECDHE with AES-GCM or ChaCha20-Poly1305), no CBC, no RSA key exchange,
 * no DHE (the "intermediate" profile without DHE).
 */
export const MODERN_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':')

// A DNS name of two or more labels, optionally `*.` + one: the wildcard is a whole leftmost label.
const serverNameSchema = z
  .string()
  .regex(
    /^(\*\.)?(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/,
    'must be a DNS name (a.example.com) or a wildcard of one whole leftmost label (*.example.com)',
  )
  .max(253)

const sniCertificateSchema = z.strictObject({
  certFile: z.string().min(1).meta({ description: 'PEM certificate chain file.' }),
  keyFile: z.string().min(1).meta({ description: 'PEM private key file.' }),
  serverNames: z.array(serverNameSchema).min(1).max(256).optional().meta({
    description:
      'SNI names this certificate answers (exact, or `*.example.com` for one label). Each must be covered by the certificate. Default: the DNS names of its subjectAltName.',
  }),
})

const clientAuthSchema = z.strictObject({
  caFile: z.string().min(1).meta({ description: 'PEM bundle of the CAs client certificates must chain to.' }),
  mode: z.enum(['require', 'request']).default('require').meta({
    description:
      '`require`: the handshake fails without a client certificate the CAs verify. `request`: a certificate is asked for and verified, the connection is accepted either way and the result logged.',
  }),
})

const tlsFileSchema = z.strictObject({
  certFile: z
    .string()
    .min(1)
    .meta({ description: 'PEM certificate chain file: the default certificate (no SNI, or no name matched).' }),
  keyFile: z.string().min(1).meta({ description: 'PEM private key file (read at start and on reload).' }),
  certificates: z.array(sniCertificateSchema).max(256).default([]).meta({
    description:
      'More certificates, chosen by the client\'s SNI name: exact names first, then the wildcard of the parent domain, else the default `certFile`. Re-read on reload.',
  }),
  minVersion: z
    .enum(['TLSv1.2', 'TLSv1.3'])
    .default('TLSv1.2')
    .meta({ description: 'Lowest TLS version accepted (TLS 1.0 and 1.1 are never).' }),
  ciphers: z.string().min(1).max(4096).default(MODERN_CIPHERS).meta({
    description:
      'OpenSSL cipher list (TLS 1.3 suite names included). Default: AEAD suites with forward secrecy only (see docs/security.md).',
  }),
  clientAuth: clientAuthSchema
    .optional()
    .meta({ description: 'Verify client certificates on this listener (mutual TLS). Off by default.' }),
})

export const listenerSchema = z
  .strictObject({
    name: id.meta({ description: 'Listener name, used in logs and metrics.' }),
    host: z.string().min(1).default('127.0.0.1').meta({ description: 'Address to bind.' }),
    port: z.int().min(0).max(65535).meta({ description: 'TCP port (0 = ephemeral, for tests).' }),
    tls: tlsFileSchema
      .optional()
      .meta({ description: 'Terminate TLS. HTTP/2 is offered via ALPN when `http2` is true, with HTTP/1.1 fallback.' }),
    http2: z
      .boolean()
      .default(false)
      .meta({ description: 'With `tls`: offer h2 via ALPN. Without `tls`: accept h2c prior-knowledge beside HTTP/1.1.' }),
  })
  .meta({
    description:
      'A socket the gateway accepts client traffic on. Changes need a restart, except the TLS certificates, keys and client CA (re-read on reload).',
  })

export const bufferingSchema = z
  .strictObject({
    memoryBudgetBytes: z
      .int()
      .min(0)
      .max(64 * 1024 * MiB)
      .default(64 * MiB)
      .meta({
        description:
          'Memory for all buffered request bodies and read-ahead responses together (the whole gateway). Beyond it bodies go to `tempDir` or `onExhausted` applies; responses stream with backpressure.',
      }),
    requestMemoryBytes: z
      .int()
      .min(0)
      .max(1024 * MiB)
      .default(1 * MiB)
      .meta({
        description:
          'Largest request body held in memory; a larger one goes to a temp file in `tempDir`, or without `tempDir` is forwarded unbuffered.',
      }),
    tempDir: z
      .string()
      .min(1)
      .optional()
      .meta({
        description:
          'Directory for request bodies that do not fit in memory (created if missing, files mode 0600, removed when the request ends). Unset: no temp files.',
      }),
    tempBudgetBytes: z
      .int()
      .min(0)
      .max(1024 * 1024 * MiB)
      .default(1024 * MiB)
      .meta({ description: 'Disk for all buffered request bodies in `tempDir` together.' }),
    onExhausted: z
      .enum(['refuse', 'stream'])
      .default('refuse')
      .meta({
        description:
          'A body that fits neither budget: `refuse` it (503 `BUFFER_CAPACITY_EXHAUSTED` with Retry-After) or `stream` it unbuffered (it then holds an upstream slot while it arrives).',
      }),
  })
  .meta({
    description:
      'Slow-client protection: request bodies are read before an upstream slot is taken, responses are read ahead of slow readers. Applied on reload.',
  })

export const serverSchema = z
  .strictObject({
    maxConnections: z
      .int()
      .min(1)
      .max(1_000_000)
      .default(10_000)
      .meta({ description: 'Global cap on open client connections; excess connections are closed on accept.' }),
    keepAliveTimeoutMs: durationMs(100, 3_600_000)
      .default(60_000)
      .meta({ description: 'Idle time after which a keep-alive client connection is closed.' }),
    headersTimeoutMs: durationMs(100, 600_000)
      .default(15_000)
      .meta({
        description:
          'Time allowed to receive the complete request head (408 when exceeded); also bounds a connection that sends nothing.',
      }),
    requestBodyTimeoutMs: durationMs(100, 3_600_000)
      .default(300_000)
      .meta({ description: 'Time allowed to receive the complete request, body included (408 when exceeded).' }),
    requestBodyIdleTimeoutMs: durationMs(100, 3_600_000)
      .default(60_000)
      .meta({
        description:
          'Longest pause in receiving a request body (slow-body protection): 408, then HTTP/1.1 closes the connection, HTTP/2 ends the stream.',
      }),
    tlsHandshakeTimeoutMs: durationMs(100, 600_000)
      .default(10_000)
      .meta({
        description:
          'TLS listeners: time allowed from accept to a completed handshake; connections that send nothing are closed too.',
      }),
    http2IdleTimeoutMs: durationMs(100, 3_600_000)
      .default(60_000)
      .meta({ description: 'An HTTP/2 session with no open stream for this long gets GOAWAY and is closed.' }),
    http2PingIntervalMs: durationMs(100, 3_600_000)
      .default(60_000)
      .meta({
        description:
          'Every HTTP/2 session is PINGed at this interval; one whose PING is still unanswered at the next is closed (dead peer).',
      }),
    http2MaxClientResets: z
      .int()
      .min(1)
      .max(100_000)
      .default(200)
      .meta({
        description:
          'HTTP/2 rapid-reset bound: streams a client may cancel (RST_STREAM before the response ended) per `http2ClientResetWindowMs` and session; beyond it the session gets GOAWAY ENHANCE_YOUR_CALM and is closed.',
      }),
    http2ClientResetWindowMs: durationMs(100, 3_600_000)
      .default(10_000)
      .meta({ description: 'The window of `http2MaxClientResets` (refilled continuously, GCRA).' }),
    underscoresInHeaders: z
      .enum(['drop', 'reject', 'allow'])
      .default('drop')
      .meta({
        description:
          'Request header names containing `_`: `drop` them (like nginx), `reject` the request (400), or `allow` (forward them).',
      }),
    maxHeaderBytes: z
      .int()
      .min(1024)
      .max(1 * MiB)
      .default(16 * 1024)
      .meta({ description: 'Largest accepted request head (431 when exceeded).' }),
    maxUrlBytes: z
      .int()
      .min(64)
      .max(1 * MiB)
      .default(8 * 1024)
      .meta({ description: 'Longest accepted request-target (414 when exceeded).' }),
    maxBodyBytes: z
      .int()
      .min(0)
      .max(64 * 1024 * MiB)
      .default(100 * MiB)
      .meta({ description: 'Default request body cap for routes (413 when exceeded; streamed, never buffered).' }),
    buffering: bufferingSchema.default(bufferingSchema.parse({})),
    minRequestBodyBytesPerSecond: z
      .int()
      .min(0)
      .max(1024 * MiB)
      .default(1024)
      .meta({
        description:
          'Slowest accepted request body: averaged over each `minRateWindowMs` in which the gateway waits on the client; slower gets 408 `REQUEST_BODY_TOO_SLOW` (0 = no minimum).',
      }),
    minResponseBytesPerSecond: z
      .int()
      .min(0)
      .max(1024 * MiB)
      .default(1024)
      .meta({
        description:
          'Slowest accepted response reader: averaged over each `minRateWindowMs` in which bytes wait for the client; slower is cut (`RESPONSE_READ_TOO_SLOW`, 0 = no minimum).',
      }),
    minRateWindowMs: durationMs(100, 600_000)
      .default(10_000)
      .meta({ description: 'Window over which the minimum body and response rates are averaged.' }),
    http2MaxStreamsPerClient: z
      .int()
      .min(0)
      .max(1_000_000)
      .default(512)
      .meta({
        description:
          'Concurrent HTTP/2 streams one client address may have open across all its connections to a listener; more are refused with RST_STREAM REFUSED_STREAM (0 = no cap).',
      }),
    trustedProxies: z
      .array(z.string())
      .default([])
      .meta({ description: 'CIDRs whose X-Forwarded-*/Forwarded headers are trusted and extended.' }),
    requestIdHeader: z
      .string()
      .regex(/^[a-z0-9-]+$/)
      .default('x-request-id')
      .meta({ description: 'Header carrying the request id (lower-case).' }),
    shutdownTimeoutMs: durationMs(0, 3_600_000)
      .default(30_000)
      .meta({ description: 'Drain deadline on SIGTERM before remaining connections are force-closed.' }),
    securityHeaders: securityHeadersSchema.default(securityHeadersSchema.parse({})),
  })
  .meta({ description: 'Client-facing limits and timeouts shared by all listeners. Applied on reload.' })

export const backendSchema = z.strictObject({
  url: z
    .string()
    .meta({ description: 'Origin of the backend, e.g. http://10.0.0.5:8080 (scheme, host, port; no path).' }),
  weight: z.int().min(1).max(1000).default(1).meta({ description: 'Relative share of traffic.' }),
  maxConnections: z
    .int()
    .min(1)
    .max(100_000)
    .optional()
    .meta({ description: 'Overrides the upstream pool `maxConnectionsPerBackend` for this backend.' }),
})

export const upstreamSchema = z.strictObject({
  id: id.meta({ description: 'Upstream id referenced by routes.' }),
  balancing: z.enum(['round-robin', 'least-connections']).default('round-robin'),
  protocol: z
    .enum(['http1', 'http2'])
    .default('http1')
    .meta({ description: 'Protocol spoken to backends (http2 = h2 over TLS via ALPN or h2c prior-knowledge).' }),
  backends: z.array(backendSchema).min(1),
  hostHeader: hostHeaderSchema.default('preserve'),
  pool: z
    .strictObject({
      maxConnectionsPerBackend: z.int().min(1).max(100_000).default(128),
      maxQueue: z
        .int()
        .min(0)
        .max(1_000_000)
        .default(1024)
        .meta({ description: 'Requests that may wait for a free connection; beyond it: immediate 503.' }),
      queueTimeoutMs: durationMs(1, 600_000)
        .default(1000)
        .meta({ description: 'Longest wait for a free connection (503 with Retry-After when exceeded).' }),
      idleTimeoutMs: durationMs(100, 3_600_000)
        .default(30_000)
        .meta({ description: 'Idle keep-alive upstream connections are closed after this long.' }),
      maxClientSharePercent: z
        .int()
        .min(1)
        .max(100)
        .default(50)
        .meta({
          description:
            'Share of the upstream slots one client IP may hold while they wait on it (body streamed unbuffered, response paused for a slow reader); at it, the client gets 429 `CLIENT_SLOT_LIMIT` (100 = no cap). Fast clients are not counted.',
        }),
    })
    .default({
      maxConnectionsPerBackend: 128,
      maxQueue: 1024,
      queueTimeoutMs: 1000,
      idleTimeoutMs: 30_000,
      maxClientSharePercent: 50,
    }),
  timeouts: z
    .strictObject({
      connectMs: durationMs(1, 600_000).default(5000),
      headersMs: durationMs(1, 3_600_000)
        .default(60_000)
        .meta({ description: 'Time to first response byte (response head) after the request was sent.' }),
      bodyIdleMs: durationMs(1, 3_600_000)
        .default(60_000)
        .meta({ description: 'Longest gap between two response body chunks.' }),
    })
    .default({ connectMs: 5000, headersMs: 60_000, bodyIdleMs: 60_000 }),
  tls: z
    .strictObject({
      rejectUnauthorized: z.boolean().default(true),
      caFile: z.string().min(1).optional(),
      servername: z.string().min(1).optional(),
    })
    .optional()
    .meta({ description: 'TLS settings for https:// backends.' }),
  healthCheck: healthCheckSchema.optional(),
  outlierDetection: outlierSchema.default(outlierSchema.parse({})),
  slowStart: slowStartSchema.default(slowStartSchema.parse({})),
  panic: panicSchema.default(panicSchema.parse({})),
  circuitBreaker: circuitBreakerSchema.default(circuitBreakerSchema.parse({})),
})

const headerMatcherSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP field name')
      .transform((s) => s.toLowerCase()),
    exact: z.string().optional(),
    present: z.boolean().optional(),
  })
  .refine((h) => !(h.exact !== undefined && h.present === false), {
    message: '`exact` and `present: false` contradict each other',
  })

const pathMatchSchema = z.union([
  z.strictObject({ exact: z.string().startsWith('/') }),
  z.strictObject({ prefix: z.string().startsWith('/') }),
])

export const routeSchema = z.strictObject({
  id: id.meta({ description: 'Route id: unique, used in logs and metrics.' }),
  match: z.strictObject({
    hosts: z
      .array(z.string().min(1))
      .default([])
      .meta({ description: 'Exact host, `*.suffix` wildcard or `*`; empty = any host.' }),
    path: pathMatchSchema
      .default({ prefix: '/' })
      .meta({ description: '`{ exact: "/p" }` or segment-aware `{ prefix: "/p" }`.' }),
    methods: z
      .array(z.string().regex(/^[A-Za-z]+$/))
      .min(1)
      .transform((a) => a.map((m) => m.toUpperCase()))
      .optional(),
    headers: z.array(headerMatcherSchema).optional(),
  }),
  upstream: id.optional().meta({ description: 'Id of the upstream that serves this route (or `respond`).' }),
  respond: directResponseSchema.optional(),
  ipAllow: z
    .array(z.string())
    .optional()
    .meta({ description: 'Client addresses allowed (CIDRs, addresses, `loopback`/`private`/`link-local`); others get 403.' }),
  ipDeny: z
    .array(z.string())
    .optional()
    .meta({ description: 'Client addresses refused with 403 (checked first: deny wins over allow).' }),
  hostHeader: hostHeaderSchema
    .optional()
    .meta({ description: "Overrides the upstream's `hostHeader` for this route." }),
  cors: corsSchema.optional(),
  websocket: z.boolean().default(true).meta({ description: 'Allow HTTP/1.1 Upgrade: websocket on this route.' }),
  maxBodyBytes: z
    .int()
    .min(0)
    .max(64 * 1024 * MiB)
    .optional()
    .meta({ description: 'Overrides server.maxBodyBytes for this route.' }),
  timeoutMs: durationMs(1, 86_400_000)
    .optional()
    .meta({ description: 'Whole-request deadline (client-facing) for this route.' }),
  websocketIdleTimeoutMs: durationMs(1000, 86_400_000)
    .default(300_000)
    .meta({ description: 'Close a tunnelled WebSocket after this long without traffic in either direction.' }),
  requestBuffering: z
    .strictObject({
      enabled: z
        .boolean()
        .default(true)
        .meta({ description: 'Read the whole request body before an upstream slot is taken (a slow sender costs no slot).' }),
      maxBytes: z
        .int()
        .min(0)
        .max(64 * 1024 * MiB)
        .default(1 * MiB)
        .meta({ description: 'Bodies up to this size are buffered (memory, then `server.buffering.tempDir`).' }),
      overLimit: z
        .enum(['stream', 'refuse'])
        .default('stream')
        .meta({ description: 'A larger body: `stream` it unbuffered, or `refuse` it (413 `PAYLOAD_TOO_LARGE`).' }),
    })
    .default({ enabled: true, maxBytes: 1 * MiB, overLimit: 'stream' })
    .meta({ description: 'Request body buffering (slow-client protection); see docs/security.md.' }),
  responseBufferBytes: z
    .int()
    .min(0)
    .max(1024 * MiB)
    .default(1 * MiB)
    .meta({
      description:
        'Read up to this many response bytes ahead of a slow client, within `server.buffering.memoryBudgetBytes`, so the upstream connection is released (0 = stream with backpressure only).',
    }),
  retry: retrySchema.default(retrySchema.parse({})),
  limits: loadSheddingSchema.default({}),
  access: routeAccessSchema,
  passAuthorization: z.boolean().default(false).meta({
    description:
      "On a paid route, forward the client's `Authorization` (its access token) to the upstream; by default it is stripped.",
  }),
  rateLimit: routeRateLimitSchema.optional(),
  debugHeader: z
    .boolean()
    .default(false)
    .meta({ description: 'Add `x-litgate-attempts` to responses: each attempt, its backend, phase, outcome and retry decision.' }),
})

export const adminRoleSchema = z
  .enum(['read', 'operate', 'admin'])
  .meta({
    description:
      'What the token may do: `read` (metrics, status, listings, audit), `operate` (reload, revoke) or `admin` (everything). Each role includes the ones before it.',
  })

export const adminTokenSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, `.`, `_`, `-`; at most 64')
    .meta({ description: 'Who the token is: written in the audit log and the log lines of every admin action.' }),
  role: adminRoleSchema,
  secret: secretRefSchema.meta({
    description:
      'The bearer token (at least 32 characters), from an environment variable or a file. Only its SHA-256 is kept in memory.',
  }),
})

export const adminSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .meta({ description: 'Serve the admin listener (metrics, health, reload). Off unless set: production configs should set it.' }),
    host: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .meta({
        description:
          'Address to bind. A non-loopback address needs `admin.tokens` (start-up refused with ADMIN_AUTH_REQUIRED otherwise).',
      }),
    port: z.int().min(0).max(65535).default(9901).meta({ description: 'TCP port (0 = ephemeral, for tests).' }),
    tokens: z
      .array(adminTokenSchema)
      .max(64)
      .default([])
      .superRefine((tokens, ctx) => {
        const seen = new Set<string>()
        for (const [i, t] of tokens.entries()) {
          if (seen.has(t.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate token id ${t.id}` })
          seen.add(t.id)
        }
      })
      .meta({
        description:
          'Bearer tokens of the admin API (`Authorization: Bearer …`), each with an id and a role. Empty: no authentication, allowed only on a loopback `host` (a warning is logged). Re-read on every reload.',
      }),
    openPaths: z
      .array(z.enum(['/healthz', '/readyz', '/metrics']))
      .default(['/healthz', '/readyz'])
      .meta({
        description:
          'Endpoints answered without a token even when `tokens` is set (probes; `/metrics` for a Prometheus on a private network). Applied on reload.',
      }),
  })
  .meta({ description: 'The admin listener: `GET /metrics`, `GET /healthz`, `GET /readyz`, `GET /status`, `POST /reload`, `GET /audit` and the routes of other subsystems (docs/operations/admin.md). `enabled`, `host` and `port` need a restart.' })

export const loggingSchema = z
  .strictObject({
    level: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .meta({ description: 'Lowest level written. `--log-level` / LITGATE_LOG_LEVEL override it.' }),
    accessLog: z
      .strictObject({
        enabled: z.boolean().default(true).meta({ description: 'Write one access-log line per request.' }),
        sampleSuccessRatio: z
          .number()
          .min(0)
          .max(1)
          .default(1)
          .meta({
            description: 'Share of requests without a failure (status < 500, no reason code) logged; failures are always logged.',
          }),
      })
      .default({ enabled: true, sampleSuccessRatio: 1 }),
  })
  .meta({ description: 'Structured (JSON) logs on stdout. Applied on reload.' })

export const tracingSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .meta({
        description:
          'Create OpenTelemetry spans through @opentelemetry/api (needs an SDK registered in the process). Changes need a restart.',
      }),
  })
  .meta({ description: 'Distributed tracing. X-Request-Id and W3C traceparent/tracestate are always propagated.' })

export const reloadSchema = z
  .strictObject({
    watchFile: z
      .boolean()
      .default(false)
      .meta({ description: 'Reload when the config file changes (in addition to SIGHUP and `litgate reload`).' }),
    watchDebounceMs: durationMs(50, 60_000)
      .default(500)
      .meta({ description: 'Quiet time after the last file change before reloading (editors write in steps).' }),
  })
  .meta({ description: 'Hot reload triggers. Changes need a restart.' })

export const storageSchema = z
  .strictObject({
    url: secretRefSchema.optional().meta({
      description:
        'PostgreSQL URL (`postgres://user:password@host:port/db`) as a secret reference: `{ fromEnv: NAME }` or `{ file: PATH }`, never inline. Set: PostgreSQL (required for more than one gateway instance). Unset: embedded PGlite in `dataDir`.',
    }),
    dataDir: z.string().min(1).default('litgate-data').meta({
      description:
        'Embedded PGlite data directory (created when missing; relative to the working directory). Used only without `url`. One gateway process per directory.',
    }),
    schema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a plain lowercase identifier')
      .optional()
      .meta({ description: "PostgreSQL schema to work in (search_path); default the role's default (`public`)." }),
    maxConnections: z.int().min(1).max(100).default(10).meta({ description: 'PostgreSQL pool size.' }),
    connectTimeoutMs: durationMs(100, 60_000)
      .default(5000)
      .meta({ description: 'PostgreSQL connect timeout per connection.' }),
  })
  .meta({
    description:
      'Where payments, quotes, subscriptions and their audit log live (docs/storage.md). Migrated at start and by `litgate migrate`. Changes need a restart.',
  })

export const configSchema = z
  .strictObject({
    version: z.literal(1),
    listeners: z.array(listenerSchema).min(1),
    server: serverSchema.default(serverSchema.parse({})),
    upstreams: z.array(upstreamSchema).min(1),
    routes: z.array(routeSchema).min(1),
    admin: adminSchema.default(adminSchema.parse({})),
    logging: loggingSchema.default(loggingSchema.parse({})),
    tracing: tracingSchema.default(tracingSchema.parse({})),
    reload: reloadSchema.default(reloadSchema.parse({})),
    storage: storageSchema.default(storageSchema.parse({})),
    paidAccess: paidAccessSchema.optional(),
    rateLimit: rateLimitSchema.default(rateLimitSchema.parse({})),
  })
  .meta({ title: 'litgate configuration', description: 'litgate configuration file, version 1.' })

/** Config as written (defaults optional). */
export type ConfigInput = z.input<typeof configSchema>
/** Config after validation and defaults. */
export type Config = z.output<typeof configSchema>
export type ListenerConfig = Config['listeners'][number]
export type ServerConfig = Config['server']
export type UpstreamConfig = Config['upstreams'][number]
export type BackendConfig = UpstreamConfig['backends'][number]
export type RouteConfig = Config['routes'][number]
export type AdminConfig = Config['admin']
export type AdminTokenConfig = AdminConfig['tokens'][number]
export type AdminRole = z.output<typeof adminRoleSchema>
export type LoggingConfig = Config['logging']
export type StorageConfig = Config['storage']
export type { PaidAccessConfig, PlanConfig, QosConfig, TokensConfig } from './paid-access-schema.ts'
export type { RateLimitConfig, RateLimitPolicyConfig } from './rate-limit-schema.ts'
