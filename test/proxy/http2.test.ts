import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { execFile } from 'node:child_process'
import { request as httpsRequest } from 'node:https'
import {
  connect as h2connect,
  constants as h2constants,
  createSecureServer as createH2SecureServer,
  createServer as createH2Server,
  type ClientHttp2Session,
  type Http2SecureServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { promisify } from 'node:util'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { eventually, startUpstream, type TestUpstream } from '../helpers/upstream.ts'
import { send } from '../helpers/client.ts'
import { makeSelfSignedCert, type TestCert } from '../helpers/tls.ts'

const execFileAsync = promisify(execFile)

interface Echo {
  name: string
  method: string
  url: string
  httpVersion: string
  headers: Record<string, string>
  rawHeaders: string[]
  bytes?: number
  sha256?: string
}

// RFC 9113 §8.2.2: connection-specific fields must not appear in an HTTP/2 message.
const CONNECTION_SPECIFIC = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']

interface SlowEvents {
  /** `/slow` responses closed (they never end on their own, so every close is an abort). */
  slowClosed: number
  /** HTTP/1.1 sockets that carried a `/slow` request. */
  readonly slowSockets: Socket[]
}

/**
 * One handler for every backend here (HTTP/1.1 and HTTP/2 compat): `/hop` answers with hop-by-hop
 * fields and a chunked body, `/slow` streams forever (for abort tests), POST hashes the streamed body,
 * anything else echoes the request head.
 */
function backendHandler(name: string, events: SlowEvents) {
  return (
    req: IncomingMessage | Http2ServerRequest,
    response: ServerResponse | Http2ServerResponse,
  ): void => {
    // Both response types have the methods used here; the union's overloads do not unify for tsc.
    const res = response as ServerResponse
    const url = req.url ?? ''
    if (url.endsWith('/hop')) {
      const r = res
      if (req.httpVersionMajor === 1) {
        r.writeHead(200, {
          connection: 'keep-alive, x-hop',
          'keep-alive': 'timeout=5',
          'x-hop': '1',
          'x-e2e': 'kept',
        })
      } else {
        r.writeHead(200, { 'x-e2e': 'kept' })
      }
      r.write('chunk-1;')
      r.end('chunk-2')
      return
    }
    if (url.endsWith('/big')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG.length })
      // Written in 64 KiB pieces, respecting the response's backpressure.
      let offset = 0
      const pump = (): void => {
        while (offset < BIG.length) {
          const piece = BIG.subarray(offset, offset + 64 * 1024)
          offset += piece.length
          if (offset >= BIG.length) {
            res.end(piece)
            return
          }
          if (!res.write(piece)) {
            res.once('drain', pump)
            return
          }
        }
      }
      pump()
      return
    }
    if (url.endsWith('/slow')) {
      if (req.httpVersionMajor === 1) events.slowSockets.push(req.socket as Socket)
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      const timer = setInterval(() => res.write(Buffer.alloc(1024, 7)), 5)
      res.on('close', () => {
        clearInterval(timer)
        events.slowClosed++
      })
      return
    }
    const hash = createHash('sha256')
    let bytes = 0
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length
      hash.update(chunk)
    })
    req.on('end', () => {
      const body = JSON.stringify({
        name,
        method: req.method,
        url,
        httpVersion: req.httpVersion,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        ...(req.method === 'POST' ? { bytes, sha256: hash.digest('hex') } : {}),
      })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
  }
}

interface H2Response {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

function h2Request(
  session: ClientHttp2Session,
  path: string,
  options: { method?: string; body?: Buffer; headers?: OutgoingHttpHeaders } = {},
): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const method = options.method ?? 'GET'
    const stream = session.request(
      { ':method': method, ':path': path, ...options.headers },
      { endStream: options.body === undefined },
    )
    let status = 0
    let headers: IncomingHttpHeaders = {}
    const chunks: Buffer[] = []
    stream.on('response', (h) => {
      headers = h
      status = Number(h[':status'])
    })
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => resolve({ status, headers, body: Buffer.concat(chunks) }))
    stream.on('error', reject)
    if (options.body !== undefined) {
      // Written in 64 KiB pieces so the body really streams (flow control, several DATA frames).
      const body = options.body
      let offset = 0
      const pump = (): void => {
        while (offset < body.length) {
          const piece = body.subarray(offset, offset + 64 * 1024)
          offset += piece.length
          if (!stream.write(piece)) {
            stream.once('drain', pump)
            return
          }
        }
        stream.end()
      }
      pump()
    }
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

function assertNoConnectionHeaders(headers: IncomingHttpHeaders | Record<string, unknown>): void {
  for (const name of CONNECTION_SPECIFIC)
    assert.equal(headers[name], undefined, `${name} must not be relayed`)
  assert.equal(headers['x-hop'], undefined, 'a field nominated by Connection is hop-by-hop')
}

function deterministicBody(size: number): Buffer {
  const out = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) out[i] = (i * 31 + (i >> 8)) & 0xff
  return out
}

/** The body `/big` answers with (16 MiB). */
const BIG = deterministicBody(16 * 1024 * 1024)

function listenH2(server: Http2Server | Http2SecureServer): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
  })
}

describe('HTTP/2', () => {
  let cert: TestCert
  let h1Backend: TestUpstream
  let h2cBackend: Http2Server
  let h2tlsBackend: Http2SecureServer
  let gw: TestGateway
  let h2cUrl: string
  let tlsUrl: string
  const events: SlowEvents = { slowClosed: 0, slowSockets: [] }
  const h2cBackendSessions = { open: 0 }

  before(async () => {
    cert = await makeSelfSignedCert()
    h1Backend = await startUpstream(backendHandler('h1', events))
    h2cBackend = createH2Server(backendHandler('h2c', events))
    h2cBackend.on('session', (s) => {
      h2cBackendSessions.open++
      s.once('close', () => h2cBackendSessions.open--)
    })
    h2tlsBackend = createH2SecureServer({ cert: cert.cert, key: cert.key }, backendHandler('h2tls', events))
    const h2cPort = await listenH2(h2cBackend)
    const h2tlsPort = await listenH2(h2tlsBackend)
    gw = await startGateway({
      listeners: [
        { name: 'h2c', host: '127.0.0.1', port: 0, http2: true },
        {
          name: 'tls',
          host: '127.0.0.1',
          port: 0,
          http2: true,
          tls: { certFile: cert.certFile, keyFile: cert.keyFile },
        },
      ],
      upstreams: [
        { id: 'h1', backends: [{ url: h1Backend.url }] },
        { id: 'h2c', protocol: 'http2', backends: [{ url: `http://127.0.0.1:${h2cPort}` }] },
        {
          id: 'h2tls',
          protocol: 'http2',
          backends: [{ url: `https://127.0.0.1:${h2tlsPort}` }],
          tls: { rejectUnauthorized: false },
        },
      ],
      routes: [
        { id: 'to-h2c', match: { path: { prefix: '/h2c' } }, upstream: 'h2c' },
        { id: 'to-h2tls', match: { path: { prefix: '/h2tls' } }, upstream: 'h2tls' },
        { id: 'to-h1', match: { path: { prefix: '/' } }, upstream: 'h1' },
      ],
    })
    const addrs = gw.gateway.addresses()
    h2cUrl = `http://127.0.0.1:${addrs['h2c']?.port}`
    tlsUrl = `https://127.0.0.1:${addrs['tls']?.port}`
  })

  after(async () => {
    await gw.stop()
    await h1Backend.close()
    await new Promise<void>((r) => h2cBackend.close(() => r()))
    await new Promise<void>((r) => h2tlsBackend.close(() => r()))
    await cert.remove()
  })

  test('h2c prior knowledge: node:http2 on a cleartext http2 listener is proxied over HTTP/2', async () => {
    const session = await connectH2(h2cUrl)
    try {
      const res = await h2Request(session, '/a?b=1', { headers: { 'x-custom': 'v' } })
      assert.equal(res.status, 200)
      const echo = JSON.parse(res.body.toString()) as Echo
      assert.equal(echo.name, 'h1')
      assert.equal(echo.url, '/a?b=1')
      assert.equal(echo.httpVersion, '1.1', 'upstreams speak HTTP/1.1 by default')
      assert.equal(echo.headers['x-custom'], 'v')
      assert.equal(
        echo.headers['host'],
        `127.0.0.1:${gw.gateway.addresses()['h2c']?.port}`,
        ':authority becomes Host',
      )
      assert.equal(echo.headers['x-forwarded-proto'], 'http')
      assert.equal(typeof res.headers['x-request-id'], 'string')
    } finally {
      await closeSession(session)
    }
  })

  test('cookie crumbs from an h2 client reach an HTTP/1.1 backend as one Cookie field (RFC 9113 §8.2.3)', async () => {
    const session = await connectH2(h2cUrl)
    try {
      const res = await h2Request(session, '/cookies', { headers: { cookie: ['a=1', 'b=2', 'c=3'] } })
      const echo = JSON.parse(res.body.toString()) as Echo
      const cookies = echo.rawHeaders.filter(
        (_, i, all) => i % 2 === 1 && all[i - 1]?.toLowerCase() === 'cookie',
      )
      assert.deepEqual(cookies, ['a=1; b=2; c=3'])
    } finally {
      await closeSession(session)
    }
  })

  test('HTTP/1.1 still works on the same cleartext port as h2c', async () => {
    const res = await send(`${h2cUrl}/plain`)
    assert.equal(res.status, 200)
    assert.equal(res.json<Echo>().url, '/plain')
  })

  test('TLS + http2: ALPN negotiates h2 for a node:http2 client', async () => {
    const session = await connectH2(tlsUrl)
    try {
      assert.equal(session.alpnProtocol, 'h2')
      const res = await h2Request(session, '/tls')
      assert.equal(res.status, 200)
      const echo = JSON.parse(res.body.toString()) as Echo
      assert.equal(echo.url, '/tls')
      assert.equal(echo.headers['x-forwarded-proto'], 'https')
    } finally {
      await closeSession(session)
    }
  })

  test('TLS + http2: a client offering only http/1.1 falls back to HTTP/1.1 on the same port', async () => {
    const { port } = new URL(tlsUrl)
    const res = await new Promise<{ status: number; httpVersion: string; alpn: unknown; body: string }>(
      (resolve, reject) => {
        // ALPNProtocols is a tls.connect option that https passes through (not in RequestOptions' type).
        const options = {
          host: '127.0.0.1',
          port,
          path: '/fallback',
          agent: false as const,
          rejectUnauthorized: false,
          ALPNProtocols: ['http/1.1'],
        }
        const req = httpsRequest(options, (r) => {
          const chunks: Buffer[] = []
          r.on('data', (c: Buffer) => chunks.push(c))
          r.on('end', () =>
            resolve({
              status: r.statusCode ?? 0,
              httpVersion: r.httpVersion,
              alpn: (r.socket as { alpnProtocol?: unknown }).alpnProtocol,
              body: Buffer.concat(chunks).toString(),
            }),
          )
        })
        req.on('error', reject)
        req.end()
      },
    )
    assert.equal(res.status, 200)
    assert.equal(res.httpVersion, '1.1')
    assert.equal(res.alpn, 'http/1.1')
    const echo = JSON.parse(res.body) as Echo
    assert.equal(echo.url, '/fallback')
    assert.equal(echo.headers['x-forwarded-proto'], 'https')
  })

  test('curl --http2 over TLS negotiates h2', async () => {
    const { stdout } = await execFileAsync('curl', [
      '-sS',
      '-k',
      '--http2',
      '-w',
      '\n%{http_version} %{response_code}',
      `${tlsUrl}/curl-tls`,
    ])
    const lines = stdout.split('\n')
    assert.equal(lines.at(-1), '2 200')
    assert.equal((JSON.parse(lines.slice(0, -1).join('\n')) as Echo).url, '/curl-tls')
  })

  test('curl --http2-prior-knowledge on the cleartext listener speaks h2c', async () => {
    const { stdout } = await execFileAsync('curl', [
      '-sS',
      '--http2-prior-knowledge',
      '-w',
      '\n%{http_version} %{response_code}',
      `${h2cUrl}/curl-h2c`,
    ])
    const lines = stdout.split('\n')
    assert.equal(lines.at(-1), '2 200')
    assert.equal((JSON.parse(lines.slice(0, -1).join('\n')) as Echo).url, '/curl-h2c')
  })

  test('curl --http2 on cleartext (Upgrade: h2c) is answered over HTTP/1.1', async () => {
    const { stdout } = await execFileAsync('curl', [
      '-sS',
      '--http2',
      '-w',
      '\n%{http_version} %{response_code}',
      `${h2cUrl}/curl-upgrade`,
    ])
    const lines = stdout.split('\n')
    assert.equal(lines.at(-1), '1.1 200')
    const echo = JSON.parse(lines.slice(0, -1).join('\n')) as Echo
    assert.equal(echo.url, '/curl-upgrade')
    assert.equal(echo.headers['upgrade'], undefined, 'Upgrade is hop-by-hop')
    assert.equal(echo.headers['http2-settings'], undefined, 'HTTP2-Settings is hop-by-hop')
  })

  test('responses relayed over h2 carry no connection-specific fields (backend sent them over HTTP/1.1)', async () => {
    for (const url of [h2cUrl, tlsUrl]) {
      const session = await connectH2(url)
      try {
        const res = await h2Request(session, '/hop')
        assert.equal(res.status, 200)
        assert.equal(res.body.toString(), 'chunk-1;chunk-2')
        assert.equal(res.headers['x-e2e'], 'kept')
        assertNoConnectionHeaders(res.headers)
      } finally {
        await closeSession(session)
      }
    }
    const viaCurl = await execFileAsync('curl', [
      '-sS',
      '-k',
      '--http2',
      '-D',
      '-',
      '-o',
      '/dev/null',
      `${tlsUrl}/hop`,
    ])
    assert.match(viaCurl.stdout, /^HTTP\/2 200/)
    assert.doesNotMatch(viaCurl.stdout, /^(connection|keep-alive|transfer-encoding|x-hop):/im)
  })

  test('200 concurrent streams on one h2 session each get their own response', async () => {
    const session = await connectH2(h2cUrl)
    try {
      const n = 200
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          h2Request(session, `/stream/${i}`, { headers: { 'x-n': String(i) } }),
        ),
      )
      for (let i = 0; i < n; i++) {
        const res = results[i] as H2Response
        assert.equal(res.status, 200)
        const echo = JSON.parse(res.body.toString()) as Echo
        assert.equal(echo.url, `/stream/${i}`)
        assert.equal(echo.headers['x-n'], String(i))
      }
    } finally {
      await closeSession(session)
    }
  })

  test('a request body streams over h2 (POST 8 MiB, sha256 verified at the backend)', async () => {
    const body = deterministicBody(8 * 1024 * 1024)
    const expected = createHash('sha256').update(body).digest('hex')
    for (const url of [h2cUrl, tlsUrl]) {
      const session = await connectH2(url)
      try {
        // Without Content-Length: the body's length is known only from END_STREAM.
        const res = await h2Request(session, '/upload', { method: 'POST', body })
        assert.equal(res.status, 200, res.body.toString())
        const echo = JSON.parse(res.body.toString()) as Echo
        assert.equal(echo.bytes, body.length)
        assert.equal(echo.sha256, expected)
        // With Content-Length.
        const res2 = await h2Request(session, '/upload', {
          method: 'POST',
          body,
          headers: { 'content-length': String(body.length) },
        })
        assert.equal(res2.status, 200, res2.body.toString())
        assert.equal((JSON.parse(res2.body.toString()) as Echo).sha256, expected)
      } finally {
        await closeSession(session)
      }
    }
  })

  test('a 16 MiB response streams to h2 clients intact (from HTTP/1.1 and HTTP/2 backends)', async () => {
    const expected = createHash('sha256').update(BIG).digest('hex')
    for (const url of [h2cUrl, tlsUrl]) {
      const session = await connectH2(url)
      try {
        const [fromH1, fromH2] = await Promise.all([
          h2Request(session, '/big'),
          h2Request(session, '/h2c/big'),
        ])
        for (const res of [fromH1, fromH2]) {
          assert.equal(res.status, 200)
          assert.equal(res.body.length, BIG.length)
          assert.equal(createHash('sha256').update(res.body).digest('hex'), expected)
        }
      } finally {
        await closeSession(session)
      }
    }
  })

  test('h2c upstream (protocol http2): the backend is spoken to over HTTP/2 prior knowledge', async () => {
    const viaH1 = await send(`${h2cUrl}/h2c/x?y=1`)
    assert.equal(viaH1.status, 200)
    const echo = viaH1.json<Echo>()
    assert.equal(echo.name, 'h2c')
    assert.equal(echo.httpVersion, '2.0')
    assert.equal(echo.url, '/h2c/x?y=1')
    assert.equal(echo.headers['x-forwarded-proto'], 'http')

    const session = await connectH2(h2cUrl)
    try {
      const body = deterministicBody(2 * 1024 * 1024 + 3)
      const res = await h2Request(session, '/h2c/upload', { method: 'POST', body })
      assert.equal(res.status, 200, res.body.toString())
      const up = JSON.parse(res.body.toString()) as Echo
      assert.equal(up.httpVersion, '2.0')
      assert.equal(up.bytes, body.length)
      assert.equal(up.sha256, createHash('sha256').update(body).digest('hex'))
      assertNoConnectionHeaders(res.headers)

      const many = await Promise.all(Array.from({ length: 50 }, (_, i) => h2Request(session, `/h2c/m/${i}`)))
      many.forEach((r, i) => assert.equal((JSON.parse(r.body.toString()) as Echo).url, `/h2c/m/${i}`))
    } finally {
      await closeSession(session)
    }
  })

  test('TLS h2 upstream (protocol http2, https, rejectUnauthorized false) negotiates h2 via ALPN', async () => {
    const res = await send(`${h2cUrl}/h2tls/x`)
    assert.equal(res.status, 200, res.body)
    const echo = res.json<Echo>()
    assert.equal(echo.name, 'h2tls')
    assert.equal(echo.httpVersion, '2.0')
    const body = deterministicBody(1024 * 1024)
    const post = await send(`${h2cUrl}/h2tls/upload`, { method: 'POST', body })
    assert.equal(post.status, 200, post.body)
    assert.equal(post.json<Echo>().sha256, createHash('sha256').update(body).digest('hex'))
  })

  test('an h2 client cancelling its stream mid-response aborts the upstream request (HTTP/1.1 backend)', async () => {
    const before = events.slowClosed
    const session = await connectH2(h2cUrl)
    try {
      await new Promise<void>((resolve, reject) => {
        const stream = session.request({ ':path': '/slow' })
        let seen = 0
        stream.on('data', (c: Buffer) => {
          seen += c.length
          if (seen >= 16 * 1024) {
            stream.close(h2constants.NGHTTP2_CANCEL)
            resolve()
          }
        })
        stream.on('error', reject)
      })
      await eventually(() => events.slowClosed === before + 1, 3000, 'backend response closed early')
      // undici destroys an HTTP/1.1 connection whose request was aborted mid-body: it is not leaked
      // (nor returned to the pool half-read).
      const socket = events.slowSockets.at(-1)
      assert.ok(socket !== undefined)
      await eventually(() => socket.destroyed, 3000, 'aborted backend connection closed')
      assert.equal(gw.gateway.connections().upgraded, 0)
    } finally {
      await closeSession(session)
    }
    await eventually(() => gw.gateway.connections().open === 0, 3000, 'client connections closed')
  })

  test('an h2 client cancelling its stream aborts the stream on an h2 upstream too', async () => {
    const before = events.slowClosed
    const session = await connectH2(h2cUrl)
    try {
      await new Promise<void>((resolve, reject) => {
        const stream = session.request({ ':path': '/h2c/slow' })
        stream.once('data', () => {
          stream.close(h2constants.NGHTTP2_CANCEL)
          resolve()
        })
        stream.on('error', reject)
      })
      await eventually(() => events.slowClosed === before + 1, 3000, 'h2 backend stream closed early')
    } finally {
      await closeSession(session)
    }
    assert.ok(h2cBackendSessions.open <= 1, 'one multiplexed upstream session at most')
  })
})
