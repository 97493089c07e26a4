import type { Http2Session, ServerHttp2Stream } from 'node:http2'

const kOpenStreams = Symbol('litgate.h2.openStreams')
const kIdleSince = Symbol('litgate.h2.idleSince')
const kPingSentAt = Symbol('litgate.h2.pingSentAt')
const kIsPingPending = Symbol('litgate.h2.isPingPending')
const kClosingAt = Symbol('litgate.h2.closingAt')
const kOwner = Symbol('litgate.h2.owner')

type TrackedSession = Http2Session & {
  [kOpenStreams]: number
  [kIdleSince]: number
  [kPingSentAt]: number
  [kIsPingPending]: boolean
  [kClosingAt]: number
}
type TrackedStream = ServerHttp2Stream & { [kOwner]?: TrackedSession | undefined }

/** Timeouts of HTTP/2 sessions (`server.http2IdleTimeoutMs`, `server.http2PingIntervalMs`). */
export interface Http2SessionTimeouts {
  readonly idleTimeoutMs: number
  readonly pingIntervalMs: number
}

/** How long a session asked to GOAWAY may take to finish before it is destroyed. */
export const CLOSE_GRACE_MS = 1000

/** What the sweep knows about one session (times from the same monotonic clock as `now`). */
export interface SessionClock {
  readonly openStreams: number
  /** When the last stream closed (or the session opened). */
  readonly idleSince: number
  readonly pingSentAt: number
  readonly isPingPending: boolean
  /** When GOAWAY was sent or received; 0 while open. */
  readonly closingAt: number
}

/** What the sweep does with a session now. */
export type SessionAction = 'none' | 'goaway' | 'destroy' | 'ping'

/**
 * The sweep's decision for one session: a closing one is destroyed once its grace has passed; one with
 * no open stream for `idleTimeoutMs` gets GOAWAY; one whose PING is still unanswered a whole interval
 * later is destroyed (dead peer); otherwise it is PINGed once per interval.
 */
export function sessionAction(s: SessionClock, now: number, timeouts: Http2SessionTimeouts): SessionAction {
  if (s.closingAt !== 0) return now - s.closingAt >= CLOSE_GRACE_MS ? 'destroy' : 'none'
  if (s.openStreams === 0 && now - s.idleSince >= timeouts.idleTimeoutMs) return 'goaway'
  if (now - s.pingSentAt >= timeouts.pingIntervalMs) return s.isPingPending ? 'destroy' : 'ping'
  return 'none'
}

function onStreamClose(this: TrackedStream): void {
  const session = this[kOwner]
  if (session === undefined) return
  this[kOwner] = undefined
  if (--session[kOpenStreams] === 0) session[kIdleSince] = performance.now()
}

/**
 * The HTTP/2 sessions of one listener and their timeouts, enforced by one coarse shared timer (no
 * timer per session or stream): a session with no open stream for `idleTimeoutMs` gets GOAWAY
 * (RFC 9113 §6.8, NO_ERROR) and is destroyed if it has not closed a moment later; every session is
 * PINGed each `pingIntervalMs` (§6.7) and destroyed when the previous PING is still unanswered.
 * Client frames (PINGs included) do not reset the idle clock: only open streams do, as in nginx.
 */
export class Http2Sessions {
  readonly #sessions = new Set<TrackedSession>()
  #timeouts: Http2SessionTimeouts
  #timer: NodeJS.Timeout | undefined
  constructor(timeouts: Http2SessionTimeouts) {
    this.#timeouts = timeouts
  }

  get size(): number {
    return this.#sessions.size
  }

  /** Starts tracking a new session (the server's `session` event). */
  add(session: Http2Session): void {
    const s = session as TrackedSession
    const now = performance.now()
    s[kOpenStreams] = 0
    s[kIdleSince] = now
    s[kPingSentAt] = now
    s[kIsPingPending] = false
    s[kClosingAt] = 0
    this.#sessions.add(s)
    session.once('close', () => this.#sessions.delete(s))
    this.#arm()
  }

  /** A stream opened (the server's `stream` event). */
  readonly onStream = (stream: ServerHttp2Stream): void => {
    const session = stream.session as TrackedSession | undefined
    if (session === undefined || session[kOpenStreams] === undefined) return
    session[kOpenStreams]++
    ;(stream as TrackedStream)[kOwner] = session
    stream.once('close', onStreamClose)
  }

  /** New timeouts (reload); they apply from the next sweep. */
  configure(timeouts: Http2SessionTimeouts): void {
    this.#timeouts = timeouts
    if (this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#timer = undefined
      this.#arm()
    }
  }

  /** Every live session (drain and forced shutdown). */
  values(): IterableIterator<Http2Session> {
    return this.#sessions.values()
  }

  /** Stops the sweep timer (the listener is closing). */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
  }

  #arm(): void {
    if (this.#timer !== undefined) return
    const { idleTimeoutMs, pingIntervalMs } = this.#timeouts
    const tickMs = Math.min(1000, Math.max(50, Math.floor(Math.min(idleTimeoutMs, pingIntervalMs) / 4)))
    this.#timer = setInterval(this.#sweep, tickMs)
    this.#timer.unref()
  }

  readonly #sweep = (): void => {
    if (this.#sessions.size === 0) {
      this.stop()
      return
    }
    const now = performance.now()
    const timeouts = this.#timeouts
    for (const s of this.#sessions) {
      if (s.destroyed) continue
      if (s.closed && s[kClosingAt] === 0) s[kClosingAt] = now
      const action = sessionAction(
        {
          openStreams: s[kOpenStreams],
          idleSince: s[kIdleSince],
          pingSentAt: s[kPingSentAt],
          isPingPending: s[kIsPingPending],
          closingAt: s[kClosingAt],
        },
        now,
        timeouts,
      )
      if (action === 'goaway') {
        s[kClosingAt] = now
        s.close()
      } else if (action === 'destroy') {
        s.destroy()
      } else if (action === 'ping') {
        s[kPingSentAt] = now
        try {
          s[kIsPingPending] = s.ping(() => {
            s[kIsPingPending] = false
          })
        } catch {
          // Too many PINGs in flight or the session is going away: the next sweep decides.
        }
      }
    }
  }
}
