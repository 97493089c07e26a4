/**
 * Request body buffering, response read-ahead, minimum transfer rates and per-client shares, each on a
 * real gateway and backend over loopback (see test/hostile/slow-clients.test.ts for the attack as a whole).
 */
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request, type IncomingMessage, type ServerResponse } from 'node:http'
import { connect as h2connect, constants as h2constants } from 'node:http2'
import { connect as netConnect, type Socket } from 'node:net'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { eventually, startUpstream, type TestUpstream } from '../helpers/upstream.ts'
import { send } from '../helpers/client.ts'
import type { ConfigInput } from '../../src/config/index.ts'

const KiB = 1024
const MiB = 1024 * KiB

/** Backend: POST answers {bytes, sha256, contentLength, transferEncoding}; GET /big/<n> sends n bytes. */
function backend(req: IncomingMessage, res: ServerResponse): void {
  if (req.method === 'POST') {
    const hash = createHash('sha256')
    let bytes = 0
    req.on('data', (c: Buffer) => {
      bytes += c.length
      hash.update(c)
    })
    req.on('end', () =>
      res.end(
        JSON.stringify({
          bytes,
          sha256: hash.digest('hex'),
          contentLength: req.headers['content-length'],
          transferEncoding: req.headers['transfer-encoding'],
        }),
      ),
    )
    return
  }
  const n = Number(/^\/big\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0)
  if (n > 0) {
    res.writeHead(200, { 'content-length': n })
    res.end(Buffer.alloc(n, 3))
    return
  }
  res.end('ok')
}

type Input = Omit<ConfigInput, 'version' | 'listeners'> & { listeners?: ConfigInput['listeners'] }

async function withGateway(
  config: (upstreamUrl: string) => Input,
  fn: (gw: TestGateway, up: TestUpstream) => Promise<void>,
): Promise<void> {
  const up = await startUpstream(backend)
  const gw = await startGateway(config(up.url))
  try {
    await fn(gw, up)
  } finally {
    await gw.stop()
    await up.close()
  }
}

const simple =
  (
    extra: { server?: Input['server']; route?: Record<string, unknown>; pool?: Record<string, unknown> } = {},
  ) =>
  (url: string): Input => ({
    ...(extra.server === undefined ? {} : { server: extra.server }),
    upstreams: [{ id: 'u', backends: [{ url }], ...(extra.pool === undefined ? {} : { pool: extra.pool }) }],
    routes: [{ id: 'r', match: { path: { prefix: '/' } }, upstream: 'u', ...extra.route }],
  })

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1', () => resolve(s))
    s.once('error', reject)
  })
}

/** Collects what the server sends on `socket` until it has `marker`, or closes, or `ms` pass. */
function readUntil(socket: Socket, marker: string | RegExp, ms = 3000): Promise<string> {
  return new Promise((resolve) => {
    let text = ''
    const done = (): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      resolve(text)
    }
    const onData = (c: Buffer): void => {
      text += c.toString('latin1')
      if (typeof marker === 'string' ? text.includes(marker) : marker.test(text)) done()
    }
    const timer = setTimeout(done, ms)
    socket.on('data', onData)
    socket.once('close', done)
  })
}

/** A chunked POST written in pieces; resolves with the status and body. */
function chunkedPost(port: number, pieces: readonly Buffer[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/up', method: 'POST', agent: false }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    for (const p of pieces) req.write(p)
    req.end()
  })
}

describe('request body buffering', () => {
  test('a chunked body is read whole first and forwarded with its Content-Length', async () => {
    await withGateway(simple(), async (gw) => {
      const pieces = Array.from({ length: 8 }, (_, i) => Buffer.alloc(10 * KiB, i))
      const res = await chunkedPost(gw.port, pieces)
      assert.equal(res.status, 200)
      const echo = JSON.parse(res.body) as Record<string, unknown>
      assert.equal(echo['bytes'], 80 * KiB)
      assert.equal(echo['sha256'], createHash('sha256').update(Buffer.concat(pieces)).digest('hex'))
      assert.equal(echo['contentLength'], String(80 * KiB))
      assert.equal(echo['transferEncoding'], undefined)
      assert.equal(gw.gateway.slowClients().memoryBytes, 0, 'released after the exchange')
    })
  })

  test('a body larger than requestMemoryBytes spills to a temp file, arrives intact, and the file is removed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'litgate-spill-'))
    try {
      await withGateway(
        simple({ server: { buffering: { requestMemoryBytes: 4 * KiB, tempDir: dir } } }),
        async (gw) => {
          const body = Buffer.alloc(200 * KiB, 9)
          const res = await send(`${gw.url}/up`, { method: 'POST', body })
          assert.equal(res.status, 200)
          const echo = res.json<{ bytes: number; sha256: string }>()
          assert.equal(echo.bytes, body.length)
          assert.equal(echo.sha256, createHash('sha256').update(body).digest('hex'))
          const chunked = await chunkedPost(gw.port, [Buffer.alloc(3 * KiB, 1), Buffer.alloc(30 * KiB, 2)])
          assert.equal(chunked.status, 200)
          assert.equal((JSON.parse(chunked.body) as { bytes: number }).bytes, 33 * KiB)
          const s = gw.gateway.slowClients()
          assert.equal(s.spills, 2, 'both bodies went to disk')
          await eventually(() => readdirSync(dir).length === 0, 2000, 'temp files removed')
          assert.equal(s.tempFileBytes, 0)
        },
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('a body that fits no budget is refused with 503 and Retry-After, or streamed with onExhausted: stream', async () => {
    await withGateway(simple({ server: { buffering: { memoryBudgetBytes: 0 } } }), async (gw, up) => {
      const res = await send(`${gw.url}/up`, { method: 'POST', body: 'hello' })
      assert.equal(res.status, 503)
      assert.equal(res.json<{ code: string }>().code, 'BUFFER_CAPACITY_EXHAUSTED')
      assert.equal(res.headers['retry-after'], '1')
      assert.equal(up.received.length, 0, 'nothing reached the backend')
      assert.equal(gw.gateway.slowClients().bufferRefusals, 1)
      assert.equal((await send(`${gw.url}/get`)).status, 200, 'requests without a body are not affected')
    })
    await withGateway(
      simple({ server: { buffering: { memoryBudgetBytes: 0, onExhausted: 'stream' } } }),
      async (gw) => {
        const res = await send(`${gw.url}/up`, { method: 'POST', body: 'hello' })
        assert.equal(res.status, 200)
        assert.equal(res.json<{ bytes: number }>().bytes, 5)
        assert.equal(gw.gateway.slowClients().bufferBypasses, 1)
      },
    )
  })

  test('requestBuffering.overLimit: refuse answers 413 for declared and chunked bodies past maxBytes', async () => {
    await withGateway(
      simple({ route: { requestBuffering: { maxBytes: 100, overLimit: 'refuse' } } }),
      async (gw, up) => {
        const declared = await send(`${gw.url}/up`, { method: 'POST', body: 'x'.repeat(200) })
        assert.equal(declared.status, 413)
        const chunked = await chunkedPost(gw.port, [Buffer.alloc(60), Buffer.alloc(60)])
        assert.equal(chunked.status, 413)
        assert.equal(up.received.length, 0)
        assert.equal((await send(`${gw.url}/up`, { method: 'POST', body: 'x'.repeat(100) })).status, 200)
      },
    )
  })

  test('a body past maxBytes is streamed (overLimit: stream), the buffered prefix first', async () => {
    await withGateway(simple({ route: { requestBuffering: { maxBytes: 1000 } } }), async (gw) => {
      const pieces = [Buffer.alloc(600, 1), Buffer.alloc(600, 2), Buffer.alloc(600, 3)]
      const res = await chunkedPost(gw.port, pieces)
      assert.equal(res.status, 200)
      const echo = JSON.parse(res.body) as { bytes: number; sha256: string; transferEncoding?: string }
      assert.equal(echo.bytes, 1800)
      assert.equal(echo.sha256, createHash('sha256').update(Buffer.concat(pieces)).digest('hex'))
      assert.equal(echo.transferEncoding, 'chunked', 'streamed: length unknown')
    })
  })

  test('Expect: 100-continue: no 100 for a request refused first; 100 once the body is wanted', async () => {
    await withGateway(
      (url) => ({
        upstreams: [{ id: 'u', backends: [{ url }] }],
        routes: [{ id: 'r', match: { path: { prefix: '/up' } }, upstream: 'u', maxBodyBytes: 1000 }],
      }),
      async (gw) => {
        const missing = await openSocket(gw.port)
        missing.write(
          'POST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n',
        )
        const refused = await readUntil(missing, '\r\n\r\n')
        assert.match(refused, /^HTTP\/1\.1 404 /, 'answered without a 100 first')
        missing.destroy()

        const big = await openSocket(gw.port)
        big.write('POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n')
        assert.match(await readUntil(big, '\r\n\r\n'), /^HTTP\/1\.1 413 /)
        big.destroy()

        const ok = await openSocket(gw.port)
        ok.write(
          'POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
        )
        assert.match(await readUntil(ok, '\r\n\r\n'), /^HTTP\/1\.1 100 Continue\r\n\r\n$/)
        ok.write('hello')
        const answer = await readUntil(ok, /"bytes":5/)
        assert.match(answer, /^HTTP\/1\.1 200 /)
        ok.destroy()
      },
    )
  })
})

describe('minimum transfer rates', () => {
  const rates = { minRequestBodyBytesPerSecond: 10_000, minResponseBytesPerSecond: MiB, minRateWindowMs: 300 }

  test('a trickling HTTP/1.1 body gets 408 REQUEST_BODY_TOO_SLOW (the idle timeout never fires)', async () => {
    await withGateway(simple({ server: rates }), async (gw, up) => {
      const s = await openSocket(gw.port)
      s.write(`POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: ${100 * KiB}\r\n\r\n`)
      const timer = setInterval(() => s.write('0123456789'), 100)
      const started = performance.now()
      try {
        const answer = await readUntil(s, /REQUEST_BODY_TOO_SLOW/, 5000)
        assert.match(answer, /^HTTP\/1\.1 408 /)
        assert.ok(performance.now() - started < 3000)
      } finally {
        clearInterval(timer)
        s.destroy()
      }
      assert.equal(up.received.length, 0)
      assert.equal(gw.gateway.slowClients().slowBodyAborts, 1)
    })
  })

  test('a trickling HTTP/2 body gets 408 and its stream is closed; the session lives on', async () => {
    await withGateway(
      (url) => ({
        ...simple({ server: rates })(url),
        listeners: [{ name: 'main', host: '127.0.0.1', port: 0, http2: true }],
      }),
      async (gw) => {
        const session = h2connect(`http://127.0.0.1:${gw.port}`)
        try {
          const stream = session.request({
            ':method': 'POST',
            ':path': '/up',
            'content-length': String(100 * KiB),
          })
          stream.on('error', () => undefined)
          stream.resume()
          const timer = setInterval(() => stream.write(Buffer.alloc(10)), 100)
          const status = await new Promise<number>((resolve) =>
            stream.once('response', (h) => resolve(Number(h[':status']))),
          )
          clearInterval(timer)
          assert.equal(status, 408)
          await new Promise<void>((resolve) => stream.once('close', () => resolve()))
          const again = session.request({ ':path': '/get' })
          again.end()
          const next = await new Promise<number>((resolve) =>
            again.once('response', (h) => resolve(Number(h[':status']))),
          )
          again.resume()
          assert.equal(next, 200)
        } finally {
          session.destroy()
        }
      },
    )
  })

  test('a reader slower than minResponseBytesPerSecond is cut, its upstream attempt aborted', async () => {
    await withGateway(simple({ server: rates, route: { responseBufferBytes: 0 } }), async (gw) => {
      const s = await openSocket(gw.port)
      s.pause()
      s.write(`GET /big/${32 * MiB} HTTP/1.1\r\nHost: t\r\n\r\n`)
      await eventually(() => gw.gateway.slowClients().slowReadAborts === 1, 5000, 'slow reader cut')
      // Reading now shows the cut: the connection ends before the 32 MiB body did.
      let received = 0
      s.on('data', (c: Buffer) => (received += c.length))
      s.on('error', () => undefined)
      s.resume()
      await new Promise<void>((resolve) => s.once('close', () => resolve()))
      assert.ok(received < 32 * MiB, `${received} bytes arrived`)
      await eventually(() => gw.gateway.runtime.upstreams.get('u')?.active === 0, 3000, 'slot released')
    })
  })
})

describe('slow readers and the upstream pool', () => {
  const onePool = { maxConnectionsPerBackend: 1, queueTimeoutMs: 300 }

  test('read-ahead lets the upstream connection go while the client has not read a byte', async () => {
    const size = 12 * MiB // beyond loopback socket buffers (~4 MiB), within the read-ahead bound
    await withGateway(simple({ pool: onePool, route: { responseBufferBytes: 16 * MiB } }), async (gw) => {
      const s = await openSocket(gw.port)
      s.pause()
      s.write(`GET /big/${size} HTTP/1.1\r\nHost: t\r\n\r\n`)
      const u = gw.gateway.runtime.upstreams.get('u')
      await eventually(() => gw.gateway.slowClients().memoryBytes > 0, 3000, 'read ahead')
      await eventually(() => u?.active === 0, 3000, 'upstream slot released before the client read')
      assert.equal((await send(`${gw.url}/next`)).status, 200, 'the one slot serves the next request')
      s.destroy()
      await eventually(() => gw.gateway.slowClients().memoryBytes === 0, 3000, 'read-ahead released')
    })
    // Control: without read-ahead the same reader holds the one slot, and the next request waits in vain.
    await withGateway(
      simple({ pool: { ...onePool, maxClientSharePercent: 100 }, route: { responseBufferBytes: 0 } }),
      async (gw) => {
        const s = await openSocket(gw.port)
        s.pause()
        s.write(`GET /big/${size} HTTP/1.1\r\nHost: t\r\n\r\n`)
        await eventually(() => gw.gateway.runtime.upstreams.get('u')?.active === 1, 3000, 'slot taken')
        await new Promise((r) => setTimeout(r, 200))
        assert.equal((await send(`${gw.url}/next`)).status, 503)
        s.destroy()
      },
    )
  })

  test('one client IP holds at most its share of slots waiting on it: 429 for it, 200 for others', async () => {
    await withGateway(
      simple({
        server: { trustedProxies: ['127.0.0.1/32'] },
        pool: { maxConnectionsPerBackend: 2, maxClientSharePercent: 50 },
        route: { requestBuffering: { enabled: false } },
      }),
      async (gw) => {
        // An unbuffered body that stalls holds its slot while it waits on the client.
        const s = await openSocket(gw.port)
        s.on('error', () => undefined)
        s.write(`POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: ${8 * KiB}\r\n\r\n0123456789`)
        const u = gw.gateway.runtime.upstreams.get('u')
        await eventually(() => u?.clientShare.heldBy('127.0.0.1') === 1, 3000, 'slot held')
        const same = await send(`${gw.url}/get`)
        assert.equal(same.status, 429)
        assert.equal(same.json<{ code: string }>().code, 'CLIENT_SLOT_LIMIT')
        assert.equal(same.headers['retry-after'], '1')
        const other = await send(`${gw.url}/get`, { headers: { 'x-forwarded-for': '198.51.100.4' } })
        assert.equal(other.status, 200)
        s.destroy()
        await eventually(() => u?.clientShare.heldBy('127.0.0.1') === 0, 3000, 'share released')
        assert.equal((await send(`${gw.url}/get`)).status, 200)
      },
    )
  })
})

describe('HTTP/2 streams per client', () => {
  test('streams beyond http2MaxStreamsPerClient are refused (REFUSED_STREAM), across sessions', async () => {
    await withGateway(
      (url) => ({
        ...simple({ server: { http2MaxStreamsPerClient: 2 } })(url),
        listeners: [{ name: 'main', host: '127.0.0.1', port: 0, http2: true }],
      }),
      async (gw) => {
        const a = h2connect(`http://127.0.0.1:${gw.port}`)
        const b = h2connect(`http://127.0.0.1:${gw.port}`)
        try {
          const held = [a, b].map((session) => {
            const st = session.request({ ':method': 'POST', ':path': '/up', 'content-length': '100' })
            st.on('error', () => undefined)
            st.write(Buffer.alloc(10))
            return st
          })
          await eventually(() => gw.gateway.slowClients().memoryBytes >= 200, 3000, 'two streams open')
          const third = b.request({ ':path': '/get' })
          third.on('error', () => undefined)
          third.end()
          await new Promise<void>((resolve) => third.once('close', () => resolve()))
          assert.equal(third.rstCode, h2constants.NGHTTP2_REFUSED_STREAM)
          assert.equal(gw.gateway.slowClients().refusedStreams, 1)
          held[0]?.close()
          await new Promise((r) => setTimeout(r, 50))
          const fourth = a.request({ ':path': '/get' })
          fourth.end()
          const status = await new Promise<number>((resolve) =>
            fourth.once('response', (h) => resolve(Number(h[':status']))),
          )
          fourth.resume()
          assert.equal(status, 200)
        } finally {
          a.destroy()
          b.destroy()
        }
      },
    )
  })
})
