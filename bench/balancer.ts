// Micro-benchmark of Balancer.pick: node bench/balancer.ts [case]. Each case runs in its own process so JIT
// feedback from one case does not skew another; reports ns/op, the median of 7 runs of 1M operations
// after warm-up. Least connections runs as the gateway drives it (pick, onStart, onEnd, with a standing
// load so counts differ) and fully tied (every pick draws a random tie-break).
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import {
  createLeastConnections,
  createRoundRobin,
  type Balancer,
  type BalancerMember,
} from '../src/load-balancer/index.ts'

interface Backend extends BalancerMember {
  readonly isHealthy: boolean
}

const ITERATIONS = 1_000_000
const RUNS = 7

function backends(count: number): Backend[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `b${i}`,
    weight: 1 + (i % 5),
    isHealthy: i % 7 !== 3,
  }))
}

const isHealthy = (b: Backend): boolean => b.isHealthy

const cases: Record<string, (count: number) => () => unknown> = {
  'round-robin': (count) => {
    const rr: Balancer<Backend> = createRoundRobin(backends(count))
    return () => rr.pick()
  },
  'round-robin, health filter': (count) => {
    const rr: Balancer<Backend> = createRoundRobin(backends(count))
    return () => rr.pick(isHealthy)
  },
  'least-connections, pick+onStart+onEnd': (count) => {
    const members = backends(count)
    const lc: Balancer<Backend> = createLeastConnections(members)
    for (const m of members) for (let i = 0; i < (m.weight * 3) % 4; i++) lc.onStart(m)
    return () => {
      const m = lc.pick(isHealthy)!
      lc.onStart(m)
      lc.onEnd(m)
    }
  },
  'least-connections, all tied': (count) => {
    const lc = createLeastConnections(backends(count).map((m) => ({ id: m.id, weight: 1 })))
    return () => lc.pick()
  },
}

function measure(step: () => unknown): number {
  for (let i = 0; i < ITERATIONS / 5; i++) step()
  const samples: number[] = []
  for (let run = 0; run < RUNS; run++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < ITERATIONS; i++) step()
    samples.push(Number(process.hrtime.bigint() - start) / ITERATIONS)
  }
  return samples.sort((a, b) => a - b)[RUNS >> 1]!
}

const [caseName, countText] = process.argv.slice(2)
if (caseName !== undefined) {
  console.log(measure(cases[caseName]!(Number(countText))).toFixed(1))
} else {
  for (const count of [3, 50]) {
    for (const name of Object.keys(cases)) {
      const nsPerOp = execFileSync(process.execPath, [fileURLToPath(import.meta.url), name, String(count)], {
        encoding: 'utf8',
      }).trim()
      console.log(`${`${name}, ${count} members`.padEnd(52)} ${nsPerOp.padStart(7)} ns/op`)
    }
  }
}
