// Micro-benchmark for the routing hot path: normalizePath and Router.match over a 1,000-route table with a
// mix of hits and misses. Plain Node script: `node bench/route-match.ts [iterations]`. Reports ns/op per
// scenario (median of 7 timed rounds after warm-up). Numbers are for comparison between commits on the same
// machine, not absolute promises.
import { compileRouter, normalizePath, type RouteSpec } from '../src/routing/index.ts'

const iterations = Number(process.argv[2] ?? 200_000)
const ROUNDS = 7

// --- a 1,000-route table: 20 exact hosts × 40 routes, 5 wildcard hosts × 30 routes, 50 default routes
const routes: RouteSpec<string>[] = []
for (let h = 0; h < 20; h++) {
  const hosts = [`svc${h}.example.com`]
  for (let r = 0; r < 10; r++) {
    routes.push({ id: `h${h}-p${r}`, hosts, path: { kind: 'prefix', value: `/api/v1/res${r}` }, target: 'a' })
    routes.push({
      id: `h${h}-p${r}-w`,
      hosts,
      path: { kind: 'prefix', value: `/api/v1/res${r}` },
      methods: ['POST', 'PUT', 'DELETE'],
      headers: [{ name: 'x-tenant', present: true }],
      target: 'b',
    })
    routes.push({
      id: `h${h}-e${r}`,
      hosts,
      path: { kind: 'exact', value: `/api/v1/res${r}/status` },
      target: 'c',
    })
    routes.push({
      id: `h${h}-v2-${r}`,
      hosts,
      path: { kind: 'prefix', value: `/api/v2/res${r}` },
      methods: ['GET'],
      target: 'd',
    })
  }
}
for (let w = 0; w < 5; w++) {
  const hosts = [`*.tenant${w}.example.com`]
  for (let r = 0; r < 30; r++) {
    routes.push({ id: `w${w}-${r}`, hosts, path: { kind: 'prefix', value: `/t/r${r}` }, target: 'e' })
  }
}
for (let r = 0; r < 50; r++)
  routes.push({ id: `d${r}`, hosts: [], path: { kind: 'prefix', value: `/d${r}` }, target: 'f' })
const router = compileRouter(routes)

// --- requests (built once; the timed loop only calls the functions under test)
interface BenchRequest {
  readonly host: string
  readonly target: string
  readonly path: string
  readonly method: string
  readonly getHeader: (name: string) => string | undefined
}
const noHeaders = (): undefined => undefined
const tenantHeader = (name: string): string | undefined => (name === 'x-tenant' ? 't1' : undefined)

function request(
  host: string,
  target: string,
  method = 'GET',
  getHeader: BenchRequest['getHeader'] = noHeaders,
): BenchRequest {
  const normal = normalizePath(target)
  if (!normal.ok) throw new Error(`bench request ${target} rejected: ${normal.reason}`)
  return { host, target, path: normal.path, method, getHeader }
}

const hits: BenchRequest[] = []
const misses: BenchRequest[] = []
for (let i = 0; i < 64; i++) {
  const h = i % 20
  const r = i % 10
  hits.push(request(`svc${h}.example.com`, `/api/v1/res${r}/items/${i}?page=2`))
  hits.push(request(`SVC${h}.example.com:8443`, `/api/v1/res${r}/status`))
  hits.push(request(`svc${h}.example.com`, `/api/v1/res${r}/items`, 'POST', tenantHeader))
  hits.push(request(`a${i}.tenant${i % 5}.example.com`, `/t/r${i % 30}/x`))
  hits.push(request(`unknown${i}.test`, `/d${i % 50}/deep/path/here`))
  misses.push(request(`svc${h}.example.com`, `/api/v3/res${r}/items`))
  misses.push(request(`svc${h}.example.com`, `/api/v2/res${r}/x`, 'POST')) // 405
  misses.push(request(`unknown${i}.test`, `/nothing/here/${i}`))
}
const mixed = [...hits, ...misses]

const cleanTargets = hits.map((r) => r.target)
const dirtyTargets = [
  '/api/v1/./res1//items/../items/7?x=1',
  '/api/v1/%72es2/items/%7Euser',
  '/api//v1///res3/items/',
  '/a/b/c/d/e/../../f/%2e%2e/g',
  '/caf%c3%a9/menu?lang=fr',
]

let sink = 0
function time(name: string, inputs: readonly unknown[], run: (i: number) => void): void {
  const n = inputs.length
  const perRound = Math.max(n, Math.floor(iterations / n) * n)
  for (let i = 0; i < perRound; i++) run(i % n) // warm-up: let V8 optimise
  const samples: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < perRound; i++) run(i % n)
    samples.push(Number(process.hrtime.bigint() - start) / perRound)
  }
  samples.sort((a, b) => a - b)
  console.log(
    `${name.padEnd(34)} ${samples[ROUNDS >> 1]!.toFixed(1).padStart(7)} ns/op  (min ${samples[0]!.toFixed(1)})`,
  )
}

console.log(`routes: ${routes.length}, iterations per round: ~${iterations}, node ${process.version}`)
time('normalizePath clean (fast path)', cleanTargets, (i) => {
  const r = normalizePath(cleanTargets[i]!)
  if (r.ok) sink += r.path.length
})
time('normalizePath dirty (slow path)', dirtyTargets, (i) => {
  const r = normalizePath(dirtyTargets[i]!)
  if (r.ok) sink += r.path.length
})
for (const [name, set] of [
  ['match hits', hits],
  ['match misses (404/405)', misses],
  ['match mixed', mixed],
] as const) {
  time(name, set, (i) => {
    const q = set[i]!
    const r = router.match(q.host, q.path, q.method, q.getHeader)
    if (r.ok) sink++
  })
}
time('normalizePath + match (mixed)', mixed, (i) => {
  const q = mixed[i]!
  const n = normalizePath(q.target)
  if (n.ok && router.match(q.host, n.path, q.method, q.getHeader).ok) sink++
})
if (sink === 0.5) console.log(sink) // keep results observable so nothing is optimised away
