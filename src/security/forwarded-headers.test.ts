import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from '../../test/helpers/fast-check.ts'
import { buildForwardedHeaders, type ForwardedHeadersInput } from './forwarded-headers.ts'

const base: ForwardedHeadersInput = {
  peer: '203.0.113.9',
  isPeerTrusted: false,
  proto: 'https',
  host: 'api.example.com',
}

/** Reference parser for one RFC 7239 forwarded-element: `;`-separated pairs, token or quoted-string values. */
function parseForwardedElement(element: string): Map<string, string> {
  const pairs = new Map<string, string>()
  let i = 0
  while (i < element.length) {
    const eq = element.indexOf('=', i)
    assert.ok(eq > i, `no '=' in ${element}`)
    const name = element.slice(i, eq).toLowerCase()
    let value = ''
    i = eq + 1
    if (element[i] === '"') {
      i++
      while (element[i] !== '"') {
        assert.ok(i < element.length, `unterminated quoted-string in ${element}`)
        if (element[i] === '\\') i++
        value += element[i]
        i++
      }
      i++
    } else {
      while (i < element.length && element[i] !== ';') value += element[i++]
      assert.match(value, /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, `value ${value} must be a token`)
    }
    pairs.set(name, value)
    if (i < element.length) {
      assert.equal(element[i], ';')
      i++
    }
  }
  return pairs
}

describe('buildForwardedHeaders', () => {
  it('discards every incoming forwarding header from an untrusted peer and starts afresh', () => {
    const headers = buildForwardedHeaders({
      ...base,
      incomingXff: '1.2.3.4',
      incomingForwarded: 'for=1.2.3.4',
      incomingProto: 'http',
      incomingHost: 'evil.example',
    })
    assert.deepEqual(headers, {
      xForwardedFor: '203.0.113.9',
      xForwardedProto: 'https',
      xForwardedHost: 'api.example.com',
      forwarded: 'for=203.0.113.9;proto=https;host=api.example.com',
    })
  })

  it('extends the lists and keeps proto/host from a trusted peer', () => {
    const headers = buildForwardedHeaders({
      ...base,
      peer: '10.0.0.2',
      isPeerTrusted: true,
      incomingXff: '198.51.100.1',
      incomingForwarded: 'for=198.51.100.1;proto=https',
      incomingProto: 'https',
      incomingHost: 'public.example.com',
      proto: 'http',
      host: 'internal:8080',
    })
    assert.deepEqual(headers, {
      xForwardedFor: '198.51.100.1, 10.0.0.2',
      xForwardedProto: 'https',
      xForwardedHost: 'public.example.com',
      forwarded: 'for=198.51.100.1;proto=https, for=10.0.0.2;proto=http;host="internal:8080"',
    })
  })

  it('uses its own values for what a trusted peer did not send (or sent blank)', () => {
    const headers = buildForwardedHeaders({
      ...base,
      isPeerTrusted: true,
      incomingXff: ' ',
      incomingProto: '',
    })
    assert.equal(headers.xForwardedFor, '203.0.113.9')
    assert.equal(headers.xForwardedProto, 'https')
    assert.equal(headers.xForwardedHost, 'api.example.com')
    assert.equal(headers.forwarded, 'for=203.0.113.9;proto=https;host=api.example.com')
  })

  it('writes IPv6 nodes quoted and bracketed, without zone id; IPv4-mapped as IPv4; non-IP as unknown', () => {
    const cases: [peer: string, xff: string, forwardedFor: string][] = [
      ['2001:DB8::1', '2001:db8::1', 'for="[2001:db8::1]"'], // RFC 7239 §6
      ['fe80::1%eth0', 'fe80::1', 'for="[fe80::1]"'],
      ['::ffff:192.0.2.1', '192.0.2.1', 'for=192.0.2.1'],
      ['', '', 'for=unknown'], // RFC 7239 §6.2
    ]
    for (const [peer, xff, forwardedFor] of cases) {
      const headers = buildForwardedHeaders({ ...base, peer })
      assert.equal(headers.xForwardedFor, xff, peer)
      assert.ok(headers.forwarded.startsWith(`${forwardedFor};`), headers.forwarded)
    }
  })

  it('produces a Forwarded element that parses back to the peer, proto and host', () => {
    const hostArb = fc.string({
      unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
      minLength: 1,
    })
    fc.assert(
      fc.property(
        hostArb,
        fc.constantFrom('http' as const, 'https' as const),
        fc.boolean(),
        (host, proto, isV6) => {
          const peer = isV6 ? '2001:db8::7' : '192.0.2.7'
          const { forwarded } = buildForwardedHeaders({ ...base, peer, host, proto })
          const pairs = parseForwardedElement(forwarded)
          assert.deepEqual([...pairs.keys()], ['for', 'proto', 'host'])
          assert.equal(pairs.get('for'), isV6 ? `[${peer}]` : peer)
          assert.equal(pairs.get('proto'), proto)
          assert.equal(pairs.get('host'), host)
        },
      ),
    )
  })

  it('writes token hosts bare at every tchar boundary and quotes the rest (RFC 9110 §5.6.2)', () => {
    for (const host of ['a', 'z', 'A', 'Z', '0', '9', '#', "'", 'az.AZ-09', "!#$%&'*+-.^_`|~"]) {
      assert.ok(buildForwardedHeaders({ ...base, host }).forwarded.endsWith(`;host=${host}`), host)
    }
    for (const host of ['', 'a b', 'h:1', '"', '(', '@', '[', '{', '/']) {
      const { forwarded } = buildForwardedHeaders({ ...base, host })
      assert.ok(
        forwarded.endsWith(`;host="${host.replace(/["\\]/g, (c) => `\\${c}`)}"`),
        `${host}: ${forwarded}`,
      )
    }
  })

  it('writes the all-zero and low IPv4 addresses bare', () => {
    for (const peer of ['0.0.0.0', '0.0.0.1']) {
      assert.ok(buildForwardedHeaders({ ...base, peer }).forwarded.startsWith(`for=${peer};`), peer)
    }
  })
})
