import type { Config } from '../config/index.ts'

/**
 * How each config field behaves on reload. A path names a field: `.` between keys, `[]` for "every
 * element of this list". An entry covers its own field and, unless a longer entry says otherwise,
 * everything below it. test/e2e/reload-fields.test.ts walks the schema and fails when a field resolves
 * to no entry, and proves every `applied` entry really applies; docs/operations/reload.md lists them.
 */
export type ReloadClass = 'applied' | 'restart'

/** Fields a reload applies (new requests and connections; see the note of each for existing ones). */
export const APPLIED_ON_RELOAD = [
  // TLS material of a listener is re-read on every reload (rotation to new files or in place).
  'listeners[].tls.certFile',
  'listeners[].tls.keyFile',
  // The SNI certificates and client verification: every context is rebuilt and swapped as one set, the
  // client-certificate mode set on the server (Listener.setSecureContext); open connections keep theirs.
  'listeners[].tls.certificates',
  'listeners[].tls.clientAuth',
  // Listener socket settings: set on the running servers (see Listener.applyServerOptions).
  'server.maxConnections',
  'server.keepAliveTimeoutMs',
  'server.headersTimeoutMs',
  'server.requestBodyTimeoutMs',
  'server.maxHeaderBytes',
  'server.requestBodyIdleTimeoutMs',
  'server.tlsHandshakeTimeoutMs',
  'server.http2IdleTimeoutMs',
  'server.http2PingIntervalMs',
  'server.http2MaxClientResets',
  'server.http2ClientResetWindowMs',
  'server.http2MaxStreamsPerClient',
  // Slow-client protection (one SlowClients per gateway, configured after the swap): budgets and the
  // buffering settings apply to new reservations, the minimum rates from the next check.
  'server.buffering',
  'server.minRequestBodyBytesPerSecond',
  'server.minResponseBytesPerSecond',
  'server.minRateWindowMs',
  // Part of the runtime snapshot: every request reads the snapshot it started with.
  'server.maxUrlBytes',
  'server.maxBodyBytes',
  'server.trustedProxies',
  'server.requestIdHeader',
  'server.underscoresInHeaders',
  // Compiled into the snapshot (nosniff / HSTS on gateway-made responses, optionally on proxied ones).
  'server.securityHeaders',
  // Read when the drain starts (SIGTERM/SIGINT), from the config serving at that moment.
  'server.shutdownTimeoutMs',
  // Upstreams and routes are compiled only by buildRuntime, which runs on every reload; backends whose
  // pool settings changed get a new pool (backendIdentity's reuse key), the old one drains.
  'upstreams',
  'routes',
  // The per-IP limits are compiled into the runtime's admission stage (limits/per-ip-stage.ts): the next
  // request is decided under the new policy, against the state its key already has in the store.
  'rateLimit.perIp',
  'rateLimit.ipv6PrefixLength',
  'rateLimit.redis.onError',
  // Applied by the reloader's outcome hook (main.ts) right after the swap.
  'logging.level',
  'logging.accessLog.enabled',
  'logging.accessLog.sampleSuccessRatio',
  // The admin tokens are re-read (secrets included) by every reload's load step in main.ts: an unreadable
  // or short secret fails the reload (ADMIN_TOKEN_INVALID); on success the admin server's credentials are
  // replaced in one assignment, read per request. openPaths travels with them.
  'admin.tokens',
  'admin.openPaths',
] as const

/**
 * Fields bound at start. A reload that changes any of them is refused as a whole with
 * CONFIG_RESTART_REQUIRED naming each changed field with its old and new value; nothing is applied.
 * For a field whose value is an object (e.g. `listeners[].tls`), only its presence is compared: its
 * members have entries of their own.
 */
export const RESTART_BOUND = [
  'listeners[].name',
  'listeners[].host',
  'listeners[].port',
  'listeners[].http2',
  'listeners[].tls',
  'listeners[].tls.minVersion',
  'listeners[].tls.ciphers',
  'admin.enabled',
  'admin.host',
  'admin.port',
  'tracing.enabled',
  'reload.watchFile',
  'reload.watchDebounceMs',
  // The database is opened (and migrated) once at start: every field of it is bound to the process.
  'storage',
  'storage.url',
  'storage.dataDir',
  'storage.schema',
  'storage.maxConnections',
  'storage.connectTimeoutMs',
  // Paid access is restart-bound for now: the chain client, the contract and the quote signer are created at
  // start, and the challenge stage / quote service are built once and handed to the gateway (not per
  // runtime). Plans, prices and quote/challenge bounds can move to APPLIED_ON_RELOAD once the paid-access
  // runtime is rebuilt on reload (with a proof test in test/e2e/reload-fields.test.ts). `routes[].access` is
  // part of `routes` (applied): the challenge stage reads the serving runtime's routes, and the plan names an
  // access list may use are the restart-bound `paidAccess.plans` (test/payments/challenge.test.ts proves a
  // paid route renamed by a reload is still challenged).
  'paidAccess',
  'paidAccess.chain',
  'paidAccess.chain.preset',
  'paidAccess.chain.id',
  'paidAccess.chain.rpc',
  'paidAccess.contract',
  'paidAccess.contract.paymentProcessor',
  'paidAccess.contract.deploymentsDir',
  'paidAccess.quoteSigner',
  'paidAccess.quoteSigner.fromEnv',
  'paidAccess.quoteSigner.file',
  'paidAccess.basePath',
  'paidAccess.quotes',
  'paidAccess.quotes.ttlSeconds',
  'paidAccess.quotes.maxPeriods',
  'paidAccess.quotes.maxOpenPerPayer',
  'paidAccess.quotes.maxOpen',
  'paidAccess.quotes.createPerIpPerMinute',
  'paidAccess.quotes.createPerPayerPerMinute',
  'paidAccess.quotes.retentionSeconds',
  'paidAccess.challenge',
  'paidAccess.challenge.maxTimeoutSeconds',
  'paidAccess.challenge.publicOrigin',
  'paidAccess.challenge.paymentAuth',
  'paidAccess.challenge.paymentAuth.enabled',
  'paidAccess.challenge.paymentAuth.realm',
  'paidAccess.challenge.paymentAuth.secret',
  'paidAccess.challenge.paymentAuth.secret.fromEnv',
  'paidAccess.challenge.paymentAuth.secret.file',
  'paidAccess.monitor',
  'paidAccess.monitor.confirmation',
  'paidAccess.monitor.startBlock',
  'paidAccess.monitor.pollIntervalMs',
  'paidAccess.monitor.maxRangeBlocks',
  'paidAccess.subscriptionGraceSeconds',
  'paidAccess.subscriptionCacheMaxEntries',
  'paidAccess.rateLimitHeaders',
  'paidAccess.plans',
  // The token keys, lifetimes and caches are built once at start with the paid layer.
  'paidAccess.tokens',
  'paidAccess.tokens.signingKeys',
  'paidAccess.tokens.signingKeys[].kid',
  'paidAccess.tokens.signingKeys[].privateKey',
  'paidAccess.tokens.signingKeys[].privateKey.fromEnv',
  'paidAccess.tokens.signingKeys[].privateKey.file',
  'paidAccess.tokens.issuer',
  'paidAccess.tokens.audience',
  'paidAccess.tokens.accessTtlSeconds',
  'paidAccess.tokens.refreshTtlSeconds',
  'paidAccess.tokens.nonceTtlSeconds',
  'paidAccess.tokens.maxOpenNonces',
  'paidAccess.tokens.requestsPerIpPerMinute',
  'paidAccess.tokens.clockSkewSeconds',
  'paidAccess.tokens.verificationCacheMaxEntries',
  'paidAccess.tokens.upstreamHeaders',
  'paidAccess.tokens.upstreamHeaders.subscription',
  'paidAccess.tokens.upstreamHeaders.plan',
  'paidAccess.tokens.revocations',
  'paidAccess.tokens.revocations.channel',
  'paidAccess.tokens.revocations.redis',
  'paidAccess.tokens.revocations.redis.url',
  'paidAccess.tokens.revocations.redis.url.fromEnv',
  'paidAccess.tokens.revocations.redis.url.file',
  'paidAccess.tokens.revocations.pollIntervalMs',
  // The limiter's store (and its Redis client) is created once at start (main.ts openLimiterStore).
  'rateLimit.store',
  'rateLimit.maxTrackedKeys',
  'rateLimit.redis',
  'rateLimit.redis.url',
  'rateLimit.redis.keyPrefix',
  'rateLimit.redis.commandTimeoutMs',
] as const

/** Fields whose only valid value is a constant (nothing to apply or refuse). */
export const CONSTANT_FIELDS = ['version'] as const

/** A restart-bound field whose value differs between the running and the new config. */
export interface FieldChange {
  /** Concrete path, e.g. `listeners[0].port`. */
  readonly field: string
  readonly from: unknown
  readonly to: unknown
}

const SPLIT_RESTART_BOUND: readonly (readonly string[])[] = RESTART_BOUND.map(splitPath)

/**
 * Restart-bound fields whose value is an object compared by value, not presence: secret references
 * (`{ fromEnv }` | `{ file }`), a union the schema walk sees as one field with no members of its own.
 */
const COMPARED_BY_VALUE: ReadonlySet<string> = new Set([
  'storage.url',
  'paidAccess.monitor.confirmation',
  'rateLimit.redis.url',
])

/** `listeners[].tls.minVersion` → ['listeners', '[]', 'tls', 'minVersion']. */
export function splitPath(path: string): string[] {
  const out: string[] = []
  for (const key of path.split('.')) {
    if (key.endsWith('[]')) out.push(key.slice(0, -2), '[]')
    else out.push(key)
  }
  return out
}

/** Every restart-bound field that differs between `running` and `next`, in RESTART_BOUND order. */
export function restartBoundChanges(running: Config, next: Config): FieldChange[] {
  const changes: FieldChange[] = []
  for (const segments of SPLIT_RESTART_BOUND) {
    const a = valuesAt(running, segments)
    const b = valuesAt(next, segments)
    for (const field of new Set([...a.keys(), ...b.keys()])) {
      const from = a.get(field)
      const to = b.get(field)
      const isByValue = COMPARED_BY_VALUE.has(field)
      if (isByValue ? JSON.stringify(from) !== JSON.stringify(to) : comparable(from) !== comparable(to))
        changes.push({ field, from, to })
    }
  }
  return changes
}

/** One line per change: `listeners[0].port: 8080 -> 8081`. */
export function formatChange(c: FieldChange): string {
  return `${c.field}: ${render(c.from)} -> ${render(c.to)}`
}

/** Values of `segments` in `root`, keyed by concrete path (arrays expanded by index). */
function valuesAt(root: unknown, segments: readonly string[]): Map<string, unknown> {
  const out = new Map<string, unknown>()
  const walk = (node: unknown, i: number, path: string): void => {
    if (i === segments.length) {
      out.set(path, node)
      return
    }
    const key = segments[i] as string
    if (key === '[]') {
      if (!Array.isArray(node)) return
      node.forEach((element: unknown, n) => walk(element, i + 1, `${path}[${n}]`))
      return
    }
    const child =
      node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined
    // A missing parent still yields the field (as undefined) so that adding a list element is a change.
    walk(child, i + 1, path === '' ? key : `${path}.${key}`)
  }
  walk(root, 0, '')
  return out
}

/** Objects compare by presence only (their members have entries of their own); the rest by value. */
function comparable(v: unknown): string {
  if (v === undefined) return 'absent'
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) return 'present'
  return JSON.stringify(v)
}

function render(v: unknown): string {
  if (v === undefined) return '(absent)'
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) return '(set)'
  const s = JSON.stringify(v)
  return s.length > 200 ? `${s.slice(0, 200)}…` : s
}
