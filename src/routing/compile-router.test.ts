import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import fc from '../../test/helpers/fast-check.ts'
import { compileRouter } from './compile-router.ts'
import { createNaiveRouter } from './naive-router.ts'
import { normalizePath } from './normalize-path.ts'
import { RouteConfigError } from './route-config-error.ts'
import { tableWithRequestsArb } from './route-arbitraries.ts'
import type { HeaderMatcher, RouteMatch, RouteSpec, Router } from './route-spec.ts'

// ---------------------------------------------------------------------------------------------------------
// Precedence table. docs/routing.md's table has exactly these rows (checked below), so the doc and the code
// cannot drift. Route notation: `id hosts kind path [METHODS] [name=value | name | !name]...` with hosts
// comma-separated or '-' for none (any host). Request notation: `METHOD host/path [name=value]...`.
// Expected: a route id, `404`, or `405 Allow: …`.
// ---------------------------------------------------------------------------------------------------------
interface PrecedenceCase {
  readonly rule: string
  readonly routes: readonly string[]
  readonly request: string
  readonly expected: string
}

const PRECEDENCE_TABLE: readonly PrecedenceCase[] = [
  {
    rule: 'Exact host beats wildcard, even when declared later',
    routes: ['w *.example.com prefix /', 'e api.example.com prefix /'],
    request: 'GET api.example.com/x',
    expected: 'e',
  },
  {
    rule: 'Host is case-insensitive; port and trailing dot are ignored',
    routes: ['w *.example.com prefix /', 'e api.example.com prefix /'],
    request: 'GET API.Example.COM.:8443/x',
    expected: 'e',
  },
  {
    rule: 'Longest wildcard suffix wins',
    routes: ['w *.example.com prefix /', 'eu *.eu.example.com prefix /'],
    request: 'GET shop.eu.example.com/',
    expected: 'eu',
  },
  {
    rule: 'Wildcard matches deeper subdomains',
    routes: ['w *.example.com prefix /', 'd * prefix /'],
    request: 'GET a.b.example.com/',
    expected: 'w',
  },
  {
    rule: 'Wildcard does not match the apex',
    routes: ['w *.example.com prefix /', 'd * prefix /'],
    request: 'GET example.com/',
    expected: 'd',
  },
  {
    rule: 'Empty hosts list means the default bucket',
    routes: ['e api.example.com prefix /', 'any - prefix /'],
    request: 'GET other.test/',
    expected: 'any',
  },
  {
    rule: 'Chosen host bucket is final: no fall-back to the default bucket',
    routes: ['e api.example.com exact /users', 'd * prefix /'],
    request: 'GET api.example.com/health',
    expected: '404',
  },
  {
    rule: 'No default bucket and no host match',
    routes: ['e api.example.com prefix /'],
    request: 'GET other.test/',
    expected: '404',
  },
  {
    rule: 'Exact path beats any prefix',
    routes: ['p - prefix /users', 'x - exact /users'],
    request: 'GET example.com/users',
    expected: 'x',
  },
  {
    rule: 'Prefix covers deeper paths',
    routes: ['p - prefix /users', 'x - exact /users'],
    request: 'GET example.com/users/42',
    expected: 'p',
  },
  {
    rule: 'Longest prefix wins',
    routes: ['api - prefix /api', 'v1 - prefix /api/v1'],
    request: 'GET example.com/api/v1/items',
    expected: 'v1',
  },
  {
    rule: 'Prefixes are segment-aware',
    routes: ['api - prefix /api', 'root - prefix /'],
    request: 'GET example.com/apix',
    expected: 'root',
  },
  {
    rule: 'Prefix matches its own trailing slash',
    routes: ['api - prefix /api', 'root - prefix /'],
    request: 'GET example.com/api/',
    expected: 'api',
  },
  {
    rule: 'Exact path: trailing slash is significant',
    routes: ['x - exact /users'],
    request: 'GET example.com/users/',
    expected: '404',
  },
  {
    rule: 'Paths are case-sensitive',
    routes: ['x - exact /Admin'],
    request: 'GET example.com/admin',
    expected: '404',
  },
  {
    rule: 'Same pattern: route with more constraints is tried first',
    routes: ['plain - prefix /api', 'beta - prefix /api x-beta=1'],
    request: 'GET example.com/api x-beta=1',
    expected: 'beta',
  },
  {
    rule: 'Same pattern: constrained route not matching falls through',
    routes: ['plain - prefix /api', 'beta - prefix /api x-beta=1'],
    request: 'GET example.com/api x-beta=2',
    expected: 'plain',
  },
  {
    rule: 'Same pattern and constraint count: declaration order',
    routes: ['first - prefix /api GET', 'second - prefix /api x-a'],
    request: 'GET example.com/api x-a=1',
    expected: 'first',
  },
  {
    rule: 'A method list counts as one constraint, each header matcher as one',
    routes: ['m - prefix /api GET,POST', 'h2 - prefix /api x-a !x-b'],
    request: 'GET example.com/api x-a=1',
    expected: 'h2',
  },
  {
    rule: 'Method mismatch falls through to a less specific candidate',
    routes: ['get - exact /users GET', 'root - prefix /'],
    request: 'POST example.com/users',
    expected: 'root',
  },
  {
    rule: '405 only when no candidate accepts the method',
    routes: ['get - exact /users GET', 'post - prefix /users POST'],
    request: 'DELETE example.com/users',
    expected: '405 Allow: GET, HEAD, POST',
  },
  {
    rule: 'GET also allows HEAD',
    routes: ['get - exact /users GET'],
    request: 'HEAD example.com/users',
    expected: 'get',
  },
  {
    rule: 'Candidates failing header matchers do not count toward 405',
    routes: ['get - exact /users GET x-a=1'],
    request: 'POST example.com/users',
    expected: '404',
  },
  {
    rule: 'Header-matching candidates with other methods give 405',
    routes: ['get - exact /users GET x-a=1'],
    request: 'POST example.com/users x-a=1',
    expected: '405 Allow: GET, HEAD',
  },
  {
    rule: 'Absent matcher rejects a request carrying the header',
    routes: ['pub - prefix / !x-internal'],
    request: 'GET example.com/ x-internal=1',
    expected: '404',
  },
]

function parseRoute(notation: string): RouteSpec<string> {
  const [id, hosts, kind, value, ...rest] = notation.split(' ')
  assert.ok(id !== undefined && hosts !== undefined && value !== undefined)
  assert.ok(kind === 'exact' || kind === 'prefix')
  let methods: string[] | undefined
  const headers: HeaderMatcher[] = []
  for (const token of rest) {
    if (/^[A-Z,]+$/.test(token)) methods = token.split(',')
    else if (token.startsWith('!')) headers.push({ name: token.slice(1), present: false })
    else if (token.includes('=')) headers.push({ name: token.split('=')[0]!, exact: token.split('=')[1]! })
    else headers.push({ name: token })
  }
  return {
    id,
    hosts: hosts === '-' ? [] : hosts.split(','),
    path: { kind, value },
    ...(methods === undefined ? {} : { methods }),
    ...(headers.length === 0 ? {} : { headers }),
    target: id,
  }
}

function runRequest(router: Router<string>, notation: string): RouteMatch<string> {
  const [method, url, ...headerTokens] = notation.split(' ')
  assert.ok(method !== undefined && url !== undefined)
  const slash = url.indexOf('/')
  const headers = new Map(headerTokens.map((t) => t.split('=') as [string, string]))
  const normal = normalizePath(url.slice(slash))
  assert.ok(normal.ok)
  return router.match(url.slice(0, slash), normal.path, method, (name) => headers.get(name))
}

function describeOutcome(result: RouteMatch<string>): string {
  if (result.ok) return result.route.id
  if (result.reason === 'method-not-allowed') return `405 Allow: ${(result.allow ?? []).join(', ')}`
  return result.reason === 'no-route' ? '404' : '400'
}

function renderCells(c: PrecedenceCase, n: number): string[] {
  return [
    String(n),
    c.rule,
    c.routes.map((r) => '`' + r + '`').join('<br>'),
    '`' + c.request + '`',
    c.expected,
  ]
}

/** The body rows of the first table after the '### Precedence table' heading, as trimmed cells. */
function readDocTable(markdown: string): string[][] {
  const lines = markdown.slice(markdown.indexOf('### Precedence table')).split('\n')
  const first = lines.findIndex((line) => line.startsWith('|'))
  const table: string[] = []
  for (let i = first; i >= 0 && i < lines.length && lines[i]!.startsWith('|'); i++) table.push(lines[i]!)
  return table.slice(2).map((row) =>
    row
      .slice(1, -1)
      .split(' | ')
      .map((cell) => cell.trim()),
  )
}

void describe('precedence table (docs/routing.md)', () => {
  for (const [i, c] of PRECEDENCE_TABLE.entries()) {
    void it(`${i + 1}. ${c.rule}`, () => {
      const routes = c.routes.map(parseRoute)
      assert.equal(describeOutcome(runRequest(compileRouter(routes), c.request)), c.expected)
      assert.equal(
        describeOutcome(runRequest(createNaiveRouter(routes), c.request)),
        c.expected,
        'reference agrees',
      )
    })
  }

  void it('is reproduced row for row in docs/routing.md', () => {
    const doc = readFileSync(new URL('../../docs/routing.md', import.meta.url), 'utf8')
    const expected = PRECEDENCE_TABLE.map((c, i) => renderCells(c, i + 1))
    const rendered = expected.map((cells) => `| ${cells.join(' | ')} |`).join('\n')
    assert.deepEqual(readDocTable(doc), expected, `docs/routing.md's precedence table must be:\n${rendered}`)
  })
})

// ---------------------------------------------------------------------------------------------------------
// Compiled router vs the naive reference over random tables and requests.
// ---------------------------------------------------------------------------------------------------------
function summarize(result: RouteMatch<number>): unknown {
  return result.ok ? { id: result.route.id, target: result.target } : result
}

void describe('compiled router vs naive reference', () => {
  void it('agrees on random route tables and requests (including unnormalised paths)', () => {
    fc.assert(
      fc.property(tableWithRequestsArb, ([routes, requests]) => {
        const compiled = compileRouter(routes)
        const naive = createNaiveRouter(routes)
        for (const { host, path, method, headers } of requests) {
          const getHeader = (name: string): string | undefined => (headers as Record<string, string>)[name]
          assert.deepEqual(
            summarize(compiled.match(host, path, method, getHeader)),
            summarize(naive.match(host, path, method, getHeader)),
            `${method} ${host}${path} ${JSON.stringify(headers)}`,
          )
        }
      }),
      { numRuns: 400 },
    )
  })
  void it('agrees on wide trie nodes (more children than the in-place scan handles)', () => {
    const names = Array.from({ length: 40 }, (_, i) => `s${i}`)
    const wideTable = fc.array(
      fc.record({
        kind: fc.constantFrom('exact' as const, 'prefix' as const),
        first: fc.constantFrom(...names),
        second: fc.option(fc.constantFrom(...names), { nil: undefined }),
        methods: fc.option(fc.subarray(['GET', 'POST'], { minLength: 1 }), { nil: undefined }),
      }),
      { minLength: 10, maxLength: 60 },
    )
    const pathArb = fc
      .array(fc.constantFrom(...names, 'zz', 's'), { minLength: 1, maxLength: 3 })
      .map((segments) => '/' + segments.join('/'))
    fc.assert(
      fc.property(wideTable, fc.array(pathArb, { minLength: 20, maxLength: 20 }), (specs, paths) => {
        const routes = specs.map(({ kind, first, second, methods }, i): RouteSpec<number> => ({
          id: `r${i}`,
          hosts: [],
          path: { kind, value: second === undefined ? `/${first}` : `/${first}/${second}` },
          ...(methods === undefined ? {} : { methods }),
          target: i,
        }))
        const compiled = compileRouter(routes)
        const naive = createNaiveRouter(routes)
        for (const path of paths) {
          for (const method of ['GET', 'PUT']) {
            assert.deepEqual(
              summarize(compiled.match('h.test', path, method, () => undefined)),
              summarize(naive.match('h.test', path, method, () => undefined)),
            )
          }
        }
      }),
      { numRuns: 150 },
    )
  })
})

// ---------------------------------------------------------------------------------------------------------
// Crafted bypass attempts (docs/routing.md, "Bypass attempts"): the full pipeline normalizePath → match.
// ---------------------------------------------------------------------------------------------------------
void describe('crafted bypass attempts', () => {
  const routes: RouteSpec<string>[] = [
    { id: 'admin', hosts: [], path: { kind: 'exact', value: '/admin' }, target: 'admin' },
    { id: 'admin-area', hosts: [], path: { kind: 'prefix', value: '/admin-area' }, target: 'admin-area' },
    { id: 'catch-all', hosts: [], path: { kind: 'prefix', value: '/' }, target: 'catch-all' },
  ]
  const router = compileRouter(routes)
  const route = (target: string): string => {
    const normal = normalizePath(target)
    if (!normal.ok) return `400 ${normal.reason}`
    const result = router.match('example.com', normal.path, 'GET', () => undefined)
    return result.ok ? result.route.id : result.reason
  }
  const cases: readonly (readonly [string, string])[] = [
    ['/admin', 'admin'],
    ['/%61dmin', 'admin'],
    ['/%61%64%6D%69%6E', 'admin'],
    ['//admin', 'admin'],
    ['/x/../admin', 'admin'],
    ['/x/%2e%2E/admin', 'admin'],
    ['/./admin', 'admin'],
    ['/admin?next=/../x', 'admin'],
    ['/admin%2F..', '400 encoded-slash'],
    ['/admin%5c..', '400 encoded-slash'],
    ['/admin\\', '400 invalid-character'],
    ['/admin;x', '400 semicolon'],
    ['/..;/admin', '400 semicolon'],
    ['/../admin', '400 above-root'],
    ['/%2e%2e/admin', '400 above-root'],
    ['/admin%00', '400 encoded-nul'],
    ['/admin#x', '400 invalid-character'],
    ['/admin%zz', '400 invalid-percent-encoding'],
    // Documented non-matches of an *exact* route: case and trailing slash are significant; protect a
    // subtree with a prefix route instead (next group).
    ['/ADMIN', 'catch-all'],
    ['/admin/', 'catch-all'],
    ['/admin.', 'catch-all'],
    ['/%2561dmin', 'catch-all'], // decoded once only: the backend sees '%61dmin', not 'admin'
    // A prefix route protects its whole subtree against the same tricks.
    ['/admin-area/', 'admin-area'],
    ['//admin-area//x', 'admin-area'],
    ['/admin-area/x/../../admin-area/y', 'admin-area'],
    ['/%61dmin-area/x', 'admin-area'],
    ['/admin-area/%2e%2E/admin-area', 'admin-area'],
  ]
  for (const [target, expected] of cases) {
    void it(`${JSON.stringify(target)} → ${expected}`, () => {
      assert.equal(route(target), expected)
    })
  }
})

void describe('compileRouter', () => {
  void it('throws RouteConfigError listing every error diagnostic', () => {
    const bad: RouteSpec<null>[] = [
      { id: 'a', hosts: ['api.example.com:80'], path: { kind: 'prefix', value: '/x/' }, target: null },
      { id: 'a', hosts: [], path: { kind: 'exact', value: '/' }, target: null },
    ]
    assert.throws(
      () => compileRouter(bad),
      (err: unknown) => {
        assert.ok(err instanceof RouteConfigError)
        assert.deepEqual(err.diagnostics.map((d) => d.code).sort(), [
          'duplicate-id',
          'invalid-host',
          'invalid-path',
        ])
        return true
      },
    )
  })

  void it('returns the same frozen result object for repeated hits (no per-request allocation)', () => {
    const router = compileRouter([{ id: 'a', hosts: [], path: { kind: 'prefix', value: '/' }, target: 1 }])
    const first = router.match('example.com', '/x', 'GET', () => undefined)
    assert.equal(
      router.match('example.com', '/y', 'GET', () => undefined),
      first,
    )
    assert.ok(Object.isFrozen(first))
  })

  void it('answers invalid-host for a syntactically invalid Host', () => {
    const router = compileRouter([{ id: 'a', hosts: [], path: { kind: 'prefix', value: '/' }, target: 1 }])
    assert.deepEqual(
      router.match('exa mple.com', '/', 'GET', () => undefined),
      { ok: false, reason: 'invalid-host' },
    )
  })

  void it('treats a route listing a host twice (in any spelling) as one bucket entry', () => {
    const router = compileRouter([
      { id: 'a', hosts: ['api.test', 'API.test.'], path: { kind: 'exact', value: '/' }, target: 1 },
      { id: 'b', hosts: ['api.test'], path: { kind: 'exact', value: '/' }, methods: ['POST'], target: 2 },
    ])
    const result = router.match('api.test', '/', 'PUT', () => undefined)
    assert.ok(result.ok)
    assert.equal(result.route.id, 'a')
  })
})
