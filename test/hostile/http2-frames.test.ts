/**
 * HTTP/2 frame-level conformance (RFC 9113), with raw frames on an h2c listener: what a third-party
 * conformance suite found, case by case. Fixed cases assert the RFC outcome; cases decided inside
 * nghttp2 before any JavaScript runs assert Node's actual behaviour, so that a Node upgrade that changes
 * it is noticed (docs/security.md, strict input). Every case also proves another client is served.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tlsConnect } from 'node:tls'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { makeSelfSignedCert, type TestCert } from '../helpers/tls.ts'
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts'
import {
  ACK,
  FLOW_CONTROL_ERROR,
  headersFrame,
  PING,
  PROTOCOL_ERROR,
  ping,
  probeH2,
  RawH2,
  STREAM_CLOSED,
  windowUpdate,
  withTimeout,
} from '../helpers/raw-h2.ts'
import { MAX_ABSORBED_SESSION_ERRORS } from '../../src/net/http2-sessions.ts'

const fields = (path: string): [string, string][] => [
  [':method', 'GET'],
  [':path', path],
  [':scheme', 'http'],
  [':authority', 'f.test'],
]
/** Largest flow-control window (RFC 9113 §6.9.1). */
const MAX_WINDOW = 0x7fffffff

describe('HTTP/2 frame-level conformance', () => {
  let up: TestUpstream
  let gw: TestGateway
  const paths = (from: number): string[] => up.received.slice(from).map((r) => r.url ?? '')
  const served = async (): Promise<void> => {
    assert.equal(await probeH2(gw.url, 'f.test'), 200, 'another client was not served')
  }

  before(async () => {
    // /slow answers after 400 ms: its stream stays open (half-closed remote) meanwhile.
    up = await startUpstream((req, res) => {
      const t = setTimeout(() => res.end('ok'), req.url?.startsWith('/slow') === true ? 400 : 0)
      res.once('close', () => clearTimeout(t))
    })
    gw = await startGateway({
      listeners: [{ name: 'h2c', host: '127.0.0.1', port: 0, http2: true }],
      upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
      routes: [{ id: 'r', match: { hosts: ['f.test'] }, upstream: 'u' }],
    })
  })
  after(async () => {
    await gw.stop()
    await up.close()
  })

  describe('fixed', () => {
    test('a PING ACK with no PING outstanding is ignored (RFC 9113 §6.7): the session keeps serving', async () => {
      const c = new RawH2(gw.port)
      try {
        c.send(ping(ACK, Buffer.from('unsolict')))
        c.send(headersFrame(1, fields('/after-ack')))
        assert.ok(await c.endedOn(1), 'the request after the PING ACK was not answered')
        // The session still answers a PING of its own.
        c.send(ping(0, Buffer.from('liveness')))
        assert.ok(
          await c.waitFor(
            (f) => f.type === PING && (f.flags & ACK) !== 0 && f.payload.toString() === 'liveness',
          ),
          'no PING ACK',
        )
        assert.equal(c.goaway(), undefined, 'GOAWAY')
        assert.equal(c.isClosed, false)
        await served()
      } finally {
        c.close()
      }
    })

    test(`a flood of unsolicited PING ACKs: the session is closed after ${MAX_ABSORBED_SESSION_ERRORS}`, async (t) => {
      const c = new RawH2(gw.port)
      try {
        const acks: Buffer[] = []
        for (let i = 0; i < MAX_ABSORBED_SESSION_ERRORS * 3; i++) acks.push(ping(ACK))
        c.send(Buffer.concat(acks))
        const closedAfterMs = await withTimeout(c.closed, 5000, -1)
        t.diagnostic(`closed after ${Math.round(closedAfterMs)} ms, GOAWAY ${JSON.stringify(c.goaway())}`)
        assert.ok(closedAfterMs >= 0, 'the session was not closed')
        await served()
      } finally {
        c.close()
      }
    })
  })

  describe('already conforming (asserted so that it stays so)', () => {
    test('a WINDOW_UPDATE overflowing the connection window: GOAWAY FLOW_CONTROL_ERROR, connection closed (§6.9.1)', async (t) => {
      const c = new RawH2(gw.port)
      try {
        c.send(windowUpdate(0, MAX_WINDOW))
        const closedAfterMs = await withTimeout(c.closed, 5000, -1)
        t.diagnostic(`closed after ${Math.round(closedAfterMs)} ms`)
        assert.ok(closedAfterMs >= 0, 'the connection stayed open')
        assert.equal(c.goaway()?.code, FLOW_CONTROL_ERROR)
        await served()
      } finally {
        c.close()
      }
    })

    // nghttp2 sends GOAWAY itself; Node also reports it to JavaScript as NGHTTP2_ERR_PROTO, the code of
    // an unsolicited PING ACK: the liveness PING (never answered, nghttp2 reads no more) closes it.
    test('a WINDOW_UPDATE of 0 on the connection: GOAWAY PROTOCOL_ERROR, connection closed (§6.9)', async (t) => {
      const c = new RawH2(gw.port)
      try {
        c.send(windowUpdate(0, 0))
        const closedAfterMs = await withTimeout(c.closed, 5000, -1)
        t.diagnostic(`closed after ${Math.round(closedAfterMs)} ms`)
        assert.ok(closedAfterMs >= 0, 'the connection stayed open')
        assert.equal(c.goaway()?.code, PROTOCOL_ERROR)
        await served()
      } finally {
        c.close()
      }
    })

    test('HEADERS on a stream that is half-closed (remote) and still open: GOAWAY STREAM_CLOSED (§5.1)', async () => {
      const c = new RawH2(gw.port)
      try {
        c.send(headersFrame(1, fields('/slow-half-closed')))
        c.send(headersFrame(1, fields('/slow-half-closed-again')))
        assert.ok(
          await withTimeout(
            c.closed.then(() => true),
            5000,
            false,
          ),
          'the connection stayed open',
        )
        const goaway = c.goaway()
        assert.equal(goaway?.code, STREAM_CLOSED)
        assert.equal(goaway?.lastStreamId, 1)
        await served()
      } finally {
        c.close()
      }
    })
  })

  describe('decided by nghttp2, documented (docs/security.md)', () => {
    // nghttp2 1.70 (Node 24) makes a stream window overflow a connection error itself
    // (session_handle_invalid_connection, "WINDOW_UPDATE: window size overflow") and sends GOAWAY
    // FLOW_CONTROL_ERROR before Node reports it to JavaScript (session error -524): there is no stream
    // left to reset.
    test('a WINDOW_UPDATE overflowing a stream window: GOAWAY FLOW_CONTROL_ERROR, connection closed (§6.9.1 asks for RST_STREAM)', async () => {
      const c = new RawH2(gw.port)
      try {
        const before = up.received.length
        c.send(headersFrame(1, fields('/slow-window')))
        // The stream is open on the server (its request reached the upstream) before the overflow.
        const until = performance.now() + 2000
        while (up.received.length === before && performance.now() < until)
          await new Promise((r) => setTimeout(r, 10))
        assert.deepEqual(paths(before), ['/slow-window'])
        c.send(windowUpdate(1, MAX_WINDOW))
        assert.ok(
          await withTimeout(
            c.closed.then(() => true),
            5000,
            false,
          ),
          'the connection stayed open',
        )
        assert.equal(c.resetOn(1), undefined, 'RST_STREAM: nghttp2 now resets the stream (update the docs)')
        assert.equal(c.goaway()?.code, FLOW_CONTROL_ERROR)
        await served()
      } finally {
        c.close()
      }
    })

    // Node runs nghttp2 with no_closed_streams: a closed stream is forgotten at once, so nghttp2 cannot
    // tell a HEADERS on it from a late trailer after a reset and ignores the header block
    // (NGHTTP2_ERR_IGN_HEADER_BLOCK). No callback reaches JavaScript: no `stream` event, no session
    // `error` or `frameError`, no invalid-frame count.
    test('HEADERS on a closed stream is ignored (RFC 9113 §5.1 asks for STREAM_CLOSED): no GOAWAY, nothing reaches the upstream', async () => {
      const c = new RawH2(gw.port)
      try {
        const before = up.received.length
        c.send(headersFrame(1, fields('/closed-first')))
        assert.ok(await c.endedOn(1))
        c.send(headersFrame(1, fields('/closed-again')))
        c.send(headersFrame(3, fields('/closed-next')))
        assert.ok(await c.endedOn(3), 'the session stopped serving')
        assert.equal(
          c.goaway(),
          undefined,
          'a GOAWAY: Node now treats this as a connection error (update the docs)',
        )
        assert.deepEqual(paths(before), ['/closed-first', '/closed-next'])
        await served()
      } finally {
        c.close()
      }
    })

    test('a lower stream id than one already used is ignored (§5.1.1 asks for PROTOCOL_ERROR): no GOAWAY, nothing reaches the upstream', async () => {
      const c = new RawH2(gw.port)
      try {
        const before = up.received.length
        c.send(headersFrame(5, fields('/lower-first')))
        assert.ok(await c.endedOn(5))
        c.send(headersFrame(3, fields('/lower-again')))
        c.send(headersFrame(7, fields('/lower-next')))
        assert.ok(await c.endedOn(7), 'the session stopped serving')
        assert.equal(
          c.goaway(),
          undefined,
          'a GOAWAY: Node now treats this as a connection error (update the docs)',
        )
        assert.ok(!c.frames.some((f) => f.streamId === 3), 'stream 3 got an answer')
        assert.deepEqual(paths(before), ['/lower-first', '/lower-next'])
        await served()
      } finally {
        c.close()
      }
    })

    test('the same while a higher stream is still open: ignored, the open stream completes', async () => {
      const c = new RawH2(gw.port)
      try {
        const before = up.received.length
        c.send(headersFrame(5, fields('/slow-lower-open')))
        c.send(headersFrame(3, fields('/lower-while-open')))
        assert.ok(await c.endedOn(5), 'the open stream did not complete')
        assert.equal(c.goaway(), undefined)
        assert.deepEqual(paths(before), ['/slow-lower-open'])
        await served()
      } finally {
        c.close()
      }
    })
  })
  describe('the same fix on a TLS listener (ALPN h2)', () => {
    let cert: TestCert
    let tgw: TestGateway
    before(async () => {
      cert = await makeSelfSignedCert()
      tgw = await startGateway({
        listeners: [
          {
            name: 'tls',
            host: '127.0.0.1',
            port: 0,
            http2: true,
            tls: { certFile: cert.certFile, keyFile: cert.keyFile },
          },
        ],
        upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
        routes: [{ id: 'r', match: { hosts: ['f.test'] }, upstream: 'u' }],
      })
    })
    after(async () => {
      await tgw.stop()
      await cert.remove()
    })

    test('a PING ACK with no PING outstanding is ignored: the session keeps serving', async () => {
      const socket = tlsConnect({
        port: tgw.port,
        host: '127.0.0.1',
        ALPNProtocols: ['h2'],
        rejectUnauthorized: false,
      })
      const c = new RawH2(socket)
      try {
        c.send(ping(ACK, Buffer.from('unsolict')))
        c.send(headersFrame(1, fields('/tls-after-ack')))
        assert.ok(await c.endedOn(1), 'the request after the PING ACK was not answered')
        assert.equal(c.goaway(), undefined, 'GOAWAY')
        assert.equal(c.isClosed, false)
        assert.equal(
          await probeH2(`https://127.0.0.1:${tgw.port}`, 'f.test', { rejectUnauthorized: false }),
          200,
          'another client was not served',
        )
      } finally {
        c.close()
      }
    })
  })
})
