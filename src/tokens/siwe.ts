/**
 * Sign-In with Ethereum (EIP-4361) field checks (pure). The message is parsed with viem's
 * `parseSiweMessage`; the signature itself is verified elsewhere (the chain's public client:
 * `verifyMessage`, which covers EOAs, EIP-1271 contract wallets and ERC-6492 counterfactual ones).
 */
import { getAddress, isAddress, type Address, type Hex } from 'viem'
import { parseSiweMessage } from 'viem/siwe'

/** `urn:litgate:subscription:0x…64 hex`: the one resource of a token request. */
export const SUBSCRIPTION_URN_PREFIX = 'urn:litgate:subscription:'

export interface SiweExpectations {
  /** The RFC 3986 authority the message must name (`domain`): the request's Host or the public origin's. */
  readonly domain: string
  /** Origins the `uri` may have (`scheme://authority`). */
  readonly origins: readonly string[]
  readonly chainId: number
  readonly nowMs: number
  readonly clockSkewMs: number
  /** An `issuedAt` older than this is refused (the nonce lifetime: a message cannot outlive its nonce). */
  readonly maxAgeMs: number
}

export type SiweCheck =
  | {
      readonly ok: true
      readonly address: Address
      readonly nonce: string
      readonly subscriptionId: Hex
      /** `expirationTime` when the message has one (unix ms). */
      readonly expiresAtMs: number | undefined
    }
  | {
      readonly ok: false
      /** 400: not an EIP-4361 message of the documented shape; 401: a valid shape that does not verify here. */
      readonly code: 'TOKEN_REQUEST_INVALID' | 'TOKEN_SIGNATURE_INVALID'
      readonly detail: string
    }

const NONCE = /^[A-Za-z0-9]{8,}$/
const SUBSCRIPTION_ID = /^0x[0-9a-fA-F]{64}$/
/** EIP-4361 messages are short; anything larger is refused before parsing. */
export const MAX_SIWE_MESSAGE_BYTES = 4096

const bad = (detail: string): SiweCheck => ({ ok: false, code: 'TOKEN_REQUEST_INVALID', detail })
const refused = (detail: string): SiweCheck => ({ ok: false, code: 'TOKEN_SIGNATURE_INVALID', detail })

function originOf(uri: string): string | undefined {
  try {
    const u = new URL(uri)
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined
  } catch {
    return undefined
  }
}

/** Checks every field of `message` against what this gateway expects; answers what the token needs. */
export function checkSiweMessage(message: string, expect: SiweExpectations): SiweCheck {
  if (message.length > MAX_SIWE_MESSAGE_BYTES)
    return bad(`the message is longer than ${MAX_SIWE_MESSAGE_BYTES} characters`)
  const m = parseSiweMessage(message)
  if (m.address === undefined || m.domain === undefined || m.uri === undefined || m.nonce === undefined)
    return bad('not an EIP-4361 message (domain, address, URI and nonce are required)')
  if (m.version !== '1') return bad('the message version must be 1')
  if (m.chainId === undefined || !Number.isSafeInteger(m.chainId)) return bad('the message has no chain id')
  if (m.issuedAt === undefined || Number.isNaN(m.issuedAt.getTime()))
    return bad('the message has no valid Issued At')
  if (!isAddress(m.address)) return bad('the address is not a valid (EIP-55 checksummed) address')
  if (!NONCE.test(m.nonce)) return bad('the nonce must be alphanumeric')
  const resources = m.resources ?? []
  const urn = resources[0]
  if (resources.length !== 1 || urn === undefined || !urn.startsWith(SUBSCRIPTION_URN_PREFIX))
    return bad(`the message must list exactly one resource, ${SUBSCRIPTION_URN_PREFIX}<subscription id>`)
  const id = urn.slice(SUBSCRIPTION_URN_PREFIX.length)
  if (!SUBSCRIPTION_ID.test(id)) return bad('the resource must name a 32-byte hex subscription id')
  for (const [field, date] of [
    ['Expiration Time', m.expirationTime],
    ['Not Before', m.notBefore],
  ] as const)
    if (date !== undefined && Number.isNaN(date.getTime()))
      return bad(`${field} is not an RFC 3339 date-time`)

  if (m.domain.toLowerCase() !== expect.domain.toLowerCase())
    return refused('the message is for another domain')
  const origin = originOf(m.uri)
  if (origin === undefined || !expect.origins.includes(origin))
    return refused('the message URI is not this gateway')
  if (m.chainId !== expect.chainId)
    return refused(`the message is for chain ${m.chainId}, not ${expect.chainId}`)
  const now = expect.nowMs
  const issuedAt = m.issuedAt.getTime()
  if (issuedAt > now + expect.clockSkewMs) return refused('Issued At is in the future')
  if (issuedAt < now - expect.maxAgeMs - expect.clockSkewMs)
    return refused('Issued At is older than the nonce lifetime')
  if (m.notBefore !== undefined && m.notBefore.getTime() > now + expect.clockSkewMs)
    return refused('the message is not valid yet (Not Before)')
  const expiresAtMs = m.expirationTime?.getTime()
  if (expiresAtMs !== undefined && expiresAtMs <= now - expect.clockSkewMs)
    return refused('the message expired')
  return {
    ok: true,
    address: getAddress(m.address),
    nonce: m.nonce,
    subscriptionId: id.toLowerCase() as Hex,
    expiresAtMs,
  }
}
