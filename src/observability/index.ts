export { createRootLogger, REDACT_PATHS, type LoggerOptions } from './logger.ts'
