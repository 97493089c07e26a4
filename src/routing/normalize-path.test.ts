import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from '../../test/helpers/fast-check.ts'
import { normalizePath, type NormalizedPath, type PathNormalizationOptions } from './normalize-path.ts'

const ok = (path: string, query = ''): NormalizedPath => ({ ok: true, path, query })
const no = (reason: string): unknown => ({ ok: false, reason })

void describe('normalizePath: policy table (docs/routing.md)', () => {
  const cases: readonly (readonly [string, unknown, PathNormalizationOptions?])[] = [
    ['/', ok('/')],
    ['/a/b?x=1&y=/../', ok('/a/b', '?x=1&y=/../')],
    ['/a?', ok('/a', '?')],
    ['/a/./b/../c', ok('/a/c')],
    ['/a/b/..', ok('/a/')],
    ['/a/.', ok('/a/')],
    ['/.', ok('/')],
    ['/a/..', ok('/')],
    ['/..', no('above-root')],
    ['/a/../..', no('above-root')],
    ['/a/.../b', ok('/a/.../b')],
    ['/a/.b/..c', ok('/a/.b/..c')],
    ['//a///b//', ok('/a/b/')],
    ['//a///b//', ok('//a///b//'), { mergeSlashes: false }],
    ['/a//..', ok('/a/'), { mergeSlashes: false }],
    ['/a//..', ok('/')],
    ['/%61%62%2d%2E%5f%7E', ok('/ab-._~')],
    ['/%2e%2E/x', no('above-root')],
    ['/a/%2e/b', ok('/a/b')],
    ['/a/.%2e/b', ok('/b')],
    ['/a%2fb', no('encoded-slash')],
    ['/a%5Cb', no('encoded-slash')],
    ['/a%2fb', ok('/a%2Fb'), { encodedSlashes: 'keep' }],
    ['/a%2f..', ok('/a%2F..'), { encodedSlashes: 'keep' }],
    ['/a%5c', ok('/a%5C'), { encodedSlashes: 'keep' }],
    ['/caf%c3%a9', ok('/caf%C3%A9')],
    ['/a%20b', ok('/a%20b')],
    ['/a%3b', ok('/a%3B')],
    ['/%25', ok('/%25')],
    ['/%2561', ok('/%2561')],
    ['/%00', no('encoded-nul')],
    ['/%', no('invalid-percent-encoding')],
    ['/%4', no('invalid-percent-encoding')],
    ['/%g0', no('invalid-percent-encoding')],
    ['/a;b', no('semicolon')],
    ['/a;b', ok('/a;b'), { semicolons: 'keep' }],
    ['/..;/a', ok('/..;/a'), { semicolons: 'keep' }],
    ['/a?b;c', ok('/a', '?b;c')],
    ['/a b', no('invalid-character')],
    ['/a\tb', no('invalid-character')],
    ['/a\0', no('invalid-character')],
    ['/a\x7f', no('invalid-character')],
    ['/a\\b', no('invalid-character')],
    ['/a#b', no('invalid-character')],
    ['/caf\u00e9', no('invalid-character')],
    ['/a?q=caf\u00e9', ok('/a', '?q=caf\u00e9')],
    ['/a?q=\r\n', no('invalid-character')],
    ['/a?q#f', no('invalid-character')],
    ['', no('not-origin-form')],
    ['a/b', no('not-origin-form')],
    ['*', no('not-origin-form')],
    ['http://example.com/a', no('not-origin-form')],
  ]
  for (const [target, expected, options] of cases) {
    const label = `${JSON.stringify(target)}${options === undefined ? '' : ' ' + JSON.stringify(options)}`
    void it(label, () => {
      assert.deepEqual(normalizePath(target, options), expected)
    })
  }
})

// RFC 3986 §5.2.4 written out literally (input/output buffers), as an independent oracle.
function removeDotSegments(input: string): string {
  let output = ''
  while (input.length > 0) {
    if (input.startsWith('../')) input = input.slice(3)
    else if (input.startsWith('./')) input = input.slice(2)
    else if (input.startsWith('/./')) input = input.slice(2)
    else if (input === '/.') input = '/'
    else if (input.startsWith('/../') || input === '/..') {
      input = '/' + input.slice(input === '/..' ? 3 : 4)
      output = output.slice(0, Math.max(0, output.lastIndexOf('/')))
    } else if (input === '.' || input === '..') input = ''
    else {
      const next = input.indexOf('/', 1)
      const end = next === -1 ? input.length : next
      output += input.slice(0, end)
      input = input.slice(end)
    }
  }
  return output
}

const OPTION_SETS: readonly (PathNormalizationOptions | undefined)[] = [
  undefined,
  { mergeSlashes: false },
  { encodedSlashes: 'keep', semicolons: 'keep' },
  { encodedSlashes: 'keep', semicolons: 'keep', mergeSlashes: false },
]

// Tokens chosen to hit every branch: dot-segments plain and encoded, slashes plain and encoded, escapes,
// invalid escapes, semicolons, a query.
const tokenArb = fc.constantFrom(
  '/',
  '/',
  '.',
  '..',
  'a',
  'B',
  '%2E',
  '%2e',
  '%2F',
  '%5c',
  '%41',
  '%7e',
  '%25',
  '%3b',
  '%c3%A9',
  ';',
  '%',
  '%z',
  '~',
  '?',
  '=',
  '%00',
)
const targetArb = fc.array(tokenArb, { maxLength: 16 }).map((tokens) => '/' + tokens.join(''))
const optionsArb = fc.constantFrom(...OPTION_SETS)

function assertOk(result: NormalizedPath): asserts result is Extract<NormalizedPath, { ok: true }> {
  assert.ok(result.ok)
}

void describe('normalizePath: properties', () => {
  void it('is idempotent under every option set', () => {
    fc.assert(
      fc.property(targetArb, optionsArb, (target, options) => {
        const once = normalizePath(target, options)
        if (!once.ok) return
        assert.deepEqual(normalizePath(once.path + once.query, options), once)
      }),
      { numRuns: 2000 },
    )
  })

  void it('never leaves a dot-segment, an empty inner segment or an encoded unreserved character', () => {
    fc.assert(
      fc.property(targetArb, (target) => {
        const result = normalizePath(target)
        if (!result.ok) return
        const segments = result.path.slice(1).split('/')
        for (const [i, segment] of segments.entries()) {
          assert.ok(segment !== '.' && segment !== '..', `dot-segment in ${result.path}`)
          assert.ok(segment !== '' || i === segments.length - 1, `empty segment in ${result.path}`)
        }
        assert.doesNotMatch(result.path, /\/\/|%(?:[46][1-9A-F]|[57][0-9A]|3[0-9]|2D|2E|5F|7E)/i)
        assert.doesNotMatch(result.path, /%[0-9a-f]?[a-f]/, 'hex is upper-case')
      }),
      { numRuns: 2000 },
    )
  })

  void it('lets no encoded slash or backslash through with the reject policy', () => {
    fc.assert(
      fc.property(targetArb, (target) => {
        const result = normalizePath(target, { mergeSlashes: false })
        if (result.ok) assert.doesNotMatch(result.path, /%2F|%5C/i)
        if (/%2F|%5C/i.test(target.split('?')[0]!) && !/%(?![0-9a-f]{2})/i.test(target)) {
          assert.equal(result.ok, false)
        }
      }),
      { numRuns: 1000 },
    )
  })

  void it('normalises a path and its percent-encoded-unreserved variant identically', () => {
    const unreservedPath = fc
      .array(fc.constantFrom('/', '.', 'a', 'Z', '0', '-', '_', '~'), { maxLength: 16 })
      .map((chars) => '/' + chars.join(''))
    fc.assert(
      fc.property(unreservedPath, fc.infiniteStream(fc.nat(2)), optionsArb, (path, choices, options) => {
        // 0: keep, 1: encode upper-case hex, 2: encode lower-case hex ('/' is never encoded).
        let variant = '/'
        for (const ch of path.slice(1)) {
          const choice = ch === '/' ? 0 : choices.next().value
          const hex = ch.charCodeAt(0).toString(16).padStart(2, '0')
          variant += choice === 0 ? ch : '%' + (choice === 1 ? hex.toUpperCase() : hex)
        }
        assert.deepEqual(normalizePath(variant, options), normalizePath(path, options))
      }),
      { numRuns: 1000 },
    )
  })

  void it('agrees with RFC 3986 remove_dot_segments (after merging slashes) whenever it accepts', () => {
    const plainPath = fc
      .array(fc.constantFrom('/', '/', '.', '..', 'a', 'b'), { maxLength: 14 })
      .map((tokens) => '/' + tokens.join(''))
    fc.assert(
      fc.property(plainPath, fc.boolean(), (path, mergeSlashes) => {
        const result = normalizePath(path, { mergeSlashes })
        const input = mergeSlashes ? path.replace(/\/{2,}/g, '/') : path
        if (result.ok) assert.equal(result.path, removeDotSegments(input))
        else assert.equal(result.reason, 'above-root')
      }),
      { numRuns: 2000 },
    )
  })

  void it('rejects any control character, space, DEL or non-ASCII byte in the path', () => {
    const bad = fc.oneof(
      fc.integer({ min: 0, max: 0x20 }),
      fc.constant(0x7f),
      fc.integer({ min: 0x80, max: 0xff }),
    )
    fc.assert(
      fc.property(targetArb, bad, fc.nat(), (target, code, at) => {
        const path = target.split('?')[0]!
        const i = 1 + (at % path.length)
        const poisoned = path.slice(0, i) + String.fromCharCode(code) + path.slice(i)
        const result = normalizePath(poisoned)
        assert.equal(result.ok, false)
      }),
      { numRuns: 500 },
    )
  })

  void it('returns clean targets unchanged (fast path)', () => {
    const clean = fc
      .array(fc.constantFrom('a', 'b', '-', '_', '~', '.', ':', '@', '!'), { minLength: 1, maxLength: 8 })
      .map((chars) => chars.join(''))
    fc.assert(
      fc.property(fc.array(clean, { maxLength: 5 }), (segments) => {
        const path = '/' + segments.filter((s) => s !== '.' && s !== '..' && !s.startsWith('.')).join('/')
        assertOk(normalizePath(path))
        assert.deepEqual(normalizePath(path + '?q=1'), ok(path, '?q=1'))
      }),
      { numRuns: 500 },
    )
  })
})
