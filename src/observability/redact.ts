/**
 * Redaction of secrets that can arrive in a request-target. Headers never reach a log line (the access
 * log names no header), but query strings do: `?access_token=…`, `?api_key=…` are common. Values of
 * query parameters whose name looks like a credential are replaced before the path is logged.
 */

/** Replaces a redacted value. */
export const REDACTED = '[redacted]'

// Parameter names (lower-cased, percent-decoded) that carry credentials in the wild: OAuth
// (access_token, id_token, code), AWS presigned URLs (X-Amz-Signature, X-Amz-Credential), API keys, sessions.
const SENSITIVE_NAME = /token|key|secret|passw|pwd|auth|sig|session|credential|^code$|jwt|cookie/

/**
 * Returns `path` with the values of credential-like query parameters replaced by `[redacted]`.
 * A path without a query is returned as it is (no allocation): the common case costs one indexOf.
 */
export function redactQuery(path: string): string {
  const q = path.indexOf('?')
  if (q === -1) return path
  const parts = path.slice(q + 1).split('&')
  let isChanged = false
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string
    const eq = part.indexOf('=')
    const rawName = eq === -1 ? part : part.slice(0, eq)
    let name: string
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' ')).toLowerCase()
    } catch {
      name = rawName.toLowerCase()
    }
    if (SENSITIVE_NAME.test(name) && eq !== -1) {
      parts[i] = `${rawName}=${REDACTED}`
      isChanged = true
    }
  }
  return isChanged ? `${path.slice(0, q)}?${parts.join('&')}` : path
}
