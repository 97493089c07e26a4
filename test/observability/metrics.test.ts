import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Agent, request } from 'undici'
import { send } from '../helpers/client.ts'
import { deadPort, startUpstream, type TestUpstream } from '../helpers/upstream.ts'
import { makeConfig, sample, startOperated, type OperatedGateway } from './support.ts'

describe('metrics and admin endpoints', () => {
  let up: TestUpstream
  let gw: OperatedGateway
  let dead: number
  before(async () => {
    up = await startUpstream()
    dead = await deadPort()
    gw = await startOperated({
      upstreams: [
        { id: 'ok', backends: [{ url: up.url }] },
        { id: 'dead', backends: [{ url: `http://127.0.0.1:${dead}` }], timeouts: { connectMs: 500 } },
      ],
      routes: [
        { id: 'api', match: { path: { prefix: '/api' } }, upstream: 'ok' },
        { id: 'broken', match: { path: { prefix: '/broken' } }, upstream: 'dead' },
      ],
    })
  })
  after(async () => {
    await gw.stop()
    await up.close()
  })

  test('counts requests by route and status class, failures and upstream errors by reason code', async () => {
    for (let i = 0; i < 3; i++) await send(`${gw.url}/api/${i}`)
    await send(`${gw.url}/missing`)
    await send(`${gw.url}/broken/x`)
    const text = await gw.scrape()
    assert.equal(sample(text, 'litgate_requests_total', { route: 'api', status_class: '2xx' }), 3)
    assert.equal(sample(text, 'litgate_requests_total', { route: '_unrouted', status_class: '4xx' }), 1)
    assert.equal(sample(text, 'litgate_requests_total', { route: 'broken', status_class: '5xx' }), 1)
    assert.equal(sample(text, 'litgate_request_failures_total', { route: '_unrouted', code: 'ROUTE_NOT_FOUND' }), 1)
    assert.equal(
      sample(text, 'litgate_upstream_errors_total', { backend: `dead/127.0.0.1:${dead}`, code: 'UPSTREAM_CONNECT_FAILED' }),
      1,
    )
    assert.equal(sample(text, 'litgate_request_duration_seconds_count', { route: 'api' }), 3)
    assert.equal(sample(text, 'litgate_upstream_ttfb_seconds_count', { upstream: 'ok' }), 3)
  })

  test('reads gateway, config, connection and backend state at scrape time', async () => {
    const text = await gw.scrape()
    assert.equal(sample(text, 'litgate_config_info', { version: gw.gateway.runtime.version }), 1)
    assert.equal(sample(text, 'litgate_gateway_state', { state: 'serving' }), 1)
    assert.equal(sample(text, 'litgate_gateway_state', { state: 'draining' }), 0)
    const backend = `ok/127.0.0.1:${up.port}`
    assert.equal(sample(text, 'litgate_backend_health', { backend, state: 'healthy' }), 1)
    assert.equal(sample(text, 'litgate_backend_breaker_state', { backend, state: 'closed' }), 1)
    assert.equal(sample(text, 'litgate_backend_active_requests', { backend }), 0)
    assert.equal(sample(text, 'litgate_backend_capacity_requests', { backend }), 128)
    assert.equal(sample(text, 'litgate_upstream_queue_depth', { upstream: 'ok' }), 0)
    assert.equal(sample(text, 'litgate_upstream_pool_utilisation_ratio', { upstream: 'ok' }), 0)
    assert.equal(typeof sample(text, 'litgate_connections', { state: 'open' }), 'number')
  })

  test('no label carries a path, client address, request id or token', async () => {
    const marker = `u${Date.now().toString(36)}`
    await send(`${gw.url}/api/${marker}?token=${marker}`, {
      headers: { 'x-request-id': `rid-${marker}`, authorization: `Bearer ${marker}` },
    })
    await send(`${gw.url}/${marker}`)
    const text = await gw.scrape()
    assert.ok(!text.includes(marker))
    const labelValues = new Set<string>()
    for (const m of text.matchAll(/([a-z_]+)="([^"]*)"/g)) labelValues.add(`${m[1]}`)
    // Only bounded label names exist.
    assert.deepEqual(
      [...labelValues].filter(
        (n) => !['route', 'status_class', 'code', 'backend', 'upstream', 'state', 'version', 'result', 'le', 'direction', 'to', 'store', 'action', 'reason'].includes(n),
      ),
      [],
    )
  })

  test('/healthz and /readyz answer; /metrics is Prometheus text; unknown paths and methods are refused', async () => {
    assert.equal((await send(`${gw.adminUrl}/healthz`)).status, 200)
    assert.equal((await send(`${gw.adminUrl}/readyz`)).status, 200)
    const m = await send(`${gw.adminUrl}/metrics`)
    assert.equal(m.status, 200)
    assert.match(m.headers['content-type'] as string, /^text\/plain; version=0\.0\.4/)
    assert.match(m.body, /# TYPE litgate_requests_total counter/)
    assert.equal((await send(`${gw.adminUrl}/reload`)).status, 405)
    assert.equal((await send(`${gw.adminUrl}/metrics`, { method: 'POST' })).status, 405)
    assert.equal((await send(`${gw.adminUrl}/nope`)).status, 404)
  })

  test('POST /reload: an invalid config is refused with its code, counted, and the old config keeps serving', async () => {
    const version = gw.gateway.runtime.version
    gw.next(['routes[0].upstream: unknown upstream (got "x")'])
    const r = await send(`${gw.adminUrl}/reload`, { method: 'POST' })
    assert.equal(r.status, 400)
    const body = r.json<{ ok: boolean; code: string; issues: string[]; version: string }>()
    assert.equal(body.ok, false)
    assert.equal(body.code, 'CONFIG_INVALID')
    assert.equal(body.version, version)
    assert.equal((await send(`${gw.url}/api/still`)).status, 200)
    let text = await gw.scrape()
    assert.equal(sample(text, 'litgate_reloads_total', { result: 'failure', code: 'CONFIG_INVALID' }), 1)
    assert.equal(sample(text, 'litgate_config_last_reload_successful'), 0)
    assert.ok(gw.lines.some((l) => l.includes('"code":"CONFIG_INVALID"') && l.includes('reload failed')))

    const next = makeConfig({
      upstreams: [{ id: 'ok', backends: [{ url: up.url }] }],
      routes: [{ id: 'api2', match: { path: { prefix: '/api' } }, upstream: 'ok' }],
    })
    gw.next(next)
    const ok = await send(`${gw.adminUrl}/reload`, { method: 'POST' })
    assert.equal(ok.status, 200)
    assert.equal(ok.json<{ isChanged: boolean }>().isChanged, true)
    text = await gw.scrape()
    assert.equal(sample(text, 'litgate_reloads_total', { result: 'success', code: '' }), 1)
    assert.equal(sample(text, 'litgate_config_last_reload_successful'), 1)
    assert.equal(sample(text, 'litgate_config_info', { version: gw.gateway.runtime.version }), 1)
    assert.equal(sample(text, 'litgate_config_info', { version }), undefined)
  })
})

describe('metrics scrape with 1,000 routes', () => {
  test('stays bounded and cheap (scrape time reported, not asserted)', async (t) => {
    const up = await startUpstream((_req, res) => res.end('ok'))
    const routes = Array.from({ length: 1000 }, (_, i) => ({
      id: `r${i}`,
      match: { path: { exact: `/r/${i}` } },
      upstream: `u${i % 10}`,
    }))
    const upstreams = Array.from({ length: 10 }, (_, i) => ({ id: `u${i}`, backends: [{ url: up.url }] }))
    const gw = await startOperated({ upstreams, routes })
    const agent = new Agent({ connections: 16 })
    try {
      const queue = routes.map((r) => r.match.path.exact)
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          for (let p = queue.pop(); p !== undefined; p = queue.pop()) {
            const res = await request(`${gw.url}${p}`, { dispatcher: agent })
            await res.body.text()
          }
        }),
      )
      const times: number[] = []
      let text = ''
      for (let i = 0; i < 20; i++) {
        const started = performance.now()
        const res = await request(`${gw.adminUrl}/metrics`, { dispatcher: agent })
        text = await res.body.text()
        times.push(performance.now() - started)
      }
      times.sort((a, b) => a - b)
      const series = text.split('\n').filter((l) => l.length > 0 && !l.startsWith('#')).length
      t.diagnostic(
        `scrape with 1000 routes: median ${times[10]?.toFixed(1)} ms, max ${times[19]?.toFixed(1)} ms, ` +
          `${series} series, ${(text.length / 1024).toFixed(0)} KiB`,
      )
      assert.equal(sample(text, 'litgate_requests_total', { route: 'r999', status_class: '2xx' }), 1)
      // Per route: 1 request counter + 1 histogram (12 buckets + +Inf + sum + count) + bytes out.
      assert.ok(series < 1000 * 20, `series: ${series}`)
    } finally {
      await agent.close()
      await gw.stop()
      await up.close()
    }
  })
})
