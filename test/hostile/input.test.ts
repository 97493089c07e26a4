/**
 * Strict input, fail closed: request heads that nginx refuses (or that backends could read two ways)
 * are refused with an RFC 9457 problem and a stable code, or their dangerous fields never reach the
 * upstream. Raw sockets for HTTP/1.1, raw frames for HTTP/2 where node:http2's client would refuse to
 * send the input. Each case also proves a normal request on another connection is served meanwhile.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as netConnect } from 'node:net'
import { connect as h2connect, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts'
import { parseRaw, rawExchange, send } from '../helpers/client.ts'
import { startWsBackend, type WsBackend } from '../helpers/ws-backend.ts'

interface Echo {
  method: string
  url: string
  headers: Record<string, string>
}

/** A problem document's code and request id, checked against the response it came in. */
function assertProblem(
  res: { status: number; headers: Record<string, string | string[] | undefined>; body: string },
  status: number,
  code: string,
): void {
  assert.equal(res.status, status, res.body)
  assert.equal(res.headers['content-type'], 'application/problem+json')
  const doc = JSON.parse(res.body) as { code: string; requestId: string; status: number }
  assert.equal(doc.code, code)
  assert.equal(doc.status, status)
  assert.ok(doc.requestId.length > 0)
  assert.equal(res.headers['x-request-id'], doc.requestId)
}

/** One raw HTTP/1.1 exchange; a normal request on another connection runs meanwhile and must get 200. */
async function rawWhileServing(gw: TestGateway, data: string): Promise<ReturnType<typeof parseRaw>> {
  const [raw, probe] = await Promise.all([
    rawExchange(gw.port, data, 2000),
    send(`${gw.url}/probe`, { headers: { host: 'b.test' } }),
  ])
  assert.equal(probe.status, 200, 'a normal request on another connection was not served')
  return parseRaw(raw)
}

// --- raw HTTP/2 frames (RFC 9113 §4.1) with literal, unindexed HPACK fields (RFC 7541 §6.2.2)

function literal(name: string, value: string): Buffer {
  const n = Buffer.from(name, 'latin1')
  const v = Buffer.from(value, 'latin1')
  return Buffer.concat([Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v])
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9)
  head.writeUIntBE(payload.length, 0, 3)
  head[3] = type
  head[4] = flags
  head.writeUInt32BE(streamId, 5)
  return Buffer.concat([head, payload])
}

interface H2Frame {
  readonly type: number
  readonly streamId: number
  readonly payload: Buffer
}

/** Sends the preface, SETTINGS and one HEADERS frame (END_STREAM|END_HEADERS); returns the frames received. */
function rawH2Request(port: number, fields: readonly (readonly [string, string])[]): Promise<H2Frame[]> {
  const block = Buffer.concat(fields.map(([n, v]) => literal(n, v)))
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const done = (): void => {
      clearTimeout(timer)
      socket.destroy()
      const buf = Buffer.concat(chunks)
      const frames: H2Frame[] = []
      for (let i = 0; i + 9 <= buf.length;) {
        const len = buf.readUIntBE(i, 3)
        frames.push({
          type: buf[i + 3] as number,
          streamId: buf.readUInt32BE(i + 5) & 0x7fffffff,
          payload: buf.subarray(i + 9, i + 9 + len),
        })
        i += 9 + len
      }
      resolve(frames)
    }
    const timer = setTimeout(done, 500)
    socket.on('data', (c: Buffer) => {
      chunks.push(c)
      // Stop at the end of stream 1: RST_STREAM, or a frame with END_STREAM on it.
      const all = Buffer.concat(chunks)
      for (let i = 0; i + 9 <= all.length;) {
        const len = all.readUIntBE(i, 3)
        if (i + 9 + len > all.length) break
        const type = all[i + 3] as number
        const flags = all[i + 4] as number
        if (
          (all.readUInt32BE(i + 5) & 0x7fffffff) === 1 &&
          (type === 3 || ((type === 0 || type === 1) && (flags & 1) === 1))
        )
          return done()
        i += 9 + len
      }
    })
    socket.on('error', () => undefined)
    socket.write(
      Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        frame(4, 0, 0, Buffer.alloc(0)),
        frame(1, 0x05, 1, block),
      ]),
    )
  })
}

function hasControlByte(value: string): boolean {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) < 0x20) return true
  return false
}

const BASE_FIELDS = [
  [':method', 'GET'],
  [':path', '/raw-h2'],
  [':scheme', 'http'],
  [':authority', 'b.test'],
] as const

function h2get(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'GET', ...headers })
    const chunks: Buffer[] = []
    let status = 0
    let head: Record<string, string | string[] | undefined> = {}
    stream.on('response', (h) => {
      status = Number(h[':status'])
      head = h as Record<string, string | string[] | undefined>
    })
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => resolve({ status, headers: head, body: Buffer.concat(chunks).toString() }))
    stream.on('error', reject)
  })
}

describe('strict input, fail closed', () => {
  let up: TestUpstream
  let wsUp: WsBackend
  let gw: TestGateway
  let h2: TestGateway
  const echoOf = (body: string): Echo => JSON.parse(body) as Echo
  before(async () => {
    up = await startUpstream()
    wsUp = await startWsBackend()
    const common = {
      upstreams: [
        { id: 'u', backends: [{ url: up.url }] },
        { id: 'ws', backends: [{ url: wsUp.url }] },
      ],
      // Only b.test (and ws.test for WebSocket) are routed: a request routed by another host gets 404.
      routes: [
        { id: 'b', match: { hosts: ['b.test'] }, upstream: 'u' },
        { id: 'ws', match: { hosts: ['ws.test'] }, upstream: 'ws' },
      ],
    }
    gw = await startGateway(common)
    h2 = await startGateway({
      ...common,
      listeners: [{ name: 'h2c', host: '127.0.0.1', port: 0, http2: true }],
    })
  })
  after(async () => {
    await gw.stop()
    await h2.stop()
    await up.close()
    await wsUp.close()
  })

  describe('HTTP/1.1 request line and target', () => {
    const cases = [
      {
        name: 'a request line without a version (HTTP/0.9)',
        data: 'GET /nine\r\nHost: b.test\r\n\r\n',
        code: 'INVALID_REQUEST_LINE',
      },
      {
        name: 'a raw CR LF in the target (would become a header)',
        data: 'GET /a\r\nX-Injected: 1 HTTP/1.1\r\nHost: b.test\r\n\r\n',
        code: 'INVALID_REQUEST_LINE',
      },
      {
        name: 'a bare CR in the target',
        data: 'GET /a\rX: y HTTP/1.1\r\nHost: b.test\r\n\r\n',
        code: 'INVALID_PATH',
      },
      {
        name: 'a control byte in the target',
        data: 'GET /a\x01b HTTP/1.1\r\nHost: b.test\r\n\r\n',
        code: 'INVALID_PATH',
      },
      {
        name: 'DEL in the target',
        data: 'GET /a\x7fb HTTP/1.1\r\nHost: b.test\r\n\r\n',
        code: 'INVALID_PATH',
      },
      {
        name: 'two Host fields',
        data: 'GET /a HTTP/1.1\r\nHost: b.test\r\nHost: evil.test\r\n\r\n',
        code: 'DUPLICATE_HOST',
      },
      {
        name: 'two Host fields, the same value',
        data: 'GET /a HTTP/1.1\r\nHost: b.test\r\nHost: b.test\r\n\r\n',
        code: 'DUPLICATE_HOST',
      },
      { name: 'an empty Host', data: 'GET /a HTTP/1.1\r\nHost:\r\n\r\n', code: 'INVALID_HOST' },
      {
        name: 'an absolute-form target with userinfo',
        data: 'GET http://user@b.test/a HTTP/1.1\r\nHost: b.test\r\n\r\n',
        code: 'INVALID_HOST',
      },
    ] as const
    for (const c of cases) {
      test(`${c.name}: 400 ${c.code}, nothing reaches the upstream`, async () => {
        const before = up.received.length
        const res = await rawWhileServing(gw, c.data)
        assertProblem(res, 400, c.code)
        // Only the probe request reached the upstream.
        assert.deepEqual(
          up.received.slice(before).map((r) => r.url),
          ['/probe'],
        )
      })
    }

    test('an absolute-form target is accepted and its authority is the host (RFC 9112 §3.2.2)', async () => {
      const res = await rawWhileServing(
        gw,
        'GET http://b.test/abs/path?q=1 HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n',
      )
      assert.equal(res.status, 200, res.body)
      const echo = echoOf(res.body)
      assert.equal(echo.url, '/abs/path?q=1')
      assert.equal(echo.headers['host'], 'b.test')
      const bare = parseRaw(
        await rawExchange(gw.port, 'GET HTTP://b.test HTTP/1.1\r\nConnection: close\r\n\r\n', 2000),
      )
      assert.equal(bare.status, 200, bare.body)
      assert.equal(echoOf(bare.body).url, '/')
    })
  })

  describe('WebSocket upgrades get the same checks', () => {
    const upgrade = (target: string, hostLines: string): string =>
      `GET ${target} HTTP/1.1\r\n${hostLines}Upgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'

    test('two Host fields: 400 DUPLICATE_HOST, no tunnel', async () => {
      const before = wsUp.sessions.length
      const res = await rawWhileServing(gw, upgrade('/chat', 'Host: ws.test\r\nHost: b.test\r\n'))
      assertProblem(res, 400, 'DUPLICATE_HOST')
      assert.equal(wsUp.sessions.length, before)
    })

    test('an absolute-form target is routed by its authority', async () => {
      const raw = await rawExchange(gw.port, upgrade('http://ws.test/chat?room=1', 'Host: b.test\r\n'), 500)
      assert.equal(parseRaw(raw).status, 101, raw)
      const session = wsUp.sessions.at(-1)
      assert.equal(session?.path, '/chat?room=1')
      assert.equal(session?.headers.host, 'ws.test')
    })
  })

  describe('header names with underscores (default: drop)', () => {
    test('X_Forwarded_For, Content_Length and Transfer_Encoding never reach the upstream (HTTP/1.1)', async () => {
      const res = await rawWhileServing(
        gw,
        'GET /u HTTP/1.1\r\nHost: b.test\r\nX_Forwarded_For: 203.0.113.9\r\nContent_Length: 5\r\n' +
          'Transfer_Encoding: chunked\r\nX-Kept: yes\r\nConnection: close\r\n\r\n',
      )
      assert.equal(res.status, 200, res.body)
      const headers = echoOf(res.body).headers
      assert.equal(headers['x-kept'], 'yes')
      for (const name of Object.keys(headers)) assert.ok(!name.includes('_'), `${name} reached the upstream`)
      assert.ok(!String(headers['x-forwarded-for']).includes('203.0.113.9'))
    })

    test('the same over HTTP/2', async () => {
      const session = h2connect(h2.url)
      try {
        const res = await h2get(session, {
          ':path': '/u2',
          ':authority': 'b.test',
          x_forwarded_for: '203.0.113.9',
        })
        assert.equal(res.status, 200)
        const headers = echoOf(res.body).headers
        assert.equal(headers['x_forwarded_for'], undefined)
        assert.ok(!String(headers['x-forwarded-for']).includes('203.0.113.9'))
      } finally {
        session.close()
      }
    })
  })

  describe('HTTP/2', () => {
    test('a Host field that differs from :authority: 400 HOST_MISMATCH; an equal one is served', async () => {
      const session = h2connect(h2.url)
      try {
        const before = up.received.length
        const [bad, good] = await Promise.all([
          h2get(session, { ':path': '/m', ':authority': 'b.test', host: 'evil.test' }),
          h2get(session, { ':path': '/ok', ':authority': 'b.test', host: 'B.test' }),
        ])
        assertProblem(bad, 400, 'HOST_MISMATCH')
        assert.equal(good.status, 200)
        assert.deepEqual(
          up.received.slice(before).map((r) => r.url),
          ['/ok'],
        )
      } finally {
        session.close()
      }
    })

    // Rejected by nghttp2 itself (nghttp2_http_on_header / its end-of-headers check: NGHTTP2_ERR_HTTP_HEADER),
    // before Node builds a request: RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.2.1, §8.2.2, §8.3).
    const resets: readonly { name: string; fields: readonly (readonly [string, string])[] }[] = [
      { name: 'an upper-case field name', fields: [...BASE_FIELDS, ['X-Upper', 'v']] },
      { name: 'a connection-specific field (connection)', fields: [...BASE_FIELDS, ['connection', 'close']] },
      { name: 'transfer-encoding', fields: [...BASE_FIELDS, ['transfer-encoding', 'chunked']] },
      { name: 'keep-alive', fields: [...BASE_FIELDS, ['keep-alive', 'timeout=5']] },
      { name: 'proxy-connection', fields: [...BASE_FIELDS, ['proxy-connection', 'keep-alive']] },
      { name: 'upgrade', fields: [...BASE_FIELDS, ['upgrade', 'websocket']] },
      { name: 'TE other than trailers', fields: [...BASE_FIELDS, ['te', 'gzip']] },
      {
        name: 'a pseudo-header after a regular field',
        fields: [
          [':method', 'GET'],
          [':scheme', 'http'],
          ['x-first', '1'],
          [':path', '/raw-h2'],
          [':authority', 'b.test'],
        ],
      },
      {
        name: 'an empty :path',
        fields: [
          [':method', 'GET'],
          [':path', ''],
          [':scheme', 'http'],
          [':authority', 'b.test'],
        ],
      },
      {
        name: 'a :path without a leading slash',
        fields: [
          [':method', 'GET'],
          [':path', 'raw-h2'],
          [':scheme', 'http'],
          [':authority', 'b.test'],
        ],
      },
      { name: 'a duplicate :path', fields: [...BASE_FIELDS, [':path', '/other']] },
      { name: 'a duplicate :method', fields: [...BASE_FIELDS, [':method', 'POST']] },
      { name: 'an unknown pseudo-header', fields: [...BASE_FIELDS, [':foo', 'bar']] },
      {
        name: 'no :path',
        fields: [
          [':method', 'GET'],
          [':scheme', 'http'],
          [':authority', 'b.test'],
        ],
      },
      {
        name: 'a pseudo-header value with a control byte',
        fields: [...BASE_FIELDS.slice(0, 3), [':authority', 'b.test\x01']],
      },
    ]
    for (const c of resets) {
      test(`${c.name}: the stream is reset (PROTOCOL_ERROR), nothing reaches the upstream`, async () => {
        const before = up.received.length
        const [frames, probe] = await Promise.all([
          rawH2Request(h2.port, c.fields),
          send(`${h2.url}/probe`, { headers: { host: 'b.test' } }),
        ])
        assert.equal(probe.status, 200)
        const rst = frames.find((f) => f.type === 3 && f.streamId === 1)
        assert.ok(rst !== undefined, `no RST_STREAM: ${frames.map((f) => f.type).join(',')}`)
        assert.equal(rst.payload.readUInt32BE(0), 1, 'PROTOCOL_ERROR')
        assert.ok(!frames.some((f) => f.type === 7), 'GOAWAY: a stream error, not a connection error')
        assert.deepEqual(
          up.received.slice(before).map((r) => r.url),
          ['/probe'],
        )
      })
    }

    const dropped = [
      { name: 'a field name with a space', field: ['x bad', 'v'] },
      { name: 'a field value with CR LF', field: ['x-crlf', 'a\r\nx-injected: 1'] },
      { name: 'a field value with NUL', field: ['x-nul', 'a\x00b'] },
      { name: 'a field value with a control byte', field: ['x-ctl', 'a\x01b'] },
      { name: 'a field name with a colon inside', field: ['x:bad', 'v'] },
      { name: 'a field value with leading whitespace', field: ['x-lead', ' v'] },
    ] as const
    for (const c of dropped) {
      test(`${c.name}: the field never reaches the upstream`, async () => {
        const before = up.received.length
        await rawH2Request(h2.port, [...BASE_FIELDS, c.field])
        const got = up.received.slice(before).find((r) => r.url === '/raw-h2')
        // nghttp2 reports the field to Node's on_invalid_header callback, which returns 0 ("ignore
        // invalid header fields by default", node_http2.cc): the field is dropped and the request served.
        // No JavaScript sees the field (not in the `stream` event's raw headers), so the stream cannot be
        // reset instead (docs/security.md). This asserts the request is served: a Node that resets the
        // stream fails here, and the docs must change with it.
        assert.ok(got !== undefined, 'the request was not served')
        for (const [name, value] of Object.entries(got.headers)) {
          assert.ok(!name.includes(' '), `${name} reached the upstream`)
          assert.ok(!hasControlByte(String(value)), `${name}: ${JSON.stringify(value)} reached the upstream`)
        }
        assert.equal(got.headers['x-injected'], undefined)
        assert.equal(got.headers[c.field[0]], undefined, `${c.field[0]} reached the upstream`)
      })
    }
  })
})
