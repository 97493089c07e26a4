import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { configSchema, type ConfigInput } from '../config/index.ts'
import { compileRouter } from '../routing/index.ts'
import type { RouteContext, RoutePolicy } from '../runtime/index.ts'
import { compileCors, compileIpAccess } from '../security/index.ts'
import type { Backend } from '../upstream/index.ts'
import { decideRoutePolicy, matchPreflight, rawAnswer, upstreamHost } from './route-policy.ts'

const cors = compileCors({
  allowOrigins: ['https://app.example'],
  allowMethods: ['GET', 'PUT'],
  allowHeaders: [],
  exposeHeaders: [],
  allowCredentials: false,
})
const direct = { status: 403, headers: { 'content-type': 'text/plain' }, body: Buffer.from('no') }

function policy(p: Partial<RoutePolicy>): RoutePolicy {
  return { ipAccess: undefined, cors: undefined, direct: undefined, ...p }
}

describe('route policy decisions', () => {
  test('IP lists come first: a denied client is refused even on a direct-response or CORS route', () => {
    const p = policy({ ipAccess: compileIpAccess(['10.0.0.0/8'], undefined), cors, direct })
    assert.deepEqual(decideRoutePolicy(p, 'GET', {}, '192.0.2.1'), { refuse: 'IP_DENIED' })
    assert.equal(decideRoutePolicy(policy({ ipAccess: p.ipAccess }), 'GET', {}, '10.1.1.1'), undefined)
  })

  test('a preflight is answered 204 or refused; other requests on a CORS route are proxied', () => {
    const p = policy({ cors })
    const ok = decideRoutePolicy(
      p,
      'OPTIONS',
      { origin: 'https://app.example', 'access-control-request-method': 'PUT' },
      '::1',
    )
    assert.ok(ok !== undefined && 'answer' in ok)
    assert.equal(ok.answer.status, 204)
    assert.equal(ok.answer.body, undefined)
    assert.equal(ok.answer.headers['access-control-allow-origin'], 'https://app.example')
    assert.deepEqual(
      decideRoutePolicy(
        p,
        'OPTIONS',
        { origin: 'https://app.example', 'access-control-request-method': 'DELETE' },
        '::1',
      ),
      { refuse: 'CORS_PREFLIGHT_REFUSED' },
    )
    assert.equal(decideRoutePolicy(p, 'GET', { origin: 'https://app.example' }, '::1'), undefined)
  })

  test('a direct response carries the CORS fields of an allowed origin', () => {
    const d = decideRoutePolicy(policy({ cors, direct }), 'GET', { origin: 'https://app.example' }, '::1')
    assert.ok(d !== undefined && 'answer' in d)
    assert.deepEqual(d.answer.headers, {
      'content-type': 'text/plain',
      'access-control-allow-origin': 'https://app.example',
      vary: 'Origin',
    })
  })

  test('rawAnswer writes a complete HTTP/1.1 response that closes the connection; HEAD and 204 have no body', () => {
    const answer = { status: 403, headers: { 'x-a': 'b' }, body: Buffer.from('héllo') }
    assert.equal(
      rawAnswer(answer, false, 'x-request-id', 'r1', 'x-content-type-options: nosniff\r\n').toString(),
      'HTTP/1.1 403 Forbidden\r\nx-a: b\r\ncontent-length: 6\r\nx-content-type-options: nosniff\r\n' +
        'x-request-id: r1\r\nconnection: close\r\n\r\nhéllo',
    )
    assert.ok(rawAnswer(answer, true, 'x-request-id', 'r1', '').toString().endsWith('\r\n\r\n'))
    assert.ok(
      !rawAnswer({ status: 204, headers: {}, body: undefined }, false, 'x-request-id', 'r', '').includes(
        'content-length',
      ),
    )
  })

  test('upstreamHost follows the policy', () => {
    const backend = { authority: '10.0.0.5:8080' } as Backend
    assert.equal(upstreamHost('preserve', 'client.example', backend), 'client.example')
    assert.equal(upstreamHost('preserve', undefined, backend), '10.0.0.5:8080')
    assert.equal(upstreamHost('backend', 'client.example', backend), '10.0.0.5:8080')
    assert.equal(upstreamHost({ fixed: 'api.internal' }, 'client.example', backend), 'api.internal')
  })
})

describe('preflight routing', () => {
  const routes: ConfigInput['routes'] = [
    {
      id: 'strict',
      match: { path: { prefix: '/s' }, methods: ['PUT'] },
      respond: { status: 200 },
      cors: { allowOrigins: ['*'] },
    },
    { id: 'all', match: {}, respond: { status: 200 } },
  ]
  const config = configSchema.parse({
    version: 1,
    listeners: [{ name: 'l', port: 0 }],
    upstreams: [{ id: 'u', backends: [{ url: 'http://127.0.0.1:1' }] }],
    routes,
  })
  const router = compileRouter(
    config.routes.map((r) => ({
      id: r.id,
      hosts: [],
      path: { kind: 'prefix' as const, value: 'prefix' in r.match.path ? r.match.path.prefix : '/' },
      ...(r.match.methods === undefined ? {} : { methods: r.match.methods }),
      target: {
        id: r.id,
        policy: r.cors === undefined ? undefined : policy({ cors }),
      } as unknown as RouteContext,
    })),
  )
  const none = () => undefined
  const route = (headers: Record<string, string>) =>
    matchPreflight(router, router.match('h', '/s/x', 'OPTIONS', none), headers, 'h', '/s/x', none)

  test('a preflight takes the route of the announced method when that route has CORS', () => {
    const m = route({ origin: 'https://a', 'access-control-request-method': 'put' })
    assert.ok(m.ok)
    assert.equal(m.target.id, 'strict')
  })

  test('otherwise the OPTIONS match stands', () => {
    const notPreflight = route({ origin: 'https://a' })
    assert.ok(notPreflight.ok)
    assert.equal(notPreflight.target.id, 'all')
    const announcedElsewhere = route({ origin: 'https://a', 'access-control-request-method': 'GET' })
    assert.ok(announcedElsewhere.ok)
    assert.equal(announcedElsewhere.target.id, 'all')
  })
})
