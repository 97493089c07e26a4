import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from '../../test/helpers/fast-check.ts'
import { compileCidrs, explainInvalidCidr, isValidCidr } from './cidr-set.ts'

// Naive reference: every address and range as a 128-bit BigInt; IPv4 as its IPv4-mapped IPv6 form.
const MAPPED_PREFIX = 0xffffn << 32n

interface RefRange {
  readonly network: bigint
  readonly prefix: number // of 128
}

function inRange(address: bigint, range: RefRange): boolean {
  const shift = BigInt(128 - range.prefix)
  return address >> shift === range.network >> shift
}

function v4Text(value: number): string {
  return [24, 16, 8, 0].map((s) => (value >>> s) & 0xff).join('.')
}

function v6Text(value: bigint): string {
  const groups: string[] = []
  for (let k = 7; k >= 0; k--) groups.push(((value >> BigInt(16 * k)) & 0xffffn).toString(16))
  return groups.join(':')
}

function maskTo(value: bigint, prefix: number, bits: number): bigint {
  const shift = BigInt(bits - prefix)
  return (value >> shift) << shift
}

const v4Arb = fc.integer({ min: 0, max: 0xffffffff })
// Biased towards the interesting corners: the IPv4-mapped block and the all-zero prefix around it.
const v6Arb = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
  fc.bigInt({ min: 0n, max: 0xffffffffn }).map((v) => MAPPED_PREFIX | v),
  fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }),
)

/** A random CIDR as config text plus its reference range. */
const cidrArb = fc.oneof(
  fc.tuple(v4Arb, fc.integer({ min: 0, max: 32 })).map(([address, prefix]) => {
    const network = Number(maskTo(BigInt(address), prefix, 32))
    return {
      text: `${v4Text(network)}/${prefix}`,
      range: { network: MAPPED_PREFIX | BigInt(network), prefix: 96 + prefix },
    }
  }),
  fc.tuple(v6Arb, fc.integer({ min: 0, max: 128 })).map(([address, prefix]) => {
    const network = maskTo(address, prefix, 128)
    return { text: `${v6Text(network)}/${prefix}`, range: { network, prefix } }
  }),
)

/** An address inside `range` (random host bits) or anywhere, in each textual form it can arrive in. */
function addressArb(ranges: readonly RefRange[]) {
  const inside = fc.tuple(fc.nat(), v6Arb).map(([i, host]) => {
    const range = ranges[i % ranges.length]!
    const hostMask = (1n << BigInt(128 - range.prefix)) - 1n
    return range.network | (host & hostMask)
  })
  const anywhere = fc.oneof(
    v6Arb,
    v4Arb.map((v) => MAPPED_PREFIX | BigInt(v)),
  )
  return (ranges.length > 0 ? fc.oneof(inside, anywhere) : anywhere).chain((address) => {
    const forms = [fc.constant(v6Text(address))]
    if (address >> 32n === 0xffffn) {
      const v4 = v4Text(Number(address & 0xffffffffn))
      forms.push(fc.constant(v4), fc.constant(`::ffff:${v4}`))
    }
    return fc.oneof(...forms).map((text) => ({ address, text }))
  })
}

describe('compileCidrs', () => {
  it('matches IPv4, IPv6 and IPv4-mapped IPv6 addresses', () => {
    const set = compileCidrs(['10.0.0.0/8', '192.0.2.0/24', '2001:db8::/32', '198.51.100.7'])
    const cases: [string, boolean][] = [
      ['10.0.0.0', true],
      ['10.255.255.255', true],
      ['11.0.0.0', false],
      ['9.255.255.255', false],
      ['192.0.2.77', true],
      ['192.0.3.1', false],
      ['::ffff:192.0.2.77', true],
      ['::ffff:c000:24d', true], // 192.0.2.77 in hex groups
      ['198.51.100.7', true],
      ['198.51.100.8', false],
      ['2001:db8:ffff::1', true],
      ['2001:db9::1', false],
      ['fe80::1%eth0', false],
      ['not-an-ip', false],
      ['', false],
    ]
    for (const [ip, expected] of cases) assert.equal(set.has(ip), expected, ip)
  })

  it('expands the loopback, private and link-local keywords', () => {
    const cases: [string, string, boolean][] = [
      ['loopback', '127.1.2.3', true],
      ['loopback', '::1', true],
      ['loopback', '::2', false],
      ['private', '172.16.0.1', true],
      ['private', '172.31.255.255', true],
      ['private', '172.32.0.0', false],
      ['private', 'fd12:3456::1', true],
      ['private', '8.8.8.8', false],
      ['link-local', 'fe80::1%eth0', true],
      ['link-local', '169.254.1.1', true],
    ]
    for (const [keyword, ip, expected] of cases)
      assert.equal(compileCidrs([keyword]).has(ip), expected, `${keyword} ${ip}`)
  })

  it('treats IPv4 as its mapped IPv6 form: ::/0 covers IPv4, 0.0.0.0/0 does not cover IPv6', () => {
    assert.equal(compileCidrs(['::/0']).has('203.0.113.9'), true)
    assert.equal(compileCidrs(['::ffff:0:0/96']).has('203.0.113.9'), true)
    assert.equal(compileCidrs(['::ffff:203.0.113.0/120']).has('203.0.113.9'), true)
    assert.equal(compileCidrs(['::ffff:203.0.113.0/120']).has('203.0.114.9'), false)
    assert.equal(compileCidrs(['0.0.0.0/0']).has('2001:db8::1'), false)
    assert.equal(compileCidrs(['2001:db8::/32']).has('203.0.113.9'), false)
  })

  it('matches exactly like a naive 128-bit reference for random ranges and addresses', () => {
    fc.assert(
      fc.property(
        fc
          .array(cidrArb, { maxLength: 6 })
          .chain((cidrs) =>
            fc.tuple(
              fc.constant(cidrs),
              fc.array(addressArb(cidrs.map((c) => c.range)), { minLength: 1, maxLength: 20 }),
            ),
          ),
        ([cidrs, addresses]) => {
          const set = compileCidrs(cidrs.map((c) => c.text))
          for (const { address, text } of addresses) {
            const expected = cidrs.some((c) => inRange(address, c.range))
            assert.equal(set.has(text), expected, `${text} in [${cidrs.map((c) => c.text).join(', ')}]`)
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('is empty and matches nothing when compiled from no entries', () => {
    const set = compileCidrs([])
    for (const ip of ['127.0.0.1', '::1', '0.0.0.0']) assert.equal(set.has(ip), false)
  })

  it('throws an error naming the bad entry, its index and the reason', () => {
    assert.throws(
      () => compileCidrs(['10.0.0.0/8', 'example.com']),
      /index 1: "example.com": not an IP address/,
    )
    assert.throws(
      () => compileCidrs(['10.0.0.0/33']),
      /"10.0.0.0\/33": prefix length must be an integer from 0 to 32/,
    )
    assert.throws(
      () => compileCidrs(['10.1.2.3/8']),
      /"10.1.2.3\/8": host bits are set; did you mean 10.0.0.0\/8\?/,
    )
    assert.throws(() => compileCidrs(['2001:db8::1/32']), /did you mean 2001:db8::\/32\?/)
    assert.throws(() => compileCidrs(['fe80::1%eth0/128']), /zone ids are not allowed/)
  })
})

describe('isValidCidr', () => {
  it('accepts CIDRs, bare addresses and keywords; rejects the rest', () => {
    for (const ok of [
      '10.0.0.0/8',
      '0.0.0.0/0',
      '::/0',
      '::1/128',
      '::1',
      '192.0.2.1',
      'loopback',
      'private',
      'link-local',
    ]) {
      assert.equal(isValidCidr(ok), true, ok)
    }
    const bad = [
      '',
      '10.0.0.0/',
      '10.0.0.0/08',
      '10.0.0.0/-1',
      '10.0.0.0/8 ',
      ' 10.0.0.0/8',
      '10.0.0.0/8/8',
      '::/129',
      'Private',
      'localhost',
      '::ffff:1.2.3.0/88',
      'toString',
    ]
    for (const s of bad) assert.equal(isValidCidr(s), false, JSON.stringify(s))
  })

  it('accepts exactly the masked ranges (no host bits) for random input', () => {
    fc.assert(
      fc.property(fc.tuple(v6Arb, fc.integer({ min: 0, max: 128 })), ([address, prefix]) => {
        const text = `${v6Text(address)}/${prefix}`
        assert.equal(isValidCidr(text), maskTo(address, prefix, 128) === address, text)
        assert.equal(explainInvalidCidr(text) === undefined, isValidCidr(text))
      }),
    )
  })
})
