import { buildMemberTable, fillEffectiveWeights, type MemberTable } from './member-table.ts'
import type { Balancer, BalancerMember, BalancerOptions } from './types.ts'

/**
 * Weighted least connections: picks the eligible member with the smallest (active + 1) / weight, the load it
 * would carry after taking this request relative to its capacity (Envoy's least-request with bias 1; nginx
 * `least_conn` compares active / weight, which ranks equal weights identically but lets idle members of
 * different weights tie). Ties are broken uniformly at random, so gateways that see the same counts do not
 * all choose the same member.
 *
 * A freshly added member starts with 0 active requests and therefore wins every pick until its load
 * catches up with the others: exactly the deficit its lower count justifies, never more, provided the
 * caller reports `onStart` synchronously after `pick` (before the next pick). Slow start (`weightOf`) ramps
 * its effective weight to damp even that catch-up.
 */
export function createLeastConnections<M extends BalancerMember>(
  members: readonly M[],
  options?: BalancerOptions<M>,
): Balancer<M> {
  const weightOf = options?.weightOf
  const random = options?.random ?? Math.random
  let table = buildMemberTable(members)
  // Indices of the members tied for the best load, reused across picks so pick allocates nothing.
  let tied = new Int32Array(table.members.length)

  return {
    pick(isEligible) {
      const tiedCount =
        weightOf === undefined
          ? collectLeastLoaded(table, table.weights, isEligible, tied)
          : collectLeastLoaded(table, fillEffectiveWeights(table, isEligible, weightOf), undefined, tied)
      if (tiedCount === 0) return undefined
      const chosen = tiedCount === 1 ? 0 : Math.min(tiedCount - 1, Math.floor(random() * tiedCount))
      return table.members[tied[chosen]!]
    },
    onStart(member) {
      const index = table.indexById.get(member.id)
      if (index !== undefined) table.active[index]!++
    },
    onEnd(member) {
      const index = table.indexById.get(member.id)
      // Clamped: a request that started before the member was removed and re-added must not drive it below 0.
      if (index !== undefined && table.active[index]! > 0) table.active[index]!--
    },
    update(next) {
      table = buildMemberTable(next, table)
      tied = new Int32Array(table.members.length)
    },
  }
}

/**
 * Writes into `tied` the indices of the members with the smallest (active + 1) / weight over `weights`
 * (0 = skip), filtered by `isEligible`; returns how many there are.
 */
function collectLeastLoaded<M extends BalancerMember>(
  table: MemberTable<M>,
  weights: Float64Array,
  isEligible: ((member: M) => boolean) | undefined,
  tied: Int32Array,
): number {
  const { members, active } = table
  let tiedCount = 0
  let bestLoad = 0
  let bestWeight = 1
  for (let i = 0; i < members.length; i++) {
    const weight = weights[i]!
    if (weight === 0 || (isEligible !== undefined && !isEligible(members[i]!))) continue
    const load = active[i]! + 1
    // load / weight vs bestLoad / bestWeight, cross-multiplied: exact for integer weights.
    const lhs = load * bestWeight
    const rhs = bestLoad * weight
    if (tiedCount === 0 || lhs < rhs) {
      tied[0] = i
      tiedCount = 1
      bestLoad = load
      bestWeight = weight
    } else if (lhs === rhs) {
      tied[tiedCount++] = i
    }
  }
  return tiedCount
}
