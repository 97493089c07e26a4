/**
 * Operator features through a real gateway on loopback (docs/routing.md, docs/security.md): direct
 * responses, per-route IP lists, the Host sent upstream, CORS with preflight, and the security fields on
 * responses litgate makes — over HTTP/1.1, h2c, TLS HTTP/1.1 and TLS h2, asserting exact statuses and
 * fields and whether the upstream was reached.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request as httpsRequest } from 'node:https'
import {
  connect as h2connect,
  createServer as createH2Server,
  type ClientHttp2Session,
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2'
import type { IncomingHttpHeaders as H1Headers } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts'
import { parseRaw, rawExchange, send } from '../helpers/client.ts'
import { makeSelfSignedCert, type TestCert } from '../helpers/tls.ts'

const APP = 'https://app.example'
const HSTS = 'max-age=31536000; includeSubDomains'

interface Echo {
  url: string
  headers: Record<string, string>
}

interface Reply {
  status: number
  headers: H1Headers | IncomingHttpHeaders
  body: string
}

function h2Request(
  session: ClientHttp2Session,
  path: string,
  options: { method?: string; headers?: OutgoingHttpHeaders } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request(
      { ':method': options.method ?? 'GET', ':path': path, ...options.headers },
      { endStream: true },
    )
    let status = 0
    let headers: IncomingHttpHeaders = {}
    const chunks: Buffer[] = []
    stream.on('response', (h) => {
      headers = h
      status = Number(h[':status'])
    })
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => resolve({ status, headers, body: Buffer.concat(chunks).toString() }))
    stream.on('error', reject)
  })
}

function connectH2(url: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = h2connect(url, { rejectUnauthorized: false })
    session.once('connect', () => {
      session.off('error', reject)
      resolve(session)
    })
    session.once('error', reject)
  })
}

function closeSession(session: ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (session.closed) return resolve()
    session.close(() => resolve())
  })
}

/** One HTTPS/1.1 request on a fresh connection (self-signed certificate accepted). */
function sendTls(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: false,
        rejectUnauthorized: false,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        )
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end()
  })
}

const preflight = (origin: string, method: string, headers?: string): Record<string, string> => ({
  origin,
  'access-control-request-method': method,
  ...(headers === undefined ? {} : { 'access-control-request-headers': headers }),
})

const UPGRADE = (path: string, extra = ''): string =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`

describe('operator features', () => {
  let up: TestUpstream
  let h2Backend: Http2Server
  let h2Authorities: string[]
  let gw: TestGateway
  let cert: TestCert
  let plainPort: number
  let tlsPort: number

  before(async () => {
    up = await startUpstream((req, res) => {
      if (req.url?.includes('leaky') === true) res.setHeader('access-control-allow-origin', '*')
      if (req.url?.includes('varies') === true) res.setHeader('vary', 'Accept-Encoding')
      const body = JSON.stringify({ url: req.url, headers: req.headers })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
    h2Authorities = []
    h2Backend = createH2Server((req, res) => {
      h2Authorities.push(`${req.headers[':authority']}`)
      res.end('h2')
    })
    await new Promise<void>((r) => h2Backend.listen(0, '127.0.0.1', r))
    const h2Port = (h2Backend.address() as AddressInfo).port
    cert = await makeSelfSignedCert()
    gw = await startGateway({
      listeners: [
        { name: 'plain', host: '127.0.0.1', port: 0, http2: true },
        {
          name: 'tls',
          host: '127.0.0.1',
          port: 0,
          http2: true,
          tls: { certFile: cert.certFile, keyFile: cert.keyFile },
        },
      ],
      server: {
        trustedProxies: ['loopback'],
        securityHeaders: { hsts: { maxAgeSeconds: 31536000, includeSubDomains: true } },
      },
      upstreams: [
        { id: 'u', backends: [{ url: up.url }] },
        { id: 'named', backends: [{ url: up.url }], hostHeader: 'backend' },
        {
          id: 'h2',
          protocol: 'http2',
          backends: [{ url: `http://127.0.0.1:${h2Port}` }],
          hostHeader: { fixed: 'h2.internal' },
        },
      ],
      routes: [
        {
          id: 'deny-admin',
          match: { path: { prefix: '/admin' } },
          respond: { status: 403, headers: { 'X-Why': 'operator' }, body: 'forbidden\n' },
        },
        {
          id: 'fixed-json',
          match: { path: { exact: '/status.json' } },
          respond: { status: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' },
          cors: { allowOrigins: [APP] },
        },
        { id: 'empty', match: { path: { exact: '/empty' } }, respond: { status: 204 } },
        {
          id: 'moved',
          match: { path: { exact: '/old' } },
          respond: { status: 301, headers: { location: 'https://new.example/' } },
        },
        {
          id: 'internal',
          match: { path: { prefix: '/internal' } },
          upstream: 'u',
          ipAllow: ['10.0.0.0/8'],
          ipDeny: ['10.9.9.9'],
        },
        {
          id: 'blocked',
          match: { path: { prefix: '/blocked' } },
          upstream: 'u',
          ipDeny: ['203.0.113.0/24', '2001:db8::/32'],
        },
        {
          id: 'strict',
          match: { path: { prefix: '/strict' }, methods: ['GET', 'PUT'] },
          upstream: 'u',
          cors: { allowOrigins: [APP], allowMethods: ['GET', 'PUT'] },
        },
        {
          id: 'api',
          match: { path: { prefix: '/api' } },
          upstream: 'u',
          cors: {
            allowOrigins: [APP],
            allowMethods: ['GET', 'POST', 'PUT'],
            allowHeaders: ['content-type', 'x-token'],
            exposeHeaders: ['x-total'],
            allowCredentials: true,
            maxAgeSeconds: 600,
          },
        },
        { id: 'open', match: { path: { prefix: '/open' } }, upstream: 'u', cors: { allowOrigins: ['*'] } },
        { id: 'host-backend', match: { path: { prefix: '/host-backend' } }, upstream: 'named' },
        {
          id: 'host-fixed',
          match: { path: { prefix: '/host-fixed' } },
          upstream: 'named',
          hostHeader: { fixed: 'api.internal:8443' },
        },
        { id: 'h2-fixed', match: { path: { prefix: '/h2' } }, upstream: 'h2' },
        { id: 'all', match: {}, upstream: 'u' },
      ],
    })
    const addrs = gw.gateway.addresses()
    plainPort = addrs['plain']!.port
    tlsPort = addrs['tls']!.port
  })

  after(async () => {
    await gw.stop()
    await up.close()
    await new Promise<void>((r) => h2Backend.close(() => r()))
    await cert.remove()
  })

  const url = (path: string): string => `http://127.0.0.1:${plainPort}${path}`

  describe('direct responses', () => {
    test('answer with the configured status, fields and body, with a request id and nosniff, without reaching the upstream', async () => {
      const before = up.received.length
      const res = await send(url('/admin/users'))
      assert.equal(res.status, 403)
      assert.equal(res.body, 'forbidden\n')
      assert.equal(res.headers['x-why'], 'operator')
      assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8')
      assert.equal(res.headers['content-length'], '10')
      assert.equal(res.headers['x-content-type-options'], 'nosniff')
      assert.equal(res.headers['strict-transport-security'], undefined, 'never over cleartext')
      assert.match(String(res.headers['x-request-id']), /.+/)
      const json = await send(url('/status.json'), { method: 'POST', body: 'ignored' })
      assert.equal(json.status, 200)
      assert.deepEqual(json.json(), { ok: true })
      assert.equal(json.headers['content-type'], 'application/json')
      assert.equal(up.received.length, before)
    })

    test('HEAD gets the head with the GET Content-Length and no body', async () => {
      const res = await send(url('/admin'), { method: 'HEAD' })
      assert.equal(res.status, 403)
      assert.equal(res.headers['content-length'], '10')
      assert.equal(res.body, '')
    })

    test('204 has no body and no Content-Length; a redirect carries its location', async () => {
      const empty = await send(url('/empty'))
      assert.equal(empty.status, 204)
      assert.equal(empty.headers['content-length'], undefined)
      assert.equal(empty.body, '')
      const moved = await send(url('/old'))
      assert.equal(moved.status, 301)
      assert.equal(moved.headers['location'], 'https://new.example/')
      assert.equal(moved.headers['content-length'], '0')
    })

    test('over h2c and TLS h2, with HSTS on TLS only', async () => {
      for (const [target, isTls] of [
        [`http://127.0.0.1:${plainPort}`, false],
        [`https://127.0.0.1:${tlsPort}`, true],
      ] as const) {
        const session = await connectH2(target)
        try {
          const res = await h2Request(session, '/admin/x')
          assert.equal(res.status, 403)
          assert.equal(res.body, 'forbidden\n')
          assert.equal(res.headers['x-why'], 'operator')
          assert.equal(res.headers['x-content-type-options'], 'nosniff')
          assert.equal(res.headers['strict-transport-security'], isTls ? HSTS : undefined)
          const head = await h2Request(session, '/admin/x', { method: 'HEAD' })
          assert.equal(head.status, 403)
          assert.equal(head.headers['content-length'], '10')
          assert.equal(head.body, '')
        } finally {
          await closeSession(session)
        }
      }
    })

    test('a WebSocket upgrade to a direct-response route gets the response and a closed connection', async () => {
      const raw = parseRaw(await rawExchange(plainPort, UPGRADE('/admin/ws')))
      assert.equal(raw.status, 403)
      assert.equal(raw.headers['x-why'], 'operator')
      assert.equal(raw.headers['connection'], 'close')
      assert.equal(raw.headers['x-content-type-options'], 'nosniff')
      assert.equal(raw.body, 'forbidden\n')
    })
  })

  describe('IP allow and deny lists', () => {
    test('the client address after the trusted-proxy walk decides; refusals are 403 IP_DENIED and never reach the upstream', async () => {
      const before = up.received.length
      const denied = await send(url('/internal/a'))
      assert.equal(denied.status, 403)
      assert.equal(denied.headers['content-type'], 'application/problem+json')
      assert.equal(denied.headers['x-content-type-options'], 'nosniff')
      assert.equal(denied.json<{ code: string }>().code, 'IP_DENIED')
      // The loopback peer is a trusted proxy: X-Forwarded-For names the client.
      const allowed = await send(url('/internal/a'), { headers: { 'x-forwarded-for': '10.1.2.3' } })
      assert.equal(allowed.status, 200)
      const carved = await send(url('/internal/a'), { headers: { 'x-forwarded-for': '10.9.9.9' } })
      assert.equal(carved.status, 403, 'deny wins over allow')
      const v4 = await send(url('/blocked'), { headers: { 'x-forwarded-for': '203.0.113.77' } })
      assert.equal(v4.status, 403)
      const v6 = await send(url('/blocked'), { headers: { 'x-forwarded-for': '2001:db8::42' } })
      assert.equal(v6.status, 403)
      const other = await send(url('/blocked'), { headers: { 'x-forwarded-for': '2001:db9::42' } })
      assert.equal(other.status, 200)
      assert.equal(up.received.length, before + 2)
    })

    test('also over h2c', async () => {
      const session = await connectH2(`http://127.0.0.1:${plainPort}`)
      try {
        const denied = await h2Request(session, '/internal/x')
        assert.equal(denied.status, 403)
        assert.equal(JSON.parse(denied.body).code, 'IP_DENIED')
        const allowed = await h2Request(session, '/internal/x', {
          headers: { 'x-forwarded-for': '10.0.0.1' },
        })
        assert.equal(allowed.status, 200)
      } finally {
        await closeSession(session)
      }
    })

    test('also applies to WebSocket upgrades', async () => {
      const before = up.received.length
      const raw = parseRaw(await rawExchange(plainPort, UPGRADE('/internal/ws')))
      assert.equal(raw.status, 403)
      assert.equal(JSON.parse(raw.body).code, 'IP_DENIED')
      assert.equal(raw.headers['x-content-type-options'], 'nosniff')
      assert.equal(up.received.length, before)
    })
  })

  describe('upstream Host', () => {
    test('preserve (the default) sends the client Host; backend sends the backend URL authority; fixed sends the value', async () => {
      const preserve = (await send(url('/p'), { headers: { host: 'client.example' } })).json<Echo>()
      assert.equal(preserve.headers['host'], 'client.example')
      const backend = (await send(url('/host-backend'), { headers: { host: 'client.example' } })).json<Echo>()
      assert.equal(backend.headers['host'], `127.0.0.1:${up.port}`)
      assert.equal(backend.headers['x-forwarded-host'], 'client.example')
      const fixed = (await send(url('/host-fixed'), { headers: { host: 'client.example' } })).json<Echo>()
      assert.equal(fixed.headers['host'], 'api.internal:8443', 'the route overrides its upstream')
      assert.equal(fixed.headers['x-forwarded-host'], 'client.example')
    })

    test('from an h2 client the Host replaces :authority; to an h2 backend it is the :authority sent', async () => {
      const session = await connectH2(`http://127.0.0.1:${plainPort}`)
      try {
        const res = JSON.parse(
          (await h2Request(session, '/host-backend', { headers: { ':authority': 'client.example' } })).body,
        ) as Echo
        assert.equal(res.headers['host'], `127.0.0.1:${up.port}`)
        const h2 = await h2Request(session, '/h2/x', { headers: { ':authority': 'client.example' } })
        assert.equal(h2.status, 200)
        assert.equal(h2Authorities.at(-1), 'h2.internal')
      } finally {
        await closeSession(session)
      }
      const h1 = await send(url('/h2/y'), { headers: { host: 'client.example' } })
      assert.equal(h1.status, 200)
      assert.equal(h2Authorities.at(-1), 'h2.internal')
    })
  })

  describe('CORS', () => {
    test('a preflight is routed as the method it announces: a route without OPTIONS in its methods answers it', async () => {
      const before = up.received.length
      const res = await send(url('/strict/a'), { method: 'OPTIONS', headers: preflight(APP, 'PUT') })
      assert.equal(res.status, 204)
      assert.equal(res.headers['access-control-allow-methods'], 'GET, PUT')
      assert.equal(up.received.length, before)
      // DELETE is not a method of /strict: the announced request belongs to the catch-all route, which
      // has no CORS, so the OPTIONS is proxied like any request.
      const other = await send(url('/strict/a'), { method: 'OPTIONS', headers: preflight(APP, 'DELETE') })
      assert.equal(other.status, 200)
      assert.equal(other.headers['access-control-allow-origin'], undefined)
      assert.equal(up.received.length, before + 1)
      assert.equal(up.received.at(-1)?.method, 'OPTIONS')
    })

    test('an allowed preflight is answered 204 by the gateway without reaching the upstream', async () => {
      const before = up.received.length
      const res = await send(url('/api/items'), {
        method: 'OPTIONS',
        headers: preflight(APP, 'PUT', 'Content-Type, X-Token'),
      })
      assert.equal(res.status, 204)
      assert.equal(res.headers['access-control-allow-origin'], APP)
      assert.equal(res.headers['access-control-allow-methods'], 'GET, POST, PUT')
      assert.equal(res.headers['access-control-allow-headers'], 'content-type, x-token')
      assert.equal(res.headers['access-control-allow-credentials'], 'true')
      assert.equal(res.headers['access-control-max-age'], '600')
      assert.equal(
        res.headers['vary'],
        'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
      )
      assert.equal(res.headers['x-content-type-options'], 'nosniff')
      assert.equal(res.body, '')
      assert.equal(up.received.length, before)
    })

    test('a disallowed preflight is 403 CORS_PREFLIGHT_REFUSED without any CORS field', async () => {
      const before = up.received.length
      for (const headers of [
        preflight('https://evil.example', 'GET'),
        preflight(APP, 'DELETE'),
        preflight(APP, 'POST', 'x-secret'),
      ]) {
        const res = await send(url('/api/items'), { method: 'OPTIONS', headers })
        assert.equal(res.status, 403, JSON.stringify(headers))
        assert.equal(res.json<{ code: string }>().code, 'CORS_PREFLIGHT_REFUSED')
        assert.equal(res.headers['access-control-allow-origin'], undefined)
      }
      assert.equal(up.received.length, before)
    })

    test('an OPTIONS that is not a preflight is routed and proxied as OPTIONS', async () => {
      const before = up.received.length
      const res = await send(url('/api/items'), { method: 'OPTIONS', headers: { origin: APP } })
      assert.equal(res.status, 200)
      assert.equal(res.json<Echo>().url, '/api/items')
      assert.equal(res.headers['access-control-allow-origin'], APP, 'an actual response on a CORS route')
      assert.equal(up.received.length, before + 1)
    })

    test('actual responses: an allowed origin gets Access-Control-*, the upstream CORS fields are replaced, Vary gets Origin', async () => {
      const allowed = await send(url('/api/varies'), { headers: { origin: APP } })
      assert.equal(allowed.status, 200)
      assert.equal(allowed.headers['access-control-allow-origin'], APP)
      assert.equal(allowed.headers['access-control-allow-credentials'], 'true')
      assert.equal(allowed.headers['access-control-expose-headers'], 'x-total')
      assert.equal(allowed.headers['vary'], 'Accept-Encoding, Origin')
      const leaky = await send(url('/api/leaky'), { headers: { origin: 'https://evil.example' } })
      assert.equal(leaky.status, 200)
      assert.equal(leaky.headers['access-control-allow-origin'], undefined, "the upstream's `*` is dropped")
      assert.equal(leaky.headers['vary'], 'Origin')
      const none = await send(url('/api/x'))
      assert.equal(none.headers['access-control-allow-origin'], undefined)
      assert.equal(none.headers['vary'], 'Origin')
      const open = await send(url('/open'), { headers: { origin: 'https://anyone.example' } })
      assert.equal(open.headers['access-control-allow-origin'], '*')
      assert.equal(open.headers['vary'], undefined)
      const direct = await send(url('/status.json'), { headers: { origin: APP } })
      assert.equal(direct.headers['access-control-allow-origin'], APP)
      assert.equal(direct.headers['vary'], 'Origin')
    })

    test('preflight and actual responses over h2c', async () => {
      const before = up.received.length
      const session = await connectH2(`http://127.0.0.1:${plainPort}`)
      try {
        const pre = await h2Request(session, '/api/items', {
          method: 'OPTIONS',
          headers: preflight(APP, 'POST'),
        })
        assert.equal(pre.status, 204)
        assert.equal(pre.headers['access-control-allow-origin'], APP)
        assert.equal(up.received.length, before)
        const refused = await h2Request(session, '/api/items', {
          method: 'OPTIONS',
          headers: preflight('https://x.example', 'POST'),
        })
        assert.equal(refused.status, 403)
        const actual = await h2Request(session, '/api/items', { headers: { origin: APP } })
        assert.equal(actual.status, 200)
        assert.equal(actual.headers['access-control-allow-origin'], APP)
        assert.equal(actual.headers['vary'], 'Origin')
      } finally {
        await closeSession(session)
      }
    })
  })

  describe('security fields', () => {
    test('gateway problems carry nosniff; proxied responses get nothing by default', async () => {
      const invalid = await send(url('/'), { path: '/../x' })
      assert.equal(invalid.status, 400)
      assert.equal(invalid.json<{ code: string }>().code, 'INVALID_PATH')
      assert.equal(invalid.headers['x-content-type-options'], 'nosniff')
      const proxied = await send(url('/p'))
      assert.equal(proxied.status, 200)
      assert.equal(proxied.headers['x-content-type-options'], undefined)
      assert.equal(proxied.headers['strict-transport-security'], undefined)
    })

    test('TLS HTTP/1.1 and h2: HSTS on problems, direct responses and preflights, not on proxied responses', async () => {
      const problem = await sendTls(tlsPort, '/internal/x')
      assert.equal(problem.status, 403)
      assert.equal(problem.headers['strict-transport-security'], HSTS)
      assert.equal(problem.headers['x-content-type-options'], 'nosniff')
      const direct = await sendTls(tlsPort, '/admin')
      assert.equal(direct.headers['strict-transport-security'], HSTS)
      const pre = await sendTls(tlsPort, '/api/x', { method: 'OPTIONS', headers: preflight(APP, 'GET') })
      assert.equal(pre.status, 204)
      assert.equal(pre.headers['strict-transport-security'], HSTS)
      const proxied = await sendTls(tlsPort, '/p')
      assert.equal(proxied.status, 200)
      assert.equal(proxied.headers['strict-transport-security'], undefined)
      const session = await connectH2(`https://127.0.0.1:${tlsPort}`)
      try {
        const h2Problem = await h2Request(session, '/internal/x')
        assert.equal(h2Problem.status, 403)
        assert.equal(h2Problem.headers['strict-transport-security'], HSTS)
        const h2Proxied = await h2Request(session, '/p')
        assert.equal(h2Proxied.status, 200)
        assert.equal(h2Proxied.headers['strict-transport-security'], undefined)
      } finally {
        await closeSession(session)
      }
    })
  })
})
