import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from '../../test/helpers/fast-check.ts'
import { analyzeRoutes } from './analyze-routes.ts'
import { compileRouter } from './compile-router.ts'
import { tableWithRequestsArb } from './route-arbitraries.ts'
import type { RouteSpec } from './route-spec.ts'

type Spec = RouteSpec<null>

function route(id: string, fields: Partial<Omit<Spec, 'id' | 'target'>> = {}): Spec {
  return { id, hosts: [], path: { kind: 'prefix', value: '/' }, target: null, ...fields }
}

function codes(routes: readonly Spec[]): string[] {
  return analyzeRoutes(routes).map((d) => `${d.severity} ${d.code} ${d.routeId}`)
}

void describe('analyzeRoutes', () => {
  void it('accepts a clean table', () => {
    assert.deepEqual(
      codes([
        route('a', {
          hosts: ['api.example.com', '*.example.com'],
          path: { kind: 'exact', value: '/v1/users' },
        }),
        route('b', { path: { kind: 'prefix', value: '/v1' }, methods: ['GET'] }),
        route('c', { path: { kind: 'prefix', value: '/v1' }, methods: ['POST'] }),
        route('d', {
          headers: [
            { name: 'x-beta', exact: '1' },
            { name: 'x-internal', present: false },
          ],
        }),
        route('e'),
      ]),
      [],
    )
  })

  void it('reports duplicate ids on every repeat', () => {
    assert.deepEqual(
      codes([
        route('a', { hosts: ['a.test'] }),
        route('a', { hosts: ['b.test'] }),
        route('a', { hosts: ['c.test'] }),
      ]),
      ['error duplicate-id a', 'error duplicate-id a'],
    )
  })

  void describe('shadowed', () => {
    const cases: readonly (readonly [string, readonly Spec[], readonly string[]])[] = [
      ['identical pattern, first unconstrained', [route('a'), route('b')], ['warning shadowed b']],
      [
        'constrained route after an unconstrained one still wins (tried first)',
        [route('a'), route('b', { methods: ['GET'] })],
        [],
      ],
      [
        'first accepts a superset of methods',
        [route('a', { methods: ['GET', 'POST'] }), route('b', { methods: ['POST'] })],
        ['warning shadowed b'],
      ],
      [
        'HEAD is implied by GET',
        [route('a', { methods: ['GET'] }), route('b', { methods: ['HEAD'] })],
        ['warning shadowed b'],
      ],
      ['disjoint methods', [route('a', { methods: ['GET'] }), route('b', { methods: ['POST'] })], []],
      [
        'earlier header matcher implied by a later exact one, same constraint count',
        [route('a', { headers: [{ name: 'x-a' }] }), route('b', { headers: [{ name: 'x-a', exact: '1' }] })],
        ['warning shadowed b'],
      ],
      [
        'different exact header values',
        [
          route('a', { headers: [{ name: 'x-a', exact: '1' }] }),
          route('b', { headers: [{ name: 'x-a', exact: '2' }] }),
        ],
        [],
      ],
      [
        'same host spelled differently',
        [route('a', { hosts: ['API.test.'] }), route('b', { hosts: ['api.test'] })],
        ['warning shadowed b'],
      ],
      [
        '"*" and an empty host list are the same bucket',
        [route('a', { hosts: ['*'] }), route('b', { hosts: [] })],
        ['warning shadowed b'],
      ],
      ['different hosts', [route('a', { hosts: ['a.test'] }), route('b', { hosts: ['b.test'] })], []],
      [
        'shadowed in only one of its hosts',
        [route('a', { hosts: ['a.test'] }), route('b', { hosts: ['a.test', 'b.test'] })],
        [],
      ],
      [
        'shadowed in each of its hosts by different routes',
        [
          route('a', { hosts: ['a.test'] }),
          route('c', { hosts: ['b.test'] }),
          route('b', { hosts: ['a.test', 'b.test'] }),
        ],
        ['warning shadowed b'],
      ],
      [
        'exact and prefix of the same value do not shadow',
        [
          route('a', { path: { kind: 'exact', value: '/x' } }),
          route('b', { path: { kind: 'prefix', value: '/x' } }),
        ],
        [],
      ],
    ]
    for (const [name, routes, expected] of cases) {
      void it(name, () => {
        assert.deepEqual(codes(routes), expected)
      })
    }

    void it('names the shadowing route', () => {
      const [diagnostic] = analyzeRoutes([route('first'), route('second')])
      assert.equal(diagnostic?.routeId, 'second')
      assert.match(diagnostic?.message ?? '', /"first"/)
    })

    void it('is sound: a route reported as shadowed is never returned by the compiled router', () => {
      fc.assert(
        fc.property(tableWithRequestsArb, ([routes, requests]) => {
          const shadowed = new Set(
            analyzeRoutes(routes)
              .filter((d) => d.code === 'shadowed')
              .map((d) => d.routeId),
          )
          if (shadowed.size === 0) return
          const router = compileRouter(routes)
          for (const { host, path, method, headers } of requests) {
            const result = router.match(
              host,
              path,
              method,
              (name) => (headers as Record<string, string>)[name],
            )
            if (result.ok)
              assert.ok(!shadowed.has(result.route.id), `${result.route.id} reported shadowed but matched`)
          }
        }),
        { numRuns: 300 },
      )
    })
  })

  void describe('invalid patterns', () => {
    const cases: readonly (readonly [string, Partial<Spec>, string])[] = [
      ['host with port', { hosts: ['api.example.com:8080'] }, 'invalid-host'],
      ['empty host', { hosts: [''] }, 'invalid-host'],
      ['wildcard in the middle', { hosts: ['api.*.example.com'] }, 'invalid-host'],
      ['bare wildcard suffix', { hosts: ['*.'] }, 'invalid-host'],
      ['partial-label wildcard', { hosts: ['*api.example.com'] }, 'invalid-host'],
      ['wildcard over an IPv4 tail', { hosts: ['*.0.1'] }, 'invalid-host'],
      ['host with a space', { hosts: ['api example.com'] }, 'invalid-host'],
      ['IPv6 with port', { hosts: ['[::1]:80'] }, 'invalid-host'],
      ['relative path', { path: { kind: 'prefix', value: 'api' } }, 'invalid-path'],
      ['dot-segment', { path: { kind: 'exact', value: '/a/../b' } }, 'invalid-path'],
      ['duplicate slash', { path: { kind: 'exact', value: '/a//b' } }, 'invalid-path'],
      ['encoded unreserved', { path: { kind: 'exact', value: '/%61' } }, 'invalid-path'],
      ['lower-case escape', { path: { kind: 'exact', value: '/caf%c3%a9' } }, 'invalid-path'],
      ['query', { path: { kind: 'exact', value: '/a?b=1' } }, 'invalid-path'],
      ['prefix with trailing slash', { path: { kind: 'prefix', value: '/api/' } }, 'invalid-path'],
      ['unknown kind', { path: { kind: 'regex' as 'exact', value: '/a' } }, 'invalid-path'],
      ['lower-case method', { methods: ['get'] }, 'invalid-method'],
      ['empty method list', { methods: [] }, 'invalid-method'],
      ['method with a space', { methods: ['GET POST'] }, 'invalid-method'],
      ['upper-case header name', { headers: [{ name: 'X-Beta' }] }, 'invalid-header'],
      [
        'exact and present:false',
        { headers: [{ name: 'x-a', exact: '1', present: false }] },
        'invalid-header',
      ],
      [
        'contradictory exact values',
        { headers: [{ name: 'x-a', exact: '1' }, { name: 'x-a' }, { name: 'x-a', exact: '2' }] },
        'invalid-header',
      ],
      [
        'present and absent',
        { headers: [{ name: 'x-a' }, { name: 'x-a', present: false }] },
        'invalid-header',
      ],
      ['CR LF in exact value', { headers: [{ name: 'x-a', exact: 'a\r\nb' }] }, 'invalid-header'],
    ]
    for (const [name, fields, code] of cases) {
      void it(name, () => {
        assert.deepEqual(codes([route('r', fields)]), [`error ${code} r`])
        assert.throws(() => compileRouter([route('r', fields)]), { name: 'RouteConfigError' })
      })
    }

    const valid: readonly (readonly [string, Partial<Spec>])[] = [
      ['IPv6 literal host', { hosts: ['[::1]'] }],
      ['IPv4 host', { hosts: ['127.0.0.1'] }],
      ['exact path with trailing slash', { path: { kind: 'exact', value: '/a/' } }],
      ['encoded reserved character', { path: { kind: 'exact', value: '/a%20b%2F' } }],
      ['semicolon (reachable with semicolons: keep)', { path: { kind: 'exact', value: '/a;v=1' } }],
      ['extension method', { methods: ['PROPFIND'] }],
    ]
    for (const [name, fields] of valid) {
      void it(`accepts ${name}`, () => {
        assert.deepEqual(codes([route('r', fields)]), [])
      })
    }
  })
})
