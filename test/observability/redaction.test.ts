// End to end: every query parameter name docs/operations/observability.md promises to redact is redacted in
// the access log of a gateway wired like main.ts (unit level: src/observability/redact.test.ts).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { send } from '../helpers/client.ts'
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts'
import { startOperated, type OperatedGateway } from './support.ts'

let up: TestUpstream
let gw: OperatedGateway
before(async () => {
  up = await startUpstream()
  gw = await startOperated({
    upstreams: [{ id: 'ok', backends: [{ url: up.url }] }],
    routes: [{ id: 'api', match: { path: { prefix: '/api' } }, upstream: 'ok' }],
  })
})
after(async () => {
  await gw.stop()
  await up.close()
})

function documentedNames(): string[] {
  const doc = readFileSync(new URL('../../docs/operations/observability.md', import.meta.url), 'utf8')
  const row = doc.split('\n').find((line) => /^\| `path` +\|/.test(line))
  assert.ok(row, 'the path row of the access-log table')
  return [...row.matchAll(/`([^`]+)`/g)].map((m) => m[1]!).filter((n) => /^[a-z]+$/.test(n) && n !== 'path')
}

test('every documented secret-like query parameter is redacted in the access log, on a 200 and a 404', async () => {
  const names = documentedNames()
  assert.ok(names.length >= 10, names.join(', '))
  // `code` is redacted only as the exact name; the others also inside longer names.
  const params = names.map(
    (name, i) => [name === 'code' ? name : `x_${name}`, `sEcReT-${i}-${name}-v`] as const,
  )
  const query = params.map(([n, v]) => `${n}=${v}`).join('&') + '&page=2'
  assert.equal((await send(`${gw.url}/api/items?${query}`)).status, 200)
  assert.equal((await send(`${gw.url}/missing?${query}`)).status, 404)
  const all = gw.lines.join('\n')
  for (const [name, secret] of params) {
    assert.ok(!all.includes(secret), `${name}'s value leaked into the logs`)
    assert.ok(all.includes(`${name}=[redacted]`), `${name} is logged as redacted`)
  }
  assert.ok(all.includes('page=2'), 'harmless parameters are kept')
})
