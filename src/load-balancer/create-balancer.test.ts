import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createBalancer, type BalancingPolicy } from './index.ts'

const members = [
  { id: 'a', weight: 2 },
  { id: 'b', weight: 1 },
]

describe('createBalancer', () => {
  it('round-robin follows the smooth weighted sequence and ignores active counts', () => {
    const balancer = createBalancer('round-robin', members)
    balancer.onStart(members[0]!)
    const ids = Array.from({ length: 6 }, () => balancer.pick()!.id)
    assert.deepEqual(ids, ['a', 'b', 'a', 'a', 'b', 'a'])
  })

  it('least-connections follows the reported active counts', () => {
    const balancer = createBalancer('least-connections', members, { random: () => 0 })
    balancer.onStart(members[0]!)
    balancer.onStart(members[0]!)
    assert.equal(balancer.pick()!.id, 'b') // (2+1)/2 > (0+1)/1
    balancer.onStart(members[1]!)
    assert.equal(balancer.pick()!.id, 'a') // (2+1)/2 < (1+1)/1
  })

  it('rejects an unknown policy', () => {
    assert.throws(
      () => createBalancer('random' as BalancingPolicy, members),
      /unknown balancing policy 'random'/,
    )
  })
})
