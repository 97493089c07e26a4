import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { createTokenEndpoints, type TokenService } from './index.ts'

const service: TokenService = {
  createNonce: async () => ({
    ok: true,
    value: { nonce: 'a'.repeat(32), expiresAt: '2026-12-02T12:05:00.000Z' },
  }),
  issue: async (body) =>
    (body as { message?: string }).message === 'inactive'
      ? { ok: false, code: 'SUBSCRIPTION_INACTIVE', detail: 'not yet', reason: 'inactive' }
      : { ok: false, code: 'TOKEN_SIGNATURE_INVALID', detail: 'no', reason: 'signature' },
  refresh: async () => {
    throw Object.assign(new Error('db down'), { code: 'STORAGE_UNAVAILABLE' })
  },
}

describe('token endpoints over HTTP', () => {
  let server: Server
  let url: string
  let allowed = 3
  const refused: string[] = []
  before(async () => {
    const endpoints = createTokenEndpoints({
      basePath: '/litgate/v1',
      service,
      jwks: '{"keys":[]}',
      takePerIp: () => (allowed-- > 0 ? 0 : 7),
      nowMs: () => 0,
      requestIdHeader: 'x-request-id',
      nextRequestId: () => 'req-1',
      onRefused: (code) => refused.push(code),
    })
    server = createServer((req, res) => {
      if (!endpoints.handle(req, res, { clientAddress: () => '127.0.0.1' })) {
        res.writeHead(599)
        res.end()
      }
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(() => new Promise<void>((r) => server.close(() => r())))

  test('JWKS, nonce and refusals: JSON or problem+json, no-store, request id; other paths untouched', async () => {
    const jwks = await fetch(`${url}/.well-known/jwks.json`)
    assert.equal(jwks.status, 200)
    assert.equal(jwks.headers.get('cache-control'), 'no-store')
    assert.equal(await jwks.text(), '{"keys":[]}')
    const nonce = await fetch(`${url}/litgate/v1/nonce`)
    assert.equal(nonce.status, 200)
    assert.equal(((await nonce.json()) as { nonce: string }).nonce.length, 32)
    const post = (path: string, body: string, type = 'application/json') =>
      fetch(`${url}/litgate/v1${path}`, { method: 'POST', headers: { 'content-type': type }, body })
    const inactive = await post('/token', '{"message":"inactive"}')
    assert.equal(inactive.status, 402)
    assert.equal(inactive.headers.get('content-type'), 'application/problem+json')
    assert.equal(inactive.headers.get('x-request-id'), 'req-1')
    const p = (await inactive.json()) as { code: string; requestId: string }
    assert.deepEqual([p.code, p.requestId], ['SUBSCRIPTION_INACTIVE', 'req-1'])
    const db = await post('/token/refresh', '{}')
    assert.equal(db.status, 503)
    assert.equal(((await db.json()) as { code: string }).code, 'STORAGE_UNAVAILABLE')
    assert.equal((await fetch(`${url}/litgate/v1/quote`)).status, 599, 'not ours')
    assert.equal((await fetch(`${url}/elsewhere`)).status, 599)
  })

  test('wrong method 405 with Allow; wrong content type, bad JSON and an oversized body 400; then 429 per IP', async () => {
    const get = await fetch(`${url}/litgate/v1/token`)
    assert.equal(get.status, 405)
    assert.equal(get.headers.get('allow'), 'POST')
    await get.arrayBuffer()
    allowed = 3
    const send = (body: string, type = 'application/json') =>
      fetch(`${url}/litgate/v1/token`, { method: 'POST', headers: { 'content-type': type }, body })
    for (const [body, type] of [
      ['{}', 'text/plain'],
      ['{nope', 'application/json'],
      [JSON.stringify({ message: 'x'.repeat(9000) }), 'application/json'],
    ] as const) {
      const r = await send(body, type)
      assert.equal(r.status, 400)
      assert.equal(((await r.json()) as { code: string }).code, 'TOKEN_REQUEST_INVALID')
    }
    const limited = await send('{}')
    assert.equal(limited.status, 429)
    assert.equal(limited.headers.get('retry-after'), '7')
    assert.equal(((await limited.json()) as { code: string }).code, 'TOKEN_RATE_LIMITED')
    assert.ok(refused.includes('TOKEN_RATE_LIMITED'))
  })
})
