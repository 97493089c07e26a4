/** A balancing target. `weight` is its configured share of traffic relative to the other members. */
export interface BalancerMember {
  /** Stable identity across config reloads; per-member state is keyed by it. */
  readonly id: string
  /** Integer ≥ 1. */
  readonly weight: number
}

/**
 * Chooses one member per request. Pure and synchronous: no I/O, no timers, no clock; health and slow start
 * reach it through `isEligible` and `weightOf`.
 */
export interface Balancer<M extends BalancerMember> {
  /**
   * Picks one member among those for which `isEligible(m)` is true; undefined if none is eligible or every
   * eligible member has an effective weight ≤ 0. Allocates nothing.
   */
  pick(isEligible?: (member: M) => boolean): M | undefined
  /** Reports that a request to `member` started. Call it synchronously after `pick`. Round robin ignores it. */
  onStart(member: M): void
  /** Reports that a request to `member` ended. Unknown members (removed by `update`) are ignored. */
  onEnd(member: M): void
  /** Replaces the member set, keeping per-member state (current weight, active count) for ids that remain. */
  update(members: readonly M[]): void
}

/** Options shared by every policy. */
export interface BalancerOptions<M extends BalancerMember> {
  /**
   * Effective weight of a member at pick time (slow start, outlier de-weighting); defaults to `member.weight`.
   * Any positive finite number; a member whose effective weight is ≤ 0 or not finite is skipped.
   */
  readonly weightOf?: (member: M) => number
  /** Uniform random number in [0, 1) for tie-breaks (least connections); defaults to Math.random. */
  readonly random?: () => number
}
