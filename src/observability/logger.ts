import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino'

/**
 * Paths pino censors in every log line: credentials and tokens can arrive in request headers, and
 * secrets are never logged on purpose, but a mistake must not leak them either.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["proxy-authorization"]',
  'headers["x-api-key"]',
  'headers["set-cookie"]',
  'apiKey',
  '*.apiKey',
  'authorization',
  'cookie',
  'token',
  'accessToken',
  'refreshToken',
  'privateKey',
  'mnemonic',
  'password',
  'secret',
  'signature',
  '*.token',
  '*.privateKey',
  '*.mnemonic',
  '*.password',
  '*.secret',
  '*.signature',
]

export interface LoggerOptions {
  readonly level?: LevelWithSilent
  /** Where lines go (default: stdout, asynchronously flushed). */
  readonly destination?: DestinationStream
}

/** Creates the one root logger; subsystems get children. Only main.ts calls this. */
export function createRootLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'litgate' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  )
}
