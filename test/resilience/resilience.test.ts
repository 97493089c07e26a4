import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Agent, request } from 'undici'
import { startGateway } from '../helpers/gateway.ts'
import { eventually, startUpstream, type Handler } from '../helpers/upstream.ts'
import { send } from '../helpers/client.ts'

/** Runs `workers` sequential request loops against `url` until `stop()` says so; counts outcomes. */
function loadLoop(url: string, workers: number) {
  const agent = new Agent({ connections: workers })
  const outcomes = { ok: 0, failed: 0, statuses: new Map<number, number>() }
  let isRunning = true
  let stopped: Promise<void> | undefined
  const loops = Array.from({ length: workers }, async () => {
    while (isRunning) {
      try {
        const res = await request(url, { dispatcher: agent })
        await res.body.dump()
        outcomes.statuses.set(res.statusCode, (outcomes.statuses.get(res.statusCode) ?? 0) + 1)
        if (res.statusCode === 200) outcomes.ok++
        else outcomes.failed++
      } catch {
        outcomes.failed++
      }
    }
  })
  return {
    outcomes,
    stop: () => {
      isRunning = false
      stopped ??= Promise.all(loops).then(() => agent.close())
      return stopped
    },
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('resilience with real misbehaving backends', () => {
  test('one of three backends killed mid-load: zero client errors for GETs, and it gets no traffic once ejected', async (t) => {
    const hits = [0, 0, 0]
    const ups = await Promise.all(
      [0, 1, 2].map((i) =>
        startUpstream((_req, res) => {
          hits[i] = (hits[i] ?? 0) + 1
          res.end(`backend ${i}`)
        }),
      ),
    )
    const gw = await startGateway({
      upstreams: [
        {
          id: 'u',
          backends: ups.map((u) => ({ url: u.url })),
          healthCheck: { type: 'tcp', intervalMs: 200, timeoutMs: 200, rise: 2, fall: 2 },
          outlierDetection: { consecutiveGatewayErrors: 2 },
        },
      ],
      routes: [{ id: 'r', match: {}, upstream: 'u', retry: { maxRetries: 2 } }],
    })
    const load = loadLoop(`${gw.url}/`, 16)
    try {
      await sleep(400)
      await ups[2]!.close() // killed: in-flight requests reset, new connections refused
      await eventually(
        () => gw.gateway.runtime.upstreams.get('u')!.stats()[2]!.state === 'ejected',
        3000,
        'dead backend ejected',
      )
      const afterEjection = hits[2]
      await sleep(600) // more than one check interval
      const { outcomes } = load
      await load.stop()
      t.diagnostic(
        `kill test: ${outcomes.ok} ok, ${outcomes.failed} failed; hits per backend ${hits.join('/')}`,
      )
      assert.equal(outcomes.failed, 0, `client errors: ${JSON.stringify([...outcomes.statuses])}`)
      assert.ok(outcomes.ok > 100, `load ran (${outcomes.ok} ok)`)
      assert.equal(hits[2], afterEjection, 'the killed backend got no traffic after ejection')
      assert.ok(gw.lines.some((l) => l.includes('backend state change') && l.includes('"to":"ejected"')))
    } finally {
      await load.stop()
      await gw.stop()
      await Promise.all(ups.slice(0, 2).map((u) => u.close()))
    }
  })

  test('a POST is never sent twice, even when the backend resets or answers 503', async () => {
    let posts = 0
    const resetting: Handler = (req, res) => {
      if (req.method === 'POST') {
        posts++
        req.socket.destroy() // reset after reading the request: it may have had effects
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
      const res = await send(`${gw.url}/pay`, { method: 'POST', body: 'amount=1' })
      assert.equal(res.status, 502)
      assert.equal((JSON.parse(res.body) as { code: string }).code, 'UPSTREAM_RESET')
      assert.equal(posts, 1, 'the POST reached a backend exactly once')
    } finally {
      await gw.stop()
      await Promise.all([a.close(), b.close()])
    }

    let posts503 = 0
    const c = await startUpstream((req, res) => {
      if (req.method === 'POST') posts503++
      res.writeHead(503, { 'retry-after': '0' }).end('busy')
    })
    const gw2 = await startGateway({
      upstreams: [{ id: 'u', backends: [{ url: c.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u', retry: { maxRetries: 3, retryOn: [503] } }],
    })
    try {
      const res = await send(`${gw2.url}/pay`, { method: 'POST', body: 'x' })
      assert.equal(res.status, 503)
      assert.equal(posts503, 1)
    } finally {
      await gw2.stop()
      await c.close()
    }
  })

  test('a POST with the idempotency key the route trusts is retried on another backend', async () => {
    const seen: string[] = []
    const failing = await startUpstream((req, res) => {
      seen.push(`fail:${req.headers['idempotency-key'] as string}`)
      res.writeHead(503).end()
    })
    const healthy = await startUpstream((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => {
        seen.push(`ok:${body}`)
        res.end('done')
      })
    })
    const gw = await startGateway({
      upstreams: [
        {
          id: 'u',
          backends: [{ url: failing.url }, { url: healthy.url }],
          outlierDetection: { consecutive5xx: 0 },
        },
      ],
      routes: [
        {
          id: 'r',
          match: {},
          upstream: 'u',
          retry: {
            maxRetries: 1,
            retryOn: [503],
            idempotencyKeyHeader: 'idempotency-key',
            maxReplayBodyBytes: 1024,
          },
          debugHeader: true,
        },
      ],
    })
    try {
      // Round robin starts at the failing backend for the first request.
      const res = await send(`${gw.url}/pay`, {
        method: 'POST',
        body: 'amount=5',
        headers: { 'idempotency-key': 'k1' },
      })
      assert.equal(res.status, 200)
      assert.deepEqual(seen, ['fail:k1', 'ok:amount=5'])
      assert.match(
        String(res.headers['x-litgate-attempts']),
        /u\/127\.0\.0\.1:\d+;post-send;503;[\d.]+ms;retried, u\/127\.0\.0\.1:\d+;response;200;/,
      )
    } finally {
      await gw.stop()
      await Promise.all([failing.close(), healthy.close()])
    }
  })

  test('at 100% backend failure, retries stay within the budget', async (t) => {
    let receipts = 0
    const ups = await Promise.all(
      [0, 1].map(() =>
        startUpstream((_req, res) => {
          receipts++
          res.writeHead(503).end()
        }),
      ),
    )
    const gw = await startGateway({
      upstreams: [
        {
          id: 'u',
          backends: ups.map((u) => ({ url: u.url })),
          outlierDetection: { consecutive5xx: 0, consecutiveGatewayErrors: 0 },
          circuitBreaker: { enabled: false },
        },
      ],
      routes: [
        {
          id: 'r',
          match: {},
          upstream: 'u',
          retry: {
            maxRetries: 3,
            retryOn: [503],
            backoffBaseMs: 0,
            backoffMaxMs: 0,
            budget: { percent: 10, minRetriesPerSecond: 1, windowMs: 60_000 },
          },
        },
      ],
    })
    try {
      const requests = 300
      for (let i = 0; i < requests; i += 10) {
        await Promise.all(Array.from({ length: 10 }, () => send(`${gw.url}/`)))
      }
      const retries = receipts - requests
      t.diagnostic(
        `budget test: ${requests} requests, ${retries} retries (budget 90, maxRetries would allow ${requests * 3})`,
      )
      // Budget: 10% of requests + 1/s × 60 s window = 30 + 60 = 90 retries at most.
      assert.ok(retries <= 90, `retries ${retries} exceed the budget`)
      assert.ok(retries > 0, 'some retries were allowed')
      assert.ok(retries < requests * 3, 'far fewer than maxRetries would allow without a budget')
    } finally {
      await gw.stop()
      await Promise.all(ups.map((u) => u.close()))
    }
  })

  test('an intermittently failing backend does not flap (rise/fall hysteresis)', async () => {
    let checks = 0
    const flaky = await startUpstream((req, res) => {
      if (req.url === '/healthz') {
        checks++
        res.writeHead(checks % 2 === 0 ? 500 : 200).end()
        return
      }
      res.end('ok')
    })
    const gw = await startGateway({
      upstreams: [
        {
          id: 'u',
          backends: [{ url: flaky.url }],
          healthCheck: { intervalMs: 100, jitterPercent: 0, timeoutMs: 500, rise: 2, fall: 2 },
        },
      ],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    })
    try {
      await eventually(() => checks >= 12, 5000, '12 health checks')
      const transitions = gw.lines.filter((l) => l.includes('backend state change')).length
      assert.equal(transitions, 0, 'alternating results never change state')
      assert.equal(gw.gateway.runtime.upstreams.get('u')!.stats()[0]!.state, 'healthy')
    } finally {
      await gw.stop()
      await flaky.close()
    }
  })

  test('a recovered backend ramps up over the slow-start window, not in one step', async (t) => {
    let isFailing = true
    const arrivals: number[] = []
    const b = await startUpstream((_req, res) => {
      if (isFailing) return void res.writeHead(500).end()
      arrivals.push(performance.now())
      res.end('b')
    })
    const a = await startUpstream((_req, res) => res.end('a'))
    const gw = await startGateway({
      upstreams: [
        {
          id: 'u',
          backends: [{ url: a.url }, { url: b.url }],
          outlierDetection: { consecutive5xx: 2, baseEjectionMs: 300 },
          slowStart: { windowMs: 2000, floorPercent: 5 },
          circuitBreaker: { enabled: false },
        },
      ],
      routes: [{ id: 'r', match: {}, upstream: 'u', retry: { maxRetries: 0 } }],
    })
    const upstream = gw.gateway.runtime.upstreams.get('u')!
    try {
      while (upstream.stats()[1]!.state !== 'ejected') await send(`${gw.url}/`)
      isFailing = false
      await eventually(() => upstream.stats()[1]!.state === 'recovering', 3000, 'recovering')
      const start = performance.now()
      let total = 0
      const perWindow = [0, 0, 0, 0]
      const totals = [0, 0, 0, 0]
      while (performance.now() - start < 2000) {
        const before = arrivals.length
        const w = Math.min(3, Math.floor((performance.now() - start) / 500))
        await send(`${gw.url}/`)
        total++
        totals[w]!++
        if (arrivals.length > before) perWindow[w]!++
      }
      const shares = perWindow.map((n, i) => n / Math.max(1, totals[i]!))
      t.diagnostic(
        `slow-start share of the recovered backend per 500 ms: ${shares.map((x) => x.toFixed(2)).join(' → ')}`,
      )
      assert.ok(total > 40, `enough requests (${total})`)
      assert.ok(shares[0]! < 0.3, `first quarter share ${shares[0]} is small`)
      assert.ok(shares[3]! > shares[0]!, `share grows: ${shares.map((s) => s.toFixed(2)).join(' → ')}`)
      assert.ok(shares[3]! < 0.55, 'never above its full share')
    } finally {
      await gw.stop()
      await Promise.all([a.close(), b.close()])
    }
  })

  test('the circuit breaker opens on failures, lets bounded probes through after openMs, and closes', async () => {
    let isFailing = true
    let hits = 0
    const b = await startUpstream((_req, res) => {
      hits++
      res.writeHead(isFailing ? 500 : 200).end()
    })
    const gw = await startGateway({
      upstreams: [
        {
          id: 'u',
          backends: [{ url: b.url }],
          outlierDetection: { consecutive5xx: 0, consecutiveGatewayErrors: 0 },
          circuitBreaker: {
            failureRatio: 0.5,
            minRequests: 5,
            windowMs: 10_000,
            openMs: 400,
            halfOpenProbes: 2,
          },
        },
      ],
      routes: [{ id: 'r', match: {}, upstream: 'u', retry: { maxRetries: 0 } }],
    })
    const stats = () => gw.gateway.runtime.upstreams.get('u')!.stats()[0]!
    try {
      for (let i = 0; i < 5; i++) assert.equal((await send(`${gw.url}/`)).status, 500)
      assert.equal(stats().breaker, 'open')
      const hitsWhenOpened = hits
      const shed = await send(`${gw.url}/`)
      assert.equal(shed.status, 503)
      assert.equal((JSON.parse(shed.body) as { code: string }).code, 'NO_HEALTHY_BACKEND')
      assert.equal(hits, hitsWhenOpened, 'no traffic while open')
      isFailing = false
      await sleep(450)
      assert.equal(stats().breaker, 'half-open')
      assert.equal((await send(`${gw.url}/`)).status, 200)
      assert.equal(stats().breaker, 'half-open', 'one probe is not enough')
      assert.equal((await send(`${gw.url}/`)).status, 200)
      assert.equal(stats().breaker, 'closed')
      assert.ok(gw.lines.some((l) => l.includes('circuit breaker state change') && l.includes('"to":"open"')))
    } finally {
      await gw.stop()
      await b.close()
    }
  })

  test('per-route concurrency limit sheds immediately with 503 and Retry-After', async () => {
    const held: Array<() => void> = []
    const b = await startUpstream((_req, res) => held.push(() => res.end('x')))
    const gw = await startGateway({
      upstreams: [{ id: 'u', backends: [{ url: b.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u', limits: { maxConcurrent: 2 } }],
    })
    try {
      const first = [send(`${gw.url}/1`), send(`${gw.url}/2`)]
      await eventually(() => held.length === 2)
      const shed = await send(`${gw.url}/3`)
      assert.equal(shed.status, 503)
      assert.equal(shed.headers['retry-after'], '1')
      assert.equal((JSON.parse(shed.body) as { code: string }).code, 'ROUTE_CONCURRENCY_LIMIT')
      for (const h of held.splice(0)) h()
      for (const r of await Promise.all(first)) assert.equal(r.status, 200)
      const fourth = send(`${gw.url}/4`)
      await eventually(() => held.length === 1, 3000, 'capacity returns after completion')
      held.shift()?.()
      assert.equal((await fourth).status, 200)
    } finally {
      for (const h of held) h()
      await gw.stop()
      await b.close()
    }
  })
})
