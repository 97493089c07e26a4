import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ClientShare } from './client-share.ts'
import { ClientStreams } from '../net/client-streams.ts'

test('one client holds at most its share; other clients are not affected', () => {
  const share = ClientShare.of(16, 50)
  assert.equal(share.limit, 8)
  for (let i = 0; i < 8; i++) assert.equal(share.tryHold('10.0.0.1'), true)
  assert.equal(share.isFull('10.0.0.1'), true)
  assert.equal(share.tryHold('10.0.0.1'), false)
  assert.equal(share.heldBy('10.0.0.1'), 8, 'a refused hold takes nothing')
  assert.equal(share.tryHold('10.0.0.2'), true)
  share.release('10.0.0.1')
  assert.equal(share.tryHold('10.0.0.1'), true)
})

test('entries disappear when a client holds nothing (memory bounded by concurrency)', () => {
  const share = ClientShare.of(4, 50)
  share.tryHold('a')
  share.tryHold('b')
  share.release('a')
  share.release('b')
  assert.equal(share.clients, 0)
})

test('the share is at least one slot, and 100 percent means no cap', () => {
  assert.equal(ClientShare.of(1, 50).limit, 1)
  const open = ClientShare.of(2, 100)
  for (let i = 0; i < 1000; i++) assert.equal(open.tryHold('a'), true)
  assert.equal(open.isFull('a'), false)
})

test('HTTP/2 streams per client address: capped, released on close, cap changes on reload', () => {
  const streams = new ClientStreams(2)
  assert.equal(streams.tryOpen('a'), true)
  assert.equal(streams.tryOpen('a'), true)
  assert.equal(streams.tryOpen('a'), false)
  assert.equal(streams.tryOpen('b'), true)
  streams.close('a')
  assert.equal(streams.tryOpen('a'), true)
  streams.setLimit(0)
  for (let i = 0; i < 100; i++) assert.equal(streams.tryOpen('a'), true, 'no cap')
})
