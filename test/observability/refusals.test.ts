/**
 * Every request the gateway answers gets one access-log line and the request metrics, including the
 * ones Node's HTTP/1.1 parser refuses before a request object exists; failed upstream attempts are
 * counted per backend, retried ones included.
 */
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { send, parseRaw } from '../helpers/client.ts'
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts'
import { startTcpFault, type TcpFault } from '../helpers/tcp-fault.ts'
import { accessLines, sample, startOperated, type OperatedGateway } from './support.ts'

/** Sends raw bytes (optionally half-closing), collects the answer until the server closes. */
function rawRequest(
  port: number,
  data: string,
  options: { end?: boolean; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => {
      socket.destroy()
      reject(
        new Error(`no close within the timeout; got ${JSON.stringify(Buffer.concat(chunks).toString())}`),
      )
    }, options.timeoutMs ?? 3000)
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', () => undefined)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(Buffer.concat(chunks).toString())
    })
    socket.write(data)
    if (options.end === true) socket.end()
  })
}

function problemOf(raw: string): {
  status: number
  headers: Record<string, string>
  body: string
  code: string
  requestId: string
} {
  const res = parseRaw(raw)
  const doc = JSON.parse(res.body) as { code: string; requestId: string; status: number }
  assert.equal(doc.status, res.status)
  return { ...res, code: doc.code, requestId: doc.requestId }
}

describe('parser-level refusals', () => {
  let up: TestUpstream
  let gw: OperatedGateway
  let port: number
  before(async () => {
    up = await startUpstream()
    gw = await startOperated({
      server: { headersTimeoutMs: 300 },
      upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
      routes: [{ id: 'api', match: { path: { prefix: '/api' } }, upstream: 'u' }],
    })
    port = Number(new URL(gw.url).port)
  })
  after(async () => {
    await gw.stop()
    await up.close()
  })

  const cases = [
    {
      name: 'bad method',
      data: 'BREW /pot HTTP/1.1\r\nHost: tea.test\r\n\r\n',
      status: 400,
      code: 'BAD_REQUEST',
      method: 'BREW',
      rawPath: '/pot',
      host: 'tea.test',
    },
    {
      name: 'bad Content-Length',
      data: 'POST /api/up?access_token=sEcReT-2 HTTP/1.1\r\nHost: a.test\r\nContent-Length: abc\r\n\r\n',
      status: 400,
      code: 'BAD_REQUEST',
      method: 'POST',
      rawPath: '/api/up?access_token=[redacted]',
      host: 'a.test',
    },
    {
      name: 'head larger than maxHeaderBytes',
      data: `GET /api/big HTTP/1.1\r\nHost: b.test\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
      status: 431,
      code: 'HEADERS_TOO_LARGE',
      method: 'GET',
      rawPath: '/api/big',
      host: 'b.test',
    },
    {
      name: 'malformed request line',
      data: 'NOT HTTP AT ALL\r\n\r\n',
      status: 400,
      code: 'BAD_REQUEST',
      method: 'NOT',
      rawPath: 'HTTP AT ALL',
      host: undefined,
    },
    {
      name: 'bare "GET /" line, then end of input',
      data: 'GET /\r\n',
      end: true,
      status: 400,
      code: 'BAD_REQUEST',
      method: undefined, // the parser gives no packet at end of input: nothing to read method or path from
      rawPath: undefined,
      host: undefined,
    },
    {
      name: 'bare "GET /" line, then nothing (head timeout)',
      data: 'GET /\r\n',
      status: 408,
      code: 'REQUEST_HEADER_TIMEOUT',
      method: undefined,
      rawPath: undefined,
      host: undefined,
    },
  ] as const

  for (const c of cases) {
    test(`${c.name}: ${c.status} problem+json with a request id, one access-log line, the request metric`, async () => {
      const labels = { route: '_unrouted', status_class: '4xx' }
      const requestsBefore = sample(await gw.scrape(), 'litgate_requests_total', labels) ?? 0
      const failuresBefore =
        sample(await gw.scrape(), 'litgate_request_failures_total', { route: '_unrouted', code: c.code }) ?? 0
      const linesBefore = accessLines(gw.lines).length
      const res = problemOf(await rawRequest(port, c.data, { end: 'end' in c && c.end }))
      assert.equal(res.status, c.status)
      assert.equal(res.headers['content-type'], 'application/problem+json')
      assert.equal(res.headers['connection'], 'close')
      assert.equal(res.code, c.code)
      assert.ok(res.requestId.length > 0)
      assert.equal(res.headers['x-request-id'], res.requestId)

      const lines = accessLines(gw.lines).slice(linesBefore)
      assert.equal(lines.length, 1, JSON.stringify(lines))
      const line = lines[0] as Record<string, unknown>
      assert.equal(line['reqId'], res.requestId)
      assert.equal(line['status'], c.status)
      assert.equal(line['code'], c.code)
      assert.equal(line['clientIp'], '127.0.0.1')
      assert.equal(line['route'], undefined)
      assert.equal(line['bytesOut'], Buffer.byteLength(res.body))
      if (c.method !== undefined) assert.equal(line['method'], c.method)
      if (c.rawPath !== undefined) assert.equal(line['rawPath'], c.rawPath)
      assert.equal(line['host'], c.host)
      assert.equal(line['path'], undefined, 'a refused target has no normalised path')

      const text = await gw.scrape()
      assert.equal(sample(text, 'litgate_requests_total', labels), requestsBefore + 1)
      assert.equal(
        sample(text, 'litgate_request_failures_total', { route: '_unrouted', code: c.code }),
        failuresBefore + 1,
      )
    })
  }

  test('the gateway keeps serving after the refusals; no query credential reached a line', async () => {
    assert.equal((await send(`${gw.url}/api/ok`)).status, 200)
    assert.ok(!gw.lines.join('\n').includes('sEcReT-2'))
  })
})

describe('early refusals (before a route or a backend)', () => {
  let up: TestUpstream
  let gw: OperatedGateway
  before(async () => {
    up = await startUpstream()
    gw = await startOperated({
      upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
      routes: [
        {
          id: 'api',
          match: { hosts: ['shop.test'], path: { prefix: '/api' }, methods: ['GET'] },
          upstream: 'u',
        },
      ],
    })
  })
  after(async () => {
    await gw.stop()
    await up.close()
  })

  async function lineFor(
    path: string,
    options: { method?: string; host?: string } = {},
  ): Promise<{ status: number; body: string; line: Record<string, unknown> }> {
    const before = accessLines(gw.lines).length
    const res = await send(gw.url, {
      path,
      method: options.method ?? 'GET',
      headers: { host: options.host ?? 'shop.test' },
    })
    const lines = accessLines(gw.lines).slice(before)
    assert.equal(lines.length, 1)
    return { status: res.status, body: res.body, line: lines[0] as Record<string, unknown> }
  }

  test('400/404/405 lines carry the host, the raw and the normalised path; bytesOut counts the problem body', async () => {
    const notFound = await lineFor('/shop/./cart/../items?access_token=sEcReT-1&page=2')
    assert.equal(notFound.status, 404)
    assert.equal(notFound.line['host'], 'shop.test')
    assert.equal(notFound.line['rawPath'], '/shop/./cart/../items?access_token=[redacted]&page=2')
    assert.equal(notFound.line['path'], '/shop/items?access_token=[redacted]&page=2')
    assert.equal(notFound.line['bytesOut'], Buffer.byteLength(notFound.body))

    const notAllowed = await lineFor('/api/items', { method: 'POST' })
    assert.equal(notAllowed.status, 405)
    assert.equal(notAllowed.line['host'], 'shop.test')
    assert.equal(notAllowed.line['rawPath'], '/api/items')
    assert.equal(notAllowed.line['path'], '/api/items')
    assert.equal(notAllowed.line['bytesOut'], Buffer.byteLength(notAllowed.body))

    const invalidPath = await lineFor('/a/../../etc/passwd')
    assert.equal(invalidPath.status, 400)
    assert.equal(invalidPath.line['code'], 'INVALID_PATH')
    assert.equal(invalidPath.line['host'], 'shop.test')
    assert.equal(invalidPath.line['rawPath'], '/a/../../etc/passwd')
    assert.equal(invalidPath.line['path'], undefined)
    assert.ok((invalidPath.line['bytesOut'] as number) > 0)

    const invalidHost = await lineFor('/api/x', { host: 'bad host!' })
    assert.equal(invalidHost.status, 400)
    assert.equal(invalidHost.line['code'], 'INVALID_HOST')
    assert.equal(invalidHost.line['host'], 'bad host!')
    assert.equal(invalidHost.line['path'], '/api/x')

    assert.ok(!gw.lines.join('\n').includes('sEcReT-1'), 'a query credential reached the log')
    // The problem bodies are response bytes too.
    const out = sample(await gw.scrape(), 'litgate_body_bytes_total', {
      route: '_unrouted',
      direction: 'out',
    })
    assert.ok(out !== undefined && out >= Buffer.byteLength(notFound.body) * 2, `body bytes out ${out}`)
  })

  test('a HEAD refusal counts no body bytes (none is sent)', async () => {
    const res = await lineFor('/nowhere', { method: 'HEAD' })
    assert.equal(res.status, 404)
    assert.equal(res.body, '')
    assert.equal(res.line['bytesOut'], 0)
  })

  test('host, raw and normalised path are bounded in the line and named in `truncated`', async () => {
    const long = `/${'p'.repeat(5000)}`
    // A 300-character host is no valid DNS name (400 INVALID_HOST): the line still carries it, bounded.
    const res = await lineFor(long, { host: `${'h'.repeat(300)}.test` })
    assert.equal(res.status, 400)
    assert.equal((res.line['rawPath'] as string).length, 2048)
    assert.equal((res.line['path'] as string).length, 2048)
    assert.equal((res.line['host'] as string).length, 256)
    assert.deepEqual(res.line['truncated'], ['host', 'rawPath', 'path'])
    const short = await lineFor('/nowhere')
    assert.equal(short.line['truncated'], undefined)
  })
})

describe('failed upstream attempts per backend', () => {
  let resets: TcpFault[]
  let failing: TestUpstream
  let gw: OperatedGateway
  before(async () => {
    resets = [await startTcpFault({ mode: 'reset' }), await startTcpFault({ mode: 'reset' })]
    failing = await startUpstream((_req, res) => {
      res.statusCode = 503
      res.end('busy')
    })
    gw = await startOperated({
      upstreams: [
        { id: 'flaky', backends: resets.map((r) => ({ url: r.url })) },
        { id: 'busy', backends: [{ url: failing.url }] },
      ],
      routes: [
        { id: 'flaky', match: { path: { prefix: '/flaky' } }, upstream: 'flaky', retry: { maxRetries: 1 } },
        {
          id: 'busy',
          match: { path: { prefix: '/busy' } },
          upstream: 'busy',
          retry: { maxRetries: 2, retryOn: [503], backoffBaseMs: 1, backoffMaxMs: 2 },
        },
      ],
    })
  })
  after(async () => {
    await gw.stop()
    for (const r of resets) await r.close()
    await failing.close()
  })

  test('every failed attempt, retried ones included, is counted on its backend with its reason code', async () => {
    const before = accessLines(gw.lines).length
    const res = await send(`${gw.url}/flaky/x`)
    assert.equal(res.status, 502)
    const line = accessLines(gw.lines).slice(before)[0] as Record<string, unknown>
    const attempts = line['attemptLog'] as Array<{ backendId: string; outcome: string }>
    assert.equal(line['attempts'], 2)
    assert.equal(attempts.length, 2)
    const text = await gw.scrape()
    let total = 0
    for (const r of resets) {
      const backend = `flaky/127.0.0.1:${r.port}`
      const expected = attempts.filter((a) => a.backendId === backend)
      for (const a of expected) {
        const n = sample(text, 'litgate_upstream_attempt_failures_total', { backend, code: a.outcome })
        assert.equal(n, expected.filter((b) => b.outcome === a.outcome).length, `${backend} ${a.outcome}`)
      }
      for (const l of text.split('\n'))
        if (l.startsWith('litgate_upstream_attempt_failures_total{') && l.includes(`backend="${backend}"`))
          total += Number(l.split(' ').pop())
    }
    assert.equal(total, 2, 'each attempt counted once')
    // The final outcome alone is what the per-exchange counter sees.
    assert.equal(sample(text, 'litgate_upstream_errors_total', { code: attempts[1]?.outcome as string }), 1)
  })

  test('a 5xx response counts as a failed attempt (reason 5xx), also when it was retried', async () => {
    const res = await send(`${gw.url}/busy/x`)
    assert.equal(res.status, 503)
    const backend = `busy/127.0.0.1:${failing.port}`
    assert.equal(
      sample(await gw.scrape(), 'litgate_upstream_attempt_failures_total', { backend, code: '5xx' }),
      3,
    )
  })
})
