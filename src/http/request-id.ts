import { randomBytes } from 'node:crypto'

/** Longest accepted incoming request id. */
export const MAX_REQUEST_ID_LENGTH = 128

/**
 * An incoming request id is kept only when it is 1–128 visible characters from a conservative set
 * (letters, digits and `-_.:/+=@`), so it is safe to log and to reflect in headers.
 */
export function isValidRequestId(value: string): boolean {
  const n = value.length
  if (n === 0 || n > MAX_REQUEST_ID_LENGTH) return false
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i)
    const ok =
      (c >= 48 && c <= 57) || // 0-9
      (c >= 65 && c <= 90) || // A-Z
      (c >= 97 && c <= 122) || // a-z
      c === 45 ||
      c === 95 ||
      c === 46 ||
      c === 58 ||
      c === 47 ||
      c === 43 ||
      c === 61 ||
      c === 64
    if (!ok) return false
  }
  return true
}

/** Generates request ids: a random per-process prefix plus a counter (unique, cheap, sortable per process). */
export interface RequestIdSource {
  next(): string
}

export function createRequestIdSource(
  prefix: string = randomBytes(6).toString('base64url'),
): RequestIdSource {
  let counter = 0
  return {
    next() {
      counter = (counter + 1) % Number.MAX_SAFE_INTEGER
      return `${prefix}-${counter.toString(36)}`
    },
  }
}
