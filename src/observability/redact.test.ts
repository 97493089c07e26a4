import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { redactQuery } from './redact.ts'

test('a path without a query is returned as it is', () => {
  const p = '/v1/users/42'
  assert.equal(redactQuery(p), p)
})

test('credential-like query parameters are redacted, others kept', () => {
  assert.equal(
    redactQuery('/cb?access_token=abc&page=2&api_key=k1&X-Amz-Signature=s&code=c0de&sessionid=z'),
    '/cb?access_token=[redacted]&page=2&api_key=[redacted]&X-Amz-Signature=[redacted]&code=[redacted]&sessionid=[redacted]',
  )
})

test('names are matched case-insensitively and percent-decoded', () => {
  assert.equal(redactQuery('/x?Api%5FKey=v&TOKEN=t'), '/x?Api%5FKey=[redacted]&TOKEN=[redacted]')
})

test('a malformed percent-encoding in a name does not throw', () => {
  assert.equal(redactQuery('/x?%E0%A4%A=1&password=p'), '/x?%E0%A4%A=1&password=[redacted]')
})

/** The names docs/operations/observability.md promises to redact (the back-quoted words of the `path` row). */
function documentedNames(): string[] {
  const doc = readFileSync(new URL('../../docs/operations/observability.md', import.meta.url), 'utf8')
  const row = doc.split('\n').find((line) => /^\| `path` +\|/.test(line))
  assert.ok(row, 'the path row of the access-log table')
  const names = [...row.matchAll(/`([^`]+)`/g)]
    .map((m) => m[1]!)
    .filter((n) => /^[a-z]+$/.test(n) && n !== 'path')
  assert.ok(names.length >= 10, `documented names: ${names.join(', ')}`)
  return names
}

test('every documented credential-like name is redacted, alone and inside a longer name, in any case', () => {
  for (const name of documentedNames()) {
    const variants =
      name === 'code' ? [name, name.toUpperCase()] : [name, name.toUpperCase(), `x_${name}_id`, `my${name}`]
    for (const v of variants) {
      assert.equal(redactQuery(`/p?a=1&${v}=s3cr3t&b=2`), `/p?a=1&${v}=[redacted]&b=2`, v)
    }
  }
})

test('names seen in the wild are redacted (OAuth, cloud presigned URLs, sessions)', () => {
  for (const name of [
    'access_token',
    'id_token',
    'refresh_token',
    'api_key',
    'apikey',
    'client_secret',
    'password',
    'passwd',
    'pwd',
    'authorization',
    'sig',
    'signature',
    'X-Amz-Signature',
    'X-Amz-Credential',
    'X-Amz-Security-Token',
    'X-Goog-Signature',
    'sessionid',
    'JSESSIONID',
    'code',
    'jwt',
    'cookie',
    'credential',
  ]) {
    assert.equal(redactQuery(`/cb?${name}=v`), `/cb?${name}=[redacted]`, name)
  }
})

test('only the exact name code is a secret, not names that contain it; harmless names are kept', () => {
  assert.equal(redactQuery('/x?zipcode=1&country_code=2&codec=3'), '/x?zipcode=1&country_code=2&codec=3')
  assert.equal(redactQuery('/x?page=2&sort=asc&q=hello'), '/x?page=2&sort=asc&q=hello')
})

test('a name without a value is kept as is; every occurrence of a repeated name is redacted', () => {
  assert.equal(redactQuery('/x?token&a=1'), '/x?token&a=1')
  assert.equal(redactQuery('/x?token=a&token=b'), '/x?token=[redacted]&token=[redacted]')
  assert.equal(redactQuery('/x?my+token=a'), '/x?my+token=[redacted]')
})

test('a path without a query is never rewritten, even when it looks like a parameter', () => {
  assert.equal(redactQuery('/files/token=abc'), '/files/token=abc')
  assert.equal(redactQuery('/a&password=b'), '/a&password=b')
})

test('a malformed percent-encoding does not hide a credential-like name', () => {
  assert.equal(redactQuery('/x?%E0%A4%Atoken=1&ok=2'), '/x?%E0%A4%Atoken=[redacted]&ok=2')
})
