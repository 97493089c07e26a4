import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from '../../test/helpers/fast-check.ts'
import { createRoundRobin } from './round-robin.ts'
import type { Balancer, BalancerMember } from './types.ts'

function membersOf(weights: readonly number[], prefix = 'm'): BalancerMember[] {
  return weights.map((weight, i) => ({ id: `${prefix}${i}`, weight }))
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0)
}

function pickMany(
  balancer: Balancer<BalancerMember>,
  n: number,
  isEligible?: (m: BalancerMember) => boolean,
) {
  const ids: string[] = []
  for (let i = 0; i < n; i++) {
    const picked = balancer.pick(isEligible)
    assert.ok(picked, 'pick returned undefined with eligible members present')
    ids.push(picked.id)
  }
  return ids
}

function countIds(ids: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1)
  return counts
}

function longestRun(ids: readonly string[]): Map<string, number> {
  const runs = new Map<string, number>()
  let run = 0
  for (let i = 0; i < ids.length; i++) {
    run = i > 0 && ids[i] === ids[i - 1] ? run + 1 : 1
    const id = ids[i]!
    runs.set(id, Math.max(runs.get(id) ?? 0, run))
  }
  return runs
}

const weightsArb = fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 8 })
const multiWeightsArb = fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 2, maxLength: 8 })

describe('createRoundRobin', () => {
  it('interleaves weights 5,1,1 as a a b a c a a (the sequence documented by nginx)', () => {
    const balancer = createRoundRobin([
      { id: 'a', weight: 5 },
      { id: 'b', weight: 1 },
      { id: 'c', weight: 1 },
    ])
    assert.deepEqual(pickMany(balancer, 14).join(' '), 'a a b a c a a a a b a c a a')
  })

  it('gives every member exactly its weight in each full cycle of Σweight picks', () => {
    fc.assert(
      fc.property(weightsArb, fc.integer({ min: 1, max: 4 }), (weights, cycles) => {
        const members = membersOf(weights)
        const balancer = createRoundRobin(members)
        const total = sum(weights)
        for (let cycle = 0; cycle < cycles; cycle++) {
          const counts = countIds(pickMany(balancer, total))
          for (const m of members) assert.equal(counts.get(m.id) ?? 0, m.weight, `cycle ${cycle}, ${m.id}`)
        }
      }),
    )
  })

  // Bounds of nginx's smooth WRR over any prefix of t picks from the zero state, n members, total W. With
  // c_i = t·w_i − W·count_i (the current weight), count_i − t·w_i/W = −c_i/W and Σc = 0:
  // - ahead: a winner is the largest of values summing to W, so ≥ W/n, and leaves at ≥ W/n − W; the others
  //   only grow. So c_i ≥ −W(1 − 1/n): never more than 1 − 1/n picks ahead of the share (tight: equal weights).
  // - behind: a member i that is not picked has some v_j ≥ v_i (v = c + w, Σv = W) and the other n − 2
  //   values are ≥ −W(1 − 1/n), so 2·v_i ≤ W + (n − 2)(1 − 1/n)W: c_i ≤ W(n/2 − 1 + 1/n); a pick only
  //   lowers it. So a member is at most n/2 − 1 + 1/n picks behind (0.5 for n = 2, 5/6 for n = 3,
  //   1.25 for n = 4; searches over weights ≤ 200 found at most ≈ 1.32 for n ≤ 32).
  // - runs: r picks of i in a row lower c_i by r(W − w_i), from ≤ W(n/2 − 1 + 1/n) to ≥ −W(1 − 1/n), so
  //   r ≤ (n/2)·W/(W − w_i).
  // "Within one pick either way" is false from n = 5: see the regression case below.
  const aheadBound = (n: number) => 1 - 1 / n
  const behindBound = (n: number) => n / 2 - 1 + 1 / n

  it('keeps every prefix of picks at most 1 − 1/n ahead of and n/2 − 1 + 1/n behind each member’s share', () => {
    fc.assert(
      fc.property(weightsArb, (weights) => {
        const members = membersOf(weights)
        const n = members.length
        const balancer = createRoundRobin(members)
        const total = sum(weights)
        const counts = new Map<string, number>()
        for (let t = 1; t <= 2 * total; t++) {
          const id = balancer.pick()!.id
          counts.set(id, (counts.get(id) ?? 0) + 1)
          for (const m of members) {
            const ahead = (counts.get(m.id) ?? 0) - (t * m.weight) / total
            assert.ok(ahead <= aheadBound(n) + 1e-9, `${m.id} is ${ahead} ahead after ${t} picks`)
            assert.ok(-ahead <= behindBound(n) + 1e-9, `${m.id} is ${-ahead} behind after ${t} picks`)
          }
        }
      }),
    )
  })

  it('regression: weights 20,1,1,20,1 put m3 44/43 picks behind its share after 28 picks (not within one)', () => {
    // The counterexample fast-check found for the old "within one pick" claim (about 1 run in 40).
    const weights = [20, 1, 1, 20, 1]
    const ids = pickMany(createRoundRobin(membersOf(weights)), 28)
    const m3 = ids.filter((id) => id === 'm3').length
    assert.equal(m3, 12)
    assert.equal((28 * 20) / 43 - m3, 44 / 43)
    assert.ok(44 / 43 < behindBound(5))
  })

  it('reaches the ahead bound 1 − 1/n with equal weights (the bound is tight)', () => {
    const ids = pickMany(createRoundRobin(membersOf([1, 1, 1, 1])), 1)
    assert.deepEqual(ids, ['m0'])
    assert.equal(1 - 1 / 4, aheadBound(4))
  })

  it('bounds runs of the same member by (n/2)·W/(W − w): no bursts', () => {
    fc.assert(
      fc.property(multiWeightsArb, (weights) => {
        const members = membersOf(weights)
        const total = sum(weights)
        const runs = longestRun(pickMany(createRoundRobin(members), 3 * total))
        for (const m of members) {
          const run = runs.get(m.id) ?? 0
          assert.ok(
            run <= ((members.length / 2) * total) / (total - m.weight) + 1e-9,
            `${m.id} (w=${m.weight}/${total}, n=${members.length}) ran ${run} in a row`,
          )
        }
      }),
    )
  })

  it('never picks an ineligible member and splits traffic among the eligible ones by weight', () => {
    fc.assert(
      fc.property(
        multiWeightsArb.chain((weights) =>
          fc.tuple(fc.constant(weights), fc.uniqueArray(fc.nat(weights.length - 1), { minLength: 1 })),
        ),
        ([weights, excluded]) => {
          fc.pre(excluded.length < weights.length)
          const members = membersOf(weights)
          const excludedIds = new Set(excluded.map((i) => members[i]!.id))
          const isEligible = (m: BalancerMember) => !excludedIds.has(m.id)
          const eligibleTotal = sum(members.filter(isEligible).map((m) => m.weight))
          const counts = countIds(pickMany(createRoundRobin(members), 3 * eligibleTotal, isEligible))
          for (const m of members) {
            assert.equal(counts.get(m.id) ?? 0, isEligible(m) ? 3 * m.weight : 0, m.id)
          }
        },
      ),
    )
  })

  it('keeps the eligible members within a bound computed from the state when the filter changes mid-stream', () => {
    // After an unfiltered warm-up the current weights are c_j = warmup·w_j − W·count_j. Filtering keeps the
    // eligible sum K = Σ_E c_j constant; a winner leaves at ≥ L = (K + W_e)/m − W_e (m eligible members) and
    // the others only grow, so c_i ≥ lo_i = min(c_i, L) and c_i ≤ K − Σ_{j≠i} lo_j from then on. With
    // count_i − t·w_i/W_e = (c_i(0) − c_i(t))/W_e that bounds every prefix, however long the filtered run.
    fc.assert(
      fc.property(
        multiWeightsArb,
        fc.nat(50),
        fc.nat(),
        fc.integer({ min: 5, max: 20 }),
        (weights, warmup, excludedSeed, cycles) => {
          const members = membersOf(weights)
          const balancer = createRoundRobin(members)
          const total = sum(weights)
          const warm = countIds(pickMany(balancer, warmup))
          const c0 = new Map(members.map((m) => [m.id, warmup * m.weight - total * (warm.get(m.id) ?? 0)]))
          const excludedId = members[excludedSeed % members.length]!.id
          const isEligible = (m: BalancerMember) => m.id !== excludedId
          const eligible = members.filter(isEligible)
          const eligibleTotal = sum(eligible.map((m) => m.weight))
          const k = -c0.get(excludedId)!
          const low = (k + eligibleTotal) / eligible.length - eligibleTotal
          const lo = new Map(eligible.map((m) => [m.id, Math.min(c0.get(m.id)!, low)]))
          const loSum = sum([...lo.values()])
          const counts = new Map<string, number>()
          for (let t = 1; t <= cycles * eligibleTotal; t++) {
            const id = balancer.pick(isEligible)!.id
            assert.notEqual(id, excludedId)
            counts.set(id, (counts.get(id) ?? 0) + 1)
            for (const m of eligible) {
              const ahead = (counts.get(m.id) ?? 0) - (t * m.weight) / eligibleTotal
              const c = c0.get(m.id)!
              assert.ok(
                ahead <= (c - lo.get(m.id)!) / eligibleTotal + 1e-9,
                `${m.id} is ${ahead} ahead at ${t}`,
              )
              const behindMax = (k - (loSum - lo.get(m.id)!) - c) / eligibleTotal
              assert.ok(-ahead <= behindMax + 1e-9, `${m.id} is ${-ahead} behind at ${t}`)
            }
          }
        },
      ),
    )
  })

  it('returns undefined when no member is eligible or the set is empty, without disturbing the sequence', () => {
    const reference = createRoundRobin(membersOf([3, 2, 1]))
    const balancer = createRoundRobin(membersOf([3, 2, 1]))
    assert.equal(
      balancer.pick(() => false),
      undefined,
    )
    assert.deepEqual(pickMany(balancer, 12), pickMany(reference, 12))
    assert.equal(createRoundRobin([]).pick(), undefined)
  })

  it('uses weightOf as the effective weight and skips members whose effective weight is 0', () => {
    const members = membersOf([1, 1, 1])
    const effective = new Map([
      ['m0', 3],
      ['m1', 1],
      ['m2', 0],
    ])
    const balancer = createRoundRobin(members, { weightOf: (m) => effective.get(m.id)! })
    const counts = countIds(pickMany(balancer, 8))
    assert.equal(counts.get('m0'), 6)
    assert.equal(counts.get('m1'), 2)
    assert.equal(counts.get('m2'), undefined)
    effective.set('m2', Number.NaN)
    assert.equal(
      balancer.pick((m) => m.id === 'm2'),
      undefined,
    )
  })

  describe('update (churn)', () => {
    // Churn bound: a surviving member's current weight is carried over rescaled to the new total, so it
    // starts less than about one cycle ahead or behind its share; with the in-cycle bound that gives < 3.
    const CHURN_TOLERANCE_PICKS = 3

    it('after removing a member, the others keep their relative shares', () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 3, maxLength: 8 }),
          fc.nat(100),
          fc.nat(),
          fc.integer({ min: 1, max: 10 }),
          (weights, warmup, removeSeed, cycles) => {
            const members = membersOf(weights)
            const balancer = createRoundRobin(members)
            pickMany(balancer, warmup)
            const remaining = members.filter((_, i) => i !== removeSeed % members.length)
            balancer.update(remaining)
            const total = sum(remaining.map((m) => m.weight))
            const ids = pickMany(balancer, cycles * total)
            const counts = countIds(ids)
            for (const m of remaining) {
              const deviation = Math.abs((counts.get(m.id) ?? 0) - cycles * m.weight)
              assert.ok(deviation < CHURN_TOLERANCE_PICKS, `${m.id} deviates by ${deviation}`)
            }
          },
        ),
      )
    })

    it('after adding a member, it takes its share and the others keep their relative shares', () => {
      fc.assert(
        fc.property(
          multiWeightsArb,
          fc.integer({ min: 1, max: 20 }),
          fc.nat(100),
          fc.integer({ min: 1, max: 10 }),
          (weights, addedWeight, warmup, cycles) => {
            const members = membersOf(weights)
            const balancer = createRoundRobin(members)
            pickMany(balancer, warmup)
            const next = [...members, { id: 'added', weight: addedWeight }]
            balancer.update(next)
            const counts = countIds(pickMany(balancer, cycles * sum(next.map((m) => m.weight))))
            for (const m of next) {
              const deviation = Math.abs((counts.get(m.id) ?? 0) - cycles * m.weight)
              assert.ok(deviation < CHURN_TOLERANCE_PICKS, `${m.id} deviates by ${deviation}`)
            }
          },
        ),
      )
    })

    it('does not burst to a survivor when a heavy member leaves ({1, 1, 100} → {1, 1})', () => {
      for (let warmup = 0; warmup <= 102; warmup++) {
        const members = membersOf([1, 1, 100])
        const balancer = createRoundRobin(members)
        pickMany(balancer, warmup)
        balancer.update(members.slice(0, 2))
        const runs = longestRun(pickMany(balancer, 20))
        for (const [id, run] of runs) assert.ok(run <= 2, `warm-up ${warmup}: ${id} ran ${run} in a row`)
      }
    })

    it('continues the same sequence when reloaded with the same members (state is kept, not reset)', () => {
      fc.assert(
        fc.property(multiWeightsArb, fc.nat(60), (weights, warmup) => {
          const reference = createRoundRobin(membersOf(weights))
          const reloaded = createRoundRobin(membersOf(weights))
          assert.deepEqual(pickMany(reloaded, warmup), pickMany(reference, warmup))
          reloaded.update(membersOf(weights))
          const total = sum(weights)
          assert.deepEqual(pickMany(reloaded, 2 * total), pickMany(reference, 2 * total))
        }),
      )
    })

    it('applies a changed weight of a surviving member', () => {
      const balancer = createRoundRobin(membersOf([1, 1]))
      pickMany(balancer, 3)
      balancer.update(membersOf([3, 1]))
      const counts = countIds(pickMany(balancer, 40))
      assert.ok(Math.abs(counts.get('m0')! - 30) < CHURN_TOLERANCE_PICKS)
      assert.ok(Math.abs(counts.get('m1')! - 10) < CHURN_TOLERANCE_PICKS)
    })

    it('survives repeated churn without drifting from the shares', () => {
      fc.assert(
        fc.property(
          fc.array(
            fc.record({
              warmup: fc.nat(30),
              removeSeed: fc.nat(),
              addedWeight: fc.integer({ min: 1, max: 20 }),
            }),
            { minLength: 1, maxLength: 30 },
          ),
          (steps) => {
            let members = membersOf([5, 3, 1])
            const balancer = createRoundRobin(members)
            steps.forEach((step, i) => {
              pickMany(balancer, step.warmup)
              members = members.filter((_, j) => members.length < 3 || j !== step.removeSeed % members.length)
              members.push({ id: `added${i}`, weight: step.addedWeight })
              balancer.update(members)
            })
            const total = sum(members.map((m) => m.weight))
            const counts = countIds(pickMany(balancer, 5 * total))
            for (const m of members) {
              const deviation = Math.abs((counts.get(m.id) ?? 0) - 5 * m.weight)
              assert.ok(deviation < CHURN_TOLERANCE_PICKS, `${m.id} deviates by ${deviation}`)
            }
          },
        ),
      )
    })

    it('rejects duplicate ids and weights that are not integers ≥ 1, naming the member', () => {
      assert.throws(() => createRoundRobin(membersOf([1, 0])), /'m1'.*integer ≥ 1.*got 0/)
      assert.throws(() => createRoundRobin(membersOf([1.5])), /'m0'.*got 1\.5/)
      const balancer = createRoundRobin(membersOf([1]))
      assert.throws(
        () =>
          balancer.update([
            { id: 'x', weight: 1 },
            { id: 'x', weight: 2 },
          ]),
        /'x' appears more than once/,
      )
    })
  })
})
