import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from '../../test/helpers/fast-check.ts'
import { createLeastConnections } from './least-connections.ts'
import type { BalancerMember } from './types.ts'

function membersOf(weights: readonly number[]): BalancerMember[] {
  return weights.map((weight, i) => ({ id: `m${i}`, weight }))
}

/** mulberry32: a tiny seeded PRNG so statistical tests are deterministic. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Pearson's χ² statistic of observed counts against a uniform expectation. */
function chiSquareUniform(counts: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0)
  const expected = total / counts.length
  return counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0)
}

describe('createLeastConnections', () => {
  it('prefers an idle member over busy ones', () => {
    const members = membersOf([1, 1, 1])
    const balancer = createLeastConnections(members, { random: seededRandom(1) })
    balancer.onStart(members[0]!)
    balancer.onStart(members[2]!)
    for (let i = 0; i < 20; i++) assert.equal(balancer.pick()?.id, 'm1')
  })

  it('always picks a member with minimal (active + 1) / weight, the i-th of the tied for random = i/k', () => {
    // Reference model: plain arrays and exact fraction comparison, replayed against random operations.
    const opArb = fc.oneof(
      fc.record({
        kind: fc.constant('pick' as const),
        r: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      }),
      fc.record({ kind: fc.constant('end' as const), index: fc.nat() }),
      fc.record({ kind: fc.constant('ineligible' as const), index: fc.nat() }),
    )
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 6 }),
        fc.array(opArb, { maxLength: 200 }),
        (weights, ops) => {
          const members = membersOf(weights)
          let nextRandom = 0
          const balancer = createLeastConnections(members, { random: () => nextRandom })
          const active = members.map(() => 0)
          let excluded = -1
          for (const op of ops) {
            if (op.kind === 'end') {
              const i = op.index % members.length
              balancer.onEnd(members[i]!)
              if (active[i]! > 0) active[i]!--
              continue
            }
            if (op.kind === 'ineligible') {
              excluded = op.index % (members.length + 1) === members.length ? -1 : op.index % members.length
              continue
            }
            nextRandom = op.r
            const candidates = members.map((_, i) => i).filter((i) => i !== excluded)
            const picked = balancer.pick((m) => m.id !== members[excluded]?.id)
            if (candidates.length === 0) {
              assert.equal(picked, undefined)
              continue
            }
            const loadOf = (i: number) => (active[i]! + 1) / weights[i]!
            const best = Math.min(...candidates.map(loadOf))
            const tied = candidates.filter((i) => loadOf(i) === best)
            const expected = tied[Math.floor(op.r * tied.length)]!
            assert.equal(picked?.id, members[expected]!.id)
            balancer.onStart(picked!)
            active[expected]!++
          }
        },
      ),
    )
  })

  it('never lets a member exceed its weighted share of concurrent requests: a_i ≤ w_i·(A + n)/W', () => {
    // Picking argmin (a+1)/w keeps a_i/w_i ≤ (a_j+1)/w_j for every pair; summing over j gives the bound.
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer(),
        (weights, picks, seed) => {
          const members = membersOf(weights)
          const balancer = createLeastConnections(members, { random: seededRandom(seed) })
          const active = new Map<string, number>()
          const totalWeight = weights.reduce((a, b) => a + b, 0)
          for (let n = 1; n <= picks; n++) {
            const picked = balancer.pick()!
            balancer.onStart(picked)
            active.set(picked.id, (active.get(picked.id) ?? 0) + 1)
            for (const m of members) {
              const bound = (m.weight * (n + members.length)) / totalWeight
              assert.ok((active.get(m.id) ?? 0) <= bound, `${m.id} holds ${active.get(m.id)} > ${bound}`)
            }
          }
        },
      ),
    )
  })

  it('breaks ties uniformly at random (χ² over 50 000 picks with a seeded PRNG)', () => {
    const members = membersOf([2, 2, 2, 2, 2])
    const balancer = createLeastConnections(members, { random: seededRandom(0x5eed) })
    const counts = new Map<string, number>()
    for (let i = 0; i < 50_000; i++) {
      const id = balancer.pick()!.id // no onStart: all members stay tied
      counts.set(id, (counts.get(id) ?? 0) + 1)
    }
    // 18.47 is the χ² critical value for 4 degrees of freedom at p = 0.001.
    const statistic = chiSquareUniform(members.map((m) => counts.get(m.id) ?? 0))
    assert.ok(statistic < 18.47, `χ² = ${statistic}, counts ${JSON.stringify([...counts])}`)
  })

  it('draws only among the tied members, and all of them', () => {
    const members = membersOf([1, 1, 1, 1])
    const balancer = createLeastConnections(members, { random: seededRandom(42) })
    balancer.onStart(members[1]!)
    balancer.onStart(members[3]!)
    const seen = new Map<string, number>()
    for (let i = 0; i < 10_000; i++) {
      const id = balancer.pick()!.id
      seen.set(id, (seen.get(id) ?? 0) + 1)
    }
    assert.deepEqual([...seen.keys()].sort(), ['m0', 'm2'])
    assert.ok(chiSquareUniform([seen.get('m0')!, seen.get('m2')!]) < 10.83) // 1 d.o.f., p = 0.001
  })

  it('sends a freshly added member only the requests that close its active-count deficit', () => {
    const members = membersOf([1, 1, 1, 1])
    const balancer = createLeastConnections(members, { random: seededRandom(7) })
    const perMember = 10
    for (const m of members) for (let i = 0; i < perMember; i++) balancer.onStart(m)
    const fresh = { id: 'fresh', weight: 1 }
    balancer.update([...members, fresh])
    const picks: string[] = []
    for (let i = 0; i < perMember + 5 * 20; i++) {
      const picked = balancer.pick()!
      balancer.onStart(picked)
      picks.push(picked.id)
    }
    // The deficit is exactly perMember requests: the fresh member gets those first...
    assert.deepEqual(picks.slice(0, perMember), Array<string>(perMember).fill('fresh'))
    // ...and then no more than an equal share: in every round of 5 picks each member gets exactly one.
    for (let round = 0; round < 20; round++) {
      const ids = picks.slice(perMember + 5 * round, perMember + 5 * (round + 1)).sort()
      assert.deepEqual(ids, ['fresh', 'm0', 'm1', 'm2', 'm3'])
    }
  })

  it('keeps active counts of surviving members across update and ignores onEnd for removed ones', () => {
    const members = membersOf([1, 1, 1])
    const balancer = createLeastConnections(members, { random: seededRandom(3) })
    balancer.onStart(members[0]!)
    balancer.onStart(members[0]!)
    balancer.onStart(members[1]!)
    balancer.update([members[0]!, members[1]!])
    assert.equal(balancer.pick()?.id, 'm1') // m0 still holds 2
    balancer.onEnd(members[2]!) // removed: no effect, no throw
    balancer.onEnd(members[1]!)
    balancer.onEnd(members[1]!) // below zero is clamped
    balancer.onStart(members[1]!)
    assert.equal(balancer.pick()?.id, 'm1') // 1 vs 2 active
    balancer.onEnd(members[0]!)
    balancer.onEnd(members[0]!)
    assert.equal(balancer.pick()?.id, 'm0') // 0 vs 1 active
  })

  it('uses weightOf as the effective weight and skips members whose effective weight is not positive', () => {
    const members = membersOf([1, 1])
    let rampedWeight = 0
    const balancer = createLeastConnections(members, {
      random: seededRandom(9),
      weightOf: (m) => (m.id === 'm1' ? rampedWeight : m.weight),
    })
    for (let i = 0; i < 3; i++) balancer.onStart(members[0]!)
    assert.equal(balancer.pick()?.id, 'm0') // m1 at weight 0 is skipped although idle
    rampedWeight = 0.2 // (0+1)/0.2 = 5 > (3+1)/1
    assert.equal(balancer.pick()?.id, 'm0')
    rampedWeight = 0.5 // (0+1)/0.5 = 2 < 4
    assert.equal(balancer.pick()?.id, 'm1')
  })

  it('returns undefined when nothing is eligible and tolerates a random() that returns 1', () => {
    const members = membersOf([1, 1])
    assert.equal(
      createLeastConnections(members).pick(() => false),
      undefined,
    )
    assert.equal(createLeastConnections([]).pick(), undefined)
    assert.equal(createLeastConnections(members, { random: () => 1 }).pick()?.id, 'm1')
  })
})
