import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseConfig, type ConfigIssue } from './index.ts'

const HEAD = `
version: 1
listeners: [{ name: main, port: 8080 }]
upstreams:
  - id: api
    backends: [{ url: "http://127.0.0.1:9001" }]
routes:
`

function parse(routes: string, extra = '') {
  return parseConfig(`${HEAD}${routes}${extra}`, 'yaml')
}

function errors(routes: string, extra = ''): ConfigIssue[] {
  const r = parse(routes, extra)
  assert.equal(r.ok, false, 'expected the config to be rejected')
  return r.ok ? [] : r.issues.filter((i) => i.severity === 'error')
}

function has(issues: ConfigIssue[], path: string, value?: string): void {
  assert.ok(
    issues.some((i) => i.path === path && (value === undefined || i.value === value)),
    `expected an issue at ${path}${value === undefined ? '' : ` with value ${value}`}: ${JSON.stringify(issues)}`,
  )
}

describe('operator feature config', () => {
  test('a direct-response route parses without an upstream, with defaults', () => {
    const r = parse(`  - { id: deny, match: { path: { prefix: /admin } }, respond: { status: 403 } }
  - { id: all, match: {}, upstream: api, hostHeader: backend }
`)
    assert.ok(r.ok, JSON.stringify(!r.ok && r.issues))
    assert.deepEqual(r.config.routes[0]?.respond, { status: 403, headers: {}, body: '' })
    assert.equal(r.config.routes[0]?.upstream, undefined)
    assert.equal(r.config.upstreams[0]?.hostHeader, 'preserve')
    assert.equal(r.config.server.securityHeaders.proxiedResponses, false)
    assert.equal(r.config.routes[1]?.hostHeader, 'backend')
  })

  test('respond and upstream are mutually exclusive; one of them is required', () => {
    has(
      errors(`  - { id: both, match: {}, upstream: api, respond: { status: 200 } }\n`),
      'routes[0].respond',
      '"api"',
    )
    has(errors(`  - { id: none, match: {} }\n`), 'routes[0]', '"none"')
  })

  test('a direct response names the field and value of what is wrong', () => {
    has(errors(`  - { id: d, match: {}, respond: { status: 99 } }\n`), 'routes[0].respond.status', '99')
    has(
      errors(`  - { id: d, match: {}, respond: { status: 204, body: "x" } }\n`),
      'routes[0].respond.body',
      '204',
    )
    has(
      errors(`  - { id: d, match: {}, respond: { status: 200, body: "${'x'.repeat(65537)}" } }\n`),
      'routes[0].respond.body',
      '65537 bytes',
    )
    has(
      errors(`  - { id: d, match: {}, respond: { status: 200, headers: { Content-Length: "5" } } }\n`),
      'routes[0].respond.headers',
      '"content-length"',
    )
    has(
      errors(`  - { id: d, match: {}, respond: { status: 200, headers: { x-request-id: "a" } } }\n`),
      'routes[0].respond.headers',
      '"x-request-id"',
    )
    const bad = errors(
      `  - { id: d, match: {}, respond: { status: 200, headers: { x-a: "a\\r\\nx-b: b" } } }\n`,
    )
    assert.ok(
      bad.some((i) => i.path.startsWith('routes[0].respond.headers')),
      JSON.stringify(bad),
    )
    const paid = errors(`  - { id: d, match: {}, respond: { status: 200 }, access: [gold] }\n`)
    assert.ok(
      paid.some((i) => i.path === 'routes[0].access' && /direct-response/.test(i.message)),
      JSON.stringify(paid),
    )
  })

  test('IP lists must be CIDRs, addresses or keywords, and an allow list cannot be empty', () => {
    const issues = errors(
      `  - { id: r, match: {}, upstream: api, ipAllow: [10.0.0.1/8, private], ipDeny: [nope] }\n`,
    )
    has(issues, 'routes[0].ipAllow[0]', '"10.0.0.1/8"')
    has(issues, 'routes[0].ipDeny[0]', '"nope"')
    assert.ok(!issues.some((i) => i.path === 'routes[0].ipAllow[1]'))
    has(errors(`  - { id: r, match: {}, upstream: api, ipAllow: [] }\n`), 'routes[0].ipAllow', '[]')
  })

  test('CORS: origins are origins, `*` alone and never with credentials', () => {
    has(
      errors(`  - { id: r, match: {}, upstream: api, cors: { allowOrigins: ["https://a.example/path"] } }\n`),
      'routes[0].cors.allowOrigins[0]',
      '"https://a.example/path"',
    )
    has(
      errors(`  - { id: r, match: {}, upstream: api, cors: { allowOrigins: ["*", "https://a.example"] } }\n`),
      'routes[0].cors.allowOrigins',
    )
    has(
      errors(
        `  - { id: r, match: {}, upstream: api, cors: { allowOrigins: ["*"], allowCredentials: true } }\n`,
      ),
      'routes[0].cors.allowCredentials',
      'true',
    )
    const ok = parse(
      `  - { id: r, match: {}, upstream: api, cors: { allowOrigins: ["HTTPS://A.example:8443"], allowMethods: [get, put] } }\n`,
    )
    assert.ok(ok.ok)
    assert.deepEqual(ok.config.routes[0]?.cors?.allowOrigins, ['https://a.example:8443'])
    assert.deepEqual(ok.config.routes[0]?.cors?.allowMethods, ['GET', 'PUT'])
  })

  test('a fixed Host must be a host name or address with an optional port', () => {
    has(
      errors(`  - { id: r, match: {}, upstream: api, hostHeader: { fixed: "a b" } }\n`),
      'routes[0].hostHeader.fixed',
      '"a b"',
    )
    assert.ok(
      parse(`  - { id: r, match: {}, upstream: api, hostHeader: { fixed: "api.internal:8080" } }\n`).ok,
    )
  })

  test('HSTS is configured under server.securityHeaders', () => {
    const r = parse(
      `  - { id: r, match: {}, upstream: api }\n`,
      `server: { securityHeaders: { hsts: { maxAgeSeconds: 31536000, includeSubDomains: true } } }\n`,
    )
    assert.ok(r.ok, JSON.stringify(!r.ok && r.issues))
    assert.deepEqual(r.config.server.securityHeaders.hsts, {
      maxAgeSeconds: 31536000,
      includeSubDomains: true,
      preload: false,
    })
  })
})
