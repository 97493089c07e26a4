import { test } from 'node:test'
import assert from 'node:assert/strict'
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
