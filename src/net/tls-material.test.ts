import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeSelfSignedCert, type TestCert } from '../../test/helpers/tls.ts'
import { isGatewayError } from '../errors/index.ts'
import { bindError } from './bind-error.ts'
import { loadTlsMaterial, readTlsFile } from './tls-material.ts'

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
  const tls = (certFile: string, keyFile: string) => ({ certFile, keyFile, minVersion: 'TLSv1.2' as const })

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
