import { ERROR_CODES, type ErrorCode } from './codes.ts'

/** Media type of RFC 9457 problem details. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

/** An RFC 9457 problem details document with litgate's extension members `code` and `requestId`. */
export interface ProblemDocument {
  readonly type: string
  readonly title: string
  readonly status: number
  readonly detail?: string
  readonly code: ErrorCode
  readonly requestId: string
}

/**
 * Builds the problem document for `code`. `detail` must be safe to show a client: it never echoes config,
 * backend addresses or credentials. `type` points at the code's entry in docs/errors.md.
 */
export function buildProblem(code: ErrorCode, requestId: string, detail?: string): ProblemDocument {
  const spec = ERROR_CODES[code]
  const base = {
    type: `https://litgate.dev/errors#${code.toLowerCase().replaceAll('_', '-')}`,
    title: spec.title,
    status: spec.status,
    code,
    requestId,
  }
  return detail === undefined ? base : { ...base, detail }
}

/**
 * Serialises a problem for the wire. `members`: extension members pre-serialised as the inside of a JSON
 * object (`"plans":[…]`), appended after the standard ones.
 */
export function renderProblem(code: ErrorCode, requestId: string, detail?: string, members?: string): string {
  const json = JSON.stringify(buildProblem(code, requestId, detail))
  return members === undefined || members === '' ? json : `${json.slice(0, -1)},${members}}`
}
