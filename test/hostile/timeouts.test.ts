/**
 * Every client-side timeout fires on every listener kind (cleartext HTTP/1.1, cleartext HTTP/1.1 +
 * h2c on one port, TLS HTTP/1.1, TLS with ALPN h2): a connection that sends nothing, a partial request
 * head, a stalled body, an idle keep-alive connection, an idle HTTP/2 session. Real sockets on
 * 127.0.0.1, timeouts configured short so each case ends well within 2 s.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { connect as h2connect, type ClientHttp2Session } from 'node:http2'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { eventually, respondAfter, startUpstream, type TestUpstream } from '../helpers/upstream.ts'
import { makeSelfSignedCert, type TestCert } from '../helpers/tls.ts'
import { parseRaw } from '../helpers/client.ts'

const TIMEOUT_MS = 300
/** Upper bound on how long after the timeout a close may come (sweep ticks, checker interval). */
const SLACK_MS = 1200

interface Kind {
  readonly name: string
  readonly isTls: boolean
  readonly isH2: boolean
}

const KINDS: readonly Kind[] = [
  { name: 'cleartext HTTP/1.1', isTls: false, isH2: false },
  { name: 'cleartext HTTP/1.1 + h2c', isTls: false, isH2: true },
  { name: 'TLS HTTP/1.1', isTls: true, isH2: false },
  { name: 'TLS h2 + HTTP/1.1', isTls: true, isH2: true },
]

/** Opens a raw connection: TCP, or TLS with ALPN `http/1.1` (handshake done) for TLS kinds. */
function open(kind: Kind, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = kind.isTls
      ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () =>
          resolve(s),
        )
      : netConnect(port, '127.0.0.1', () => resolve(s))
    s.once('error', reject)
  })
}

/** Reads until the server closes `socket`: what it sent and how long it took (or 'open' at `limitMs`). */
function untilClosed(socket: Socket, limitMs: number): Promise<{ ms: number | 'open'; data: string }> {
  const started = performance.now()
  const chunks: Buffer[] = []
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ ms: 'open', data: Buffer.concat(chunks).toString() })
    }, limitMs)
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', () => undefined)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve({ ms: performance.now() - started, data: Buffer.concat(chunks).toString() })
    })
  })
}

/** Reads one complete response head + Content-Length body, leaving the connection open. */
function readOneResponse(socket: Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = ''
    const onData = (c: Buffer): void => {
      buf += c.toString()
      const end = buf.indexOf('\r\n\r\n')
      if (end === -1) return
      const res = parseRaw(buf)
      if (res.body.length < Number(res.headers['content-length'] ?? 0)) return
      socket.off('data', onData)
      resolve(res.status)
    }
    socket.on('data', onData)
    socket.once('error', reject)
    socket.once('close', () => reject(new Error(`closed before a complete response: ${JSON.stringify(buf)}`)))
  })
}

function h2session(kind: Kind, port: number): ClientHttp2Session {
  return kind.isTls
    ? h2connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false })
    : h2connect(`http://127.0.0.1:${port}`)
}

describe('client timeouts on every listener kind', () => {
  let up: TestUpstream
  let cert: TestCert
  const gateways = new Map<string, TestGateway>()
  before(async () => {
    up = await startUpstream((req, res) => {
      req.resume()
      // /slow answers after twice the timeouts: a request waiting for its upstream is not idle.
      req.once('end', () =>
        req.url === '/slow' ? respondAfter(res, TIMEOUT_MS * 2, () => res.end('ok')) : res.end('ok'),
      )
    })
    cert = await makeSelfSignedCert()
    for (const kind of KINDS) {
      gateways.set(
        kind.name,
        await startGateway({
          listeners: [
            {
              name: 'main',
              host: '127.0.0.1',
              port: 0,
              http2: kind.isH2,
              ...(kind.isTls ? { tls: { certFile: cert.certFile, keyFile: cert.keyFile } } : {}),
            },
          ],
          server: {
            headersTimeoutMs: TIMEOUT_MS,
            keepAliveTimeoutMs: TIMEOUT_MS,
            requestBodyIdleTimeoutMs: TIMEOUT_MS,
            tlsHandshakeTimeoutMs: TIMEOUT_MS,
            http2IdleTimeoutMs: TIMEOUT_MS,
          },
          upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
          routes: [{ id: 'r', match: {}, upstream: 'u' }],
        }),
      )
    }
  })
  after(async () => {
    for (const gw of gateways.values()) await gw.stop()
    await up.close()
    await cert.remove()
  })

  const portOf = (kind: Kind): number => (gateways.get(kind.name) as TestGateway).port

  for (const kind of KINDS) {
    describe(kind.name, () => {
      test(
        kind.isTls
          ? 'a TCP connection that never starts the TLS handshake is closed'
          : 'a TCP connection that sends nothing is closed',
        async () => {
          const s = await new Promise<Socket>((resolve, reject) => {
            const c = netConnect(portOf(kind), '127.0.0.1', () => resolve(c))
            c.once('error', reject)
          })
          const { ms } = await untilClosed(s, TIMEOUT_MS + SLACK_MS)
          assert.notEqual(ms, 'open', 'still open after the timeout')
          assert.ok((ms as number) >= TIMEOUT_MS * 0.8, `closed too early (${String(ms)} ms)`)
        },
      )

      test('a partial request head gets 408 and the connection is closed', async () => {
        const s = await open(kind, portOf(kind))
        s.write('GET /partial HTTP/1.1\r\nHost: a.test\r\nX-Slow: ')
        const { ms, data } = await untilClosed(s, TIMEOUT_MS + SLACK_MS)
        assert.notEqual(ms, 'open', 'still open after the head timeout')
        const res = parseRaw(data)
        assert.equal(res.status, 408)
        assert.equal(res.headers['content-type'], 'application/problem+json')
        assert.equal((JSON.parse(res.body) as { code: string }).code, 'REQUEST_HEADER_TIMEOUT')
      })

      test('a stalled request body gets 408 and the connection is closed', async () => {
        const s = await open(kind, portOf(kind))
        s.write('POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\n\r\n0123456789')
        const { ms, data } = await untilClosed(s, TIMEOUT_MS + SLACK_MS)
        assert.notEqual(ms, 'open', 'still open after the body idle timeout')
        assert.ok((ms as number) >= TIMEOUT_MS * 0.8, `closed too early (${String(ms)} ms)`)
        const res = parseRaw(data)
        assert.equal(res.status, 408, data)
        assert.equal((JSON.parse(res.body) as { code: string }).code, 'REQUEST_BODY_TIMEOUT')
      })

      test('an idle keep-alive connection is closed', async () => {
        const s = await open(kind, portOf(kind))
        s.write('GET /a HTTP/1.1\r\nHost: a.test\r\n\r\n')
        assert.equal(await readOneResponse(s), 200)
        const { ms } = await untilClosed(s, TIMEOUT_MS + SLACK_MS)
        assert.notEqual(ms, 'open', 'still open after the keep-alive timeout')
      })

      test('silent sockets filling the connection cap are refused and counted, then freed by the timeout', async () => {
        const CAP = 4
        const capped = await startGateway({
          listeners: [
            {
              name: 'capped',
              host: '127.0.0.1',
              port: 0,
              http2: kind.isH2,
              ...(kind.isTls ? { tls: { certFile: cert.certFile, keyFile: cert.keyFile } } : {}),
            },
          ],
          server: { maxConnections: CAP, headersTimeoutMs: TIMEOUT_MS, tlsHandshakeTimeoutMs: TIMEOUT_MS },
          upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
          routes: [{ id: 'r', match: {}, upstream: 'u' }],
        })
        const held: Socket[] = []
        try {
          for (let i = 0; i < CAP; i++) {
            held.push(
              await new Promise<Socket>((resolve, reject) => {
                // Half-open allowed: the client never answers our FIN (it must not keep its slot).
                const c = netConnect({ port: capped.port, host: '127.0.0.1', allowHalfOpen: true }, () =>
                  resolve(c),
                )
                c.once('error', reject)
              }),
            )
          }
          // The server's FIN (or reset) on each; the client side stays open (never ends, never destroys).
          const ended = held.map(
            (s) =>
              new Promise<void>((resolve) => {
                s.once('end', resolve).once('close', resolve).once('error', resolve)
                s.resume()
              }),
          )
          await new Promise((r) => setTimeout(r, 50))
          // One more while the cap is full: closed at once, and counted.
          const extra = await new Promise<Socket>((resolve, reject) => {
            const c = netConnect(capped.port, '127.0.0.1', () => resolve(c))
            c.once('error', reject)
          })
          const refused = await untilClosed(extra, TIMEOUT_MS)
          assert.notEqual(refused.ms, 'open', 'a connection above the cap was accepted')
          assert.ok(capped.gateway.connections().rejected >= 1, 'the refusal was not counted')
          await Promise.all(ended)
          // Closed on the server side, half-open clients included: no open connection is counted.
          await eventually(
            () => capped.gateway.connections().open === 0,
            3000,
            'the silent sockets to be closed',
          )
          // The slots are free again: a normal client is served.
          const s = await open(kind, capped.port)
          s.write('GET /after HTTP/1.1\r\nHost: a.test\r\n\r\n')
          assert.equal(await readOneResponse(s), 200)
          s.destroy()
        } finally {
          for (const s of held) s.destroy()
          await capped.stop()
        }
      })

      if (kind.isH2) {
        test('an idle HTTP/2 session gets GOAWAY and is closed; an active stream keeps it', async () => {
          const session = h2session(kind, portOf(kind))
          try {
            let goawayAt: number | undefined
            session.on('goaway', (code: number) => {
              assert.equal(code, 0, 'GOAWAY with NO_ERROR')
              goawayAt = performance.now()
            })
            session.on('error', () => undefined)
            // A request whose response takes twice the idle timeout: the session is not idle meanwhile.
            const started = performance.now()
            const stream = session.request({ ':method': 'GET', ':path': '/slow' })
            stream.resume()
            const status = await new Promise<number>((resolve) =>
              stream.once('response', (h) => resolve(Number(h[':status']))),
            )
            assert.equal(goawayAt, undefined, 'GOAWAY while a stream was open')
            assert.ok(performance.now() - started >= TIMEOUT_MS * 2 * 0.9)
            assert.equal(status, 200)
            const isClosed = await new Promise<boolean>((resolve) => {
              const timer = setTimeout(() => resolve(false), TIMEOUT_MS + SLACK_MS)
              session.once('close', () => {
                clearTimeout(timer)
                resolve(true)
              })
            })
            assert.ok(isClosed, 'the idle session is still open')
            assert.ok(goawayAt !== undefined, 'closed without GOAWAY')
            assert.ok(goawayAt - started < TIMEOUT_MS * 3 + SLACK_MS)
          } finally {
            session.destroy()
          }
        })

        test('a stalled HTTP/2 request body gets 408 and the stream is closed; the session lives on', async () => {
          const session = h2session(kind, portOf(kind))
          try {
            session.on('error', () => undefined)
            const stream = session.request({ ':method': 'POST', ':path': '/upload' })
            stream.on('error', () => undefined)
            let status = 0
            const chunks: Buffer[] = []
            stream.on('response', (h) => (status = Number(h[':status'])))
            stream.on('data', (c: Buffer) => chunks.push(c))
            stream.write('0123456789')
            const started = performance.now()
            const isClosed = await new Promise<boolean>((resolve) => {
              const timer = setTimeout(() => resolve(false), TIMEOUT_MS + SLACK_MS)
              stream.once('close', () => {
                clearTimeout(timer)
                resolve(true)
              })
            })
            assert.ok(isClosed, 'the stalled stream is still open')
            assert.ok(performance.now() - started >= TIMEOUT_MS * 0.8)
            assert.equal(status, 408)
            const doc = JSON.parse(Buffer.concat(chunks).toString()) as { code: string }
            assert.equal(doc.code, 'REQUEST_BODY_TIMEOUT')
            // Another stream on the same session is served.
            const next = session.request({ ':method': 'GET', ':path': '/after' })
            next.resume()
            const nextStatus = await new Promise<number>((resolve) =>
              next.once('response', (h) => resolve(Number(h[':status']))),
            )
            assert.equal(nextStatus, 200)
          } finally {
            session.destroy()
          }
        })

        test('a peer that never answers PING is closed; one that answers keeps its session', async () => {
          const pinging = await startGateway({
            listeners: [
              {
                name: 'ping',
                host: '127.0.0.1',
                port: 0,
                http2: true,
                ...(kind.isTls ? { tls: { certFile: cert.certFile, keyFile: cert.keyFile } } : {}),
              },
            ],
            server: { http2IdleTimeoutMs: 60_000, http2PingIntervalMs: TIMEOUT_MS },
            upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
            routes: [{ id: 'r', match: {}, upstream: 'u' }],
          })
          const live = h2session(kind, pinging.port)
          live.on('error', () => undefined)
          const deaf = await new Promise<Socket>((resolve, reject) => {
            const c = kind.isTls
              ? tlsConnect(
                  { port: pinging.port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['h2'] },
                  () => resolve(c),
                )
              : netConnect(pinging.port, '127.0.0.1', () => resolve(c))
            c.once('error', reject)
          })
          try {
            // Preface and an empty SETTINGS, then it reads everything and answers nothing.
            deaf.write(
              Buffer.concat([
                Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
                Buffer.from('000000040000000000', 'hex'),
              ]),
            )
            const { ms } = await untilClosed(deaf, TIMEOUT_MS * 3 + SLACK_MS)
            assert.notEqual(ms, 'open', 'a peer ignoring PINGs kept its session')
            assert.ok((ms as number) >= TIMEOUT_MS, `closed too early (${String(ms)} ms)`)
            assert.equal(live.closed || live.destroyed, false, 'a peer answering PINGs lost its session')
          } finally {
            deaf.destroy()
            live.destroy()
            await pinging.stop()
          }
        })

        test('an h2 connection that sends only part of the preface is closed', async () => {
          const s = await new Promise<Socket>((resolve, reject) => {
            const c = kind.isTls
              ? tlsConnect(
                  { port: portOf(kind), host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['h2'] },
                  () => resolve(c),
                )
              : netConnect(portOf(kind), '127.0.0.1', () => resolve(c))
            c.once('error', reject)
          })
          s.write('PRI * HTTP/2.0\r\n')
          const { ms } = await untilClosed(s, TIMEOUT_MS + SLACK_MS)
          assert.notEqual(ms, 'open', 'still open after the idle timeout')
        })
      }
    })
  }
})
