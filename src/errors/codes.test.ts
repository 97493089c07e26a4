import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { ERROR_CODES, GatewayError, buildProblem, type ErrorCode } from './index.ts'

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')

function documentedRows(): Map<string, { status: number; source: string; retryable: boolean }> {
  const rows = new Map<string, { status: number; source: string; retryable: boolean }>()
  for (const line of doc.split('\n')) {
    const m = /^\| `([A-Z0-9_]+)` \| (\d{3}) \| (\w+) \| (yes|no) \|/.exec(line)
    if (m) rows.set(m[1] as string, { status: Number(m[2]), source: m[3] as string, retryable: m[4] === 'yes' })
  }
  return rows
}

test('docs/errors.md documents every error code with its status, source and retryability', () => {
  const rows = documentedRows()
  for (const [code, spec] of Object.entries(ERROR_CODES)) {
    const row = rows.get(code)
    assert.ok(row, `${code} is missing from docs/errors.md`)
    assert.equal(row.status, spec.status, `${code} status`)
    assert.equal(row.source, spec.source, `${code} source`)
    assert.equal(row.retryable, spec.isRetryable, `${code} retryable`)
  }
})

test('docs/errors.md documents no code that does not exist', () => {
  for (const code of documentedRows().keys()) assert.ok(code in ERROR_CODES, `${code} is documented but not defined`)
})

test('a GatewayError carries the code, status and source of its spec', () => {
  const err = new GatewayError('UPSTREAM_QUEUE_FULL')
  assert.equal(err.code, 'UPSTREAM_QUEUE_FULL')
  assert.equal(err.status, 503)
  assert.equal(err.source, 'upstream')
  assert.equal(err.isRetryable, false)
  assert.equal(new GatewayError('UPSTREAM_RESET', undefined, { isRetryable: true }).isRetryable, true)
})

test('problem documents are RFC 9457 shaped and carry code and request id', () => {
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    const p = buildProblem(code, 'req-1')
    assert.equal(p.status, ERROR_CODES[code].status)
    assert.equal(p.code, code)
    assert.equal(p.requestId, 'req-1')
    assert.match(p.type, /^https:\/\/litgate\.dev\/errors#[a-z0-9-]+$/)
  }
})
