import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  addSecurityHeadersToProxied,
  compileSecurityHeaders,
  DEFAULT_SECURITY_HEADERS,
} from './security-headers.ts'

describe('security headers', () => {
  it('nosniff always, HSTS only for TLS and only when configured', () => {
    assert.deepEqual(DEFAULT_SECURITY_HEADERS.cleartext, { 'x-content-type-options': 'nosniff' })
    assert.deepEqual(DEFAULT_SECURITY_HEADERS.tls, { 'x-content-type-options': 'nosniff' })
    assert.equal(DEFAULT_SECURITY_HEADERS.hstsLine, '')
    const s = compileSecurityHeaders({
      hsts: { maxAgeSeconds: 31536000, includeSubDomains: true, preload: true },
      proxiedResponses: false,
    })
    assert.deepEqual(s.cleartext, { 'x-content-type-options': 'nosniff' })
    assert.deepEqual(s.tls, {
      'x-content-type-options': 'nosniff',
      'strict-transport-security': 'max-age=31536000; includeSubDomains; preload',
    })
    assert.equal(s.hstsLine, 'strict-transport-security: max-age=31536000; includeSubDomains; preload\r\n')
    assert.equal(s.cleartextLines, 'x-content-type-options: nosniff\r\n')
    assert.equal(
      s.tlsLines,
      'x-content-type-options: nosniff\r\nstrict-transport-security: max-age=31536000; includeSubDomains; preload\r\n',
    )
    assert.equal(
      compileSecurityHeaders({
        hsts: { maxAgeSeconds: 0, includeSubDomains: false, preload: false },
        proxiedResponses: false,
      }).hsts,
      'max-age=0',
    )
  })

  it('proxied responses are left alone unless proxiedResponses is set', () => {
    const flat = ['content-type', 'text/html']
    addSecurityHeadersToProxied(flat, DEFAULT_SECURITY_HEADERS, true)
    assert.deepEqual(flat, ['content-type', 'text/html'])
  })

  it('with proxiedResponses, each field is added only when the backend did not send it', () => {
    const s = compileSecurityHeaders({
      hsts: { maxAgeSeconds: 600, includeSubDomains: false, preload: false },
      proxiedResponses: true,
    })
    const plain = ['content-type', 'text/html']
    addSecurityHeadersToProxied(plain, s, false)
    assert.deepEqual(plain, ['content-type', 'text/html', 'x-content-type-options', 'nosniff'])
    const tls = ['x-content-type-options', 'nosniff', 'strict-transport-security', 'max-age=1']
    addSecurityHeadersToProxied(tls, s, true)
    assert.deepEqual(tls, ['x-content-type-options', 'nosniff', 'strict-transport-security', 'max-age=1'])
    const tlsBare: string[] = []
    addSecurityHeadersToProxied(tlsBare, s, true)
    assert.deepEqual(tlsBare, [
      'x-content-type-options',
      'nosniff',
      'strict-transport-security',
      'max-age=600',
    ])
  })
})
