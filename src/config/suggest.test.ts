import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { configSchema } from './schema.ts'
import { allowedKeysAt, editDistance, suggestKey, unknownKeyMessage } from './suggest.ts'
import { formatIssue, parseConfig } from './index.ts'

const BASE = `
version: 1
listeners: [{ name: main, port: 8080 }]
upstreams: [{ id: api, backends: [{ url: "http://127.0.0.1:9001" }] }]
routes: [{ id: all, match: { path: { prefix: / } }, upstream: api }]
`

function messages(text: string): string[] {
  const r = parseConfig(text)
  assert.equal(r.ok, false, 'expected the config to be rejected')
  return r.ok ? [] : r.issues.map(formatIssue)
}

describe('did you mean', () => {
  test('edit distance counts insertions, deletions, substitutions and neighbour swaps as one, ignoring case', () => {
    assert.equal(editDistance('weight', 'weight'), 0)
    assert.equal(editDistance('wieght', 'weight'), 1)
    assert.equal(editDistance('htp2', 'http2'), 1)
    assert.equal(editDistance('listners', 'listeners'), 1)
    assert.equal(editDistance('shutdownTimeoutMS', 'shutdownTimeoutMs'), 0)
    assert.equal(editDistance('abc', ''), 3)
    assert.equal(editDistance('kitten', 'sitting'), 3)
  })

  test('suggests the closest key only when it is close enough to be a typo', () => {
    assert.equal(suggestKey('balancer', ['id', 'balancing', 'protocol']), 'balancing')
    assert.equal(suggestKey('wieght', ['url', 'weight', 'maxConnections']), 'weight')
    assert.equal(suggestKey('colour', ['url', 'weight']), undefined)
    assert.equal(suggestKey('x', ['id']), undefined)
  })

  test('allowed keys come from the schema at the issue path, through arrays, defaults and unions', () => {
    assert.deepEqual(allowedKeysAt(configSchema, ['upstreams', 0, 'backends', 3]), [
      'url',
      'weight',
      'maxConnections',
    ])
    assert.ok(allowedKeysAt(configSchema, [])?.includes('listeners'))
    assert.ok(allowedKeysAt(configSchema, ['server'])?.includes('shutdownTimeoutMs'))
    assert.deepEqual(allowedKeysAt(configSchema, ['routes', 0, 'match', 'path']), ['exact', 'prefix'])
    assert.equal(allowedKeysAt(configSchema, ['listeners', 0, 'port']), undefined)
    assert.match(unknownKeyMessage('zzz', ['a', 'b']), /unknown key "zzz" \(allowed: a, b\)/)
  })

  test('an unknown key anywhere gets "did you mean" with the allowed key at that path', () => {
    const out = messages(
      BASE.replace('port: 8080', 'port: 8080, htp2: true')
        .replace('listeners:', 'listners: []\nlisteners:')
        .replace('url: "http://127.0.0.1:9001"', 'url: "http://127.0.0.1:9001", wieght: 2')
        .replace('prefix: /', 'prefx: /') + 'server: { shutdownTimeoutMS: 5 }\n',
    )
    assert.ok(out.includes('error: listeners[0]: unknown key "htp2"; did you mean "http2"?'), out.join('\n'))
    assert.ok(
      out.includes('error: (root): unknown key "listners"; did you mean "listeners"?'),
      out.join('\n'),
    )
    assert.ok(
      out.includes('error: upstreams[0].backends[0]: unknown key "wieght"; did you mean "weight"?'),
      out.join('\n'),
    )
    // Inside a union (`{ exact } | { prefix }`): the key, not "Invalid input".
    assert.ok(
      out.includes('error: routes[0].match.path: unknown key "prefx"; did you mean "prefix"?'),
      out.join('\n'),
    )
    assert.ok(
      out.includes('error: server: unknown key "shutdownTimeoutMS"; did you mean "shutdownTimeoutMs"?'),
    )
  })

  test('an unknown key with no close match lists the allowed keys', () => {
    const out = messages(
      BASE.replace('url: "http://127.0.0.1:9001"', 'url: "http://127.0.0.1:9001", colour: red'),
    )
    assert.ok(
      out.includes(
        'error: upstreams[0].backends[0]: unknown key "colour" (allowed: url, weight, maxConnections)',
      ),
      out.join('\n'),
    )
  })
})
