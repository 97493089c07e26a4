/**
 * The closed set of error codes litgate emits: in problem+json bodies, access-log `reason` fields and
 * metrics labels. Every entry is documented in docs/errors.md; a test fails when the two disagree.
 * Callers branch on `code`, never on message text.
 */
export type ErrorSource = 'downstream' | 'upstream' | 'internal'

export interface ErrorCodeSpec {
  /** HTTP status the edge answers with. */
  readonly status: number
  /** Short, stable human title (RFC 9457 `title`). */
  readonly title: string
  /** Who is at fault: the client (downstream), a backend (upstream) or the gateway itself. */
  readonly source: ErrorSource
  /** Whether a request failing with this code may be retried elsewhere by the gateway. */
  readonly isRetryable: boolean
}

function spec(status: number, title: string, source: ErrorSource, isRetryable = false): ErrorCodeSpec {
  return Object.freeze({ status, title, source, isRetryable })
}

export const ERROR_CODES = Object.freeze({
  // --- downstream: the request itself is unacceptable
  BAD_REQUEST: spec(400, 'Bad request', 'downstream'),
  INVALID_PATH: spec(400, 'Invalid request path', 'downstream'),
  INVALID_HOST: spec(400, 'Invalid Host header', 'downstream'),
  DUPLICATE_HOST: spec(400, 'More than one Host header', 'downstream'),
  HOST_MISMATCH: spec(400, 'Host header differs from :authority', 'downstream'),
  INVALID_REQUEST_LINE: spec(400, 'Request line without an HTTP version', 'downstream'),
  INVALID_HEADER_NAME: spec(400, 'Header name not accepted', 'downstream'),
  REQUEST_HEADER_TIMEOUT: spec(408, 'Request header timeout', 'downstream'),
  REQUEST_BODY_TIMEOUT: spec(408, 'Request body timeout', 'downstream'),
  REQUEST_BODY_TOO_SLOW: spec(408, 'Request body sent too slowly', 'downstream'),
  RESPONSE_READ_TOO_SLOW: spec(408, 'Response read too slowly', 'downstream'),
  CLIENT_SLOT_LIMIT: spec(429, 'Client holds its share of upstream capacity', 'downstream'),
  PAYLOAD_TOO_LARGE: spec(413, 'Request body too large', 'downstream'),
  URI_TOO_LONG: spec(414, 'Request URI too long', 'downstream'),
  HEADERS_TOO_LARGE: spec(431, 'Request header fields too large', 'downstream'),
  ROUTE_NOT_FOUND: spec(404, 'No route matches the request', 'downstream'),
  METHOD_NOT_ALLOWED: spec(405, 'Method not allowed on this route', 'downstream'),
  UPGRADE_NOT_ALLOWED: spec(400, 'Protocol upgrade not allowed on this route', 'downstream'),
  IP_DENIED: spec(403, 'Client address not allowed on this route', 'downstream'),
  CORS_PREFLIGHT_REFUSED: spec(403, 'CORS preflight refused', 'downstream'),
  CLIENT_ABORTED: spec(499, 'Client closed the request', 'downstream'),
  RATE_LIMITED: spec(429, 'Rate limit exceeded', 'downstream'),

  // --- upstream: a backend failed or could not be reached
  NO_HEALTHY_BACKEND: spec(503, 'No healthy backend available', 'upstream'),
  UPSTREAM_QUEUE_FULL: spec(503, 'Upstream capacity exhausted', 'upstream'),
  UPSTREAM_QUEUE_TIMEOUT: spec(503, 'Timed out waiting for upstream capacity', 'upstream'),
  UPSTREAM_CONNECT_FAILED: spec(502, 'Could not connect to upstream', 'upstream', true),
  UPSTREAM_CONNECT_TIMEOUT: spec(504, 'Upstream connect timeout', 'upstream', true),
  UPSTREAM_RESET: spec(502, 'Upstream connection reset', 'upstream'),
  UPSTREAM_HEADERS_TIMEOUT: spec(504, 'Upstream response header timeout', 'upstream'),
  UPSTREAM_BODY_TIMEOUT: spec(504, 'Upstream response body idle timeout', 'upstream'),
  UPSTREAM_PROTOCOL_ERROR: spec(502, 'Invalid response from upstream', 'upstream'),
  UPSTREAM_UPGRADE_REFUSED: spec(502, 'Upstream refused the protocol upgrade', 'upstream'),
  REQUEST_DEADLINE_EXCEEDED: spec(504, 'Request deadline exceeded', 'upstream'),
  ROUTE_CONCURRENCY_LIMIT: spec(503, 'Route concurrency limit reached', 'upstream'),
  BUFFER_CAPACITY_EXHAUSTED: spec(503, 'Request body buffers exhausted', 'upstream'),

  // --- chain: the LitVM chain (RPC endpoints, the gateway's hot wallet, transactions)
  CHAIN_CONFIG_INVALID: spec(500, 'Invalid chain configuration', 'internal'),
  CHAIN_KEY_INVALID: spec(500, 'Signing key unavailable or invalid', 'internal'),
  CHAIN_UNAVAILABLE: spec(503, 'Chain unavailable', 'upstream'),
  CHAIN_WRONG_ID: spec(503, 'RPC endpoint serves a different chain', 'upstream'),
  CHAIN_ENDPOINTS_DISAGREE: spec(502, 'RPC endpoints disagree on a verified read', 'upstream'),
  CHAIN_RPC_TIMEOUT: spec(504, 'Chain RPC call timed out', 'upstream'),
  CHAIN_RPC_ERROR: spec(502, 'Chain RPC call failed', 'upstream'),
  CHAIN_FEE_CAP_EXCEEDED: spec(503, 'Chain gas price above the configured cap', 'upstream'),
  CHAIN_GAS_LIMIT_EXCEEDED: spec(503, 'Transaction above the gas or per-transaction fee ceiling', 'internal'),
  CHAIN_FEE_BUDGET_EXCEEDED: spec(503, 'Transaction fee budget of the period exhausted', 'internal'),
  CHAIN_JOURNAL_INVALID: spec(500, 'Transaction journal unreadable or unwritable', 'internal'),
  CHAIN_INSUFFICIENT_FUNDS: spec(503, 'Gateway wallet cannot pay for gas', 'internal'),
  CHAIN_NONCE_CONFLICT: spec(503, 'Transaction nonce taken by another transaction', 'internal'),
  CHAIN_TX_DROPPED: spec(502, 'Transaction dropped by the chain', 'upstream'),
  CHAIN_TX_TIMEOUT: spec(504, 'Transaction not confirmed in time', 'upstream'),
  CHAIN_SEND_QUEUE_FULL: spec(503, 'Too many transactions waiting to be sent', 'internal'),

  // --- subscriptions: lookups of the gateway's verified cache of on-chain subscriptions
  SUBSCRIPTION_ID_INVALID: spec(400, 'Malformed subscription id', 'downstream'),
  SUBSCRIPTION_NOT_FOUND: spec(404, 'Unknown subscription', 'downstream'),
  // --- storage: the database (PostgreSQL or embedded PGlite), its schema and migrations
  STORAGE_CONFIG_INVALID: spec(500, 'Invalid storage configuration', 'internal'),
  STORAGE_UNAVAILABLE: spec(503, 'Database unavailable', 'internal'),
  STORAGE_SCHEMA_TOO_NEW: spec(500, 'Database schema is newer than this litgate', 'internal'),
  STORAGE_MIGRATION_MISMATCH: spec(500, 'Applied migration differs from the one this litgate ships', 'internal'),
  STORAGE_MIGRATION_FAILED: spec(500, 'Database migration failed', 'internal'),
  // --- paid access: quotes and the 402 challenge (src/payments)
  PAYMENT_REQUIRED: spec(402, 'Payment required', 'downstream'),
  QUOTE_REQUEST_INVALID: spec(400, 'Invalid quote request', 'downstream'),
  QUOTE_PLAN_UNKNOWN: spec(400, 'Unknown plan', 'downstream'),
  QUOTE_TOKEN_NOT_ACCEPTED: spec(400, 'Token not accepted for this plan', 'downstream'),
  QUOTE_PERIODS_INVALID: spec(400, 'Periods out of range', 'downstream'),
  QUOTE_SUBSCRIPTION_INVALID: spec(400, 'Subscription cannot be renewed by this quote', 'downstream'),
  QUOTE_NOT_FOUND: spec(404, 'Quote not found or expired', 'downstream'),
  QUOTE_LIMIT_REACHED: spec(429, 'Too many open quotes for this payer', 'downstream'),
  QUOTE_RATE_LIMITED: spec(429, 'Quote creation rate limit exceeded', 'downstream'),
  QUOTE_CAPACITY_EXHAUSTED: spec(503, 'Quote capacity exhausted', 'internal'),
  PLAN_CHAIN_MISMATCH: spec(500, 'Configured plans disagree with the payment contract', 'internal'),
  // --- access tokens: the token endpoints and the edge check (src/tokens)
  TOKEN_REQUEST_INVALID: spec(400, 'Invalid token request', 'downstream'),
  TOKEN_SIGNATURE_INVALID: spec(401, 'Sign-In with Ethereum message refused', 'downstream'),
  TOKEN_SUBSCRIPTION_FORBIDDEN: spec(403, 'Signer may not use this subscription', 'downstream'),
  SUBSCRIPTION_INACTIVE: spec(402, 'Subscription does not grant access now', 'downstream'),
  TOKEN_REFRESH_INVALID: spec(401, 'Refresh token unknown, expired or revoked', 'downstream'),
  TOKEN_REFRESH_REUSED: spec(401, 'Refresh token reused: its family is revoked', 'downstream'),
  TOKEN_INVALID: spec(401, 'Invalid access token', 'downstream'),
  TOKEN_RATE_LIMITED: spec(429, 'Token endpoint rate limit exceeded', 'downstream'),
  // --- per-subscription QoS (src/qos)
  QUOTA_EXCEEDED: spec(429, 'Subscription quota exceeded', 'downstream'),
  TOKEN_CAPACITY_EXHAUSTED: spec(503, 'Too many open sign-in nonces', 'internal'),
  TOKEN_KEY_INVALID: spec(500, 'Token signing key unusable', 'internal'),

  // --- admin: the admin listener's authentication and queries (src/admin; never proxy traffic)
  ADMIN_UNAUTHORIZED: spec(401, 'Admin bearer token missing or unknown', 'downstream'),
  ADMIN_FORBIDDEN: spec(403, 'Admin token role does not allow this endpoint', 'downstream'),
  ADMIN_QUERY_INVALID: spec(400, 'Invalid admin query parameters', 'downstream'),
  ADMIN_TOKEN_INVALID: spec(500, 'Admin token unreadable, too short or shared by two ids', 'internal'),

  // --- internal: the gateway itself
  GATEWAY_OVERLOADED: spec(503, 'Gateway overloaded', 'internal'),
  GATEWAY_SHUTTING_DOWN: spec(503, 'Gateway shutting down', 'internal'),
  RATE_LIMIT_UNAVAILABLE: spec(503, 'Rate limit store unavailable', 'internal'),
  INTERNAL_ERROR: spec(500, 'Internal gateway error', 'internal'),

  // --- lifecycle: reload and shutdown (admin API answers and operator log lines, never proxy traffic)
  CONFIG_INVALID: spec(400, 'Config rejected by validation', 'internal'),
  CONFIG_RESTART_REQUIRED: spec(409, 'Config change needs a restart', 'internal'),
  RELOAD_FAILED: spec(500, 'Reload failed; previous config keeps serving', 'internal'),
  RELOAD_NOT_SERVING: spec(409, 'Gateway is not serving; reload refused', 'internal'),
  SHUTDOWN_DEADLINE_EXCEEDED: spec(503, 'Drain deadline passed; connections force-closed', 'internal'),

  // --- start-up: the process could not start (one log line and one stderr line, exit 1; never HTTP)
  LISTEN_ADDRESS_IN_USE: spec(500, 'Listen address already in use', 'internal'),
  LISTEN_ADDRESS_UNAVAILABLE: spec(500, 'Listen address not available on this host', 'internal'),
  LISTEN_PERMISSION_DENIED: spec(500, 'Not permitted to bind the listen address', 'internal'),
  TLS_FILE_UNREADABLE: spec(500, 'TLS certificate, key or CA file missing or unreadable', 'internal'),
  TLS_FILE_INVALID: spec(500, 'TLS certificate or key file is not valid PEM', 'internal'),
  TLS_KEY_MISMATCH: spec(500, 'TLS private key does not match the certificate', 'internal'),
  TLS_NAME_NOT_COVERED: spec(500, 'TLS server name not covered by its certificate', 'internal'),
  ADMIN_AUTH_REQUIRED: spec(500, 'Admin listener on a non-loopback address without tokens', 'internal'),
  PID_FILE_IN_USE: spec(500, 'PID file names a running process', 'internal'),
  PID_FILE_FAILED: spec(500, 'PID file could not be written', 'internal'),
} satisfies Record<string, ErrorCodeSpec>)

export type ErrorCode = keyof typeof ERROR_CODES
