/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/#traceparent-header) helpers for logs.
 * `traceparent` = version "-" trace-id (32 hex) "-" parent-id (16 hex) "-" flags (2 hex).
 */

function isLowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i)
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false
  }
  return true
}

/**
 * The trace id of a well-formed `traceparent` (version 00 layout, later versions may append fields),
 * or undefined. An all-zero trace id is invalid by the spec.
 */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  if (traceparent === undefined || traceparent.length < 55) return undefined
  if (
    traceparent.charCodeAt(2) !== 45 ||
    traceparent.charCodeAt(35) !== 45 ||
    traceparent.charCodeAt(52) !== 45
  ) {
    return undefined
  }
  if (traceparent.startsWith('ff') || !isLowerHex(traceparent, 0, 2) || !isLowerHex(traceparent, 3, 35))
    return undefined
  const id = traceparent.slice(3, 35)
  return id === '00000000000000000000000000000000' ? undefined : id
}
