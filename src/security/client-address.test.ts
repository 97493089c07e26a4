import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from '../../test/helpers/fast-check.ts'
import { compileCidrs, type CidrSet } from './cidr-set.ts'
import { resolveClientAddress } from './client-address.ts'

const trusted = compileCidrs(['10.0.0.0/8', 'fd00::/8'])

describe('resolveClientAddress', () => {
  it('believes an untrusted peer and ignores its X-Forwarded-For (no spoofing)', () => {
    assert.equal(resolveClientAddress('203.0.113.9', '1.2.3.4', trusted), '203.0.113.9')
    assert.equal(resolveClientAddress('203.0.113.9', '10.0.0.1', trusted), '203.0.113.9')
    assert.equal(resolveClientAddress('::ffff:203.0.113.9', '1.2.3.4', trusted), '203.0.113.9')
  })

  it('believes the peer when nothing is trusted', () => {
    assert.equal(resolveClientAddress('10.0.0.1', '1.2.3.4', compileCidrs([])), '10.0.0.1')
  })

  it('takes the first untrusted address from the right behind a chain of trusted proxies', () => {
    const cases: [peer: string, xff: string | undefined, expected: string][] = [
      ['10.0.0.1', '203.0.113.7', '203.0.113.7'],
      ['10.0.0.1', '198.51.100.1, 203.0.113.7, 10.0.0.2, 10.0.0.3', '203.0.113.7'], // left of the client is forgeable
      ['10.0.0.1', '10.9.9.9, 10.0.0.2', '10.9.9.9'], // all trusted: the leftmost
      ['10.0.0.1', undefined, '10.0.0.1'],
      ['10.0.0.1', '', '10.0.0.1'],
      ['10.0.0.1', ' , ,\t', '10.0.0.1'], // only empty elements
      ['10.0.0.1', '203.0.113.7,,10.0.0.2 ,', '203.0.113.7'], // empty elements are skipped (RFC 9110 §5.6.1)
      ['::ffff:10.0.0.1', '203.0.113.7', '203.0.113.7'], // dual-stack peer matches the IPv4 range
      ['fd00::1', '2001:DB8:0:0:0:0:0:1', '2001:db8::1'], // canonical form out
      ['fd00::1%eth0', '::ffff:203.0.113.7', '203.0.113.7'],
      ['10.0.0.1', '203.0.113.7:41234', '203.0.113.7'], // ports some proxies add
      ['10.0.0.1', '[2001:db8::1]:443, 10.0.0.2', '2001:db8::1'],
      ['10.0.0.1', '[2001:db8::1]', '2001:db8::1'],
      ['10.0.0.1', '\t203.0.113.7\t', '203.0.113.7'],
    ]
    for (const [peer, xff, expected] of cases) {
      assert.equal(resolveClientAddress(peer, xff, trusted), expected, `${peer} ← ${JSON.stringify(xff)}`)
    }
  })

  it('stops at a malformed element and answers the trusted hop that reported it', () => {
    const cases: [xff: string, expected: string][] = [
      ['garbage', '10.0.0.1'],
      ['unknown', '10.0.0.1'],
      ['203.0.113.7, garbage, 10.0.0.2', '10.0.0.2'],
      ['203.0.113.7, 10.0.0.300', '10.0.0.1'],
      ['203.0.113.7, 1.2.3.4:99999', '10.0.0.1'], // port out of range
      ['203.0.113.7, [1.2.3.4]', '10.0.0.1'], // brackets are for IPv6 only
      ['203.0.113.7, [2001:db8::1', '10.0.0.1'],
      ['203.0.113.7, _hidden', '10.0.0.1'], // RFC 7239 obfuscated identifier
    ]
    for (const [xff, expected] of cases)
      assert.equal(resolveClientAddress('10.0.0.1', xff, trusted), expected, xff)
  })

  it('returns a non-IP peer (Unix socket) unchanged and never trusts it', () => {
    assert.equal(resolveClientAddress('', '203.0.113.7', compileCidrs(['::/0'])), '')
  })

  it('works with any CidrSet implementation, not only compiled ones', () => {
    const onlyTen: CidrSet = { has: (ip) => ip.startsWith('10.') }
    assert.equal(resolveClientAddress('10.0.0.1', '203.0.113.7, 10.0.0.2', onlyTen), '203.0.113.7')
    assert.equal(resolveClientAddress('11.0.0.1', '203.0.113.7', onlyTen), '11.0.0.1')
  })

  it('resolves the real client whatever a client forges in front of it', () => {
    // Real topology: client → trusted proxies P1..Pk → gateway. The client controls everything left of its
    // own address (what it sent to P1); each trusted proxy appends its peer.
    const trustedAddress = fc.oneof(
      fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map(([a, b, c]) => `10.${a}.${b}.${c}`),
      fc.integer({ min: 0, max: 0xffff }).map((g) => `fd00::${g.toString(16)}`),
    )
    const untrustedAddress = fc.oneof(
      fc
        .tuple(fc.integer({ min: 11, max: 223 }), fc.nat(255), fc.nat(255), fc.nat(255))
        .map((p) => p.join('.')),
      fc.integer({ min: 1, max: 0xffff }).map((g) => `2001:db8::${g.toString(16)}`),
    )
    const forgedElement = fc.oneof(
      trustedAddress,
      untrustedAddress,
      fc.constantFrom('', 'unknown', 'garbage', ' '),
    )
    fc.assert(
      fc.property(
        fc.array(forgedElement, { maxLength: 5 }),
        untrustedAddress,
        fc.array(trustedAddress, { minLength: 1, maxLength: 4 }),
        (forged, client, proxies) => {
          const gatewayPeer = proxies[proxies.length - 1]!
          const xff = [...forged, client, ...proxies.slice(0, -1)].join(', ')
          assert.equal(resolveClientAddress(gatewayPeer, xff, trusted), client)
          // Sent directly, the same header buys the client nothing.
          assert.equal(resolveClientAddress(client, xff, trusted), client)
        },
      ),
    )
  })
})
