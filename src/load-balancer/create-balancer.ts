import { createLeastConnections } from './least-connections.ts'
import { createRoundRobin } from './round-robin.ts'
import type { Balancer, BalancerMember, BalancerOptions } from './types.ts'

/** The balancing policies an upstream can be configured with. */
export type BalancingPolicy = 'round-robin' | 'least-connections'

/** The balancer for `policy`; round robin ignores `options.random`. */
export function createBalancer<M extends BalancerMember>(
  policy: BalancingPolicy,
  members: readonly M[],
  options?: BalancerOptions<M>,
): Balancer<M> {
  switch (policy) {
    case 'round-robin':
      return createRoundRobin(members, options)
    case 'least-connections':
      return createLeastConnections(members, options)
    default:
      throw new TypeError(`unknown balancing policy '${String(policy satisfies never)}'`)
  }
}
