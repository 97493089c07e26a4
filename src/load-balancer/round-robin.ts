import { buildMemberTable, fillEffectiveWeights, type MemberTable } from './member-table.ts'
import type { Balancer, BalancerMember, BalancerOptions } from './types.ts'

/**
 * Smooth weighted round robin, nginx's `ngx_http_upstream_get_peer`: on each pick every eligible member's
 * current weight grows by its effective weight, the largest wins and gives back the total. Deterministic and
 * interleaved (weights 5,1,1 → a a b a c a a). Over any prefix of picks a member is at most 1 − 1/n picks ahead
 * of its exact share and at most n/2 − 1 + 1/n behind (not "within one": docs/load-balancing.md).
 *
 * The sum of all current weights is an invariant (0): a pick adds the eligible total and takes it back from
 * the winner, ineligible members keep theirs. `update` keeps each surviving member's current weight, so the
 * sequence continues instead of restarting at the heaviest member on every reload; see `carryPhase`.
 */
export function createRoundRobin<M extends BalancerMember>(
  members: readonly M[],
  options?: Pick<BalancerOptions<M>, 'weightOf'>,
): Balancer<M> {
  const weightOf = options?.weightOf
  let table = buildMemberTable(members)

  return {
    pick(isEligible) {
      return weightOf === undefined
        ? pickSmooth(table, table.weights, isEligible)
        : pickSmooth(table, fillEffectiveWeights(table, isEligible, weightOf), undefined)
    },
    onStart() {},
    onEnd() {},
    update(next) {
      const previousTotalWeight = table.totalWeight
      table = buildMemberTable(next, table)
      carryPhase(table, previousTotalWeight)
    },
  }
}

/** One smooth WRR step over `weights` (0 = skip); `isEligible` filters on top. */
function pickSmooth<M extends BalancerMember>(
  table: MemberTable<M>,
  weights: Float64Array,
  isEligible: ((member: M) => boolean) | undefined,
): M | undefined {
  const { members, currentWeights } = table
  let best = -1
  let bestCurrent = -Infinity
  let total = 0
  for (let i = 0; i < members.length; i++) {
    const weight = weights[i]!
    if (weight === 0 || (isEligible !== undefined && !isEligible(members[i]!))) continue
    const current = currentWeights[i]! + weight
    currentWeights[i] = current
    total += weight
    if (current > bestCurrent) {
      best = i
      bestCurrent = current
    }
  }
  if (best < 0) return undefined
  currentWeights[best] = bestCurrent - total
  return members[best]
}

/**
 * Carries the surviving members' current weights into the new member set.
 *
 * A current weight lives on the scale of the total weight (|current| < total), so when churn changes the
 * total it is rescaled by new/old: removing a weight-100 member from {1, 1, 100} would otherwise leave the
 * two survivors ~100 apart and one of them would take ~50 picks in a row. Then Σ current = 0 is restored,
 * because the removed members took their current weights with them; left alone the residue accumulates over
 * reloads and turns into a burst for whoever holds it. The residue is spread in proportion to weight by
 * largest remainder, so every value stays an integer and each member keeps its place relative to its share.
 */
function carryPhase<M extends BalancerMember>(table: MemberTable<M>, previousTotalWeight: number): void {
  const { currentWeights, weights, totalWeight } = table
  if (currentWeights.length === 0) return
  const scale = previousTotalWeight > 0 ? totalWeight / previousTotalWeight : 1
  let residue = 0
  for (let i = 0; i < currentWeights.length; i++) {
    currentWeights[i] = Math.round(currentWeights[i]! * scale)
    residue += currentWeights[i]!
  }
  if (residue === 0) return
  const fractions: { index: number; fraction: number }[] = []
  let given = 0
  for (let i = 0; i < currentWeights.length; i++) {
    const exact = (residue * weights[i]!) / totalWeight
    const whole = Math.floor(exact)
    currentWeights[i]! -= whole
    given += whole
    fractions.push({ index: i, fraction: exact - whole })
  }
  // Stable sort: equal fractions keep member order, so the outcome is deterministic.
  fractions.sort((a, b) => b.fraction - a.fraction)
  for (let k = 0; given < residue; k++, given++) currentWeights[fractions[k]!.index]! -= 1
}
