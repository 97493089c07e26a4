/**
 * HTTP/2 rapid reset (CVE-2023-44487) and stream floods, with raw frames (RFC 9113 §4.1, HPACK literals
 * without indexing, RFC 7541 §6.2.2): a client that opens and cancels streams faster than
 * `server.http2MaxClientResets` per `http2ClientResetWindowMs` gets GOAWAY ENHANCE_YOUR_CALM and its
 * session is closed, while other clients keep being served; a client under the bound keeps its session;
 * more concurrent streams than SETTINGS_MAX_CONCURRENT_STREAMS are refused, and a session that keeps
 * pushing them is closed (Node's maxSessionRejectedStreams).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts'
import { frame, literal, probeH2 as probe, RawH2, withTimeout } from '../helpers/raw-h2.ts'

const ENHANCE_YOUR_CALM = 0xb
const REFUSED_STREAM = 0x7
const CANCEL = 0x8

const BLOCK = Buffer.concat([
  literal(':method', 'GET'),
  literal(':path', '/flood'),
  literal(':scheme', 'http'),
  literal(':authority', 'a.test'),
])
const headers = (id: number, endStream = true): Buffer => frame(1, endStream ? 0x05 : 0x04, id, BLOCK)
const rst = (id: number, code = CANCEL): Buffer => {
  const p = Buffer.alloc(4)
  p.writeUInt32BE(code)
  return frame(3, 0, id, p)
}

describe('HTTP/2 rapid reset and stream flood', () => {
  let up: TestUpstream
  let gw: TestGateway

  before(async () => {
    // A slow backend: every stream the client opens costs the gateway an upstream request until reset.
    up = await startUpstream((_req, res) => {
      const t = setTimeout(() => res.end('ok'), 200)
      res.once('close', () => clearTimeout(t))
    })
    gw = await startGateway({
      listeners: [{ name: 'main', host: '127.0.0.1', port: 0, http2: true }],
      server: { http2MaxClientResets: 50, http2ClientResetWindowMs: 10_000 },
      // A pool larger than the streams a session may hold: requests waiting for bodies that never come
      // holding upstream slots is the slow-client problem (request buffering), not what is tested here.
      upstreams: [{ id: 'u', backends: [{ url: up.url }], pool: { maxConnectionsPerBackend: 1024 } }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
  })
  after(async () => {
    await gw.stop()
    await up.close()
  })

  test('open-and-cancel 2,000 streams: GOAWAY ENHANCE_YOUR_CALM after the bound, session closed, others served', async (t) => {
    const before = up.received.length
    const c = new RawH2(gw.port)
    const N = 2000
    const parts: Buffer[] = []
    for (let i = 0; i < N; i++) parts.push(headers(1 + 2 * i), rst(1 + 2 * i))
    c.send(Buffer.concat(parts))
    const closedAfterMs = await withTimeout(c.closed, 5000, -1)
    const status = await probe(gw.url)
    const goaway = c.goaway()
    const reached = up.received.length - before
    t.diagnostic(
      `${N} HEADERS+RST_STREAM pairs: GOAWAY code ${goaway?.code} last stream ${goaway?.lastStreamId}, ` +
        `closed after ${closedAfterMs.toFixed(0)} ms, ${reached} requests reached the upstream, probe ${status}`,
    )
    assert.ok(closedAfterMs >= 0, 'the session was closed')
    assert.equal(goaway?.code, ENHANCE_YOUR_CALM)
    // One write of the whole flood: nghttp2 finishes the socket read it is in (up to 64 KiB of frames)
    // before the GOAWAY takes effect, so more than 50 streams are parsed; the session still ends early.
    assert.ok((goaway?.lastStreamId ?? Infinity) < 2 * N - 1, `last stream ${goaway?.lastStreamId}`)
    assert.ok(reached < 100, `${reached} upstream requests`)
    assert.equal(status, 200, 'another client is still served')
    assert.ok(
      gw.lines.some((l) => l.includes('ENHANCE_YOUR_CALM')),
      'logged',
    )
    c.close()
  })

  test('paced open-and-cancel (10 pairs per write): GOAWAY within a few writes after the 50th reset', async (t) => {
    const c = new RawH2(gw.port)
    let id = 1
    while (!c.socket.destroyed && id < 2 * 1000) {
      const parts: Buffer[] = []
      for (let i = 0; i < 10; i++, id += 2) parts.push(headers(id), rst(id))
      c.send(Buffer.concat(parts))
      await new Promise((r) => setTimeout(r, 2))
    }
    await withTimeout(c.closed, 5000, -1)
    const goaway = c.goaway()
    t.diagnostic(
      `paced flood: GOAWAY code ${goaway?.code} after stream ${goaway?.lastStreamId} (${((goaway?.lastStreamId ?? 0) + 1) / 2} streams)`,
    )
    assert.equal(goaway?.code, ENHANCE_YOUR_CALM)
    assert.ok((goaway?.lastStreamId ?? Infinity) <= 2 * (50 + 40), `last stream ${goaway?.lastStreamId}`)
    c.close()
  })

  test('a client under the bound (30 cancelled streams) keeps its session and is served on it', async () => {
    const c = new RawH2(gw.port)
    c.send(frame(4, 0x1, 0, Buffer.alloc(0))) // SETTINGS ACK
    for (let i = 0; i < 30; i++) c.send(Buffer.concat([headers(1 + 2 * i), rst(1 + 2 * i)]))
    const id = 1 + 2 * 30
    c.send(headers(id))
    assert.ok(await c.responseOn(id), 'the next request on the session is answered')
    assert.equal(c.goaway(), undefined)
    c.close()
  })

  test('streams beyond SETTINGS_MAX_CONCURRENT_STREAMS (256) are refused before they cost anything', async (t) => {
    const before = up.received.length
    const c = new RawH2(gw.port)
    const parts: Buffer[] = []
    // Requests whose bodies never come: each stays open.
    for (let i = 0; i < 600; i++) parts.push(headers(1 + 2 * i, false))
    c.send(Buffer.concat(parts))
    const until = performance.now() + 3000
    while (c.resets(REFUSED_STREAM) < 600 - 256 && performance.now() < until)
      await new Promise((r) => setTimeout(r, 20))
    const refused = c.resets(REFUSED_STREAM)
    const reached = up.received.length - before
    t.diagnostic(
      `600 concurrent streams: ${refused} REFUSED_STREAM (nghttp2, before any JavaScript runs), ${reached} reached the upstream`,
    )
    assert.equal(refused, 600 - 256)
    assert.ok(reached <= 256, `${reached} upstream requests`)
    assert.equal(await probe(gw.url), 200, 'another client is still served')
    c.close()
  })
})
