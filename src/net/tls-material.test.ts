import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeSelfSignedCert, type TestCert } from '../../test/helpers/tls.ts'
import { MODERN_CIPHERS } from '../config/index.ts'
import { isGatewayError } from '../errors/index.ts'
import { bindError } from './bind-error.ts'
import { buildServerTls, loadTlsMaterial, readTlsFile } from './tls-material.ts'

function code(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(isGatewayError(err), String(err))
    return `${err.code}: ${err.message}`
  }
  return 'no error'
}

describe('TLS material (start-up, reload and validate share it)', () => {
  let a: TestCert
  let b: TestCert
  before(async () => {
    ;[a, b] = await Promise.all([makeSelfSignedCert(), makeSelfSignedCert()])
  })
  after(async () => {
    await Promise.all([a.remove(), b.remove()])
  })
  const tls = (certFile: string, keyFile: string) => ({
    certFile,
    keyFile,
    minVersion: 'TLSv1.2' as const,
    ciphers: MODERN_CIPHERS,
    certificates: [] as { certFile: string; keyFile: string; serverNames?: string[] }[],
  })

  test('a matching pair loads', () => {
    const m = loadTlsMaterial(tls(a.certFile, a.keyFile), 'listener x')
    assert.deepEqual(m.cert, a.cert)
    assert.equal(m.minVersion, 'TLSv1.2')
  })

  test('each failure names the file at fault and has its own code', () => {
    const gone = join(a.dir, 'gone.pem')
    assert.equal(
      code(() => loadTlsMaterial(tls(a.certFile, gone), 'listener x')),
      `TLS_FILE_UNREADABLE: listener x: tls.keyFile ${gone}: cannot read (ENOENT)`,
    )
    assert.match(
      code(() => loadTlsMaterial(tls(a.dir, a.keyFile), 'listener x')),
      /^TLS_FILE_UNREADABLE: .*tls\.certFile .*\(EISDIR\)/,
    )
    // certificate where the key belongs: the key is named, not the certificate
    assert.match(
      code(() => loadTlsMaterial(tls(a.certFile, a.certFile), 'listener x')),
      /^TLS_FILE_INVALID: listener x: tls\.keyFile .*: not a PEM private key/,
    )
    const garbage = join(a.dir, 'garbage.pem')
    writeFileSync(garbage, 'not pem\n')
    assert.match(
      code(() => loadTlsMaterial(tls(garbage, a.keyFile), 'listener x')),
      /^TLS_FILE_INVALID: listener x: tls\.certFile .*garbage\.pem: not a PEM certificate \(no start line\)/,
    )
    assert.match(
      code(() => loadTlsMaterial(tls(a.certFile, b.keyFile), 'listener x')),
      /^TLS_KEY_MISMATCH: listener x: tls\.keyFile .* is not the private key of tls\.certFile /,
    )
  })

  test('messages never carry key material', () => {
    const text = code(() => loadTlsMaterial(tls(a.keyFile, a.keyFile), 'listener x'))
    assert.ok(!text.includes('PRIVATE KEY') && !text.includes(b.key.toString().slice(40, 80)), text)
  })

  test('a missing CA file is TLS_FILE_UNREADABLE naming the upstream', () => {
    const ca = join(a.dir, 'no-ca.pem')
    assert.equal(
      code(() => readTlsFile(ca, 'upstream u: tls.caFile')),
      `TLS_FILE_UNREADABLE: upstream u: tls.caFile ${ca}: cannot read (ENOENT)`,
    )
  })
})

describe('SNI certificates and client CA (each failure names listener, index and file)', () => {
  let main: TestCert
  let api: TestCert // DNS:api.example.com
  let wild: TestCert // DNS:*.example.com
  let ipOnly: TestCert
  before(async () => {
    ;[main, api, wild, ipOnly] = await Promise.all([
      makeSelfSignedCert(),
      makeSelfSignedCert({ dns: ['api.example.com'] }),
      makeSelfSignedCert({ dns: ['*.example.com'] }),
      makeSelfSignedCert(),
    ])
  })
  after(async () => {
    await Promise.all([main, api, wild, ipOnly].map((c) => c.remove()))
  })
  const base = () => ({
    certFile: main.certFile,
    keyFile: main.keyFile,
    minVersion: 'TLSv1.2' as const,
    ciphers: MODERN_CIPHERS,
  })

  test('names default to the certificate DNS SANs; given names must be covered (wildcards one label)', () => {
    const m = loadTlsMaterial(
      {
        ...base(),
        certificates: [
          { certFile: api.certFile, keyFile: api.keyFile },
          {
            certFile: wild.certFile,
            keyFile: wild.keyFile,
            serverNames: ['*.example.com', 'www.example.com'],
          },
        ],
      },
      'listener x',
    )
    assert.deepEqual(
      m.certificates.map((c) => c.serverNames),
      [['api.example.com'], ['*.example.com', 'www.example.com']],
    )
    assert.equal(
      code(() =>
        loadTlsMaterial(
          {
            ...base(),
            certificates: [
              { certFile: api.certFile, keyFile: api.keyFile },
              { certFile: wild.certFile, keyFile: wild.keyFile, serverNames: ['a.b.example.com'] },
            ],
          },
          'listener x',
        ),
      ),
      `TLS_NAME_NOT_COVERED: listener x: tls.certificates[1].serverNames[0] "a.b.example.com" is not covered by certFile ${wild.certFile} (its DNS names: *.example.com)`,
    )
    // a wildcard name needs a wildcard certificate: one exact SAN does not cover every label
    assert.match(
      code(() =>
        loadTlsMaterial(
          {
            ...base(),
            certificates: [{ certFile: api.certFile, keyFile: api.keyFile, serverNames: ['*.example.com'] }],
          },
          'listener x',
        ),
      ),
      /^TLS_NAME_NOT_COVERED: listener x: tls\.certificates\[0\]\.serverNames\[0\] "\*\.example\.com"/,
    )
  })

  test('a mismatched or unreadable SNI pair names its index and file', () => {
    assert.equal(
      code(() =>
        loadTlsMaterial(
          { ...base(), certificates: [{ certFile: api.certFile, keyFile: wild.keyFile }] },
          'listener x',
        ),
      ),
      `TLS_KEY_MISMATCH: listener x: tls.certificates[0].keyFile ${wild.keyFile} is not the private key of tls.certificates[0].certFile ${api.certFile}`,
    )
    const gone = join(api.dir, 'gone.pem')
    assert.equal(
      code(() =>
        loadTlsMaterial(
          { ...base(), certificates: [{ certFile: gone, keyFile: api.keyFile }] },
          'listener x',
        ),
      ),
      `TLS_FILE_UNREADABLE: listener x: tls.certificates[0].certFile ${gone}: cannot read (ENOENT)`,
    )
  })

  test('the client CA file must exist and be PEM; the mode decides requestCert/rejectUnauthorized', () => {
    const gone = join(main.dir, 'no-ca.pem')
    assert.equal(
      code(() =>
        loadTlsMaterial(
          { ...base(), certificates: [], clientAuth: { caFile: gone, mode: 'require' } },
          'listener x',
        ),
      ),
      `TLS_FILE_UNREADABLE: listener x: tls.clientAuth.caFile ${gone}: cannot read (ENOENT)`,
    )
    assert.match(
      code(() =>
        loadTlsMaterial(
          { ...base(), certificates: [], clientAuth: { caFile: main.keyFile, mode: 'require' } },
          'listener x',
        ),
      ),
      /^TLS_FILE_INVALID: listener x: tls\.clientAuth\.caFile .*: not a PEM certificate bundle/,
    )
    const state = (mode: 'require' | 'request' | undefined) =>
      buildServerTls(
        loadTlsMaterial(
          {
            ...base(),
            certificates: [],
            ...(mode === undefined ? {} : { clientAuth: { caFile: main.certFile, mode } }),
          },
          'listener x',
        ),
        'x',
      )
    assert.deepEqual([state(undefined).requestCert, state(undefined).rejectUnauthorized], [false, true])
    assert.deepEqual([state('require').requestCert, state('require').rejectUnauthorized], [true, true])
    assert.deepEqual([state('request').requestCert, state('request').rejectUnauthorized], [true, false])
  })
})

describe('bind errors', () => {
  const err = (code: string) => Object.assign(new Error(`listen ${code}`), { code })
  test('each address problem has its own code and a one-line message with listener and address', () => {
    const inUse = bindError(err('EADDRINUSE'), 'listener public', '::1', 8080)
    assert.ok(isGatewayError(inUse))
    assert.equal(inUse.code, 'LISTEN_ADDRESS_IN_USE')
    assert.equal(
      inUse.message,
      'listener public: cannot bind [::1]:8080: address already in use (another process listens there)',
    )
    assert.equal(
      (bindError(err('EADDRNOTAVAIL'), 'l', '10.9.9.9', 1) as { code: string }).code,
      'LISTEN_ADDRESS_UNAVAILABLE',
    )
    assert.equal(
      (bindError(err('ENOTFOUND'), 'l', 'nope.invalid', 1) as { code: string }).code,
      'LISTEN_ADDRESS_UNAVAILABLE',
    )
    assert.equal(
      (bindError(err('EACCES'), 'admin listener', '0.0.0.0', 80) as { code: string }).code,
      'LISTEN_PERMISSION_DENIED',
    )
  })

  test('anything else comes back unchanged (a bug, reported as INTERNAL_ERROR)', () => {
    const other = err('EMFILE')
    assert.equal(bindError(other, 'l', 'h', 1), other)
  })
})
