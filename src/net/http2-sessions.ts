import { constants as h2constants, type Http2Session, type ServerHttp2Stream } from 'node:http2'
import { gcraDecide, gcraPolicyForWindow, type GcraPolicy } from '../limits/index.ts'

const kOpenStreams = Symbol('litgate.h2.openStreams')
const kIdleSince = Symbol('litgate.h2.idleSince')
const kPingSentAt = Symbol('litgate.h2.pingSentAt')
const kIsPingPending = Symbol('litgate.h2.isPingPending')
const kClosingAt = Symbol('litgate.h2.closingAt')
const kOwner = Symbol('litgate.h2.owner')
const kResetTat = Symbol('litgate.h2.resetTat')
const kResetGuard = Symbol('litgate.h2.resetGuard')
const kServerReset = Symbol('litgate.h2.serverReset')
const kAbsorbedErrors = Symbol('litgate.h2.absorbedErrors')
const kIsProbePending = Symbol('litgate.h2.isProbePending')

type TrackedSession = Http2Session & {
  [kOpenStreams]: number
  [kIdleSince]: number
  [kPingSentAt]: number
  [kIsPingPending]: boolean
  [kClosingAt]: number
  /** GCRA state of the client's stream resets (µs, performance.now clock). */
  [kResetTat]: number
  [kResetGuard]: Http2Sessions
  /** Session errors absorbed so far (see absorbsSessionError). */
  [kAbsorbedErrors]: number
  /** A liveness PING after an absorbed error is in flight. */
  [kIsProbePending]: boolean
}
type TrackedStream = ServerHttp2Stream & {
  [kOwner]?: TrackedSession | undefined
  [kServerReset]?: boolean
}

/**
 * HTTP/2 rapid-reset bound (CVE-2023-44487, `server.http2MaxClientResets` per
 * `server.http2ClientResetWindowMs`): streams the client cancels before their response ended.
 */
export interface Http2ResetLimit {
  readonly maxClientResets: number
  readonly windowMs: number
}

/** Why a session was closed for abuse (metric label). */
export type Http2AbuseReason = 'rapid_reset'

/**
 * Marks a stream the gateway itself is about to close with RST_STREAM (`stream.close(code)`), so that
 * the reset is not counted against the client. Streams ended with `destroy()` need no mark.
 */
export function markServerReset(stream: ServerHttp2Stream): void {
  ;(stream as TrackedStream)[kServerReset] = true
}

/** Timeouts of HTTP/2 sessions (`server.http2IdleTimeoutMs`, `server.http2PingIntervalMs`). */
export interface Http2SessionTimeouts {
  readonly idleTimeoutMs: number
  readonly pingIntervalMs: number
}

function resetPolicyOf(limit: Http2ResetLimit | undefined): GcraPolicy | undefined {
  return limit === undefined
    ? undefined
    : gcraPolicyForWindow('h2-resets', limit.maxClientResets, limit.windowMs)
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

/** nghttp2's library error code (nghttp2.h) Node reports for an unsolicited PING ACK. */
const NGHTTP2_ERR_PROTO = -505

/** Absorbed session errors after which a session is destroyed as Node would have (a flood of them). */
export const MAX_ABSORBED_SESSION_ERRORS = 100

/**
 * Whether `err` may be the session error Node's binding raises for a PING ACK with no PING outstanding
 * (`NGHTTP2_ERR_PROTO` from Node's HandlePingFrame, which then destroys the session). RFC 9113 §6.7 gives
 * no error for it and nghttp2 itself ignores it. The same code also comes with real connection errors
 * (garbage instead of SETTINGS, a WINDOW_UPDATE of 0 on the connection) for which nghttp2 has already
 * sent GOAWAY itself: the liveness PING tells the two apart.
 */
export function absorbsSessionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const { code, errno } = err as NodeJS.ErrnoException
  return code === 'ERR_HTTP2_ERROR' && errno === NGHTTP2_ERR_PROTO
}

/**
 * The session's `destroy`, installed on each session: Node's binding calls it with the error above
 * (lib/internal/http2/core.js onSessionInternalError). That one is absorbed, and a PING checks that
 * nghttp2 still reads the session: if it sent GOAWAY itself (a real connection error) the PING is never
 * answered and the session is destroyed after CLOSE_GRACE_MS. Everything else is Node's own destroy.
 */
function destroyUnlessAbsorbed(this: TrackedSession, error?: Error, code?: number): void {
  const destroy = (Object.getPrototypeOf(this) as Http2Session).destroy
  if (this.destroyed || !absorbsSessionError(error) || this[kAbsorbedErrors] >= MAX_ABSORBED_SESSION_ERRORS) {
    destroy.call(this, error, code)
    return
  }
  this[kAbsorbedErrors]++
  if (this[kIsProbePending]) return
  this[kIsProbePending] = true
  const timer = setTimeout(() => {
    if (this[kIsProbePending]) destroy.call(this, error, code)
  }, CLOSE_GRACE_MS)
  timer.unref()
  let isSent = false
  try {
    isSent = this.ping(() => {
      this[kIsProbePending] = false
      clearTimeout(timer)
    })
  } catch {
    // The session is going away: the timer destroys it.
  }
  if (!isSent) {
    // Too many PINGs unanswered already: not a live peer.
    clearTimeout(timer)
    destroy.call(this, error, code)
  }
}

/**
 * A stream's `aborted` event: it closed while our response was still being written. Counted when the
 * client did it (its RST_STREAM reaches Node through the native close callback, the stream not yet
 * destroyed); our own `destroy()` (destroyed already) and marked `close()` calls are not.
 */
function onStreamAborted(this: TrackedStream): void {
  const session = this[kOwner]
  if (session === undefined || this.destroyed || this[kServerReset] === true) return
  session[kResetGuard].recordClientReset(session)
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
  #resetPolicy: GcraPolicy | undefined
  readonly #onAbuse: ((reason: Http2AbuseReason) => void) | undefined
  #abuseClosed = 0

  constructor(
    timeouts: Http2SessionTimeouts,
    resetLimit?: Http2ResetLimit,
    onAbuse?: (reason: Http2AbuseReason) => void,
  ) {
    this.#timeouts = timeouts
    this.#resetPolicy = resetPolicyOf(resetLimit)
    this.#onAbuse = onAbuse
  }

  /** Sessions closed for abuse (rapid reset) since start. */
  get abuseClosed(): number {
    return this.#abuseClosed
  }

  /**
   * One more stream the client reset early on `session`: a GCRA decision on the session's own state.
   * Over the bound: GOAWAY with ENHANCE_YOUR_CALM (RFC 9113 §7: "the endpoint detected that its peer is
   * exhibiting a behavior that might be generating excessive load") and the session is destroyed at once,
   * with its streams: a client doing this is not owed the rest of its responses.
   */
  recordClientReset(session: Http2Session): void {
    const s = session as TrackedSession
    const policy = this.#resetPolicy
    if (policy === undefined || s.destroyed) return
    const d = gcraDecide(s[kResetTat], Math.floor(performance.now() * 1000), policy)
    s[kResetTat] = d.tatUs
    if (d.isAllowed) return
    this.#abuseClosed++
    this.#onAbuse?.('rapid_reset')
    try {
      s.goaway(h2constants.NGHTTP2_ENHANCE_YOUR_CALM)
    } catch {
      // Already going away: destroy below still closes it.
    }
    s.destroy(undefined, h2constants.NGHTTP2_ENHANCE_YOUR_CALM)
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
    s[kResetTat] = 0
    s[kResetGuard] = this
    s[kAbsorbedErrors] = 0
    s[kIsProbePending] = false
    s.destroy = destroyUnlessAbsorbed
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
    stream.once('aborted', onStreamAborted)
  }

  /** New timeouts (reload); they apply from the next sweep. A new reset bound applies to the next reset. */
  configure(timeouts: Http2SessionTimeouts, resetLimit?: Http2ResetLimit): void {
    if (resetLimit !== undefined) this.#resetPolicy = resetPolicyOf(resetLimit)
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
