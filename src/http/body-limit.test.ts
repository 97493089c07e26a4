import assert from 'node:assert/strict'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { test } from 'node:test'
import { GatewayError } from '../errors/index.ts'
import { BodyLimit } from './body-limit.ts'

/** Pipes `chunks` through a BodyLimit of `limit`; resolves with what passed and the error, if any. */
async function through(chunks: readonly Buffer[], limit: number) {
  const limiter = new BodyLimit(limit)
  const passed: Buffer[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      passed.push(chunk)
      cb()
    },
  })
  const err = await pipeline(Readable.from(chunks), limiter, sink).then(
    () => undefined,
    (e: unknown) => e,
  )
  return { passed: Buffer.concat(passed).length, err, seen: limiter.seen }
}

test('counts the whole body: many chunks each under the limit fail once their total passes it', async () => {
  const chunks = Array.from({ length: 10 }, () => Buffer.alloc(300))
  const { passed, err, seen } = await through(chunks, 1000)
  assert.ok(err instanceof GatewayError && err.code === 'PAYLOAD_TOO_LARGE', String(err))
  assert.equal(passed, 900, 'the chunks before the one that passed the limit went through, no more')
  assert.equal(seen, 1200)
})

test('a body of exactly the limit passes; one byte more fails', async () => {
  const exact = await through([Buffer.alloc(600), Buffer.alloc(400)], 1000)
  assert.equal(exact.err, undefined)
  assert.equal(exact.passed, 1000)
  const over = await through([Buffer.alloc(600), Buffer.alloc(400), Buffer.alloc(1)], 1000)
  assert.ok(over.err instanceof GatewayError && over.err.code === 'PAYLOAD_TOO_LARGE')
  assert.equal(over.passed, 1000)
  assert.equal(over.seen, 1001)
})

test('a single chunk larger than the limit fails before passing anything', async () => {
  const { passed, err } = await through([Buffer.alloc(1001)], 1000)
  assert.ok(err instanceof GatewayError && err.code === 'PAYLOAD_TOO_LARGE')
  assert.equal(passed, 0)
})

test('an empty body passes and counts 0', async () => {
  const { passed, err, seen } = await through([], 10)
  assert.equal(err, undefined)
  assert.equal(passed, 0)
  assert.equal(seen, 0)
})
