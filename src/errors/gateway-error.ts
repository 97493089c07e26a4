import { ERROR_CODES, type ErrorCode, type ErrorSource } from './codes.ts'

export interface GatewayErrorOptions {
  /** Underlying cause; never rendered to clients. */
  readonly cause?: unknown
  /** Overrides the code's default retryability (e.g. a reset known to happen before any byte was sent). */
  readonly isRetryable?: boolean
}

/**
 * The one error type of litgate. `code` is stable and documented; `message` is for operators and must
 * never contain a secret, token, signature or credentialed URL.
 */
export class GatewayError extends Error {
  override readonly name = 'GatewayError'
  readonly code: ErrorCode
  readonly status: number
  readonly source: ErrorSource
  readonly isRetryable: boolean

  constructor(code: ErrorCode, message?: string, options?: GatewayErrorOptions) {
    const spec = ERROR_CODES[code]
    super(message ?? spec.title, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.status = spec.status
    this.source = spec.source
    this.isRetryable = options?.isRetryable ?? spec.isRetryable
  }
}

/** True when `err` is a GatewayError (works across module instances). */
export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError
}
