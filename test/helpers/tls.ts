import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface TestCert {
  readonly dir: string
  readonly certFile: string
  readonly keyFile: string
  readonly cert: Buffer
  readonly key: Buffer
  /** Removes the temporary directory (key material never outlives the test). */
  remove(): Promise<void>
}

/**
 * A throw-away self-signed P-256 certificate, made by the `openssl` CLI into a fresh temporary directory
 * (no key material is committed to the repository). Default: CN and SAN `localhost` / 127.0.0.1; `dns`
 * replaces the DNS names (the first is also the CN).
 */
export async function makeSelfSignedCert(options: { dns?: readonly string[] } = {}): Promise<TestCert> {
  const dir = await mkdtemp(join(tmpdir(), 'litgate-tls-'))
  const certFile = join(dir, 'cert.pem')
  const keyFile = join(dir, 'key.pem')
  const dns = options.dns ?? ['localhost']
  const san = [...dns.map((d) => `DNS:${d}`), ...(options.dns === undefined ? ['IP:127.0.0.1'] : [])]
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${dns[0] ?? 'localhost'}`,
    '-addext',
    `subjectAltName=${san.join(',')}`,
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ])
  return {
    dir,
    certFile,
    keyFile,
    cert: await readFile(certFile),
    key: await readFile(keyFile),
    remove: () => rm(dir, { recursive: true, force: true }),
  }
}

/** A throw-away CA (self-signed, CA:TRUE) and client certificates it issues, for mutual-TLS tests. */
export interface TestCa extends TestCert {
  /** A client certificate (extendedKeyUsage clientAuth) signed by this CA, in the CA's directory. */
  issueClient(name: string): Promise<{ cert: Buffer; key: Buffer }>
}

export async function makeTestCa(): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), 'litgate-ca-'))
  const certFile = join(dir, 'ca.pem')
  const keyFile = join(dir, 'ca-key.pem')
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-days',
    '1',
    '-subj',
    '/CN=litgate test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ])
  const extFile = join(dir, 'client.ext')
  await writeFile(extFile, 'extendedKeyUsage=clientAuth\n')
  return {
    dir,
    certFile,
    keyFile,
    cert: await readFile(certFile),
    key: await readFile(keyFile),
    remove: () => rm(dir, { recursive: true, force: true }),
    issueClient: async (name) => {
      const key = join(dir, `${name}-key.pem`)
      const csr = join(dir, `${name}.csr`)
      const cert = join(dir, `${name}.pem`)
      await run('openssl', ['req', ...ec, '-subj', `/CN=${name}`, '-keyout', key, '-out', csr])
      await run('openssl', [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        certFile,
        '-CAkey',
        keyFile,
        '-CAcreateserial',
        '-days',
        '1',
        '-extfile',
        extFile,
        '-out',
        cert,
      ])
      return { cert: await readFile(cert), key: await readFile(key) }
    },
  }
}
