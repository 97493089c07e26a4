import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ByteBudget } from './byte-budget.ts'
import { ResponseReadAhead } from './response-read-ahead.ts'

test('reservations are all-or-nothing under the limit, and released exactly', () => {
  const b = new ByteBudget(100)
  assert.equal(b.tryReserve(60), true)
  assert.equal(b.tryReserve(41), false, 'would pass the limit: nothing reserved')
  assert.equal(b.usedBytes, 60)
  assert.equal(b.tryReserve(40), true)
  b.release(100)
  assert.equal(b.usedBytes, 0)
  assert.throws(() => b.release(1), /invariant/)
})

test('a lowered limit refuses new reservations and keeps the ones held', () => {
  const b = new ByteBudget(100)
  assert.equal(b.tryReserve(80), true)
  b.setLimit(50)
  assert.equal(b.usedBytes, 80)
  assert.equal(b.tryReserve(1), false)
  b.release(80)
  assert.equal(b.tryReserve(50), true)
})

test('read-ahead grows its reservation with the pending bytes, within its bound and the budget', () => {
  const budget = new ByteBudget(1000)
  const a = new ResponseReadAhead(budget, 600)
  assert.equal(a.tryAbsorb(200), true)
  assert.equal(a.tryAbsorb(500), true)
  assert.equal(a.reservedBytes, 500)
  assert.equal(a.tryAbsorb(300), true, 'less pending than reserved: nothing more taken')
  assert.equal(a.reservedBytes, 500)
  assert.equal(a.tryAbsorb(601), false, 'over the per-response bound')
  const b = new ResponseReadAhead(budget, 600)
  assert.equal(b.tryAbsorb(501), false, 'over what is left of the budget')
  assert.equal(b.tryAbsorb(500), true)
  a.releaseAll()
  b.releaseAll()
  assert.equal(budget.usedBytes, 0)
})
