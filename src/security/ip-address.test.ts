import assert from 'node:assert/strict'
import { isIP, SocketAddress } from 'node:net'
import { describe, it } from 'node:test'
import fc from '../../test/helpers/fast-check.ts'
import { formatIPv6, normalizeIp, parseIp } from './ip-address.ts'

/** Eight 16-bit groups, biased towards zeros so that "::" compression is exercised. */
const groupsArb = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
  minLength: 8,
  maxLength: 8,
})

function wordsOf(groups: readonly number[]): Uint32Array {
  const words = new Uint32Array(4)
  for (let k = 0; k < 4; k++) words[k] = ((groups[2 * k]! << 16) | groups[2 * k + 1]!) >>> 0
  return words
}

/** Renders groups in a random but valid textual form: padding, case, optional "::" at any zero run. */
const ipv6TextArb = fc
  .record({
    groups: groupsArb,
    pad: fc.boolean(),
    upper: fc.boolean(),
    compressSeed: fc.nat(),
    embedV4: fc.boolean(),
  })
  .map(({ groups, pad, upper, compressSeed, embedV4 }) => {
    let parts = groups.map((g) => g.toString(16).padStart(pad ? 4 : 1, '0'))
    if (embedV4) {
      const [hi, lo] = [groups[6]!, groups[7]!]
      parts = [...parts.slice(0, 6), `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`]
    }
    const zeroRuns: [number, number][] = []
    for (let k = 0; k < parts.length; k++) {
      if (groups[k] !== 0 || (embedV4 && k >= 6)) continue
      let end = k
      while (end + 1 < parts.length && groups[end + 1] === 0 && !(embedV4 && end + 1 >= 6)) end++
      zeroRuns.push([k, end])
      k = end
    }
    let text = parts.join(':')
    if (zeroRuns.length > 0 && compressSeed % 3 !== 0) {
      const [first, last] = zeroRuns[compressSeed % zeroRuns.length]!
      text = `${parts.slice(0, first).join(':')}::${parts.slice(last + 1).join(':')}`
    }
    return { groups, text: upper ? text.toUpperCase() : text }
  })

describe('parseIp / normalizeIp', () => {
  it('canonicalises per RFC 5952 and maps IPv4-mapped IPv6 to IPv4', () => {
    const cases: [string, string][] = [
      ['192.0.2.1', '192.0.2.1'],
      ['0.0.0.0', '0.0.0.0'],
      ['255.255.255.255', '255.255.255.255'],
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'], // §4.1 leading zeros, §4.2.1 longest run
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // §4.2.3 first of equal runs
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2 a single zero group is not compressed
      ['2001:DB8::A', '2001:db8::a'], // §4.3 lower case
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['fe80::1%eth0', 'fe80::1'],
      ['::ffff:192.0.2.1', '192.0.2.1'],
      ['::FFFF:c000:0201', '192.0.2.1'],
      ['2001:db8::192.0.2.1', '2001:db8::c000:201'],
    ]
    for (const [input, expected] of cases) assert.equal(normalizeIp(input), expected, input)
  })

  it('rejects what is not an address', () => {
    const invalid = [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '01.2.3.4', // leading zero: octal to inet_aton
      ' 1.2.3.4',
      '1.2.3.4:80',
      '1..2.3',
      ':',
      ':::',
      ':1::',
      '1:',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7:8::',
      '12345::',
      'g::',
      '::1.2.3',
      '1:2:3:4:5:6::1.2.3.4',
      'fe80::1%',
      '[::1]',
      'unknown',
      '1.2.3.4%eth0',
    ]
    for (const input of invalid) assert.equal(normalizeIp(input), undefined, JSON.stringify(input))
  })

  it('agrees with node:net isIP on which strings are addresses', () => {
    const alphabet = [...'0123456789abcdefABCDEF:.', '::', '1.2.3.4', 'ffff']
    const stringArb = fc.array(fc.constantFrom(...alphabet), { maxLength: 16 }).map((parts) => parts.join(''))
    fc.assert(
      fc.property(
        fc.oneof(
          stringArb,
          ipv6TextArb.map((r) => r.text),
        ),
        (s) => {
          assert.equal(parseIp(s, 0, s.length, new Uint32Array(4)) !== 0, isIP(s) !== 0, JSON.stringify(s))
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('parses every textual form of an IPv6 address to the same 128 bits', () => {
    fc.assert(
      fc.property(ipv6TextArb, ({ groups, text }) => {
        const words = new Uint32Array(4)
        const family = parseIp(text, 0, text.length, words)
        const expected = wordsOf(groups)
        const isMapped = expected[0] === 0 && expected[1] === 0 && expected[2] === 0xffff
        assert.equal(family, isMapped ? 4 : 6, text)
        if (isMapped) assert.equal(words[0], expected[3])
        else assert.deepEqual(words, expected)
      }),
    )
  })

  it('formats like the platform’s inet_ntop (SocketAddress) outside the IPv4-embedding prefixes', () => {
    fc.assert(
      fc.property(groupsArb, (groups) => {
        const words = wordsOf(groups)
        // inet_ntop writes ::a.b.c.d and ::ffff:a.b.c.d; RFC 5952 canonical hex differs there.
        fc.pre(!(words[0] === 0 && words[1] === 0 && (words[2] === 0 || words[2] === 0xffff)))
        const text = formatIPv6(words)
        assert.equal(text, new SocketAddress({ address: text, family: 'ipv6' }).address)
        const reparsed = new Uint32Array(4)
        assert.equal(parseIp(text, 0, text.length, reparsed), 6)
        assert.deepEqual(reparsed, words)
      }),
    )
  })

  it('parses a sub-range of a longer string without slicing it', () => {
    const s = 'x,10.1.2.3,[2001:db8::1]'
    const words = new Uint32Array(4)
    assert.equal(parseIp(s, 2, 10, words), 4)
    assert.equal(words[0], ((10 << 24) | (1 << 16) | (2 << 8) | 3) >>> 0)
    assert.equal(parseIp(s, 12, 23, words), 6)
    assert.equal(formatIPv6(words), '2001:db8::1')
    assert.equal(parseIp(s, 1, 10, words), 0)
  })
})
