import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts'
import { parseRaw, rawExchange, send } from '../helpers/client.ts'

interface Echo {
  name: string
  method: string
  url: string
  headers: Record<string, string>
}

function assertProblem(
  res: { status: number; headers: Record<string, string | string[] | undefined>; body: string },
  status: number,
  code: string,
): void {
  assert.equal(res.status, status, res.body)
  assert.equal(res.headers['content-type'], 'application/problem+json')
  const doc = JSON.parse(res.body) as { status: number; code: string; requestId: string; title: string; type: string }
  assert.equal(doc.status, status)
  assert.equal(doc.code, code)
  assert.ok(doc.requestId.length > 0, 'problem carries a request id')
  assert.equal(res.headers['x-request-id'], doc.requestId, 'header and body carry the same request id')
}

describe('forwarding', () => {
  let upstream: TestUpstream
  let gw: TestGateway

  before(async () => {
    upstream = await startUpstream(undefined, 'a')
    gw = await startGateway({
      server: { maxUrlBytes: 256, maxHeaderBytes: 2048, headersTimeoutMs: 300, maxBodyBytes: 1000 },
      upstreams: [{ id: 'u', backends: [{ url: upstream.url }] }],
      routes: [
        { id: 'admin', match: { path: { exact: '/admin' }, methods: ['GET'] }, upstream: 'u' },
        { id: 'api', match: { hosts: ['api.test'], path: { prefix: '/api' } }, upstream: 'u' },
        { id: 'any', match: { hosts: ['*'], path: { prefix: '/' } }, upstream: 'u' },
      ],
    })
  })
  after(async () => {
    await gw.stop()
    await upstream.close()
  })

  test('forwards method, path, query and end-to-end headers; sets X-Forwarded-* and Forwarded', async () => {
    const res = await send(`${gw.url}/a/b?x=1&y=2`, { headers: { 'x-custom': 'v', host: 'example.test' } })
    assert.equal(res.status, 200)
    const echo = res.json<Echo>()
    assert.equal(echo.url, '/a/b?x=1&y=2')
    assert.equal(echo.headers['x-custom'], 'v')
    assert.equal(echo.headers['host'], 'example.test')
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1')
    assert.equal(echo.headers['x-forwarded-proto'], 'http')
    assert.equal(echo.headers['x-forwarded-host'], 'example.test')
    assert.match(echo.headers['forwarded'] ?? '', /for=127\.0\.0\.1/)
  })

  test('generates a request id, sends it upstream and returns it', async () => {
    const res = await send(`${gw.url}/id`)
    const id = res.headers['x-request-id']
    assert.equal(typeof id, 'string')
    assert.equal(res.json<Echo>().headers['x-request-id'], id)
  })

  test('keeps a well-formed incoming request id and replaces a malformed one', async () => {
    const good = await send(`${gw.url}/id`, { headers: { 'x-request-id': 'abc-123.DEF' } })
    assert.equal(good.headers['x-request-id'], 'abc-123.DEF')
    assert.equal(good.json<Echo>().headers['x-request-id'], 'abc-123.DEF')
    const bad = await send(`${gw.url}/id`, { headers: { 'x-request-id': 'has space<script>' } })
    assert.notEqual(bad.headers['x-request-id'], 'has space<script>')
    const long = await send(`${gw.url}/id`, { headers: { 'x-request-id': 'a'.repeat(200) } })
    assert.notEqual(long.headers['x-request-id'], 'a'.repeat(200))
  })

  test('W3C trace context is propagated to the upstream unchanged when tracing is off', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const res = await send(`${gw.url}/trace`, { headers: { traceparent, tracestate: 'vendor=x' } })
    const echo = res.json<Echo>()
    assert.equal(echo.headers['traceparent'], traceparent)
    assert.equal(echo.headers['tracestate'], 'vendor=x')
  })

  test('untrusted client X-Forwarded-For is discarded, not appended', async () => {
    const res = await send(`${gw.url}/xff`, { headers: { 'x-forwarded-for': '6.6.6.6', forwarded: 'for=6.6.6.6' } })
    const echo = res.json<Echo>()
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1')
    assert.doesNotMatch(echo.headers['forwarded'] ?? '', /6\.6\.6\.6/)
  })

  test('strips hop-by-hop headers, including those named in Connection', async () => {
    const res = await send(`${gw.url}/hop`, {
      headers: { connection: 'keep-alive, x-secret-hop', 'x-secret-hop': '1', 'keep-alive': 'timeout=5', te: 'trailers' },
    })
    const echo = res.json<Echo>()
    assert.equal(echo.headers['x-secret-hop'], undefined)
    assert.equal(echo.headers['te'], undefined)
    assert.equal(echo.headers['keep-alive'], undefined)
  })

  test('normalises the path before routing and forwards the normalised path', async () => {
    const res = await send(`${gw.url}/x`, { path: '/a/./b/../c//d' })
    assert.equal(res.json<Echo>().url, '/a/c/d')
  })

  test('an encoded slash is rejected with 400 INVALID_PATH', async () => {
    const res = await send(`${gw.url}/x`, { path: '/admin%2F..' })
    assertProblem(res, 400, 'INVALID_PATH')
  })

  test('crafted paths reach the same route as the plain path (no bypass)', async () => {
    const admin = await startUpstream(undefined, 'admin-backend')
    const gw2 = await startGateway({
      upstreams: [
        { id: 'adm', backends: [{ url: admin.url }] },
        { id: 'u', backends: [{ url: upstream.url }] },
      ],
      routes: [
        { id: 'admin', match: { path: { prefix: '/admin' } }, upstream: 'adm' },
        { id: 'rest', match: { path: { prefix: '/' } }, upstream: 'u' },
      ],
    })
    try {
      for (const path of ['/admin', '/x/../admin', '/%61dmin', '//admin', '/./admin', '/x/%2e%2e/admin', '/admin/../admin/']) {
        const res = await send(`${gw2.url}/`, { path })
        assert.equal(res.status, 200, path)
        assert.equal(res.json<Echo>().name, 'admin-backend', `${path} must reach the admin route`)
      }
    } finally {
      await gw2.stop()
      await admin.close()
    }
  })

  test('method mismatch on the only matching route → 405 with Allow', async () => {
    const gw2 = await startGateway({
      upstreams: [{ id: 'u', backends: [{ url: upstream.url }] }],
      routes: [{ id: 'ro', match: { path: { prefix: '/' }, methods: ['GET', 'HEAD'] }, upstream: 'u' }],
    })
    try {
      const res = await send(`${gw2.url}/x/../thing`, { method: 'DELETE' })
      assertProblem(res, 405, 'METHOD_NOT_ALLOWED')
      assert.equal(res.headers['allow'], 'GET, HEAD')
    } finally {
      await gw2.stop()
    }
  })

  test('host routing: a route restricted to another host is not served', async () => {
    const res = await send(`${gw.url}/api/x`, { headers: { host: 'api.test' } })
    assert.equal(res.status, 200)
  })

  test('no route → 404 problem that does not leak config', async () => {
    const gw2 = await startGateway({
      upstreams: [{ id: 'u', backends: [{ url: upstream.url }] }],
      routes: [{ id: 'only', match: { hosts: ['only.test'], path: { prefix: '/' } }, upstream: 'u' }],
    })
    try {
      const res = await send(`${gw2.url}/nothing`)
      assertProblem(res, 404, 'ROUTE_NOT_FOUND')
      assert.doesNotMatch(res.body, /only\.test|127\.0\.0\.1|upstream/i)
    } finally {
      await gw2.stop()
    }
  })

  test('too long URL → 414', async () => {
    const res = await send(`${gw.url}/${'a'.repeat(300)}`)
    assertProblem(res, 414, 'URI_TOO_LONG')
  })

  test('oversized header block → 431 problem', async () => {
    const raw = await rawExchange(gw.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(4000)}\r\n\r\n`)
    const res = parseRaw(raw)
    assertProblem(res, 431, 'HEADERS_TOO_LARGE')
  })

  test('garbage request line → 400 problem', async () => {
    const res = parseRaw(await rawExchange(gw.port, 'NOT HTTP AT ALL\r\n\r\n'))
    assertProblem(res, 400, 'BAD_REQUEST')
  })

  test('missing Host on HTTP/1.1 → 400 INVALID_HOST', async () => {
    const res = parseRaw(await rawExchange(gw.port, 'GET / HTTP/1.1\r\n\r\n', 1000))
    assertProblem(res, 400, 'INVALID_HOST')
  })

  test('slow request head → 408 problem after the header timeout', async () => {
    const started = Date.now()
    const res = parseRaw(await rawExchange(gw.port, 'GET / HTTP/1.1\r\nHost: x\r\n', 5000))
    assertProblem(res, 408, 'REQUEST_HEADER_TIMEOUT')
    assert.ok(Date.now() - started < 4000)
  })

  test('Content-Length over the body limit → 413 before anything is sent upstream', async () => {
    const before = upstream.received.length
    const res = await send(`${gw.url}/upload`, { method: 'POST', body: 'x'.repeat(2000) })
    assertProblem(res, 413, 'PAYLOAD_TOO_LARGE')
    assert.equal(upstream.received.length, before)
  })

  test('chunked body over the limit → 413', async () => {
    const body = 'x'.repeat(3000)
    const raw = await rawExchange(
      gw.port,
      `POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    )
    assertProblem(parseRaw(raw), 413, 'PAYLOAD_TOO_LARGE')
  })

  test('the gateway keeps serving after every bad input above', async () => {
    const res = await send(`${gw.url}/still-alive`)
    assert.equal(res.status, 200)
  })
})
