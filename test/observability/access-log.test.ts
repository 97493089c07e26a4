import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { send } from '../helpers/client.ts'
import { deadPort, startUpstream, type TestUpstream } from '../helpers/upstream.ts'
import { accessLines, startOperated, type OperatedGateway } from './support.ts'

describe('access log', () => {
  let up: TestUpstream
  let slow: TestUpstream
  let gw: OperatedGateway
  let dead: number
  before(async () => {
    up = await startUpstream()
    slow = await startUpstream((_req, res) => setTimeout(() => res.end('late'), 2000))
    dead = await deadPort()
    gw = await startOperated({
      upstreams: [
        { id: 'ok', backends: [{ url: up.url }] },
        { id: 'dead', backends: [{ url: `http://127.0.0.1:${dead}` }], timeouts: { connectMs: 500 } },
        { id: 'slow', backends: [{ url: slow.url }] },
      ],
      routes: [
        { id: 'api', match: { path: { prefix: '/api' } }, upstream: 'ok' },
        { id: 'broken', match: { path: { prefix: '/broken' } }, upstream: 'dead' },
        { id: 'slow', match: { path: { prefix: '/slow' } }, upstream: 'slow' },
      ],
    })
  })
  after(async () => {
    await gw.stop()
    await up.close()
    await slow.close()
  })

  test('writes one line per request with ids, route, backend, status, bytes, durations and config version', async () => {
    const before = accessLines(gw.lines).length
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const r = await send(`${gw.url}/api/items?page=2`, {
      headers: { 'x-request-id': 'req-abc-1', traceparent },
    })
    assert.equal(r.status, 200)
    const lines = accessLines(gw.lines).slice(before)
    assert.equal(lines.length, 1)
    const line = lines[0] as Record<string, unknown>
    assert.equal(line['reqId'], 'req-abc-1')
    assert.equal(line['traceId'], '4bf92f3577b34da6a3ce929d0e0e4736')
    assert.equal(line['clientIp'], '127.0.0.1')
    assert.equal(line['method'], 'GET')
    assert.equal(line['path'], '/api/items?page=2')
    assert.equal(line['route'], 'api')
    assert.equal(line['backend'], `ok/127.0.0.1:${up.port}`)
    assert.equal(line['status'], 200)
    assert.equal(line['attempts'], 1)
    assert.equal(line['bytesIn'], 0)
    assert.equal(line['bytesOut'], Buffer.byteLength(r.body))
    assert.equal(typeof line['durationMs'], 'number')
    assert.equal(typeof line['ttfbMs'], 'number')
    assert.ok((line['ttfbMs'] as number) <= (line['durationMs'] as number))
    assert.equal(line['configVersion'], gw.gateway.runtime.version)
    assert.equal(line['code'], undefined)
    assert.equal(line['level'], 30)
  })

  test('counts request body bytes (bytesIn) of a POST', async () => {
    const before = accessLines(gw.lines).length
    const r = await send(`${gw.url}/api/upload`, { method: 'POST', body: 'hello' })
    assert.equal(r.status, 200)
    const line = accessLines(gw.lines).slice(before)[0]
    assert.equal(line?.['bytesIn'], 5)
  })

  test('failures carry their reason code; 5xx are written at warn', async () => {
    const before = accessLines(gw.lines).length
    assert.equal((await send(`${gw.url}/nowhere`)).status, 404)
    assert.equal((await send(`${gw.url}/broken/x`)).status, 502)
    const lines = accessLines(gw.lines).slice(before)
    assert.deepEqual(
      lines.map((l) => [l['status'], l['code'], l['level']]),
      [
        [404, 'ROUTE_NOT_FOUND', 30],
        [502, 'UPSTREAM_CONNECT_FAILED', 40],
      ],
    )
    assert.equal(lines[0]?.['route'], undefined)
    assert.equal(lines[1]?.['route'], 'broken')
    // The dead backend's connect failure was retried (default: one retry) and the line says so.
    const attemptLog = lines[1]?.['attemptLog'] as Array<Record<string, unknown>>
    assert.equal(attemptLog.length, 2)
    assert.deepEqual(
      attemptLog.map((a) => [a['phase'], a['outcome'], a['verdict']]),
      [
        ['pre-send', 'UPSTREAM_CONNECT_FAILED', 'retried'],
        ['pre-send', 'UPSTREAM_CONNECT_FAILED', 'no-retries-left'],
      ],
    )
    assert.equal(lines[1]?.['attempts'], 2)
  })

  test('no secret sent in a request appears in any log line', async () => {
    const secrets = {
      bearer: 'sEcReT-bearer-7f3a9',
      basic: Buffer.from('alice:sEcReT-basic-pw').toString('base64'),
      cookie: 'sEcReT-cookie-c00k1e',
      apiKey: 'sEcReT-apikey-41b2',
      proxyAuth: 'sEcReT-proxy-9d8e',
      queryToken: 'sEcReT-query-token-5521',
      queryKey: 'sEcReT-query-key-8812',
      queryPassword: 'sEcReT-query-pw-0091',
      xAuthToken: 'sEcReT-x-auth-token-71',
    }
    const headers = {
      authorization: `Bearer ${secrets.bearer}`,
      cookie: `session=${secrets.cookie}; theme=dark`,
      'x-api-key': secrets.apiKey,
      'proxy-authorization': `Basic ${secrets.basic}`,
      'x-auth-token': secrets.xAuthToken,
    }
    const query = `?access_token=${secrets.queryToken}&api_key=${secrets.queryKey}&password=${secrets.queryPassword}`
    // Success, 404, 502, 405-free paths, and a client abort (499) all write lines.
    await send(`${gw.url}/api/a${query}`, { headers })
    await send(`${gw.url}/nope${query}`, { headers })
    await send(`${gw.url}/broken${query}`, { headers })
    await send(`${gw.url}/api/b${query}`, {
      headers: { ...headers, authorization: `Basic ${secrets.basic}` },
    })
    await new Promise<void>((resolve) => {
      const req = request(`${gw.url}/slow${query}`, { headers, agent: false })
      req.on('error', () => resolve())
      req.end()
      setTimeout(() => {
        req.destroy()
        setTimeout(resolve, 100)
      }, 150)
    })
    const all = gw.lines.join('\n')
    assert.ok(
      accessLines(gw.lines).some((l) => l['status'] === 499),
      'the aborted request was logged',
    )
    for (const [name, secret] of Object.entries(secrets)) {
      assert.ok(!all.includes(secret), `${name} leaked into the logs`)
    }
    assert.ok(all.includes('access_token=[redacted]'))
  })

  test('propagates X-Request-Id, traceparent and tracestate to the upstream unchanged', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    const r = await send(`${gw.url}/api/trace`, {
      headers: { 'x-request-id': 'corr-42', traceparent, tracestate: 'vendor=abc' },
    })
    const seen = r.json<{ headers: Record<string, string> }>().headers
    assert.equal(seen['x-request-id'], 'corr-42')
    assert.equal(seen['traceparent'], traceparent)
    assert.equal(seen['tracestate'], 'vendor=abc')
    assert.equal(r.headers['x-request-id'], 'corr-42')
  })

  test('a generated request id is sent upstream, returned and logged', async () => {
    const before = accessLines(gw.lines).length
    const r = await send(`${gw.url}/api/gen`)
    const id = r.headers['x-request-id'] as string
    assert.ok(id.length > 0)
    assert.equal(r.json<{ headers: Record<string, string> }>().headers['x-request-id'], id)
    assert.equal(accessLines(gw.lines).slice(before)[0]?.['reqId'], id)
  })
})

describe('access log sampling', () => {
  test('successes are sampled by ratio, failures are always written', async () => {
    const up = await startUpstream()
    const gw = await startOperated(
      {
        upstreams: [{ id: 'ok', backends: [{ url: up.url }] }],
        routes: [{ id: 'api', match: { path: { prefix: '/api' } }, upstream: 'ok' }],
        logging: { accessLog: { enabled: true, sampleSuccessRatio: 0.5 } },
      },
      { random: () => 0.75 }, // always above the ratio: every success is dropped
    )
    try {
      for (let i = 0; i < 5; i++) await send(`${gw.url}/api/${i}`)
      await send(`${gw.url}/missing`)
      const lines = accessLines(gw.lines)
      assert.deepEqual(
        lines.map((l) => l['status']),
        [404],
      )
      // Metrics still count every request.
      const text = await gw.scrape()
      assert.match(text, /litgate_requests_total\{route="api",status_class="2xx"\} 5/)
    } finally {
      await gw.stop()
      await up.close()
    }
  })
})
