export { compileCidrs, explainInvalidCidr, isValidCidr, CIDR_KEYWORDS, type CidrSet } from './cidr-set.ts'
export { resolveClientAddress } from './client-address.ts'
export {
  buildForwardedHeaders,
  type ForwardedHeaders,
  type ForwardedHeadersInput,
} from './forwarded-headers.ts'
export { normalizeIp } from './ip-address.ts'
export { addressKey } from './address-key.ts'
