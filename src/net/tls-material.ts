import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import type { ListenerConfig } from '../config/index.ts'
import { GatewayError } from '../errors/index.ts'

type ListenerTls = NonNullable<ListenerConfig['tls']>

/** A listener's certificate chain and key, read and checked (they parse, and the key matches). */
export interface TlsMaterial {
  readonly cert: Buffer
  readonly key: Buffer
  readonly minVersion: ListenerTls['minVersion']
}

/**
 * Reads one TLS file (certificate, key or CA bundle). Throws TLS_FILE_UNREADABLE naming `what`, the path
 * and the errno code (ENOENT, EACCES, EISDIR): never the file's content.
 */
export function readTlsFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? 'EIO'
    throw new GatewayError('TLS_FILE_UNREADABLE', `${what} ${path}: cannot read (${reason})`, { cause: err })
  }
}

/**
 * Loads a listener's certificate and key the one way litgate does it: at start (`startListener`), on
 * reload, and in `litgate validate`. Each file is read and parsed on its own first, so the error names
 * the file at fault; then both together, which is where OpenSSL finds a key that is not the
 * certificate's. Throws a GatewayError: TLS_FILE_UNREADABLE, TLS_FILE_INVALID or TLS_KEY_MISMATCH, with
 * `where` (e.g. `listener public`) in the message. Messages carry OpenSSL's reason, never key material.
 */
export function loadTlsMaterial(tls: ListenerTls, where: string): TlsMaterial {
  const cert = readTlsFile(tls.certFile, `${where}: tls.certFile`)
  const key = readTlsFile(tls.keyFile, `${where}: tls.keyFile`)
  checkPem(() => createSecureContext({ cert }), `${where}: tls.certFile ${tls.certFile}`, 'a PEM certificate')
  checkPem(() => createSecureContext({ key }), `${where}: tls.keyFile ${tls.keyFile}`, 'a PEM private key')
  try {
    createSecureContext({ cert, key, minVersion: tls.minVersion })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH') {
      throw new GatewayError(
        'TLS_KEY_MISMATCH',
        `${where}: tls.keyFile ${tls.keyFile} is not the private key of tls.certFile ${tls.certFile}`,
        { cause: err },
      )
    }
    throw new GatewayError('TLS_FILE_INVALID', `${where}: certificate/key rejected (${opensslReason(err)})`, {
      cause: err,
    })
  }
  return { cert, key, minVersion: tls.minVersion }
}

function checkPem(build: () => unknown, what: string, expected: string): void {
  try {
    build()
  } catch (err) {
    throw new GatewayError('TLS_FILE_INVALID', `${what}: not ${expected} (${opensslReason(err)})`, {
      cause: err,
    })
  }
}

/** `error:0480006C:PEM routines::no start line` → `no start line`. */
function opensslReason(err: unknown): string {
  const message = (err as Error).message
  const parts = message.split(':')
  return parts.length >= 5 ? parts.slice(4).join(':').trim() : message
}
