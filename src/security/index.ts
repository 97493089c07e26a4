export { compileCidrs, explainInvalidCidr, isValidCidr, CIDR_KEYWORDS, type CidrSet } from './cidr-set.ts'
export { resolveClientAddress } from './client-address.ts'
export {
  buildForwardedHeaders,
  type ForwardedHeaders,
  type ForwardedHeadersInput,
} from './forwarded-headers.ts'
export { normalizeIp } from './ip-address.ts'
export { compileIpAccess, isAddressAllowed, type IpAccess } from './ip-access.ts'
export {
  compileCors,
  isPreflight,
  isOriginAllowed,
  preflightHeaders,
  actualResponseHeaders,
  applyCorsToResponse,
  type CorsOptions,
  type CorsPolicy,
} from './cors.ts'
export {
  compileSecurityHeaders,
  addSecurityHeadersToProxied,
  DEFAULT_SECURITY_HEADERS,
  type SecurityHeaders,
  type SecurityHeadersOptions,
} from './security-headers.ts'
export { addressKey } from './address-key.ts'
