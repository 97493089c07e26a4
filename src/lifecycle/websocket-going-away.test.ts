import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Receiver, Sender } from 'ws'
import { closeFrame, FrameBoundaryTracker } from './websocket-going-away.ts'

/** Server→client frames as `ws` writes them (unmasked), with their end offsets. */
function frames(payloadSizes: readonly number[]): { bytes: Buffer; ends: number[] } {
  const parts: Buffer[] = []
  const ends: number[] = []
  let total = 0
  for (const [i, size] of payloadSizes.entries()) {
    const data = Buffer.alloc(size, i % 256)
    const list = Sender.frame(data, { fin: true, opcode: 2, mask: false, readOnly: false, rsv1: false })
    for (const b of list) {
      parts.push(b)
      total += b.length
    }
    ends.push(total)
  }
  return { bytes: Buffer.concat(parts), ends }
}

test('the close frame is a valid 1001 Going Away frame for a WebSocket client', async () => {
  const receiver = new Receiver({ isServer: false })
  const got = new Promise<[number, string]>((resolve) => receiver.on('conclude', (code: number, reason: Buffer) => resolve([code, reason.toString()])))
  receiver.write(closeFrame())
  assert.deepEqual(await got, [1001, 'server shutting down'])
})

test('finds every frame boundary whatever the chunking (7-bit, 16-bit and 64-bit lengths)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer({ min: 0, max: 125 }), fc.integer({ min: 126, max: 70_000 })), { minLength: 1, maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 40 }),
      (sizes, cuts) => {
        const { bytes, ends } = frames(sizes)
        const tracker = new FrameBoundaryTracker()
        const seen: number[] = []
        let offset = 0
        let c = 0
        while (offset < bytes.length) {
          const size = cuts[c++ % cuts.length] as number
          let chunk = bytes.subarray(offset, Math.min(bytes.length, offset + size))
          let base = offset
          offset += chunk.length
          for (;;) {
            const at = tracker.feedUntilBoundary(chunk)
            if (at <= 0) break
            seen.push(base + at)
            base += at
            chunk = chunk.subarray(at)
          }
        }
        assert.deepEqual(seen, ends)
        assert.equal(tracker.isAtBoundary, true)
      },
    ),
    { numRuns: 200 },
  )
})

test('is not at a boundary inside a header or a payload', () => {
  const { bytes } = frames([300])
  const tracker = new FrameBoundaryTracker()
  assert.equal(tracker.isAtBoundary, true)
  tracker.feed(bytes.subarray(0, 1))
  assert.equal(tracker.isAtBoundary, false)
  tracker.feed(bytes.subarray(1, 10))
  assert.equal(tracker.isAtBoundary, false)
  tracker.feed(bytes.subarray(10))
  assert.equal(tracker.isAtBoundary, true)
})
