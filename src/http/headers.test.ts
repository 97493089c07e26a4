import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { compileCidrs } from '../security/index.ts'
import { appendGatewayHeaders, buildResponseHeaders, isHopByHop, scanRequestHead } from './headers.ts'

const FORWARDING = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded']

/** The request head the backend gets: end-to-end fields plus the gateway's own, as [name, value] pairs. */
function outgoing(raw: string[], peer: string, trusted: string[], encrypted = false): [string, string][] {
  const head = scanRequestHead(raw, 'x-request-id')
  const out = [...head.forward]
  appendGatewayHeaders(
    out,
    head,
    { remoteAddress: peer, encrypted },
    compileCidrs(trusted),
    head.host ?? 'fallback', // hostHeader: preserve (the default)
    'x-request-id',
    'rid',
  )
  const pairs: [string, string][] = []
  for (let i = 0; i < out.length; i += 2) pairs.push([out[i]!.toLowerCase(), out[i + 1]!])
  return pairs
}

function only(pairs: [string, string][], name: string): string {
  const values = pairs.filter(([n]) => n === name).map(([, v]) => v)
  assert.equal(values.length, 1, `exactly one ${name}: ${JSON.stringify(values)}`)
  return values[0]!
}

describe('scanRequestHead + appendGatewayHeaders (forwarding headers)', () => {
  const forged = [
    'Host',
    'api.example.com',
    'X-Forwarded-Host',
    'evil.example',
    'X-Forwarded-Proto',
    'https',
    'X-Forwarded-For',
    '6.6.6.6',
    'Forwarded',
    'for=6.6.6.6;proto=https;host=evil.example',
    'Accept',
    '*/*',
  ]

  test('from an untrusted client, no forwarding header it sent reaches the backend, in any case or count', () => {
    const pairs = outgoing(
      [...forged, 'x-forwarded-host', 'evil2.example', 'X-FORWARDED-PROTO', 'https'],
      '203.0.113.5',
      [],
    )
    assert.equal(only(pairs, 'x-forwarded-host'), 'api.example.com')
    assert.equal(only(pairs, 'x-forwarded-proto'), 'http')
    assert.equal(only(pairs, 'x-forwarded-for'), '203.0.113.5')
    assert.equal(only(pairs, 'forwarded'), 'for=203.0.113.5;proto=http;host=api.example.com')
    assert.doesNotMatch(JSON.stringify(pairs), /evil|6\.6\.6\.6/)
    assert.equal(only(pairs, 'accept'), '*/*')
  })

  test('the scan never lists a forwarding header among the end-to-end fields', () => {
    const head = scanRequestHead(forged, 'x-request-id')
    const names = head.forward.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
    for (const name of FORWARDING) assert.ok(!names.includes(name), name)
    assert.equal(head.xForwardedHost, 'evil.example')
    assert.equal(head.xForwardedProto, 'https')
  })

  test('from a trusted proxy, its X-Forwarded-Proto/-Host are kept and the lists extended', () => {
    const pairs = outgoing(forged, '10.0.0.2', ['10.0.0.0/8'])
    assert.equal(only(pairs, 'x-forwarded-host'), 'evil.example')
    assert.equal(only(pairs, 'x-forwarded-proto'), 'https')
    assert.equal(only(pairs, 'x-forwarded-for'), '6.6.6.6, 10.0.0.2')
  })

  test('the first X-Forwarded-Proto/-Host of a trusted proxy wins; repeated X-Forwarded-For lists combine', () => {
    const head = scanRequestHead(
      [
        'X-Forwarded-Proto',
        'https',
        'X-Forwarded-Proto',
        'http',
        'X-Forwarded-Host',
        'a',
        'X-Forwarded-Host',
        'b',
        'X-Forwarded-For',
        '1.1.1.1',
        'x-forwarded-for',
        '2.2.2.2',
      ],
      'x-request-id',
    )
    assert.equal(head.xForwardedProto, 'https')
    assert.equal(head.xForwardedHost, 'a')
    assert.equal(head.xForwardedFor, '1.1.1.1, 2.2.2.2')
  })

  test('the listener scheme is the proto for an untrusted client on TLS', () => {
    const pairs = outgoing(forged, '203.0.113.5', [], true)
    assert.equal(only(pairs, 'x-forwarded-proto'), 'https')
  })
})

describe('hop-by-hop fields (RFC 9110 §7.6.1)', () => {
  test('are dropped from requests, with every field Connection names; Host and the request id are not forwarded as is', () => {
    const head = scanRequestHead(
      [
        'Host',
        'h',
        'Connection',
        'keep-alive, X-Hop',
        'X-Hop',
        '1',
        'Keep-Alive',
        't=5',
        'TE',
        'trailers',
        'Transfer-Encoding',
        'chunked',
        'Upgrade',
        'x',
        'Proxy-Authorization',
        'p',
        'X-Request-Id',
        'abc',
        'Content-Length',
        '3',
        'X-Keep',
        'k',
      ],
      'x-request-id',
    )
    assert.deepEqual(head.forward, ['Content-Length', '3', 'X-Keep', 'k'])
    assert.equal(head.host, 'h')
    assert.equal(head.requestId, 'abc')
    assert.equal(head.hasTransferEncoding, true)
    assert.equal(head.contentLength, '3')
  })

  test('are dropped from responses, with every field Connection names; the request id is set once', () => {
    const out = buildResponseHeaders(
      {
        connection: 'x-hop',
        'x-hop': '1',
        'keep-alive': 't',
        'transfer-encoding': 'chunked',
        'x-request-id': 'upstream',
        'set-cookie': ['a=1', 'b=2'],
        etag: 'e',
      },
      'x-request-id',
      'rid',
    )
    assert.deepEqual(out, ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'etag', 'e', 'x-request-id', 'rid'])
  })

  test('split HTTP/2 Cookie fields are joined with "; " (RFC 9113 §8.2.3)', () => {
    const head = scanRequestHead(
      ['cookie', 'a=1', 'x', 'y', 'cookie', 'b=2', 'cookie', 'c=3'],
      'x-request-id',
    )
    assert.deepEqual(head.forward, ['cookie', 'a=1; b=2; c=3', 'x', 'y'])
  })

  test('pseudo-headers are not forwarded; :authority is the host', () => {
    const head = scanRequestHead(
      [':method', 'GET', ':authority', 'h2.example', ':path', '/', 'a', 'b'],
      'x-request-id',
    )
    assert.equal(head.host, 'h2.example')
    assert.deepEqual(head.forward, ['a', 'b'])
  })

  test('isHopByHop names the fixed set', () => {
    for (const name of [
      'connection',
      'keep-alive',
      'te',
      'trailer',
      'transfer-encoding',
      'upgrade',
      'proxy-authorization',
    ]) {
      assert.equal(isHopByHop(name), true, name)
    }
    assert.equal(isHopByHop('x-forwarded-for'), false)
  })
})

describe('exact rules (found by scripts/mutate.ts)', () => {
  test('the Host field is the host when there is no :authority, whatever pseudo-headers come first', () => {
    const head = scanRequestHead(
      [':method', 'GET', ':path', '/', 'host', 'h1.example', 'a', 'b'],
      'x-request-id',
    )
    assert.equal(head.host, 'h1.example')
    const twice = scanRequestHead(
      [':authority', 'first', ':authority', 'second', 'host', 'third'],
      'x-request-id',
    )
    assert.equal(twice.host, 'first')
  })

  test('only Transfer-Encoding marks a body as chunked, not other hop-by-hop fields', () => {
    const head = scanRequestHead(
      ['Connection', 'keep-alive', 'Keep-Alive', 't=5', 'TE', 'trailers', 'Upgrade', 'x'],
      'x-request-id',
    )
    assert.equal(head.hasTransferEncoding, false)
  })

  test('response fields with an undefined value are skipped', () => {
    const out = buildResponseHeaders({ a: undefined, b: '1' }, 'x-request-id', 'rid')
    assert.deepEqual(out, ['b', '1', 'x-request-id', 'rid'])
  })

  test('from a trusted proxy the Forwarded list is extended, from an untrusted client replaced', () => {
    const raw = ['Host', 'h', 'Forwarded', 'for=198.51.100.1']
    const trusted = outgoing(raw, '10.0.0.2', ['10.0.0.0/8'])
    assert.equal(only(trusted, 'forwarded'), 'for=198.51.100.1, for=10.0.0.2;proto=http;host=h')
    const untrusted = outgoing(raw, '203.0.113.5', ['10.0.0.0/8'])
    assert.equal(only(untrusted, 'forwarded'), 'for=203.0.113.5;proto=http;host=h')
  })
})
