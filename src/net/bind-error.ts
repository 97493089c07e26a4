import { GatewayError } from '../errors/index.ts'

/**
 * Turns a failed `listen()` into a start-up error with its own code and a one-line message naming the
 * listener and the address (`what` is e.g. `listener public` or `admin listener`). Errors that are not
 * about the address come back unchanged: they are bugs, reported as INTERNAL_ERROR by the caller.
 */
export function bindError(err: unknown, what: string, host: string, port: number): unknown {
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`
  const code = (err as NodeJS.ErrnoException).code
  switch (code) {
    case 'EADDRINUSE':
      return new GatewayError(
        'LISTEN_ADDRESS_IN_USE',
        `${what}: cannot bind ${address}: address already in use (another process listens there)`,
        { cause: err },
      )
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new GatewayError(
        'LISTEN_ADDRESS_UNAVAILABLE',
        `${what}: cannot bind ${address}: no such address on this host (${code})`,
        { cause: err },
      )
    case 'EACCES':
    case 'EPERM':
      return new GatewayError(
        'LISTEN_PERMISSION_DENIED',
        `${what}: cannot bind ${address}: permission denied (${code}; ports below 1024 need privileges)`,
        { cause: err },
      )
    default:
      return err
  }
}
