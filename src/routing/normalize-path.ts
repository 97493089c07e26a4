/** Policy knobs for `normalizePath`. The defaults are the safe choice; see docs/routing.md. */
export interface PathNormalizationOptions {
  /**
   * '%2F' and '%5C' in the path. 'reject' (default): the request is refused, because backends disagree on
   * whether they decode them into separators (a classic route bypass). 'keep': left encoded (upper-case hex),
   * treated as ordinary segment characters.
   */
  readonly encodedSlashes?: 'reject' | 'keep'
  /** Collapse runs of '/' into one (default true). When false, empty segments are kept and significant. */
  readonly mergeSlashes?: boolean
  /**
   * ';' in the path. 'reject' (default): servlet-style backends strip ';params' and resolve '..;' as '..',
   * which would let '/admin;x' or '/..;/admin' reach a path no route protects. 'keep': ';' is an ordinary
   * character (RFC 3986), so '/admin;x' is the segment 'admin;x', not 'admin'.
   */
  readonly semicolons?: 'reject' | 'keep'
}

/** Why a request-target was refused; every reason maps to 400 INVALID_PATH. */
export type PathRejectReason =
  | 'not-origin-form'
  | 'invalid-character'
  | 'invalid-percent-encoding'
  | 'encoded-slash'
  | 'encoded-nul'
  | 'semicolon'
  | 'above-root'

export type NormalizedPath =
  | { readonly ok: true; readonly path: string; /** '' or '?…', untouched */ readonly query: string }
  | { readonly ok: false; readonly reason: PathRejectReason }

type Rejection = Extract<NormalizedPath, { ok: false }>

function rejection(reason: PathRejectReason): Rejection {
  return Object.freeze({ ok: false, reason })
}

const NOT_ORIGIN_FORM = rejection('not-origin-form')
const INVALID_CHARACTER = rejection('invalid-character')
const INVALID_PERCENT_ENCODING = rejection('invalid-percent-encoding')
const ENCODED_SLASH = rejection('encoded-slash')
const ENCODED_NUL = rejection('encoded-nul')
const SEMICOLON = rejection('semicolon')
const ABOVE_ROOT = rejection('above-root')

const HEX_DIGITS = '0123456789ABCDEF'

/**
 * Normalises the request-target (origin-form, e.g. '/a/../b?x=1') so that one resource has one spelling
 * before routing. The HTTP layer must forward the returned path (not the raw target) upstream, or a backend
 * could resolve a different resource than the one that was routed.
 *
 * Rules, in order (docs/routing.md, "Path normalisation"):
 * 1. Must start with '/'; absolute-form and '*' are the caller's business.
 * 2. Path and query: reject controls, space, DEL, '#'; the path also rejects '\' and non-ASCII, the query
 *    passes 0x80–0xFF through (it is never interpreted here).
 * 3. Percent-decoding in the path: unreserved characters (RFC 3986 §2.3) are decoded, '%00' is rejected,
 *    '%2F'/'%5C' follow `encodedSlashes`, everything else stays encoded with upper-case hex (§6.2.2.1).
 * 4. ';' follows `semicolons`.
 * 5. Duplicate slashes merge (`mergeSlashes`), then dot-segments are removed (RFC 3986 §5.2.4); climbing above
 *    the root is rejected rather than clamped.
 */
export function normalizePath(target: string, options?: PathNormalizationOptions): NormalizedPath {
  if (target.charCodeAt(0) !== 0x2f /* / */) return NOT_ORIGIN_FORM
  const rejectSemicolons = options?.semicolons !== 'keep'
  const length = target.length
  let queryStart = length
  let isClean = true
  let previous = 0
  for (let i = 0; i < length; i++) {
    const c = target.charCodeAt(i)
    if (c === 0x3f /* ? */) {
      queryStart = i
      break
    }
    if (c <= 0x20 || c >= 0x7f || c === 0x23 /* # */ || c === 0x5c /* \ */) return INVALID_CHARACTER
    if (c === 0x25 /* % */) isClean = false
    else if (c === 0x3b /* ; */ && rejectSemicolons) return SEMICOLON
    else if (previous === 0x2f && (c === 0x2f || c === 0x2e)) isClean = false // '//' or '/.'
    previous = c
  }
  for (let i = queryStart + 1; i < length; i++) {
    const c = target.charCodeAt(i)
    if (c <= 0x20 || c === 0x7f || c === 0x23 || c > 0xff) return INVALID_CHARACTER
  }
  const query = queryStart === length ? '' : target.slice(queryStart)
  if (isClean) {
    return { ok: true, path: queryStart === length ? target : target.slice(0, queryStart), query }
  }
  const path = normalizeDirtyPath(
    target.slice(0, queryStart),
    options?.encodedSlashes === 'keep',
    options?.mergeSlashes !== false,
  )
  return typeof path === 'string' ? { ok: true, path, query } : path
}

/** Slow path: segment by segment, decode, then resolve '.', '..' and empty segments on a stack. */
function normalizeDirtyPath(
  path: string,
  keepEncodedSlashes: boolean,
  mergeSlashes: boolean,
): string | Rejection {
  const output: string[] = []
  let start = 1
  for (;;) {
    let end = path.indexOf('/', start)
    const isLast = end === -1
    if (isLast) end = path.length
    let segment = path.slice(start, end)
    if (segment.includes('%')) {
      const decoded = decodeSegment(segment, keepEncodedSlashes)
      if (typeof decoded !== 'string') return decoded
      segment = decoded
    }
    if (segment === '.') {
      if (isLast) output.push('') // '/a/.' → '/a/'
    } else if (segment === '..') {
      if (output.length === 0) return ABOVE_ROOT
      output.pop()
      if (isLast) output.push('') // '/a/b/..' → '/a/'
    } else if (segment !== '' || isLast || !mergeSlashes) {
      output.push(segment)
    }
    if (isLast) break
    start = end + 1
  }
  return '/' + output.join('/')
}

function decodeSegment(segment: string, keepEncodedSlashes: boolean): string | Rejection {
  let out = ''
  let copiedUpTo = 0
  for (let i = segment.indexOf('%'); i !== -1; i = segment.indexOf('%', i)) {
    const hi = hexValue(segment.charCodeAt(i + 1))
    const lo = hexValue(segment.charCodeAt(i + 2))
    if (hi < 0 || lo < 0) return INVALID_PERCENT_ENCODING
    const byte = hi * 16 + lo
    out += segment.slice(copiedUpTo, i)
    if (isUnreserved(byte)) {
      out += String.fromCharCode(byte)
    } else if (byte === 0) {
      return ENCODED_NUL
    } else if ((byte === 0x2f || byte === 0x5c) && !keepEncodedSlashes) {
      return ENCODED_SLASH
    } else {
      out += '%' + HEX_DIGITS.charAt(hi) + HEX_DIGITS.charAt(lo)
    }
    i += 3
    copiedUpTo = i
  }
  return out + segment.slice(copiedUpTo)
}

/** RFC 3986 §2.3: ALPHA / DIGIT / '-' / '.' / '_' / '~'. */
function isUnreserved(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5f ||
    c === 0x7e
  )
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  return -1 // also NaN past the end
}
