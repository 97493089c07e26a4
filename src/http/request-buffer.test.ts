import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { PassThrough } from 'node:stream'
import { after, test } from 'node:test'
import { ByteBudget } from './byte-budget.ts'
import {
  BodyBuffer,
  type BodyBufferDeps,
  type BodyBufferOptions,
  type BodyBufferResult,
} from './request-buffer.ts'

const dir = mkdtempSync(join(tmpdir(), 'litgate-body-test-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const OPTIONS: BodyBufferOptions = { maxBytes: 1000, maxBodyBytes: 5000, declaredBytes: undefined }

function deps(over: Partial<BodyBufferDeps> = {}): BodyBufferDeps & { spills: number } {
  const d = {
    memory: new ByteBudget(10_000),
    disk: new ByteBudget(10_000),
    requestMemoryBytes: 1000,
    tempDir: undefined as string | undefined,
    spills: 0,
    onSpill: () => {
      d.spills++
    },
    ...over,
  }
  return d
}

/** Feeds `chunks` into a BodyBuffer; resolves with the result. */
function buffer(
  chunks: readonly Buffer[],
  options: BodyBufferOptions,
  d: BodyBufferDeps,
): Promise<{ result: BodyBufferResult; req: PassThrough }> {
  const req = new PassThrough()
  return new Promise((resolve) => {
    const b = new BodyBuffer(req, options, d, (result) => resolve({ result, req }))
    b.start()
    for (const c of chunks) req.write(c)
    req.end()
  })
}

async function text(s: Readable): Promise<string> {
  let out = ''
  for await (const c of s) out += (c as Buffer).toString()
  return out
}

const bytes = (n: number, ch = 'a'): Buffer => Buffer.alloc(n, ch)

test('a small chunked body is held in memory, within the budget, and released on dispose', async () => {
  const d = deps()
  const { result } = await buffer([bytes(300), bytes(300, 'b')], OPTIONS, d)
  assert.equal(result.kind, 'buffered')
  if (result.kind !== 'buffered') return
  assert.equal(result.body.size, 600)
  assert.equal(result.body.isOnDisk, false)
  assert.equal(d.memory.usedBytes, 600)
  assert.equal((result.body.payload() as Buffer).toString(), 'a'.repeat(300) + 'b'.repeat(300))
  result.body.dispose()
  assert.equal(d.memory.usedBytes, 0)
})

test('a declared length is reserved up front; one that does not fit is reported before reading', async () => {
  const d = deps({ memory: new ByteBudget(500) })
  const { result } = await buffer([], { ...OPTIONS, declaredBytes: 600 }, d)
  assert.equal(result.kind, 'exhausted', 'neither memory (500) nor a temp dir')
  assert.equal(d.memory.usedBytes, 0)
  const ok = await buffer([bytes(400)], { ...OPTIONS, declaredBytes: 400 }, d)
  assert.equal(ok.result.kind, 'buffered')
  assert.equal(d.memory.usedBytes, 400)
  if (ok.result.kind === 'buffered') ok.result.body.dispose()
})

test('larger than requestMemoryBytes without a temp dir: not buffered (over-memory), prefix kept', async () => {
  const d = deps({ requestMemoryBytes: 100 })
  const { result } = await buffer([bytes(80), bytes(80, 'b')], OPTIONS, d)
  assert.equal(result.kind, 'over-memory')
  if (result.kind !== 'over-memory') return
  assert.equal(result.prefix.size, 160, 'what was read goes on first')
  assert.equal(await text(result.prefix.stream()), 'a'.repeat(80) + 'b'.repeat(80))
  result.prefix.dispose()
  assert.equal(d.memory.usedBytes, 0)
})

test('a body past the memory bound spills to a temp file and reads back whole; the file goes on dispose', async () => {
  const d = deps({ requestMemoryBytes: 100, tempDir: dir })
  const { result } = await buffer([bytes(80), bytes(80, 'b'), bytes(80, 'c')], OPTIONS, d)
  assert.equal(result.kind, 'buffered')
  if (result.kind !== 'buffered') return
  assert.equal(d.spills, 1)
  assert.equal(result.body.isOnDisk, true)
  assert.equal(d.disk.usedBytes, 240)
  assert.equal(d.memory.usedBytes, 0, 'spilled bytes left the memory budget')
  assert.equal(readdirSync(dir).length, 1)
  const expected = 'a'.repeat(80) + 'b'.repeat(80) + 'c'.repeat(80)
  assert.equal(await text(result.body.payload() as Readable), expected)
  assert.equal(await text(result.body.stream()), expected, 'replayable: a second stream reads it again')
  result.body.dispose()
  assert.equal(d.disk.usedBytes, 0)
  await new Promise((r) => setTimeout(r, 50))
  assert.deepEqual(readdirSync(dir), [])
})

test('a chunked body past the route limit stops buffering (over-limit); past maxBodyBytes it is too large', async () => {
  const d = deps()
  const over = await buffer([bytes(600), bytes(600)], OPTIONS, d)
  assert.equal(over.result.kind, 'over-limit')
  if (over.result.kind === 'over-limit') {
    assert.equal(over.result.prefix.size, 1200)
    over.result.prefix.dispose()
  }
  const big = await buffer([bytes(600), bytes(600)], { ...OPTIONS, maxBytes: 5000, maxBodyBytes: 1000 }, d)
  assert.equal(big.result.kind, 'too-large')
  assert.equal(d.memory.usedBytes, 0)
})

test('the shared budget bounds many bodies together (hundreds of 1 MiB bodies cannot add up past it)', async () => {
  const MiB = 1024 * 1024
  const memory = new ByteBudget(4 * MiB)
  const d = deps({ memory, requestMemoryBytes: MiB })
  const run = (declaredBytes: number | undefined) =>
    Promise.all(
      Array.from({ length: 200 }, () =>
        buffer([bytes(MiB / 2), bytes(MiB / 2)], { maxBytes: MiB, maxBodyBytes: 2 * MiB, declaredBytes }, d),
      ),
    )
  // Declared: the whole length is reserved up front, so exactly four fit.
  const declared = await run(MiB)
  const kinds = declared.map((r) => r.result.kind)
  assert.equal(kinds.filter((k) => k === 'buffered').length, 4)
  assert.equal(kinds.filter((k) => k === 'exhausted').length, 196)
  assert.equal(memory.usedBytes, 4 * MiB)
  // Chunked: reserved chunk by chunk; the budget still holds (what does not fit goes on unbuffered).
  const chunked = await run(undefined)
  assert.ok(memory.usedBytes <= 4 * MiB, `${memory.usedBytes} bytes reserved`)
  for (const { result } of [...declared, ...chunked]) {
    if (result.kind === 'buffered') result.body.dispose()
    else if (result.kind === 'exhausted') result.prefix.dispose()
  }
  assert.equal(memory.usedBytes, 0)
})

test('abort stops reading and frees memory, disk and the temp file; no result is reported', async () => {
  const d = deps({ requestMemoryBytes: 10, tempDir: dir })
  const req = new PassThrough()
  let reported = false
  const b = new BodyBuffer(req, OPTIONS, d, () => (reported = true))
  b.start()
  req.write(bytes(50))
  await new Promise((r) => setTimeout(r, 20))
  assert.equal(b.receivedBytes, 50)
  b.abort()
  req.end()
  await new Promise((r) => setTimeout(r, 50))
  assert.equal(reported, false)
  assert.equal(d.memory.usedBytes, 0)
  assert.equal(d.disk.usedBytes, 0)
  assert.deepEqual(readdirSync(dir), [])
})

test('a client stream error is reported as failed and frees what was held', async () => {
  const d = deps()
  const req = new PassThrough()
  const result = await new Promise<BodyBufferResult>((resolve) => {
    new BodyBuffer(req, OPTIONS, d, resolve).start()
    req.write(bytes(100))
    setImmediate(() => req.destroy(new Error('aborted')))
  })
  assert.equal(result.kind, 'failed')
  assert.equal(d.memory.usedBytes, 0)
})
