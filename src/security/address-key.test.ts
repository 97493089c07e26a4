import { test } from 'node:test'
import assert from 'node:assert/strict'
import { addressKey } from './address-key.ts'

test('addressKey: IPv4 as is, IPv6 reduced to its network, 128 keeps the address', () => {
  assert.equal(addressKey('203.0.113.7', 64), '203.0.113.7')
  assert.equal(addressKey('2001:db8:1:2:3:4:5:6', 64), '2001:db8:1:2::/64')
  assert.equal(addressKey('2001:db8:1:2:ffff:4:5:6', 64), '2001:db8:1:2::/64', 'same /64, same key')
  assert.equal(addressKey('2001:db8:1:2:3:4:5:6', 48), '2001:db8:1::/48')
  assert.equal(addressKey('2001:db8:1:2:3:4:5:6', 56), '2001:db8:1::/56')
  assert.equal(addressKey('2001:db8:1:2ff:3:4:5:6', 56), '2001:db8:1:200::/56')
  assert.equal(addressKey('2001:db8:1:2:3:4:5:6', 127), '2001:db8:1:2:3:4:5:6/127')
  assert.equal(addressKey('2001:db8:1:2:3:4:5:7', 127), '2001:db8:1:2:3:4:5:6/127')
  assert.equal(addressKey('2001:db8::1', 128), '2001:db8::1')
  assert.equal(addressKey('', 64), '')
  assert.equal(addressKey('not:an:address', 64), 'not:an:address')
})
