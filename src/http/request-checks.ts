import type { ErrorCode } from '../errors/index.ts'
import type { UnderscorePolicy } from '../runtime/index.ts'
import type { ScannedRequestHead } from './headers.ts'

/**
 * Fail-closed checks of a request head, before routing (docs/security.md). Node's parser is kept
 * strict (never `insecureHTTPParser`); these cover what it lets through:
 * - a request line without a version: llhttp parses it as HTTP/0.9, which is also what a raw CR LF
 *   inside the target turns into (the rest of the line would become a header);
 * - more than one Host field (RFC 9112 §3.2: 400), an empty Host, a Host differing from HTTP/2's
 *   `:authority` (RFC 9113 §8.3.1);
 * - header names with `_` when the policy is `reject` (with `drop` the scan has already left them out).
 */
export function checkRequestHead(
  head: ScannedRequestHead,
  httpVersionMajor: number,
  underscores: UnderscorePolicy,
): ErrorCode | undefined {
  if (httpVersionMajor === 0) return 'INVALID_REQUEST_LINE'
  if (head.hostFields > 1) return 'DUPLICATE_HOST'
  if (head.hasUnderscoreName && underscores === 'reject') return 'INVALID_HEADER_NAME'
  const authority = head.authority
  const hostField = head.hostField
  if (
    authority !== undefined &&
    hostField !== undefined &&
    hostField.toLowerCase() !== authority.toLowerCase()
  )
    return 'HOST_MISMATCH'
  if (head.host === '') return 'INVALID_HOST'
  return undefined
}

/** An absolute-form request-target split into the authority and the origin-form rest. */
export interface AbsoluteTarget {
  readonly authority: string
  /** `/path?query` (`/` when the target has no path). */
  readonly target: string
}

/**
 * RFC 9112 §3.2.2: a server must accept absolute-form targets (`http://host:port/path?q`) and use
 * their authority as the host, ignoring the Host field. Returns undefined when `url` is not absolute
 * form (left to path normalisation), 'invalid' for an empty authority or one with userinfo
 * (RFC 9110 §4.2.4).
 */
export function splitAbsoluteForm(url: string): AbsoluteTarget | 'invalid' | undefined {
  let start: number
  if (url.length > 7 && url.slice(0, 7).toLowerCase() === 'http://') start = 7
  else if (url.length > 8 && url.slice(0, 8).toLowerCase() === 'https://') start = 8
  else return undefined
  let end = start
  while (end < url.length) {
    const c = url.charCodeAt(end)
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) break
    end++
  }
  const authority = url.slice(start, end)
  if (authority === '' || authority.includes('@')) return 'invalid'
  const rest = url.slice(end)
  return { authority, target: rest === '' ? '/' : rest.charCodeAt(0) === 47 ? rest : `/${rest}` }
}
