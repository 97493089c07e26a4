import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { parseConfig, formatIssue, type ConfigIssue } from './index.ts'
import { configJsonSchema, configMarkdown } from './docs.ts'

const VALID = `
version: 1
listeners: [{ name: main, port: 8080 }]
upstreams:
  - id: api
    backends: [{ url: "http://127.0.0.1:9001" }, { url: "http://127.0.0.1:9002", weight: 3 }]
routes:
  - { id: v1, match: { hosts: [api.example.com], path: { prefix: /v1 } }, upstream: api }
  - { id: all, match: { path: { prefix: / } }, upstream: api }
`

function errors(text: string, format: 'yaml' | 'json' = 'yaml'): ConfigIssue[] {
  const r = parseConfig(text, format)
  assert.equal(r.ok, false, 'expected the config to be rejected')
  return r.ok ? [] : r.issues.filter((i) => i.severity === 'error')
}

describe('config parsing', () => {
  test('a valid config parses with defaults filled in and is deeply frozen', () => {
    const r = parseConfig(VALID)
    assert.ok(r.ok)
    assert.equal(r.config.server.maxConnections, 10_000)
    assert.equal(r.config.upstreams[0]?.pool.maxQueue, 1024)
    assert.equal(r.config.upstreams[0]?.backends[0]?.weight, 1)
    assert.equal(r.config.listeners[0]?.host, '127.0.0.1')
    assert.ok(Object.isFrozen(r.config))
    assert.ok(Object.isFrozen(r.config.upstreams[0]?.backends))
    assert.throws(() => {
      ;(r.config.server as { maxConnections: number }).maxConnections = 1
    })
  })

  test('an unknown key is an error naming its path', () => {
    const issues = errors(VALID.replace('id: api\n', 'id: api\n    balancer: round-robin\n'))
    assert.ok(issues.some((i) => i.path === 'upstreams[0]' && /balancer/.test(i.message)), JSON.stringify(issues))
  })

  test('a wrong type names the path and the offending value', () => {
    const issues = errors(VALID.replace('port: 8080', 'port: "eighty"'))
    const issue = issues.find((i) => i.path === 'listeners[0].port')
    assert.ok(issue, JSON.stringify(issues))
    assert.equal(issue.value, '"eighty"')
    assert.match(formatIssue(issue), /listeners\[0\]\.port: .*\(got "eighty"\)/)
  })

  test('an out-of-range value is rejected with its path', () => {
    const issues = errors(VALID.replace('weight: 3', 'weight: 0'))
    assert.ok(issues.some((i) => i.path === 'upstreams[0].backends[1].weight' && i.value === '0'))
  })

  test('every error is reported, not just the first', () => {
    const issues = errors(VALID.replace('port: 8080', 'port: -1').replace('weight: 3', 'weight: 0'))
    assert.ok(issues.length >= 2)
  })

  test('unknown upstream reference', () => {
    const issues = errors(VALID.replace('upstream: api }\n  - { id: all', 'upstream: nope }\n  - { id: all'))
    assert.deepEqual(
      issues.map((i) => [i.path, i.value]),
      [['routes[0].upstream', '"nope"']],
    )
  })

  test('duplicate route ids are an error', () => {
    const issues = errors(VALID.replace('id: all', 'id: v1'))
    assert.ok(issues.some((i) => i.path === 'routes[1]' && /duplicate/.test(i.message)), JSON.stringify(issues))
  })

  test('a shadowed (unreachable) route is reported', () => {
    const text = VALID.replace(
      '  - { id: all, match: { path: { prefix: / } }, upstream: api }',
      '  - { id: all, match: { path: { prefix: / } }, upstream: api }\n  - { id: dead, match: { path: { prefix: / } }, upstream: api }',
    )
    const r = parseConfig(text)
    const all = r.ok ? r.warnings : r.issues
    assert.ok(
      all.some((i) => i.path === 'routes[2]' && /shadowed/.test(i.message)),
      JSON.stringify(all),
    )
  })

  test('bad backend URLs are rejected with the reason', () => {
    for (const [url, reason] of [
      ['ftp://x:1', /scheme/],
      ['http://u:p@x:1', /credentials/],
      ['http://x:1/path', /path/],
      ['not a url', /absolute URL/],
    ] as const) {
      const issues = errors(VALID.replace('http://127.0.0.1:9001', url))
      assert.ok(issues.some((i) => i.path === 'upstreams[0].backends[0].url' && reason.test(i.message)), url)
    }
  })

  test('duplicate backends, listeners and bad trusted-proxy CIDRs are rejected', () => {
    assert.ok(errors(VALID.replace('http://127.0.0.1:9002', 'http://127.0.0.1:9001')).some((i) => /duplicate backend/.test(i.message)))
    assert.ok(
      errors(VALID.replace('listeners: [{ name: main, port: 8080 }]', 'listeners: [{ name: a, port: 8080 }, { name: b, port: 8080 }]')).some(
        (i) => /same address/.test(i.message),
      ),
    )
    const cidr = errors(`${VALID}server: { trustedProxies: [10.0.0.0/33] }\n`)
    assert.ok(cidr.some((i) => i.path === 'server.trustedProxies[0]' && i.value === '"10.0.0.0/33"'))
  })

  test('invalid YAML reports line and column; duplicate keys are errors', () => {
    const syntax = errors('version: 1\nlisteners: [\n')
    assert.match(syntax[0]?.message ?? '', /line \d+, column \d+/)
    const dup = errors('version: 1\nversion: 1\n')
    assert.match(dup[0]?.message ?? '', /invalid YAML/)
  })

  test('JSON configs are accepted', () => {
    const r = parseConfig(
      JSON.stringify({
        version: 1,
        listeners: [{ name: 'm', port: 1 }],
        upstreams: [{ id: 'u', backends: [{ url: 'http://127.0.0.1:1' }] }],
        routes: [{ id: 'r', match: {}, upstream: 'u' }],
      }),
      'json',
    )
    assert.ok(r.ok)
  })

  test('a wrong version is rejected', () => {
    assert.ok(errors(VALID.replace('version: 1', 'version: 2')).some((i) => i.path === 'version'))
  })
})

describe('generated docs', () => {
  test('docs/config.md and docs/config.schema.json are up to date (npm run docs:config)', () => {
    const md = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8')
    const json = readFileSync(new URL('../../docs/config.schema.json', import.meta.url), 'utf8')
    assert.equal(md, configMarkdown())
    assert.equal(json, `${JSON.stringify(configJsonSchema(), null, 2)}\n`)
  })

  test('the example in docs/config.md is itself a valid config', () => {
    const md = configMarkdown()
    const example = /```yaml\n([\s\S]*?)```/.exec(md)?.[1] ?? ''
    const r = parseConfig(example)
    assert.ok(r.ok, r.ok ? '' : r.issues.map(formatIssue).join('\n'))
  })
})
