import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from '../../test/helpers/fast-check.ts'
import { normalizeHost } from './normalize-host.ts'

void describe('normalizeHost', () => {
  const cases: readonly (readonly [string, string | undefined])[] = [
    ['api.example.com', 'api.example.com'],
    ['API.Example.COM', 'api.example.com'],
    ['api.example.com:8443', 'api.example.com'],
    ['api.example.com.', 'api.example.com'],
    ['API.example.com.:80', 'api.example.com'],
    ['api.example.com:', 'api.example.com'],
    ['localhost', 'localhost'],
    ['my_host-1.internal', 'my_host-1.internal'],
    ['127.0.0.1:8080', '127.0.0.1'],
    ['[::1]', '[::1]'],
    ['[::1]:443', '[::1]'],
    ['[2001:DB8::A]', '[2001:db8::a]'],
    ['', ''],
    ['api.example.com..', undefined],
    ['.example.com', undefined],
    ['.', undefined],
    ['a..b', undefined],
    [':80', undefined],
    ['example.com:65536', undefined],
    ['example.com:123456', undefined],
    ['example.com:80:80', undefined],
    ['example.com:8a', undefined],
    ['exa mple.com', undefined],
    ['exa%41mple.com', undefined],
    ['user@example.com', undefined],
    ['*.example.com', undefined],
    ['[::1', undefined],
    ['[::1]x', undefined],
    ['[fe80::1%25eth0]', undefined],
    ['[v1.fe]', undefined],
    ['[not-ip]', undefined],
    ['::1', undefined],
    [`${'a'.repeat(64)}.com`, undefined],
    [`${'a'.repeat(63)}.com`, `${'a'.repeat(63)}.com`],
    [`${'a.'.repeat(127)}a`, undefined],
  ]
  for (const [raw, expected] of cases) {
    void it(`${JSON.stringify(raw)} → ${String(expected)}`, () => {
      assert.equal(normalizeHost(raw), expected)
    })
  }

  const hostArb = fc
    .tuple(
      fc.array(fc.stringMatching(/^[a-zA-Z0-9_-]{1,8}$/), { minLength: 1, maxLength: 4 }),
      fc.boolean(),
      fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
    )
    .map(
      ([labels, trailingDot, port]) =>
        labels.join('.') + (trailingDot ? '.' : '') + (port === undefined ? '' : `:${port}`),
    )

  void it('is idempotent and case-insensitive', () => {
    fc.assert(
      fc.property(hostArb, (raw) => {
        const host = normalizeHost(raw)
        assert.notEqual(host, undefined)
        assert.equal(normalizeHost(host!), host)
        assert.equal(normalizeHost(raw.toUpperCase()), host)
        assert.equal(host, host!.toLowerCase())
        assert.ok(!host!.includes(':') && !host!.endsWith('.'))
      }),
      { numRuns: 500 },
    )
  })

  void it('never accepts a value with characters outside the host grammar', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), (raw) => {
        const host = normalizeHost(raw)
        if (host !== undefined && !host.startsWith('[')) assert.match(host, /^[a-z0-9_.-]*$/)
      }),
      { numRuns: 500 },
    )
  })
})
