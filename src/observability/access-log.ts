import type { Logger } from 'pino'
import type { ExchangeSummary } from '../http/index.ts'
import { redactQuery } from './redact.ts'
import { traceIdOf } from './trace-context.ts'

/** Longest path (raw or normalised) written in a line; longer ones are cut and named in `truncated`. */
export const MAX_LOGGED_PATH_CHARS = 2048
/** Longest Host written in a line (a DNS name is at most 253 characters, plus a port). */
export const MAX_LOGGED_HOST_CHARS = 256

/** Access-log settings (config `logging.accessLog`); replaced as a whole on reload. */
export interface AccessLogOptions {
  readonly enabled: boolean
  /** Share of successful exchanges (status < 400, no reason code) written; failures always are. */
  readonly sampleSuccessRatio: number
}

export interface AccessLogDeps {
  readonly log: Logger
  /** Uniform [0, 1) source for sampling (injected for tests). */
  readonly random?: () => number
}

/**
 * One JSON line per finished exchange, built from the proxy's `ExchangeSummary`. Failures (a reason
 * code, or status >= 500) are always written, at `warn` for 5xx; successes may be sampled. No header is
 * ever logged, and credential-like query parameters are redacted (see redact.ts).
 */
export class AccessLog {
  readonly #log: Logger
  readonly #random: () => number
  #options: AccessLogOptions

  constructor(options: AccessLogOptions, deps: AccessLogDeps) {
    this.#options = options
    // Lines are built only from the summary's known fields (no header is ever logged; credential-like
    // query values are redacted above by redactQuery), so the root logger's path redaction, which costs
    // about two thirds of a line's CPU, is switched off for this child. test/observability checks that
    // no secret sent in a request reaches any log line.
    this.#log = deps.log.child({ log: 'access' }, { redact: [] })
    this.#random = deps.random ?? Math.random
  }

  /** Applies new settings (on reload). */
  configure(options: AccessLogOptions): void {
    this.#options = options
  }

  /** The `onExchangeEnd` hook. */
  readonly record = (s: ExchangeSummary): void => {
    const options = this.#options
    if (!options.enabled) return
    const isFailure = s.code !== undefined || s.status >= 500
    if (!isFailure && options.sampleSuccessRatio < 1 && this.#random() >= options.sampleSuccessRatio) return
    // Redacted before they are cut, so a cut can never expose part of a credential's value. The raw target
    // is the same string as the normalised one in the common case: redact and bound it once.
    const path = s.path === undefined ? undefined : redactQuery(s.path)
    const rawPath = s.rawPath === s.path ? path : redactQuery(s.rawPath)
    let truncated: string[] | undefined
    const host = s.host
    if (host !== undefined && host.length > MAX_LOGGED_HOST_CHARS) (truncated ??= []).push('host')
    if (rawPath !== undefined && rawPath.length > MAX_LOGGED_PATH_CHARS) (truncated ??= []).push('rawPath')
    if (path !== undefined && path.length > MAX_LOGGED_PATH_CHARS) (truncated ??= []).push('path')
    const line = {
      reqId: s.requestId,
      traceId: traceIdOf(s.traceparent),
      clientIp: s.clientAddress,
      httpVersion: s.httpVersion,
      method: s.method,
      host: truncated === undefined ? host : cut(host, MAX_LOGGED_HOST_CHARS),
      rawPath: truncated === undefined ? rawPath : cut(rawPath, MAX_LOGGED_PATH_CHARS),
      path: truncated === undefined ? path : cut(path, MAX_LOGGED_PATH_CHARS),
      // Names the fields above that were cut to their bound (absent when none was).
      truncated,
      route: s.routeId,
      backend: s.backendId,
      status: s.status,
      code: s.code,
      attempts: s.attempts,
      // Each attempt (backend, phase, outcome, duration, retry verdict) when there was more than a clean one.
      attemptLog: s.attemptLog,
      bytesIn: s.bytesIn,
      bytesOut: s.bytesOut,
      durationMs: round(s.durationMs),
      ttfbMs: s.ttfbMs === undefined ? undefined : round(s.ttfbMs),
      configVersion: s.configVersion,
    }
    if (s.status >= 500) this.#log.warn(line, 'request')
    else this.#log.info(line, 'request')
  }
}

function cut(value: string | undefined, max: number): string | undefined {
  return value === undefined || value.length <= max ? value : value.slice(0, max)
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000
}
