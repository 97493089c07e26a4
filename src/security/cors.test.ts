import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  actualResponseHeaders,
  applyCorsToResponse,
  compileCors,
  isPreflight,
  preflightHeaders,
  type CorsOptions,
} from './cors.ts'

const base: CorsOptions = {
  allowOrigins: ['https://app.example.com'],
  allowMethods: ['GET', 'HEAD', 'POST', 'PUT'],
  allowHeaders: ['content-type', 'authorization'],
  exposeHeaders: ['x-total'],
  allowCredentials: true,
  maxAgeSeconds: 600,
}
const exact = compileCors(base)
const any = compileCors({ ...base, allowOrigins: ['*'], allowCredentials: false, exposeHeaders: [] })
const APP = 'https://app.example.com'

describe('CORS preflight detection', () => {
  it('is an OPTIONS with Origin and a non-empty Access-Control-Request-Method', () => {
    assert.equal(isPreflight('OPTIONS', APP, 'PUT'), true)
    assert.equal(isPreflight('OPTIONS', undefined, 'PUT'), false)
    assert.equal(isPreflight('OPTIONS', APP, undefined), false)
    assert.equal(isPreflight('OPTIONS', APP, ''), false)
    assert.equal(isPreflight('GET', APP, 'PUT'), false)
  })
})

describe('CORS preflight answer', () => {
  it('allows a listed origin, method and headers, with every Access-Control-Allow-* field', () => {
    assert.deepEqual(preflightHeaders(exact, APP, 'PUT', 'Content-Type, Authorization'), {
      'access-control-allow-origin': APP,
      'access-control-allow-methods': 'GET, HEAD, POST, PUT',
      'access-control-allow-credentials': 'true',
      'access-control-allow-headers': 'content-type, authorization',
      'access-control-max-age': '600',
      vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    })
  })

  it('compares origins case-insensitively and echoes the one received', () => {
    assert.equal(
      preflightHeaders(exact, 'HTTPS://APP.example.com', 'GET', undefined)?.['access-control-allow-origin'],
      'HTTPS://APP.example.com',
    )
  })

  it('refuses an unlisted origin, method or header', () => {
    assert.equal(preflightHeaders(exact, 'https://evil.example', 'GET', undefined), undefined)
    assert.equal(preflightHeaders(exact, 'https://app.example.com:8443', 'GET', undefined), undefined)
    assert.equal(preflightHeaders(exact, APP, 'DELETE', undefined), undefined)
    assert.equal(preflightHeaders(exact, APP, 'GET', 'content-type, x-secret'), undefined)
    assert.equal(preflightHeaders(exact, APP, 'GET', 'bad header'), undefined)
    assert.equal(preflightHeaders(exact, APP, 'G E T', undefined), undefined)
  })

  it('`*` origin answers `*` (no credentials), and `*` methods/headers echo the requested ones', () => {
    const open = compileCors({
      allowOrigins: ['*'],
      allowMethods: ['*'],
      allowHeaders: ['*'],
      exposeHeaders: [],
      allowCredentials: false,
    })
    assert.deepEqual(preflightHeaders(open, 'null', 'PATCH', 'X-One,x-two'), {
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'PATCH',
      'access-control-allow-headers': 'x-one, x-two',
      vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    })
  })
})

describe('CORS on actual responses', () => {
  it('a direct response gets the fields for an allowed origin and Vary: Origin for an exact list', () => {
    assert.deepEqual(actualResponseHeaders(exact, APP), {
      'access-control-allow-origin': APP,
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'x-total',
      vary: 'Origin',
    })
    assert.deepEqual(actualResponseHeaders(exact, 'https://evil.example'), { vary: 'Origin' })
    assert.deepEqual(actualResponseHeaders(exact, undefined), { vary: 'Origin' })
    assert.deepEqual(actualResponseHeaders(any, 'https://x.example'), { 'access-control-allow-origin': '*' })
    assert.deepEqual(actualResponseHeaders(any, undefined), {})
  })

  it('a proxied head loses the upstream CORS fields and gets ours, Origin merged into Vary', () => {
    const upstream = [
      'content-type',
      'text/plain',
      'access-control-allow-origin',
      '*',
      'vary',
      'Accept-Encoding',
      'access-control-allow-credentials',
      'true',
      'x-request-id',
      'r1',
    ]
    assert.deepEqual(applyCorsToResponse(upstream.slice(), exact, APP), [
      'content-type',
      'text/plain',
      'vary',
      'Accept-Encoding, Origin',
      'x-request-id',
      'r1',
      'access-control-allow-origin',
      APP,
      'access-control-allow-credentials',
      'true',
      'access-control-expose-headers',
      'x-total',
    ])
    assert.deepEqual(applyCorsToResponse(upstream.slice(), exact, 'https://evil.example'), [
      'content-type',
      'text/plain',
      'vary',
      'Accept-Encoding, Origin',
      'x-request-id',
      'r1',
    ])
  })

  it('adds Vary: Origin when there is none and leaves a Vary that covers it', () => {
    assert.deepEqual(applyCorsToResponse(['a', '1'], exact, undefined), ['a', '1', 'vary', 'Origin'])
    assert.deepEqual(applyCorsToResponse(['vary', 'origin, accept'], exact, undefined), [
      'vary',
      'origin, accept',
    ])
    assert.deepEqual(applyCorsToResponse(['vary', '*'], exact, undefined), ['vary', '*'])
    assert.deepEqual(applyCorsToResponse(['a', '1'], any, 'https://x'), [
      'a',
      '1',
      'access-control-allow-origin',
      '*',
    ])
  })

  it('returns the same array when nothing is dropped (no copy on the common path)', () => {
    const flat = ['a', '1', 'vary', 'Origin']
    assert.equal(applyCorsToResponse(flat, exact, undefined), flat)
  })
})
