import { explainInvalidCidr } from '../security/index.ts'
import type { ConfigIssue } from './issues.ts'
import { MAX_DIRECT_BODY_BYTES } from './operator-schema.ts'
import type { Config } from './schema.ts'

/**
 * Fields a direct response may not set: framing and connection-specific fields (RFC 9110 §7.6.1) are
 * the gateway's to write per protocol (HTTP/2 forbids the connection-specific ones outright).
 */
const GATEWAY_OWNED_FIELDS = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'te',
  'trailer',
])

// RFC 9110 §15.3.5, §15.4.5: 204 and 304 responses carry no content.
const NO_CONTENT_STATUSES = new Set([204, 304])

/**
 * Semantic checks of the operator features (schema: operator-schema.ts): a route is served by exactly one
 * of `upstream` or `respond`; a direct response is not paid, its body fits and its fields are the
 * operator's to set; IP lists are valid CIDRs; CORS does not combine `*` with credentials. Pure.
 */
export function checkOperatorFeatures(config: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  const error = (path: string, message: string, value: string) =>
    issues.push({ path, message, value, severity: 'error' })

  config.routes.forEach((route, r) => {
    const at = `routes[${r}]`
    const respond = route.respond
    if (route.upstream === undefined && respond === undefined) {
      error(at, 'a route needs `upstream` (proxy) or `respond` (direct response)', JSON.stringify(route.id))
    }
    if (route.upstream !== undefined && respond !== undefined) {
      error(
        `${at}.respond`,
        '`respond` and `upstream` are mutually exclusive',
        JSON.stringify(route.upstream),
      )
    }
    if (respond !== undefined) {
      if (route.access !== 'public') {
        error(`${at}.access`, 'a direct-response route cannot be paid', JSON.stringify(route.access))
      }
      const bytes = Buffer.byteLength(respond.body)
      if (bytes > MAX_DIRECT_BODY_BYTES) {
        error(
          `${at}.respond.body`,
          `must be at most ${MAX_DIRECT_BODY_BYTES} bytes (UTF-8)`,
          `${bytes} bytes`,
        )
      }
      if (bytes > 0 && NO_CONTENT_STATUSES.has(respond.status)) {
        error(
          `${at}.respond.body`,
          `a ${respond.status} response has no body`,
          JSON.stringify(respond.status),
        )
      }
      for (const name of Object.keys(respond.headers)) {
        if (GATEWAY_OWNED_FIELDS.has(name) || name === config.server.requestIdHeader) {
          error(`${at}.respond.headers`, 'field is set by the gateway', JSON.stringify(name))
        }
      }
    }
    for (const key of ['ipAllow', 'ipDeny'] as const) {
      route[key]?.forEach((entry, i) => {
        const reason = explainInvalidCidr(entry)
        if (reason !== undefined) error(`${at}.${key}[${i}]`, reason, JSON.stringify(entry))
      })
    }
    if (route.ipAllow !== undefined && route.ipAllow.length === 0) {
      error(`${at}.ipAllow`, 'an empty allow list refuses everyone; remove it or list addresses', '[]')
    }
    const cors = route.cors
    if (cors !== undefined) {
      const hasAny = cors.allowOrigins.includes('*')
      if (hasAny && cors.allowOrigins.length > 1) {
        error(`${at}.cors.allowOrigins`, '`*` must be the only entry', JSON.stringify(cors.allowOrigins))
      }
      if (hasAny && cors.allowCredentials) {
        // Fetch standard: `Access-Control-Allow-Origin: *` is never honoured with credentials, and
        // echoing any origin with credentials would let every site read authenticated responses.
        error(
          `${at}.cors.allowCredentials`,
          'not allowed with `allowOrigins: ["*"]`; list the origins',
          'true',
        )
      }
    }
  })
  return issues
}
