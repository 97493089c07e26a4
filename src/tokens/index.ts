/**
 * Public surface of the access-token subsystem: Sign-In with Ethereum checks, EdDSA JWT issue and
 * verification with key rotation, the token service and endpoints, the edge's credential check with its
 * verification cache, and revocation (in process, Redis pub/sub fan-out, database backstop).
 */
export { accessTokenTimes, MAX_ACCESS_TTL_SECONDS, readAccessClaims, type AccessClaims } from './claims.ts'
export {
  bearerToken,
  createTokenCredentialCheck,
  type CredentialCheckDeps,
  type CredentialCheckOptions,
  type EdgeOutcome,
  type EdgeVerdict,
  type TokenCredentialCheck,
} from './credential-check.ts'
export {
  createRedisRevocationBus,
  createRevocationSet,
  parseRevocationMessage,
  type RedisPublisher,
  type RedisSubscriber,
  type RevocationBus,
  type RevocationMessage,
  type RevocationSet,
} from './revocations.ts'
export {
  createAccessTokenCodec,
  parseSigningKey,
  type AccessTokenCodec,
  type SigningKey,
  type TokenRefusalReason,
  type VerifyOutcome,
} from './signing-keys.ts'
export { checkSiweMessage, SUBSCRIPTION_URN_PREFIX, type SiweCheck, type SiweExpectations } from './siwe.ts'
export {
  createTokenEndpoints,
  JWKS_PATH,
  type TokenEndpoints,
  type TokenEndpointsDeps,
} from './token-http.ts'
export { createTokenMetrics, type TokenMetrics } from './token-metrics.ts'
export {
  createTokenService,
  refreshTokenHash,
  type Outcome,
  type TokenAnswer,
  type TokenPlan,
  type TokenService,
  type TokenServiceDeps,
  type TokenServiceOptions,
  type TokenSubscriptions,
} from './token-service.ts'
export {
  startTokens,
  type Tokens,
  type TokensDeps,
  type TokensOptions,
  type TokenSecretRef,
} from './tokens.ts'
export { createVerificationCache, tokenKey, type VerificationCache } from './verification-cache.ts'
