import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { startGateway } from '../helpers/gateway.ts'
import { deadPort, eventually, startUpstream } from '../helpers/upstream.ts'
import { send } from '../helpers/client.ts'

function problemCode(body: string): string {
  return (JSON.parse(body) as { code: string }).code
}

describe('upstream failures', () => {
  test('dead backend → 502 UPSTREAM_CONNECT_FAILED problem, gateway keeps serving', async () => {
    const port = await deadPort()
    const gw = await startGateway({
      upstreams: [{ id: 'u', backends: [{ url: `http://127.0.0.1:${port}` }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      for (let i = 0; i < 3; i++) {
        const res = await send(`${gw.url}/x`)
        assert.equal(res.status, 502)
        assert.equal(res.headers['content-type'], 'application/problem+json')
        assert.equal(problemCode(res.body), 'UPSTREAM_CONNECT_FAILED')
      }
    } finally {
      await gw.stop()
    }
  })

  test('backend that never answers → 504 UPSTREAM_HEADERS_TIMEOUT', async () => {
    const up = await startUpstream(() => {
      /* never respond */
    })
    const gw = await startGateway({
      upstreams: [{ id: 'u', backends: [{ url: up.url }], timeouts: { headersMs: 200 } }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      const res = await send(`${gw.url}/hang`)
      assert.equal(res.status, 504)
      assert.equal(problemCode(res.body), 'UPSTREAM_HEADERS_TIMEOUT')
    } finally {
      await gw.stop()
      await up.close()
    }
  })

  test('backend that stalls mid-body → the client stream is broken, not completed', async () => {
    const up = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-length': '100' })
      res.write('partial')
    })
    const gw = await startGateway({
      upstreams: [{ id: 'u', backends: [{ url: up.url }], timeouts: { bodyIdleMs: 200 } }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      const outcome = await new Promise<string>((resolve) => {
        const req = request(`${gw.url}/stall`, { agent: false }, (res) => {
          assert.equal(res.statusCode, 200)
          res.on('data', () => {})
          res.on('end', () => resolve('completed'))
          res.on('error', () => resolve('broken'))
          res.on('aborted', () => resolve('broken'))
        })
        req.on('error', () => resolve('broken'))
        req.end()
      })
      assert.equal(outcome, 'broken')
    } finally {
      await gw.stop()
      await up.close()
    }
  })

  test('route deadline → 504 REQUEST_DEADLINE_EXCEEDED', async () => {
    const up = await startUpstream(() => {})
    const gw = await startGateway({
      upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u', timeoutMs: 150 }],
    })
    try {
      const res = await send(`${gw.url}/slow`)
      assert.equal(res.status, 504)
      assert.equal(problemCode(res.body), 'REQUEST_DEADLINE_EXCEEDED')
    } finally {
      await gw.stop()
      await up.close()
    }
  })

  test('client abort aborts the upstream request and frees the backend slot', async () => {
    let upstreamClosed = 0
    const up = await startUpstream((_req, res) => {
      res.writeHead(200)
      res.write('start')
      res.on('close', () => upstreamClosed++)
    })
    const gw = await startGateway({
      upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      await new Promise<void>((resolve) => {
        const req = request(`${gw.url}/abort`, { agent: false }, (res) => {
          res.once('data', () => {
            req.destroy()
            resolve()
          })
        })
        req.on('error', () => {})
        req.end()
      })
      await eventually(() => upstreamClosed === 1, 3000, 'upstream request closed')
      const upstream = gw.gateway.runtime.upstreams.get('u')
      await eventually(() => upstream?.active === 0, 3000, 'backend slot released')
      await eventually(() => up.openConnections() === 0, 3000, 'upstream connection closed')
      await eventually(() => gw.gateway.connections().open === 0, 3000, 'client connection gone')
    } finally {
      await gw.stop()
      await up.close()
    }
  })

  test('bounded queue: beyond maxConnections + maxQueue requests fail fast with 503 and Retry-After', async () => {
    const held: Array<() => void> = []
    const up = await startUpstream((_req, res) => {
      held.push(() => res.end('done'))
    })
    const gw = await startGateway({
      upstreams: [
        {
          id: 'u',
          backends: [{ url: up.url }],
          pool: { maxConnectionsPerBackend: 2, maxQueue: 2, queueTimeoutMs: 5000 },
        },
      ],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      const inflight = Array.from({ length: 4 }, () => send(`${gw.url}/q`))
      await eventually(() => held.length === 2, 3000, 'two requests at the backend')
      const upstream = gw.gateway.runtime.upstreams.get('u')
      await eventually(() => upstream?.queueDepth === 2, 3000, 'two queued')
      const rejected = await send(`${gw.url}/q`)
      assert.equal(rejected.status, 503)
      assert.equal(rejected.headers['retry-after'], '1')
      assert.equal(problemCode(rejected.body), 'UPSTREAM_QUEUE_FULL')
      // Release the backend one request at a time: the queued requests are served too.
      for (let released = 0; released < 4; released++) {
        await eventually(() => held.length > 0, 3000, 'a request at the backend')
        held.shift()?.()
      }
      const results = await Promise.all(inflight)
      for (const r of results) assert.equal(r.status, 200)
    } finally {
      for (const h of held) h()
      await gw.stop()
      await up.close()
    }
  })

  test('queue timeout → 503 UPSTREAM_QUEUE_TIMEOUT', async () => {
    const held: Array<() => void> = []
    const up = await startUpstream((_req, res) => held.push(() => res.end('x')))
    const gw = await startGateway({
      upstreams: [
        { id: 'u', backends: [{ url: up.url }], pool: { maxConnectionsPerBackend: 1, maxQueue: 10, queueTimeoutMs: 100 } },
      ],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      const first = send(`${gw.url}/a`)
      await eventually(() => held.length === 1)
      const second = await send(`${gw.url}/b`)
      assert.equal(second.status, 503)
      assert.equal(problemCode(second.body), 'UPSTREAM_QUEUE_TIMEOUT')
      held[0]?.()
      assert.equal((await first).status, 200)
    } finally {
      await gw.stop()
      await up.close()
    }
  })

  test('a backend closing idle keep-alive connections never surfaces as a client error', async () => {
    // A raw HTTP/1.1 backend that closes each connection 30 ms after its last response without
    // advertising a Keep-Alive timeout (many servers behave so). Requests arriving around that moment
    // hit a connection the backend is closing: the classic reused-connection race.
    let closedIdle = 0
    let served = 0
    const server = createNetServer((socket) => {
      let buffered = ''
      let idle: NodeJS.Timeout | undefined
      socket.on('data', (chunk: Buffer) => {
        clearTimeout(idle)
        buffered += chunk.toString('latin1')
        let end: number
        while ((end = buffered.indexOf('\r\n\r\n')) !== -1) {
          buffered = buffered.slice(end + 4)
          served++
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')
        }
        idle = setTimeout(() => {
          closedIdle++
          socket.destroy()
        }, 30)
      })
      socket.on('error', () => {})
      socket.on('close', () => clearTimeout(idle))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const { port } = server.address() as AddressInfo
    const gw = await startGateway({
      upstreams: [{ id: 'u', backends: [{ url: `http://127.0.0.1:${port}` }], pool: { idleTimeoutMs: 60_000 } }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      let failures = 0
      for (let i = 0; i < 150; i++) {
        const res = await send(`${gw.url}/ka`)
        if (res.status !== 200) failures++
        await new Promise((r) => setTimeout(r, 27 + (i % 7)))
      }
      assert.ok(closedIdle > 10, `the backend closed idle connections (${closedIdle})`)
      assert.equal(failures, 0)
      assert.ok(served >= 150)
    } finally {
      await gw.stop()
      server.close()
    }
  })
})

describe('balancing through the gateway', () => {
  test('weighted round robin spreads requests by weight across real backends', async () => {
    const ups = await Promise.all(['a', 'b', 'c'].map((n) => startUpstream(undefined, n)))
    const gw = await startGateway({
      upstreams: [
        {
          id: 'u',
          backends: [
            { url: ups[0]!.url, weight: 3 },
            { url: ups[1]!.url, weight: 1 },
            { url: ups[2]!.url, weight: 1 },
          ],
        },
      ],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      const counts = new Map<string, number>()
      for (let i = 0; i < 50; i++) {
        const name = (await send(`${gw.url}/`)).json<{ name: string }>().name
        counts.set(name, (counts.get(name) ?? 0) + 1)
      }
      assert.deepEqual(Object.fromEntries(counts), { a: 30, b: 10, c: 10 })
    } finally {
      await gw.stop()
      await Promise.all(ups.map((u) => u.close()))
    }
  })

  test('least connections sends new work to the backend with fewest requests in flight', async () => {
    const held = new Map<string, Array<() => void>>([
      ['a', []],
      ['b', []],
    ])
    const mk = (name: string) =>
      startUpstream((_req, res) => held.get(name)?.push(() => res.end(JSON.stringify({ name }))), name)
    const [a, b] = await Promise.all([mk('a'), mk('b')])
    const gw = await startGateway({
      upstreams: [{ id: 'u', balancing: 'least-connections', backends: [{ url: a.url }, { url: b.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    const total = () => (held.get('a')?.length ?? 0) + (held.get('b')?.length ?? 0)
    try {
      const pending: Array<Promise<{ json<T>(): T }>> = []
      for (let i = 1; i <= 4; i++) {
        pending.push(send(`${gw.url}/`))
        await eventually(() => total() === i, 3000, `request ${i} at a backend`)
      }
      // Each request went where fewer were in flight: 2 and 2.
      assert.equal(held.get('a')?.length, 2)
      assert.equal(held.get('b')?.length, 2)
      // Finish b's two: b is now idle, a still has 2 → the next two requests both go to b.
      for (const done of held.get('b')?.splice(0) ?? []) done()
      const next = [send(`${gw.url}/`), send(`${gw.url}/`)]
      await eventually(() => held.get('b')?.length === 2, 3000, 'next requests at b')
      assert.equal(held.get('a')?.length, 2)
      for (const list of held.values()) for (const done of list.splice(0)) done()
      await Promise.all([...pending, ...next])
    } finally {
      for (const list of held.values()) for (const done of list.splice(0)) done()
      await gw.stop()
      await Promise.all([a.close(), b.close()])
    }
  })
})
