export type { Balancer, BalancerMember, BalancerOptions } from './types.ts'
export { createRoundRobin } from './round-robin.ts'
export { createLeastConnections } from './least-connections.ts'
export { createBalancer, type BalancingPolicy } from './create-balancer.ts'
