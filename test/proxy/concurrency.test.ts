import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { eventually, startUpstream, type TestUpstream } from '../helpers/upstream.ts'

const CLIENTS = 1000
const POOL = 128

interface Reply {
  status: number
  body: string
}

/** One request on its own TCP connection (no agent: `Connection: close`). */
function call(port: number, path: string, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: body === undefined ? 'GET' : 'POST',
        agent: false,
        headers:
          body === undefined
            ? {}
            : { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (text += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

describe(`${CLIENTS} concurrent clients`, () => {
  let upstream: TestUpstream
  let gw: TestGateway
  /** While set, the backend holds every response until it resolves. */
  let gate: Promise<void> | undefined
  let inFlight = 0
  let maxInFlight = 0

  before(async () => {
    upstream = await startUpstream((req: IncomingMessage, res: ServerResponse) => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (c: string) => (body += c))
      req.on('end', () => {
        const answer = (): void => {
          inFlight--
          const text = `${req.method} ${req.url} ${body}`
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) })
          res.end(text)
        }
        if (gate === undefined) answer()
        else void gate.then(answer)
      })
    })
    gw = await startGateway({
      server: { maxConnections: 5000 },
      upstreams: [
        {
          id: 'u',
          backends: [{ url: upstream.url }],
          // A bounded pool: 1,000 clients share 128 backend connections; the rest wait in the queue
          // (generous timeout: this test is about correctness, not latency).
          pool: { maxConnectionsPerBackend: POOL, maxQueue: 2 * CLIENTS, queueTimeoutMs: 60_000 },
        },
      ],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
  })

  after(async () => {
    await gw.stop()
    await upstream.close()
  })

  test('all are connected at once, share a bounded backend pool, and all get their own 200', async () => {
    let release: () => void = () => {}
    gate = new Promise<void>((r) => (release = r))
    const started = upstream.received.length
    maxInFlight = 0
    const replies = Array.from({ length: CLIENTS }, (_, i) => call(gw.port, `/held/${i}`))
    try {
      // Every client connection is open at the same time, while the backend holds its answers.
      await eventually(
        () => gw.gateway.connections().open === CLIENTS,
        20_000,
        `${CLIENTS} open client connections`,
      )
      await eventually(() => upstream.received.length - started === POOL, 10_000, 'pool filled')
      // An open connection is not yet a parsed request: under load the last heads arrive a little later.
      const u = gw.gateway.runtime.upstreams.get('u')
      await eventually(() => u?.queueDepth === CLIENTS - POOL, 10_000, 'the rest queue')
    } finally {
      gate = undefined
      release()
    }
    const results = await Promise.all(replies)
    results.forEach((r, i) => {
      assert.equal(r.status, 200, r.body)
      assert.equal(r.body, `GET /held/${i} `)
    })
    assert.ok(maxInFlight <= POOL, `backend saw ${maxInFlight} requests at once`)
    assert.ok(upstream.openConnections() <= POOL, `backend has ${upstream.openConnections()} connections`)
    await eventually(() => gw.gateway.connections().open === 0, 10_000, 'client connections drained')
  })

  test('all clients aborting (pool busy, the rest queued) leave no queued work, slot or socket behind', async () => {
    let release: () => void = () => {}
    gate = new Promise<void>((r) => (release = r))
    const started = upstream.received.length
    const requests = Array.from({ length: CLIENTS }, (_, i) => {
      const req = request({ host: '127.0.0.1', port: gw.port, path: `/abort/${i}`, agent: false })
      req.on('error', () => {}) // socket hang up: we destroy it
      req.end()
      return req
    })
    const u = gw.gateway.runtime.upstreams.get('u')
    try {
      await eventually(
        () => gw.gateway.connections().open === CLIENTS,
        20_000,
        `${CLIENTS} open client connections`,
      )
      await eventually(() => upstream.received.length - started === POOL, 10_000, 'pool filled')
      await eventually(() => u?.queueDepth === CLIENTS - POOL, 10_000, 'the rest queued')
      for (const req of requests) req.destroy()
      await eventually(() => gw.gateway.connections().open === 0, 10_000, 'client connections closed')
      await eventually(() => u?.queueDepth === 0, 3000, 'queue emptied')
      await eventually(() => u?.active === 0, 3000, 'backend slots released')
      // The held requests were aborted upstream (their connections destroyed, not pooled half-done).
      await eventually(() => upstream.openConnections() === 0, 10_000, 'backend connections closed')
    } finally {
      gate = undefined
      release()
    }
    assert.equal(upstream.received.length - started, POOL, 'no queued request reached the backend')
  })

  test('concurrent POSTs each get their own body back (no cross-talk)', async () => {
    const results = await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) =>
        call(gw.port, `/post/${i}`, `body-${i}-${'x'.repeat(i % 512)}`),
      ),
    )
    results.forEach((r, i) => {
      assert.equal(r.status, 200, r.body)
      assert.equal(r.body, `POST /post/${i} body-${i}-${'x'.repeat(i % 512)}`)
    })
    await eventually(() => gw.gateway.connections().open === 0, 10_000, 'client connections drained')
    const counts = gw.gateway.connections()
    assert.equal(counts.active, 0)
    assert.equal(counts.rejected, 0)
  })
})
