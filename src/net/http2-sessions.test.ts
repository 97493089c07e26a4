import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { absorbsSessionError, CLOSE_GRACE_MS, sessionAction, type SessionClock } from './http2-sessions.ts'

const timeouts = { idleTimeoutMs: 1000, pingIntervalMs: 500 }
const fresh: SessionClock = {
  openStreams: 0,
  idleSince: 0,
  pingSentAt: 0,
  isPingPending: false,
  closingAt: 0,
}

describe('sessionAction', () => {
  test('a fresh session is left alone', () => {
    assert.equal(sessionAction(fresh, 100, timeouts), 'none')
  })
  test('PINGed once per interval while open', () => {
    assert.equal(sessionAction(fresh, 500, timeouts), 'ping')
    assert.equal(sessionAction({ ...fresh, pingSentAt: 500, isPingPending: false }, 900, timeouts), 'none')
  })
  test('a PING still unanswered a whole interval later: destroyed (dead peer), also with open streams', () => {
    const s = { ...fresh, openStreams: 3, pingSentAt: 500, isPingPending: true }
    assert.equal(sessionAction(s, 999, timeouts), 'none')
    assert.equal(sessionAction(s, 1000, timeouts), 'destroy')
  })
  test('no open stream for the idle timeout: GOAWAY (before any PING decision)', () => {
    assert.equal(sessionAction({ ...fresh, pingSentAt: 900, isPingPending: true }, 1000, timeouts), 'goaway')
  })
  test('open streams keep the session from idling, however long', () => {
    assert.equal(sessionAction({ ...fresh, openStreams: 1, pingSentAt: 10_000 }, 10_100, timeouts), 'none')
  })
  test('the idle clock starts when the last stream closed', () => {
    assert.equal(sessionAction({ ...fresh, idleSince: 5000, pingSentAt: 5500 }, 5900, timeouts), 'none')
    assert.equal(sessionAction({ ...fresh, idleSince: 5000, pingSentAt: 5800 }, 6000, timeouts), 'goaway')
  })
  test('a closing session is destroyed once its grace has passed, and nothing else', () => {
    const s = { ...fresh, closingAt: 2000, isPingPending: true }
    assert.equal(sessionAction(s, 2000 + CLOSE_GRACE_MS - 1, timeouts), 'none')
    assert.equal(sessionAction(s, 2000 + CLOSE_GRACE_MS, timeouts), 'destroy')
  })
})

describe('absorbsSessionError', () => {
  const nghttpError = (errno: number, code = 'ERR_HTTP2_ERROR'): Error =>
    Object.assign(new Error('Protocol error'), { code, errno })
  test("the error Node's binding raises for an unsolicited PING ACK (NGHTTP2_ERR_PROTO)", () => {
    assert.equal(absorbsSessionError(nghttpError(-505)), true)
  })
  test('other nghttp2 errors, other codes and non-errors are not absorbed', () => {
    assert.equal(absorbsSessionError(nghttpError(-524)), false) // flow control: nghttp2 sent GOAWAY
    assert.equal(absorbsSessionError(nghttpError(-903)), false) // bad client magic
    assert.equal(absorbsSessionError(nghttpError(-505, 'ERR_HTTP2_TOO_MANY_INVALID_FRAMES')), false)
    assert.equal(absorbsSessionError(undefined), false)
    assert.equal(absorbsSessionError({ code: 'ERR_HTTP2_ERROR', errno: -505 }), false)
  })
})
