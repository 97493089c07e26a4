import { randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream, unlink, type WriteStream } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import type { ByteBudget } from './byte-budget.ts'

/** What one body may take (route `requestBuffering` and `maxBodyBytes`, plus the declared length). */
export interface BodyBufferOptions {
  /** Bodies up to this size are buffered; a larger one stops buffering (`over-limit`). */
  readonly maxBytes: number
  /** The route's hard cap (`too-large` beyond it). */
  readonly maxBodyBytes: number
  /** Content-Length when declared (then the whole reservation is made up front). */
  readonly declaredBytes: number | undefined
}

/** The gateway-wide resources bodies are buffered in (server.buffering). */
export interface BodyBufferDeps {
  readonly memory: ByteBudget
  readonly disk: ByteBudget
  /** A body larger than this is never held in memory: temp file, or not buffered. */
  readonly requestMemoryBytes: number
  /** Where bodies that do not fit in memory go; undefined = no temp files. */
  readonly tempDir: string | undefined
  /** A body went to a temp file (declared too large for memory, or moved there from memory; metrics). */
  readonly onSpill?: () => void
}

/**
 * How buffering ended:
 * - `buffered`: the whole body is held (memory and/or temp file) and can be sent, and sent again;
 * - `over-limit`: the body turned out larger than `maxBytes` (chunked); `prefix` holds what was read,
 *   the rest is still in the request;
 * - `over-memory`: larger than `requestMemoryBytes` with no temp dir (`prefix` as above);
 * - `exhausted`: neither the memory budget nor the temp-file budget can take it (`prefix` as above);
 * - `too-large`: more than `maxBodyBytes` arrived;
 * - `failed`: the client stream or the temp file failed.
 */
export type BodyBufferResult =
  | { readonly kind: 'buffered'; readonly body: BufferedBody }
  | { readonly kind: 'over-limit' | 'over-memory' | 'exhausted'; readonly prefix: BufferedBody }
  | { readonly kind: 'too-large' }
  | { readonly kind: 'failed'; readonly err: Error }

/**
 * A request body held by the gateway: a temp-file part (written first) then in-memory chunks. Holds
 * its budget reservations until `dispose`.
 */
export class BufferedBody {
  readonly size: number
  #chunks: Buffer[]
  readonly #file: string | undefined
  readonly #memory: ByteBudget
  readonly #disk: ByteBudget
  #memoryReserved: number
  #diskReserved: number

  constructor(
    chunks: Buffer[],
    file: string | undefined,
    size: number,
    budgets: { memory: ByteBudget; disk: ByteBudget; memoryReserved: number; diskReserved: number },
  ) {
    this.#chunks = chunks
    this.#file = file
    this.size = size
    this.#memory = budgets.memory
    this.#disk = budgets.disk
    this.#memoryReserved = budgets.memoryReserved
    this.#diskReserved = budgets.diskReserved
  }

  /** True when part of the body is in a temp file. */
  get isOnDisk(): boolean {
    return this.#file !== undefined
  }

  /** What to hand to the upstream request: the bytes themselves (memory only) or a fresh stream. */
  payload(): Buffer | Readable {
    if (this.#file === undefined) {
      if (this.#chunks.length !== 1) this.#chunks = [Buffer.concat(this.#chunks)]
      return this.#chunks[0] as Buffer
    }
    return this.stream()
  }

  /** A fresh stream of the whole body (temp-file part, then memory part). */
  stream(): Readable {
    const file = this.#file
    const chunks = this.#chunks
    async function* all(): AsyncGenerator<Buffer> {
      if (file !== undefined)
        yield* createReadStream(file, { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>
      yield* chunks
    }
    return Readable.from(all(), { objectMode: false })
  }

  /** Releases the memory and disk reservations and removes the temp file. Idempotent. */
  dispose(): void {
    this.#chunks = []
    if (this.#memoryReserved > 0) this.#memory.release(this.#memoryReserved)
    if (this.#diskReserved > 0) this.#disk.release(this.#diskReserved)
    this.#memoryReserved = 0
    this.#diskReserved = 0
    if (this.#file !== undefined) unlink(this.#file, ignore)
  }
}

function ignore(): void {}

/**
 * Reads a request body into memory (up to `requestMemoryBytes` per body, within the shared memory
 * budget), then into a temp file (within the disk budget) when a temp dir is configured. Respects
 * backpressure on the file: the request is paused while the file write is behind. The result is
 * reported once through `onResult`; `abort()` stops reading and frees everything (no result then).
 */
export class BodyBuffer {
  readonly #req: Readable
  readonly #options: BodyBufferOptions
  readonly #deps: BodyBufferDeps
  readonly #onResult: (result: BodyBufferResult) => void
  #chunks: Buffer[] = []
  #memoryUsed = 0
  #memoryReserved = 0
  #file: string | undefined
  #writer: WriteStream | undefined
  #diskUsed = 0
  #diskReserved = 0
  #received = 0
  #isWriterBehind = false
  #isDone = false
  /** Set once buffering stopped and the temp file is being closed: nothing more is written. */
  #isStopping = false

  constructor(
    req: Readable,
    options: BodyBufferOptions,
    deps: BodyBufferDeps,
    onResult: (result: BodyBufferResult) => void,
  ) {
    this.#req = req
    this.#options = options
    this.#deps = deps
    this.#onResult = onResult
  }

  /** Body bytes received so far. */
  get receivedBytes(): number {
    return this.#received
  }

  /** True while the temp file write is behind (the request is paused by us, not by the client). */
  get isHeldBack(): boolean {
    return this.#isWriterBehind
  }

  /** Reserves for a declared length up front, then starts reading (or reports at once). */
  start(): void {
    const declared = this.#options.declaredBytes
    if (declared !== undefined) {
      const deps = this.#deps
      if (declared <= deps.requestMemoryBytes && deps.memory.tryReserve(declared)) {
        this.#memoryReserved = declared
      } else if (deps.tempDir !== undefined && deps.disk.tryReserve(declared)) {
        this.#diskReserved = declared
        this.#openFile()
        deps.onSpill?.()
      } else {
        return this.#report(
          declared > deps.requestMemoryBytes && deps.tempDir === undefined ? 'over-memory' : 'exhausted',
        )
      }
    }
    const req = this.#req
    req.on('data', this.#onData)
    req.once('end', this.#onEnd)
    req.once('error', this.#onError)
  }

  /** Stops reading and frees what was held; no result is reported. */
  abort(): void {
    if (this.#isDone) return
    this.#isDone = true
    this.#detach()
    this.#writer?.destroy()
    this.#take().dispose()
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#isDone || this.#isStopping) return
    this.#received += chunk.length
    if (this.#received > this.#options.maxBodyBytes) return this.#finish({ kind: 'too-large' })
    if (this.#received > this.#options.maxBytes) {
      this.#chunks.push(chunk) // the prefix carries it (briefly, until it is streamed)
      this.#memoryUsed += chunk.length
      return this.#report('over-limit')
    }
    if (this.#writer !== undefined) return this.#toFile(chunk)
    const deps = this.#deps
    const need = this.#memoryUsed + chunk.length - this.#memoryReserved
    if (
      this.#memoryUsed + chunk.length <= deps.requestMemoryBytes &&
      (need <= 0 || deps.memory.tryReserve(need))
    ) {
      if (need > 0) this.#memoryReserved += need
      this.#chunks.push(chunk)
      this.#memoryUsed += chunk.length
      return
    }
    // Memory is not an option for this body any more: spill what we hold, and this chunk, to a file.
    const total = this.#memoryUsed + chunk.length
    if (deps.tempDir === undefined || !deps.disk.tryReserve(total)) {
      this.#chunks.push(chunk)
      this.#memoryUsed += chunk.length
      return this.#report(
        deps.tempDir === undefined && this.#memoryUsed > deps.requestMemoryBytes
          ? 'over-memory'
          : 'exhausted',
      )
    }
    this.#diskReserved += total
    this.#openFile()
    deps.onSpill?.()
    const held = this.#chunks
    const reserved = this.#memoryReserved
    this.#chunks = []
    this.#memoryUsed = 0
    this.#memoryReserved = 0
    for (const c of held) this.#toFile(c)
    // The spilled bytes leave the memory budget once the file has them (writes complete in order).
    this.#toFile(chunk, reserved > 0 ? () => deps.memory.release(reserved) : undefined)
  }

  readonly #onEnd = (): void => {
    if (this.#isDone) return
    const writer = this.#writer
    if (writer === undefined) return this.#finish({ kind: 'buffered', body: this.#take() })
    this.#isStopping = true
    this.#detach()
    writer.end(() => {
      if (this.#isDone) return
      this.#finish({ kind: 'buffered', body: this.#take() })
    })
  }

  readonly #onError = (err: Error): void => {
    if (!this.#isDone) this.#finish({ kind: 'failed', err })
  }

  readonly #onWriterError = (err: Error): void => {
    if (!this.#isDone) this.#finish({ kind: 'failed', err })
  }

  readonly #onWriterDrain = (): void => {
    this.#isWriterBehind = false
    if (!this.#isDone) this.#req.resume()
  }

  #openFile(): void {
    this.#file = join(this.#deps.tempDir as string, `litgate-body-${randomUUID()}`)
    const writer = createWriteStream(this.#file, { flags: 'wx', mode: 0o600 })
    writer.on('error', this.#onWriterError)
    writer.on('drain', this.#onWriterDrain)
    this.#writer = writer
  }

  #toFile(chunk: Buffer, onWritten?: () => void): void {
    if (this.#isStopping) {
      onWritten?.()
      return
    }
    const need = this.#diskUsed + chunk.length - this.#diskReserved
    if (need > 0) {
      if (!this.#deps.disk.tryReserve(need)) {
        onWritten?.()
        return this.#report('exhausted')
      }
      this.#diskReserved += need
    }
    this.#diskUsed += chunk.length
    if (!(this.#writer as WriteStream).write(chunk, onWritten)) {
      this.#isWriterBehind = true
      this.#req.pause()
    }
  }

  /** Ends buffering with the body read so far as the prefix of a body that goes on unbuffered. */
  #report(kind: 'over-limit' | 'over-memory' | 'exhausted'): void {
    if (this.#isStopping) return
    this.#isStopping = true
    const writer = this.#writer
    this.#detach()
    if (writer === undefined) return this.#finish({ kind, prefix: this.#take() })
    writer.end(() => {
      if (!this.#isDone) this.#finish({ kind, prefix: this.#take() })
    })
  }

  #finish(result: BodyBufferResult): void {
    this.#isDone = true
    this.#detach()
    if (result.kind === 'too-large' || result.kind === 'failed') {
      this.#writer?.destroy()
      this.#take().dispose()
    }
    this.#onResult(result)
  }

  #detach(): void {
    const req = this.#req
    req.off('data', this.#onData)
    req.off('end', this.#onEnd)
    req.off('error', this.#onError)
    // The request may go on unbuffered: nothing reads it until the next consumer attaches.
    req.pause()
  }

  /** Hands what is held (and its reservations) to a BufferedBody. */
  #take(): BufferedBody {
    const body = new BufferedBody(this.#chunks, this.#file, this.#memoryUsed + this.#diskUsed, {
      memory: this.#deps.memory,
      disk: this.#deps.disk,
      memoryReserved: this.#memoryReserved,
      diskReserved: this.#diskReserved,
    })
    this.#chunks = []
    this.#memoryReserved = 0
    this.#diskReserved = 0
    this.#memoryUsed = 0
    this.#diskUsed = 0
    return body
  }
}
