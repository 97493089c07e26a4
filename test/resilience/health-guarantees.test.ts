// End-to-end pins of the health guarantees (docs/architecture.md, "Backend health"), against real backends
// on loopback: an ejected backend needs `rise` consecutive passing checks to come back, and slow start runs
// from the backend's return, whenever that is (an injected clock stands for a gateway that has run a day).
// The decisions are unit-tested in src/health/health-tracker.test.ts.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { send } from '../helpers/client.ts'
import { startGateway } from '../helpers/gateway.ts'
import { eventually, startUpstream } from '../helpers/upstream.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('health guarantees, end to end', () => {
  test('an ejected backend does not come back on alternating check results, only after rise consecutive passes', async () => {
    let mode: 'fail' | 'alternate' | 'pass' = 'fail'
    let checks = 0
    let traffic = 0
    const flapping = await startUpstream((req, res) => {
      if (req.url !== '/healthz') {
        traffic++
        return void res.end('flapping')
      }
      checks++
      const isPassing = mode === 'pass' || (mode === 'alternate' && checks % 2 === 0)
      res.writeHead(isPassing ? 200 : 500).end()
    })
    const steady = await startUpstream((_req, res) => res.end('steady'))
    const gw = await startGateway({
      upstreams: [
        {
          id: 'u',
          backends: [{ url: flapping.url }, { url: steady.url }],
          healthCheck: {
            type: 'http',
            path: '/healthz',
            intervalMs: 100,
            timeoutMs: 500,
            rise: 3,
            fall: 2,
            jitterPercent: 0,
          },
          slowStart: { windowMs: 0 },
        },
      ],
      routes: [{ id: 'r', match: {}, upstream: 'u', retry: { maxRetries: 0 } }],
    })
    const state = () => gw.gateway.runtime.upstreams.get('u')!.stats()[0]!.state
    try {
      await eventually(() => state() === 'ejected', 3000, 'ejected after fall failures')
      mode = 'alternate'
      const from = checks
      const seen = new Set<string>()
      while (checks - from < 12) {
        seen.add(state())
        assert.equal((await send(`${gw.url}/`)).body, 'steady')
        await sleep(20)
      }
      assert.deepEqual([...seen], ['ejected'], 'alternating results never brought it back')
      assert.equal(traffic, 0, 'no traffic while ejected')
      // Switch right after a failing check, so the passing streak starts from zero.
      await eventually(() => checks % 2 === 1, 3000, 'a failing check')
      mode = 'pass'
      const passFrom = checks
      await eventually(() => state() === 'healthy', 3000, 'back after rise passes')
      assert.ok(checks - passFrom >= 3, `came back after ${checks - passFrom} passing checks`)
    } finally {
      await gw.stop()
      await Promise.all([flapping.close(), steady.close()])
    }
  })

  test('slow start ramps from the backend’s return even after the gateway has run for a day', async () => {
    let fakeNow = 0
    let isFailing = true
    const hits = { a: 0, b: 0 }
    const a = await startUpstream((_req, res) => {
      hits.a++
      res.end('a')
    })
    const b = await startUpstream((_req, res) => {
      hits.b++
      res.writeHead(isFailing ? 500 : 200).end('b')
    })
    const gw = await startGateway(
      {
        upstreams: [
          {
            id: 'u',
            backends: [{ url: a.url }, { url: b.url }],
            outlierDetection: { consecutive5xx: 2, baseEjectionMs: 10_000 },
            circuitBreaker: { enabled: false },
            slowStart: { windowMs: 60_000, floorPercent: 10 },
          },
        ],
        routes: [{ id: 'r', match: {}, upstream: 'u', retry: { maxRetries: 0 } }],
      },
      { now: () => fakeNow },
    )
    const state = () => gw.gateway.runtime.upstreams.get('u')!.stats()[1]!.state
    const spread = async (n: number) => {
      hits.a = 0
      hits.b = 0
      for (let i = 0; i < n; i++) await send(`${gw.url}/`)
      return { ...hits }
    }
    try {
      fakeNow = 86_400_000 // the gateway has been up a day when the backend fails
      while (state() !== 'ejected') await send(`${gw.url}/`)
      isFailing = false
      fakeNow += 10_000 // ejection over: the backend returns now
      assert.equal(state(), 'recovering')
      const early = await spread(40)
      assert.ok(early.b >= 1 && early.b <= 8, `at the 10% floor b got ${early.b} of 40 (a full share is 20)`)
      fakeNow += 60_000
      assert.equal(state(), 'healthy')
      const late = await spread(40)
      assert.ok(late.b >= 18 && late.b <= 22, `after the window b got ${late.b} of 40`)
    } finally {
      await gw.stop()
      await Promise.all([a.close(), b.close()])
    }
  })
})
