import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from '../../test/helpers/fast-check.ts'
import { closeFrame, FrameBoundaryTracker } from './websocket-frames.ts'

/** One frame encoded per RFC 6455 §5.2 (shortest length form), optionally masked. */
function encode(payload: Buffer, isMasked: boolean): Buffer {
  const n = payload.length
  const len = n < 126 ? Buffer.from([n]) : n < 65536 ? Buffer.from([126, n >> 8, n & 255]) : Buffer.concat([Buffer.from([127]), Buffer.alloc(8)])
  if (n >= 65536) len.writeBigUInt64BE(BigInt(n), 1)
  len[0] = (len[0] as number) | (isMasked ? 0x80 : 0)
  return Buffer.concat([Buffer.from([0x82]), len, isMasked ? Buffer.from([1, 2, 3, 4]) : Buffer.alloc(0), payload])
}

/** Binary frames with the given payload sizes, and the offset where each ends. */
function frames(payloadSizes: readonly number[]): { bytes: Buffer; ends: number[] } {
  const parts: Buffer[] = []
  const ends: number[] = []
  let total = 0
  for (const [i, size] of payloadSizes.entries()) {
    const frame = encode(Buffer.alloc(size, i % 256), i % 3 === 2)
    parts.push(frame)
    total += frame.length
    ends.push(total)
  }
  return { bytes: Buffer.concat(parts), ends }
}

test('the close frame is an unmasked FIN close frame with status 1001 and its reason', () => {
  const f = closeFrame()
  assert.equal(f[0], 0x88)
  assert.equal(f[1], f.length - 2)
  assert.equal(f.readUInt16BE(2), 1001)
  assert.equal(f.subarray(4).toString(), 'server shutting down')
  assert.ok(closeFrame(1001, 'x'.repeat(500)).length <= 127)
  // It is itself one whole frame for the tracker.
  const t = new FrameBoundaryTracker()
  assert.equal(t.feedUntilBoundary(f), f.length)
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
