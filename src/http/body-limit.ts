import { Transform, type TransformCallback } from 'node:stream'
import { GatewayError } from '../errors/index.ts'

/**
 * Counts request body bytes and fails the stream with `PAYLOAD_TOO_LARGE` once the running total passes
 * `limit` (bodies without Content-Length, i.e. chunked): the limit is on the whole body, never per chunk.
 */
export class BodyLimit extends Transform {
  #seen = 0
  /** Bytes seen so far, including the chunk that passed the limit. */
  get seen(): number {
    return this.#seen
  }
  readonly #limit: number
  /** `alreadySeen`: bytes of the same body that went another way first (a buffered prefix). */
  constructor(limit: number, alreadySeen = 0) {
    super()
    this.#limit = limit
    this.#seen = alreadySeen
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#seen += chunk.length
    if (this.#seen > this.#limit) cb(new GatewayError('PAYLOAD_TOO_LARGE'))
    else cb(null, chunk)
  }
}
