import fc from 'fast-check'
import type { HeaderMatcher, RouteSpec } from './route-spec.ts'

// Test-only generators shared by the router and analyzer property tests. Vocabularies are small and a table
// draws its routes from a small pool of (hosts, path) patterns, so routes collide often (same bucket, same
// pattern, nested prefixes): that is where precedence, fall-through and shadowing matter.
const HOST_PATTERNS = ['a.test', 'b.a.test', 'x.b.a.test', 'c.test', '*.a.test', '*.b.a.test', '*', '[::1]']
const REQUEST_HOSTS = [
  'a.test',
  'A.TEST:8080',
  'b.a.test',
  'x.b.a.test.',
  'y.x.b.a.test',
  'z.a.test',
  'c.test',
  'd.test',
  '[::1]:443',
  '',
  'bad host',
]
const SEGMENTS = ['a', 'b', 'ab']
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE']

const headerMatcherArb: fc.Arbitrary<HeaderMatcher> = fc.oneof(
  fc.record({ name: fc.constantFrom('x-a', 'x-b'), exact: fc.constantFrom('1', '2') }),
  fc.record({ name: fc.constantFrom('x-a', 'x-b'), present: fc.boolean() }),
  fc.record({ name: fc.constantFrom('x-a', 'x-b') }),
)

const patternArb = fc
  .record({
    hosts: fc.oneof(fc.constant([]), fc.subarray(HOST_PATTERNS, { minLength: 1, maxLength: 2 })),
    kind: fc.constantFrom('exact' as const, 'prefix' as const),
    segments: fc.array(fc.constantFrom(...SEGMENTS), { maxLength: 3 }),
    trailingSlash: fc.boolean(),
  })
  .map(({ hosts, kind, segments, trailingSlash }) => {
    const base = '/' + segments.join('/')
    const value = kind === 'exact' && trailingSlash && segments.length > 0 ? base + '/' : base
    return { hosts, path: { kind, value } }
  })

const constraintsArb = fc.record(
  {
    methods: fc.subarray(['GET', 'POST', 'PUT'], { minLength: 1 }),
    headers: fc.array(headerMatcherArb, { minLength: 1, maxLength: 2 }),
  },
  { requiredKeys: [] },
)

/** 1–12 routes with ids r0, r1, … and their index as target. */
export const tableArb: fc.Arbitrary<RouteSpec<number>[]> = fc
  .array(patternArb, { minLength: 1, maxLength: 5 })
  .chain((patterns) =>
    fc.array(fc.tuple(fc.constantFrom(...patterns), constraintsArb), { minLength: 1, maxLength: 12 }),
  )
  .map((routes) =>
    routes.map(([pattern, { methods, headers }], i) => ({
      id: `r${i}`,
      ...pattern,
      ...(methods === undefined ? {} : { methods }),
      ...(headers === undefined ? {} : { headers: dropContradictions(headers) }),
      target: i,
    })),
  )

/** Keeps the first matcher per header name: contradictory matchers are a config error, tested elsewhere. */
function dropContradictions(headers: readonly HeaderMatcher[]): HeaderMatcher[] {
  const seen = new Set<string>()
  return headers.filter((h) => !seen.has(h.name) && seen.add(h.name))
}

/** Paths may be unnormalised ('//', trailing '/') on purpose: the router must agree on any input. */
export const requestArb = fc.record({
  host: fc.constantFrom(...REQUEST_HOSTS),
  path: fc
    .tuple(fc.array(fc.constantFrom(...SEGMENTS, 'c', ''), { maxLength: 4 }), fc.boolean())
    .map(([segments, trailing]) => '/' + segments.join('/') + (trailing && segments.length > 0 ? '/' : '')),
  method: fc.constantFrom(...METHODS),
  headers: fc.record(
    { 'x-a': fc.constantFrom('1', '2'), 'x-b': fc.constantFrom('1', '2') },
    { requiredKeys: [] },
  ),
})

/** A request aimed at one route of the table (its host and path, maybe one segment deeper). */
function aimedRequestArb(routes: readonly RouteSpec<number>[]): fc.Arbitrary<Request> {
  return fc
    .record({
      route: fc.constantFrom(...routes),
      hostPick: fc.nat(),
      deeper: fc.constantFrom('', '/', '/c', '/a/b'),
      rest: requestArb,
    })
    .map(({ route, hostPick, deeper, rest }) => {
      const pattern = route.hosts[hostPick % Math.max(1, route.hosts.length)] ?? '*'
      const host = pattern === '*' ? rest.host : pattern.replace(/^\*\./, 'q.')
      const path = route.path.value === '/' ? deeper || '/' : route.path.value + deeper
      return { ...rest, host, path }
    })
}

export type Request = typeof requestArb extends fc.Arbitrary<infer R> ? R : never

/** A table plus requests, half of them aimed at its routes. */
export const tableWithRequestsArb: fc.Arbitrary<[RouteSpec<number>[], Request[]]> = tableArb.chain((routes) =>
  fc.tuple(
    fc.constant(routes),
    fc.array(fc.oneof(requestArb, aimedRequestArb(routes)), { minLength: 10, maxLength: 40 }),
  ),
)
