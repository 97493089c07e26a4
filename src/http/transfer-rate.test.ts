import assert from 'node:assert/strict'
import { test } from 'node:test'
import { checkTransferRate, TransferWatch, type TransferKind, type WatchedTransfer } from './transfer-rate.ts'

const POLICY = { minBytesPerSecond: 1000, windowMs: 1000 }

test('a transfer is too slow only after a full window below the minimum', () => {
  const w = { windowStartedAt: 0, bytesAtWindowStart: 0 }
  assert.equal(checkTransferRate(w, 10, true, 999, POLICY), 'ok', 'the window is not over yet')
  assert.equal(checkTransferRate(w, 10, true, 1000, POLICY), 'too-slow')
})

test('a window that met the minimum starts the next one from its byte count', () => {
  const w = { windowStartedAt: 0, bytesAtWindowStart: 0 }
  assert.equal(checkTransferRate(w, 1500, true, 1000, POLICY), 'ok')
  assert.deepEqual(w, { windowStartedAt: 1000, bytesAtWindowStart: 1500 })
  // 1500 bytes at the start, 300 more over the next window: 300 B/s.
  assert.equal(checkTransferRate(w, 1800, true, 2000, POLICY), 'too-slow')
})

test('time the gateway held the transfer back does not count: the window restarts', () => {
  const w = { windowStartedAt: 0, bytesAtWindowStart: 0 }
  assert.equal(checkTransferRate(w, 0, false, 5000, POLICY), 'ok')
  assert.deepEqual(w, { windowStartedAt: 5000, bytesAtWindowStart: 0 })
  assert.equal(checkTransferRate(w, 0, true, 5999, POLICY), 'ok')
  assert.equal(checkTransferRate(w, 0, true, 6000, POLICY), 'too-slow')
})

test('the minimum is averaged over the elapsed window (a late check is not stricter)', () => {
  const w = { windowStartedAt: 0, bytesAtWindowStart: 0 }
  // Checked 3 s in: 2500 bytes is below 1000 B/s × 3 s.
  assert.equal(checkTransferRate(w, 2500, true, 3000, POLICY), 'too-slow')
  const w2 = { windowStartedAt: 0, bytesAtWindowStart: 0 }
  assert.equal(checkTransferRate(w2, 3000, true, 3000, POLICY), 'ok')
})

test('a zero minimum never trips', () => {
  const w = { windowStartedAt: 0, bytesAtWindowStart: 0 }
  assert.equal(checkTransferRate(w, 0, true, 1e9, { minBytesPerSecond: 0, windowMs: 1 }), 'ok')
})

class Fake implements WatchedTransfer {
  bytes = 0
  isWaiting = true
  slow: TransferKind[] = []
  transferredBytes(): number {
    return this.bytes
  }
  isWaitingOnClient(): boolean {
    return this.isWaiting
  }
  onTooSlow(kind: TransferKind): void {
    this.slow.push(kind)
  }
}

test('TransferWatch reports each too-slow transfer once and stops watching it', () => {
  let now = 0
  const watch = new TransferWatch(POLICY, { minBytesPerSecond: 0, windowMs: 1000 }, () => now)
  const slow = new Fake()
  const fast = new Fake()
  const held = new Fake()
  held.isWaiting = false
  const entries = [watch.add(slow, 'request'), watch.add(fast, 'request'), watch.add(held, 'request')]
  assert.equal(watch.add(slow, 'response'), undefined, 'no minimum for responses: not watched')
  assert.equal(watch.size, 3)
  now = 1000
  fast.bytes = 5000
  watch.sweep()
  assert.deepEqual(slow.slow, ['request'])
  assert.deepEqual(fast.slow, [])
  assert.deepEqual(held.slow, [])
  assert.equal(watch.size, 2)
  now = 2000
  watch.sweep()
  assert.deepEqual(slow.slow, ['request'], 'reported once')
  assert.deepEqual(fast.slow, ['request'], 'no bytes in its second window')
  for (const e of entries) watch.remove(e)
  assert.equal(watch.size, 0)
  watch.stop()
})

test('TransferWatch.configure applies new policies to transfers already watched', () => {
  let now = 0
  const watch = new TransferWatch(POLICY, POLICY, () => now)
  const t = new Fake()
  t.bytes = 0
  watch.add(t, 'response')
  watch.configure(POLICY, { minBytesPerSecond: 0, windowMs: 1000 })
  now = 5000
  watch.sweep()
  assert.deepEqual(t.slow, [], 'minimum lifted by the reload')
  watch.stop()
})
