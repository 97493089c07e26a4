import type { BalancerMember } from './types.ts'

/**
 * Per-member state as parallel typed arrays indexed like `members`: a pick over 50 members reads
 * contiguous numbers instead of chasing one object per member (about 3× faster than an object per slot).
 */
export interface MemberTable<M extends BalancerMember> {
  readonly members: readonly M[]
  /** Configured weights, copied out of the members. */
  readonly weights: Float64Array
  /** Smooth weighted round robin's running scores (nginx `current_weight`). */
  readonly currentWeights: Float64Array
  /** Requests in flight, as reported through onStart/onEnd. */
  readonly active: Float64Array
  /** Scratch for the per-pick effective weights when a weightOf is configured (0 = skip). */
  readonly effectiveWeights: Float64Array
  readonly indexById: ReadonlyMap<string, number>
  readonly totalWeight: number
}

/**
 * Builds the table for `members`, carrying over the state of ids present in `previous`. Throws on a broken
 * invariant (empty or duplicate id, weight not an integer ≥ 1): config validation must have rejected it.
 */
export function buildMemberTable<M extends BalancerMember>(
  members: readonly M[],
  previous?: MemberTable<M>,
): MemberTable<M> {
  const count = members.length
  const table = {
    members: [...members],
    weights: new Float64Array(count),
    currentWeights: new Float64Array(count),
    active: new Float64Array(count),
    effectiveWeights: new Float64Array(count),
    indexById: new Map<string, number>(),
    totalWeight: 0,
  }
  for (let i = 0; i < count; i++) {
    const { id, weight } = members[i]!
    if (typeof id !== 'string' || id.length === 0) {
      throw new TypeError(`balancer member id must be a non-empty string (got ${JSON.stringify(id)})`)
    }
    if (table.indexById.has(id)) throw new TypeError(`balancer member id '${id}' appears more than once`)
    if (!Number.isSafeInteger(weight) || weight < 1) {
      throw new RangeError(`balancer member '${id}': weight must be an integer ≥ 1 (got ${String(weight)})`)
    }
    table.indexById.set(id, i)
    table.weights[i] = weight
    table.totalWeight += weight
    const kept = previous?.indexById.get(id)
    if (kept !== undefined) {
      table.currentWeights[i] = previous!.currentWeights[kept]!
      table.active[i] = previous!.active[kept]!
    }
  }
  return table
}

/**
 * The weights a pick should use: the configured ones when there is no weightOf (the fast path; eligibility
 * is then checked by the pick loop itself), else `table.effectiveWeights` filled with weightOf for eligible
 * members and 0 for the rest (≤ 0, NaN and infinite effective weights also become 0, i.e. skipped).
 * Splitting it this way keeps the hot loop free of a per-member "is there a weightOf?" branch and call,
 * which halves pick time at 50 members.
 */
export function fillEffectiveWeights<M extends BalancerMember>(
  table: MemberTable<M>,
  isEligible: ((member: M) => boolean) | undefined,
  weightOf: (member: M) => number,
): Float64Array {
  const { members, effectiveWeights } = table
  for (let i = 0; i < members.length; i++) {
    const member = members[i]!
    const weight = isEligible === undefined || isEligible(member) ? weightOf(member) : 0
    effectiveWeights[i] = weight > 0 && weight < Infinity ? weight : 0
  }
  return effectiveWeights
}
