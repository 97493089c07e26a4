/**
 * Shutdown support for WebSocket tunnels: a server→client close frame (1001 Going Away) may only be
 * injected between frames. The tunnel pipes raw bytes, so the upstream→client direction is followed
 * with a minimal frame-header reader (RFC 6455 §5.2) that knows where the next frame starts. Control
 * frames may be injected between the fragments of a message (§5.4), so a frame boundary is enough.
 * Pure: no sockets here; the tunnel feeds it the bytes it relays.
 */

/** Tracks frame boundaries in a server→client WebSocket byte stream. */
export class FrameBoundaryTracker {
  /** Header bytes of the frame being read (a header is 2–14 bytes). */
  readonly #header = Buffer.alloc(14)
  #headerLength = 0
  /** Payload bytes still to come in the current frame. */
  #remaining = 0
  #isBroken = false

  /** True when the bytes seen so far end exactly at a frame boundary. */
  get isAtBoundary(): boolean {
    return !this.#isBroken && this.#headerLength === 0 && this.#remaining === 0
  }

  /** True after a frame length this reader cannot follow (> 2^53): injecting is then never safe. */
  get isBroken(): boolean {
    return this.#isBroken
  }

  /**
   * Consumes `chunk` and returns the offset in it right after the first frame boundary reached, or -1
   * when none is reached (0 means: already at a boundary before the chunk). Bytes after the returned
   * offset are NOT consumed; call again with the rest to continue.
   */
  feedUntilBoundary(chunk: Buffer): number {
    if (this.isAtBoundary && chunk.length > 0) {
      // A new frame starts here: consume at least its first byte before looking for the next boundary.
    } else if (this.isAtBoundary) return 0
    let i = 0
    while (i < chunk.length) {
      if (this.#isBroken) return -1
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, chunk.length - i)
        this.#remaining -= take
        i += take
        if (this.#remaining === 0 && this.#headerLength === 0) return i
        continue
      }
      this.#header[this.#headerLength++] = chunk[i++] as number
      const needed = headerSize(this.#header, this.#headerLength)
      if (needed === undefined || this.#headerLength < needed) continue
      const payload = payloadLength(this.#header, this.#headerLength)
      this.#headerLength = 0
      if (payload === undefined) {
        this.#isBroken = true
        return -1
      }
      this.#remaining = payload
      if (payload === 0) return i
    }
    return -1
  }

  /** Consumes all of `chunk` (the common path while relaying). */
  feed(chunk: Buffer): void {
    let rest = chunk
    while (rest.length > 0) {
      const at = this.feedUntilBoundary(rest)
      if (at <= 0) return
      rest = rest.subarray(at)
    }
  }
}

/** Total header size once enough of it is known, else undefined. */
function headerSize(h: Buffer, n: number): number | undefined {
  if (n < 2) return undefined
  const b1 = h[1] as number
  const len7 = b1 & 0x7f
  const mask = (b1 & 0x80) !== 0 ? 4 : 0
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + mask
}

function payloadLength(h: Buffer, n: number): number | undefined {
  const len7 = (h[1] as number) & 0x7f
  if (len7 < 126) return len7
  if (len7 === 126) return h.readUInt16BE(2)
  const big = h.subarray(0, n).readBigUInt64BE(2)
  return big > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(big)
}

/**
 * An unmasked server→client close frame (RFC 6455 §5.5.1): status code, then a UTF-8 reason of at most
 * 123 bytes. Default: 1001 Going Away.
 */
export function closeFrame(code = 1001, reason = 'server shutting down'): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 123)
  const frame = Buffer.alloc(4 + text.length)
  frame[0] = 0x88 // FIN + opcode 0x8 (close)
  frame[1] = 2 + text.length
  frame.writeUInt16BE(code, 2)
  text.copy(frame, 4)
  return frame
}
