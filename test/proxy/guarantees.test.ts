// End-to-end pins for guarantees docs state, each against real servers on loopback and each built so that
// nothing but the guarantee itself makes it pass (see docs/testing.md). The decisions are unit-tested where
// they are made: shouldRetry/CircuitBreaker (src/resilience), scanRequestHead (src/http/headers.test.ts),
// BodyLimit (src/http/body-limit.test.ts).
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { describe, test } from 'node:test'
import { parseRaw, rawExchange, send } from '../helpers/client.ts'
import { startGateway } from '../helpers/gateway.ts'
import { eventually, startUpstream, type Handler } from '../helpers/upstream.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const codeOf = (body: string) => (JSON.parse(body) as { code: string }).code

describe('guarantees, end to end', () => {
  test('a POST without a body is not re-sent after a reset, though an idempotent PUT without one is', async () => {
    // No body means the body is "replayable": only the method keeps the POST from being sent twice.
    const seen: string[] = []
    const resetting: Handler = (req, res) => {
      seen.push(req.method ?? '?')
      if (seen.length % 2 === 1) {
        req.socket.destroy() // after reading the request: it may have had effects
        return
      }
      res.end('ok')
    }
    const a = await startUpstream(resetting)
    const b = await startUpstream(resetting)
    const gw = await startGateway({
      upstreams: [{ id: 'u', backends: [{ url: a.url }, { url: b.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u', retry: { maxRetries: 3, retryOn: [503] } }],
    })
    try {
      const post = await send(`${gw.url}/pay`, { method: 'POST' })
      assert.equal(post.status, 502)
      assert.equal(codeOf(post.body), 'UPSTREAM_RESET')
      assert.deepEqual(seen, ['POST'], 'the POST reached a backend exactly once')
      seen.length = 0
      const put = await send(`${gw.url}/pay`, { method: 'PUT' })
      assert.equal(put.status, 200, 'control: the same failure is retried for an idempotent method')
      assert.deepEqual(seen, ['PUT', 'PUT'])
    } finally {
      await gw.stop()
      await Promise.all([a.close(), b.close()])
    }
  })

  test('X-Forwarded-Host, X-Forwarded-Proto, X-Forwarded-For and Forwarded from an untrusted client do not reach the backend', async () => {
    let raw: string[] = []
    const up = await startUpstream((req: IncomingMessage, res) => {
      raw = req.rawHeaders
      res.end('ok')
    })
    const gw = await startGateway({
      upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      // The loopback client is not a trusted proxy (server.trustedProxies is empty by default).
      const res = await send(`${gw.url}/x`, {
        headers: {
          host: 'api.example.com',
          'x-forwarded-host': 'evil.example',
          'X-Forwarded-Proto': 'https',
          'x-forwarded-for': '6.6.6.6',
          forwarded: 'for=6.6.6.6;proto=https;host=evil.example',
        },
      })
      assert.equal(res.status, 200)
      const values = (name: string) => raw.filter((_, i) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === name)
      assert.deepEqual(values('x-forwarded-host'), ['api.example.com'])
      assert.deepEqual(values('x-forwarded-proto'), ['http'])
      assert.deepEqual(values('x-forwarded-for'), ['127.0.0.1'])
      assert.deepEqual(values('forwarded'), ['for=127.0.0.1;proto=http;host=api.example.com'])
      assert.doesNotMatch(raw.join('\n'), /evil|6\.6\.6\.6|https/)
    } finally {
      await gw.stop()
      await up.close()
    }
  })

  test('a chunked body is limited in total, not per chunk: 6 chunks of 300 bytes against a 1000-byte limit', async () => {
    let received = 0
    const up = await startUpstream((req, res) => {
      req.on('data', (c: Buffer) => (received += c.length))
      req.on('end', () => res.end('ok'))
      req.on('error', () => {})
    })
    const gw = await startGateway({
      server: { maxBodyBytes: 1000 },
      upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      const chunk = `${(300).toString(16)}\r\n${'x'.repeat(300)}\r\n`
      const head =
        'POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'
      const res = parseRaw(await rawExchange(gw.port, head + chunk.repeat(6) + '0\r\n\r\n'))
      assert.equal(res.status, 413, res.body)
      assert.equal(codeOf(res.body), 'PAYLOAD_TOO_LARGE')
      assert.ok(received <= 1000, `the backend got ${received} bytes, more than the limit`)
      // Control: the same chunks within the limit pass.
      const ok = parseRaw(await rawExchange(gw.port, head + chunk.repeat(3) + '0\r\n\r\n'))
      assert.equal(ok.status, 200, ok.body)
    } finally {
      await gw.stop()
      await up.close()
    }
  })

  test('a half-open breaker lets exactly halfOpenProbes of many concurrent requests through', async () => {
    let isFailing = true
    let arrivals = 0
    const held: Array<() => void> = []
    const up = await startUpstream((_req, res) => {
      if (isFailing) return void res.writeHead(500).end()
      arrivals++
      held.push(() => res.end('ok'))
    })
    const gw = await startGateway({
      upstreams: [
        {
          id: 'u',
          backends: [{ url: up.url }],
          outlierDetection: { consecutive5xx: 0, consecutiveGatewayErrors: 0 },
          circuitBreaker: {
            failureRatio: 0.5,
            minRequests: 3,
            windowMs: 10_000,
            openMs: 300,
            halfOpenProbes: 2,
          },
        },
      ],
      routes: [{ id: 'r', match: {}, upstream: 'u', retry: { maxRetries: 0 } }],
    })
    const stats = () => gw.gateway.runtime.upstreams.get('u')!.stats()[0]!
    try {
      for (let i = 0; i < 3; i++) assert.equal((await send(`${gw.url}/`)).status, 500)
      assert.equal(stats().breaker, 'open')
      isFailing = false
      await sleep(350)
      const burst = Array.from({ length: 12 }, () => send(`${gw.url}/`))
      await eventually(() => arrivals === 2, 3000, 'two probes arrive')
      await sleep(100) // any extra admission would arrive now
      assert.equal(arrivals, 2, 'no more than halfOpenProbes in flight')
      for (const h of held.splice(0)) h()
      const statuses = (await Promise.all(burst)).map((r) => r.status)
      assert.equal(statuses.filter((s) => s === 200).length, 2, JSON.stringify(statuses))
      assert.equal(stats().breaker, 'closed')
    } finally {
      for (const h of held) h()
      await gw.stop()
      await up.close()
    }
  })
})
