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
  /** Where lines go (default: stdout, buffered; see below). */
  readonly destination?: DestinationStream
}

/** Lines are written in batches of at least this many bytes, or at the latest every FLUSH_INTERVAL_MS. */
const MIN_WRITE_BYTES = 4096
const FLUSH_INTERVAL_MS = 250

/** Creates the one root logger; subsystems get children. Only main.ts calls this. */
export function createRootLogger(options: LoggerOptions = {}): Logger {
  let destination = options.destination
  if (destination === undefined) {
    // One write(2) per line cost a quarter of the gateway's CPU under load (bench/, docs/benchmarks.md):
    // batch lines, and flush on a short timer so a quiet gateway's lines are never held back for long.
    // On a normal exit main.ts flushes; a crash can lose at most the last FLUSH_INTERVAL_MS of lines.
    const stdout = pino.destination({ dest: 1, sync: false, minLength: MIN_WRITE_BYTES })
    setInterval(() => {
      try {
        stdout.flush()
      } catch {
        // not open yet, or already closed: nothing to flush
      }
    }, FLUSH_INTERVAL_MS).unref()
    destination = stdout
  }
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'litgate' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  )
}
