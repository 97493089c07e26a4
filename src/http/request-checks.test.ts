import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { scanRequestHead } from './headers.ts'
import { checkRequestHead, splitAbsoluteForm } from './request-checks.ts'

const scan = (raw: string[], underscores: 'drop' | 'reject' | 'allow' = 'drop') =>
  scanRequestHead(raw, 'x-request-id', underscores)

describe('splitAbsoluteForm', () => {
  const cases: ReadonlyArray<readonly [string, ReturnType<typeof splitAbsoluteForm>]> = [
    ['/origin/form', undefined],
    ['*', undefined],
    ['ftp://a.test/x', undefined],
    ['http://a.test/x?y=1', { authority: 'a.test', target: '/x?y=1' }],
    ['HTTPS://a.test:8443', { authority: 'a.test:8443', target: '/' }],
    ['http://a.test?q', { authority: 'a.test', target: '/?q' }],
    ['http://[::1]:80/p', { authority: '[::1]:80', target: '/p' }],
    ['http:///nohost', 'invalid'],
    ['http://user:pw@a.test/', 'invalid'],
    ['http://', undefined],
  ]
  for (const [url, expected] of cases) {
    test(`${JSON.stringify(url)} → ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(splitAbsoluteForm(url), expected)
    })
  }
})

describe('checkRequestHead', () => {
  test('a plain HTTP/1.1 head passes', () => {
    assert.equal(checkRequestHead(scan(['Host', 'a.test', 'Accept', '*/*']), 1, 'drop'), undefined)
  })
  test('HTTP/0.9 (no version on the request line) is refused', () => {
    assert.equal(checkRequestHead(scan(['Host', 'a.test']), 0, 'drop'), 'INVALID_REQUEST_LINE')
  })
  test('two Host fields are refused, also when equal', () => {
    assert.equal(checkRequestHead(scan(['Host', 'a.test', 'host', 'a.test']), 1, 'drop'), 'DUPLICATE_HOST')
  })
  test('an empty Host is refused', () => {
    assert.equal(checkRequestHead(scan(['Host', '']), 1, 'drop'), 'INVALID_HOST')
  })
  test(':authority and Host must agree (case-insensitively)', () => {
    const ok = scan([':authority', 'a.test', 'host', 'A.Test'])
    assert.equal(checkRequestHead(ok, 2, 'drop'), undefined)
    const bad = scan([':authority', 'a.test', 'host', 'b.test'])
    assert.equal(checkRequestHead(bad, 2, 'drop'), 'HOST_MISMATCH')
    assert.equal(bad.host, 'a.test', ':authority is the host')
  })
  test('underscored names: dropped from the forward list, refused only under reject, kept under allow', () => {
    const raw = ['Host', 'a.test', 'X_Forwarded_For', '1.2.3.4', 'Content_Length', '5', 'X-Ok', '1']
    const dropped = scan(raw, 'drop')
    assert.deepEqual(dropped.forward, ['X-Ok', '1'])
    assert.equal(dropped.hasUnderscoreName, true)
    assert.equal(checkRequestHead(dropped, 1, 'drop'), undefined)
    assert.equal(checkRequestHead(scan(raw, 'reject'), 1, 'reject'), 'INVALID_HEADER_NAME')
    const allowed = scan(raw, 'allow')
    assert.deepEqual(allowed.forward, ['X_Forwarded_For', '1.2.3.4', 'Content_Length', '5', 'X-Ok', '1'])
    // Never mistaken for the dashed twin the gateway sets itself.
    assert.equal(allowed.xForwardedFor, undefined)
    assert.equal(allowed.contentLength, undefined)
  })
})
