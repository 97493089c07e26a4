import { createHash, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext, type SecureContext } from 'node:tls'
import type { ListenerConfig } from '../config/index.ts'
import { GatewayError } from '../errors/index.ts'
import { createSniTable, dnsNamesOf, isServerNameCovered, type SniTable } from './sni.ts'

type ListenerTls = NonNullable<ListenerConfig['tls']>

/** One SNI certificate: its chain and key, and the names it answers (given, or its DNS SANs). */
export interface SniCertificate {
  readonly cert: Buffer
  readonly key: Buffer
  readonly serverNames: readonly string[]
}

/**
 * A listener's TLS material, read and checked: the default certificate chain and key (they parse and the
 * key matches), the SNI certificates (each pair checked, each name covered by its certificate), the client
 * CA bundle, and the protocol settings from config.
 */
export interface TlsMaterial {
  readonly cert: Buffer
  readonly key: Buffer
  readonly minVersion: ListenerTls['minVersion']
  readonly ciphers: string
  readonly certificates: readonly SniCertificate[]
  readonly clientAuth?: { readonly ca: Buffer; readonly mode: 'require' | 'request' }
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
 * Loads a listener's TLS material the one way litgate does it: at start (`startListener`), on reload, and
 * in `litgate validate`. Each file is read and parsed on its own first, so the error names the file at
 * fault; then each pair together, which is where OpenSSL finds a key that is not the certificate's. Throws
 * a GatewayError: TLS_FILE_UNREADABLE, TLS_FILE_INVALID, TLS_KEY_MISMATCH or TLS_NAME_NOT_COVERED, with
 * `where` (e.g. `listener public`) and the field (`tls.certificates[1].keyFile`) in the message. Messages
 * carry OpenSSL's reason, never key material.
 */
export function loadTlsMaterial(tls: ListenerTls, where: string): TlsMaterial {
  const main = loadPair(tls.certFile, tls.keyFile, `${where}: tls.`)
  const certificates = tls.certificates.map((c, i): SniCertificate => {
    const field = `${where}: tls.certificates[${i}].`
    const pair = loadPair(c.certFile, c.keyFile, field)
    const sans = dnsNamesOf(leafOf(pair.cert).subjectAltName)
    const serverNames = c.serverNames ?? sans
    if (serverNames.length === 0)
      throw new GatewayError(
        'TLS_NAME_NOT_COVERED',
        `${field}certFile ${c.certFile} has no DNS subjectAltName: list its names in ${field.slice(where.length + 2)}serverNames`,
      )
    serverNames.forEach((name, n) => {
      if (!isServerNameCovered(name, sans))
        throw new GatewayError(
          'TLS_NAME_NOT_COVERED',
          `${field}serverNames[${n}] "${name}" is not covered by certFile ${c.certFile} (its DNS names: ${sans.join(', ') || 'none'})`,
        )
    })
    return { ...pair, serverNames }
  })
  const material = {
    ...main,
    minVersion: tls.minVersion,
    ciphers: tls.ciphers,
    certificates,
  }
  if (tls.clientAuth === undefined) return material
  const what = `${where}: tls.clientAuth.caFile`
  const ca = readTlsFile(tls.clientAuth.caFile, what)
  checkPem(() => new X509Certificate(ca), `${what} ${tls.clientAuth.caFile}`, 'a PEM certificate bundle')
  return { ...material, clientAuth: { ca, mode: tls.clientAuth.mode } }
}

function loadPair(certFile: string, keyFile: string, field: string): { cert: Buffer; key: Buffer } {
  const cert = readTlsFile(certFile, `${field}certFile`)
  const key = readTlsFile(keyFile, `${field}keyFile`)
  checkPem(() => createSecureContext({ cert }), `${field}certFile ${certFile}`, 'a PEM certificate')
  checkPem(() => leafOf(cert), `${field}certFile ${certFile}`, 'a PEM certificate')
  checkPem(() => createSecureContext({ key }), `${field}keyFile ${keyFile}`, 'a PEM private key')
  try {
    createSecureContext({ cert, key })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH') {
      throw new GatewayError(
        'TLS_KEY_MISMATCH',
        `${field}keyFile ${keyFile} is not the private key of ${field.slice(field.indexOf(': ') + 2)}certFile ${certFile}`,
        { cause: err },
      )
    }
    throw new GatewayError(
      'TLS_FILE_INVALID',
      `${field.slice(0, -1)}: certificate/key rejected (${opensslReason(err)})`,
      { cause: err },
    )
  }
  return { cert, key }
}

/** The first certificate of a PEM chain (the one the key belongs to and the SAN is read from). */
function leafOf(chain: Buffer): X509Certificate {
  return new X509Certificate(chain)
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

/** Options every context of a listener shares: protocol floor, ciphers, client CA, session id context. */
function contextOptions(m: TlsMaterial, sessionIdContext: string) {
  return {
    minVersion: m.minVersion,
    ciphers: m.ciphers,
    // Server preference: the client's order would let it pick the weakest suite both allow.
    honorCipherOrder: true,
    // Every context: OpenSSL verifies a client certificate against the store of the context SNI chose.
    ...(m.clientAuth === undefined ? {} : { ca: m.clientAuth.ca }),
    sessionIdContext,
  }
}

/** The server's TLS state for one material: options for `setSecureContext` and the SNI table. */
export interface ServerTlsState {
  /** For tls.Server construction and `setSecureContext` (the default certificate). */
  readonly options: ReturnType<typeof contextOptions> & { cert: Buffer; key: Buffer }
  readonly requestCert: boolean
  readonly rejectUnauthorized: boolean
  readonly sni: SniTable<SecureContext>
}

/**
 * Builds every secure context of a listener up front (so a reload either has all of them or throws before
 * anything is installed). `listenerName` seeds the session id context (stable across reloads and
 * processes, required by OpenSSL for session resumption with client certificates).
 */
export function buildServerTls(m: TlsMaterial, listenerName: string): ServerTlsState {
  const sessionIdContext = createHash('sha256').update(`litgate:${listenerName}`).digest('hex').slice(0, 32)
  const shared = contextOptions(m, sessionIdContext)
  const sni = createSniTable(
    m.certificates.map((c) => ({
      serverNames: c.serverNames,
      value: createSecureContext({ ...shared, cert: c.cert, key: c.key }),
    })),
  )
  return {
    options: { ...shared, cert: m.cert, key: m.key },
    requestCert: m.clientAuth !== undefined,
    rejectUnauthorized: m.clientAuth?.mode !== 'request',
    sni,
  }
}
