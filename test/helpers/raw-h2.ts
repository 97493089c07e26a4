/**
 * Raw HTTP/2 frames (RFC 9113 §4.1) with literal, unindexed HPACK fields (RFC 7541 §6.2.2), for
 * hostile tests that send what node:http2's client refuses to send.
 */
import { connect as netConnect, type Socket } from 'node:net'
import { connect as h2connect, type SecureClientSessionOptions } from 'node:http2'

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')

/** Frame types and error codes used by the tests (RFC 9113 §6, §7). */
export const DATA = 0x0
export const HEADERS = 0x1
export const RST_STREAM = 0x3
export const SETTINGS = 0x4
export const PING = 0x6
export const GOAWAY = 0x7
export const WINDOW_UPDATE = 0x8
export const END_STREAM = 0x1
export const END_HEADERS = 0x4
export const ACK = 0x1
export const PROTOCOL_ERROR = 0x1
export const FLOW_CONTROL_ERROR = 0x3
export const STREAM_CLOSED = 0x5

export function literal(name: string, value: string): Buffer {
  const n = Buffer.from(name, 'latin1')
  const v = Buffer.from(value, 'latin1')
  return Buffer.concat([Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v])
}

export function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9)
  head.writeUIntBE(payload.length, 0, 3)
  head[3] = type
  head[4] = flags
  head.writeUInt32BE(streamId, 5)
  return Buffer.concat([head, payload])
}

/** A HEADERS frame with END_HEADERS (and END_STREAM unless `endStream` is false) carrying `fields`. */
export function headersFrame(
  streamId: number,
  fields: readonly (readonly [string, string])[],
  endStream = true,
): Buffer {
  const block = Buffer.concat(fields.map(([n, v]) => literal(n, v)))
  return frame(HEADERS, endStream ? END_HEADERS | END_STREAM : END_HEADERS, streamId, block)
}

export function windowUpdate(streamId: number, increment: number): Buffer {
  const p = Buffer.alloc(4)
  p.writeUInt32BE(increment)
  return frame(WINDOW_UPDATE, 0, streamId, p)
}

export function ping(flags: number, opaque = Buffer.alloc(8)): Buffer {
  return frame(PING, flags, 0, opaque)
}

export interface Frame {
  readonly type: number
  readonly flags: number
  readonly streamId: number
  readonly payload: Buffer
}

/**
 * A raw h2c connection: everything received is parsed into frames; `closed` resolves when the server
 * closes. The server's PINGs are acknowledged like any real client does.
 */
export class RawH2 {
  readonly socket: Socket
  readonly frames: Frame[] = []
  readonly closed: Promise<number>
  #isClosed = false
  #buf = Buffer.alloc(0)

  /** `port`: h2c prior knowledge on loopback; or a connected socket (e.g. TLS with ALPN h2). */
  constructor(port: number | Socket) {
    const started = performance.now()
    this.socket = typeof port === 'number' ? netConnect(port, '127.0.0.1') : port
    this.socket.on('error', () => undefined)
    this.closed = new Promise((r) =>
      this.socket.once('close', () => {
        this.#isClosed = true
        r(performance.now() - started)
      }),
    )
    this.socket.on('data', (c: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, c])
      while (this.#buf.length >= 9) {
        const len = this.#buf.readUIntBE(0, 3)
        if (this.#buf.length < 9 + len) break
        this.frames.push({
          type: this.#buf[3] as number,
          flags: this.#buf[4] as number,
          streamId: this.#buf.readUInt32BE(5) & 0x7fffffff,
          payload: this.#buf.subarray(9, 9 + len),
        })
        // A well-behaved peer: the server's PINGs are answered (RFC 9113 §6.7).
        if (this.#buf[3] === PING && ((this.#buf[4] as number) & ACK) === 0)
          this.send(frame(PING, ACK, 0, Buffer.from(this.#buf.subarray(9, 9 + len))))
        this.#buf = this.#buf.subarray(9 + len)
      }
    })
    this.socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, Buffer.alloc(0))]))
  }

  get isClosed(): boolean {
    return this.#isClosed
  }

  send(data: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data)
  }

  goaway(): { lastStreamId: number; code: number } | undefined {
    const f = this.frames.find((x) => x.type === GOAWAY)
    return f === undefined
      ? undefined
      : { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) }
  }

  resets(code: number): number {
    return this.frames.filter((f) => f.type === RST_STREAM && f.payload.readUInt32BE(0) === code).length
  }

  /** The error code of the RST_STREAM received on `id`, if any. */
  resetOn(id: number): number | undefined {
    const f = this.frames.find((x) => x.type === RST_STREAM && x.streamId === id)
    return f?.payload.readUInt32BE(0)
  }

  /** Waits until a frame matching `match` arrived (true) or `timeoutMs` passed (false). */
  async waitFor(match: (f: Frame) => boolean, timeoutMs = 2000): Promise<boolean> {
    const until = performance.now() + timeoutMs
    while (performance.now() < until) {
      if (this.frames.some(match)) return true
      if (this.#isClosed) return this.frames.some(match)
      await new Promise((r) => setTimeout(r, 10))
    }
    return false
  }

  /** Resolves true once response HEADERS arrived on `id`. */
  responseOn(id: number, timeoutMs = 2000): Promise<boolean> {
    return this.waitFor((f) => f.type === HEADERS && f.streamId === id, timeoutMs)
  }

  /** Resolves true once the response on `id` ended (a frame with END_STREAM) or was reset. */
  endedOn(id: number, timeoutMs = 2000): Promise<boolean> {
    return this.waitFor(
      (f) =>
        f.streamId === id &&
        (f.type === RST_STREAM || ((f.type === DATA || f.type === HEADERS) && (f.flags & END_STREAM) !== 0)),
      timeoutMs,
    )
  }

  close(): void {
    this.socket.destroy()
  }
}

/** A normal h2 request on its own connection: the probe that other clients are still served. */
export async function probeH2(
  url: string,
  authority?: string,
  options: SecureClientSessionOptions = {},
): Promise<number> {
  const session = h2connect(url, options)
  session.on('error', () => undefined)
  try {
    return await new Promise<number>((resolve, reject) => {
      const req = session.request({
        ':path': '/probe',
        ...(authority === undefined ? {} : { ':authority': authority }),
      })
      req.on('response', (h) => resolve(Number(h[':status'])))
      req.on('error', reject)
      req.resume()
    })
  } finally {
    session.close()
  }
}

export const withTimeout = <T>(p: Promise<T>, ms: number, fallback: T): Promise<T> =>
  Promise.race([p, new Promise<T>((r) => setTimeout(() => r(fallback), ms))])
