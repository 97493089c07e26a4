import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { compileIpAccess, isAddressAllowed } from './ip-access.ts'

describe('route IP lists', () => {
  it('compiles to nothing when neither list is set (the route skips the check)', () => {
    assert.equal(compileIpAccess(undefined, undefined), undefined)
  })

  it('an allow list admits only addresses in it, IPv4 and IPv6', () => {
    const access = compileIpAccess(['10.0.0.0/8', '2001:db8::/32'], undefined)!
    assert.equal(isAddressAllowed(access, '10.1.2.3'), true)
    assert.equal(isAddressAllowed(access, '2001:db8::7'), true)
    assert.equal(isAddressAllowed(access, '11.0.0.1'), false)
    assert.equal(isAddressAllowed(access, '2001:db9::1'), false)
  })

  it('deny wins over allow, so a deny entry carves an exception out of an allowed range', () => {
    const access = compileIpAccess(['10.0.0.0/8'], ['10.0.0.5'])!
    assert.equal(isAddressAllowed(access, '10.0.0.4'), true)
    assert.equal(isAddressAllowed(access, '10.0.0.5'), false)
  })

  it('a deny list alone admits everyone else', () => {
    const access = compileIpAccess(undefined, ['192.0.2.0/24', '::1'])!
    assert.equal(isAddressAllowed(access, '192.0.2.200'), false)
    assert.equal(isAddressAllowed(access, '::1'), false)
    assert.equal(isAddressAllowed(access, '198.51.100.1'), true)
  })

  it('keywords expand to their ranges', () => {
    const access = compileIpAccess(['loopback'], undefined)!
    assert.equal(isAddressAllowed(access, '127.0.0.1'), true)
    assert.equal(isAddressAllowed(access, '::1'), true)
    assert.equal(isAddressAllowed(access, '192.168.1.1'), false)
  })

  it('an address that does not parse is refused by an allow list and admitted by a deny list alone', () => {
    assert.equal(isAddressAllowed(compileIpAccess(['0.0.0.0/0', '::/0'], undefined)!, ''), false)
    assert.equal(isAddressAllowed(compileIpAccess(undefined, ['0.0.0.0/0', '::/0'])!, ''), true)
  })
})
