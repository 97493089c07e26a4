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
import { connect as netConnect, type Socket } from 'node:net'
import { connect as h2connect } from 'node:http2'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts'

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')
const ENHANCE_YOUR_CALM = 0xb
const REFUSED_STREAM = 0x7
const CANCEL = 0x8

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

interface Frame {
  readonly type: number
  readonly flags: number
  readonly streamId: number
  readonly payload: Buffer
}

/** A raw h2c connection: everything received is parsed into frames; `closed` resolves when the server closes. */
class RawH2 {
  readonly socket: Socket
  readonly frames: Frame[] = []
  readonly closed: Promise<number>
  #buf = Buffer.alloc(0)

  constructor(port: number) {
    const started = performance.now()
    this.socket = netConnect(port, '127.0.0.1')
    this.socket.on('error', () => undefined)
    this.closed = new Promise((r) => this.socket.once('close', () => r(performance.now() - started)))
    this.socket.on('data', (c: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, c])
      while (this.#buf.length >= 9) {
        const len = this.#buf.readUIntBE(0, 3)
        if (this.#buf.length < 9 + len) break
        this.frames.push({
          type: this.#buf[3] as number,
          flags: this.#buf[4] as number,
          streamId: this.#buf.readUInt32BE(5) & 0x7fffffff,
          payload: this.#buf.subarray(9, 9 + len),
        })
        this.#buf = this.#buf.subarray(9 + len)
      }
    })
    this.socket.write(Buffer.concat([PREFACE, frame(4, 0, 0, Buffer.alloc(0))]))
  }

  send(data: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data)
  }

  goaway(): { lastStreamId: number; code: number } | undefined {
    const f = this.frames.find((x) => x.type === 7)
    return f === undefined
      ? undefined
      : { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) }
  }

  resets(code: number): number {
    return this.frames.filter((f) => f.type === 3 && f.payload.readUInt32BE(0) === code).length
  }

  /** Resolves with the :status of the response HEADERS on `id` (first byte of an HPACK indexed :status). */
  async responseOn(id: number, timeoutMs = 2000): Promise<boolean> {
    const until = performance.now() + timeoutMs
    while (performance.now() < until) {
      if (this.frames.some((f) => f.type === 1 && f.streamId === id)) return true
      await new Promise((r) => setTimeout(r, 10))
    }
    return false
  }

  close(): void {
    this.socket.destroy()
  }
}

/** A normal h2 request on its own connection: the probe that other clients are still served. */
async function probe(url: string): Promise<number> {
  const session = h2connect(url)
  session.on('error', () => undefined)
  try {
    return await new Promise<number>((resolve, reject) => {
      const req = session.request({ ':path': '/probe' })
      req.on('response', (h) => resolve(Number(h[':status'])))
      req.on('error', reject)
      req.resume()
    })
  } finally {
    session.close()
  }
}

const withTimeout = <T>(p: Promise<T>, ms: number, fallback: T): Promise<T> =>
  Promise.race([p, new Promise<T>((r) => setTimeout(() => r(fallback), ms))])

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
