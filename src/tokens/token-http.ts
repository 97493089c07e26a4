/**
 * The token endpoints on the client listeners: `GET {base}/nonce`, `POST {base}/token`,
 * `POST {base}/token/refresh` and `GET /.well-known/jwks.json`. A plain node:http handler in the shape of
 * the gateway's `localEndpoints` hook: returns true when it answered, false (touching nothing) otherwise.
 * Every answer is JSON with `Cache-Control: no-store`; errors are RFC 9457 problems with the request id.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import { ERROR_CODES, PROBLEM_CONTENT_TYPE, buildProblem, type ErrorCode } from '../errors/index.ts'
import { bearerToken } from './credential-check.ts'
import type { Outcome, TokenService } from './token-service.ts'

export type AnyRequest = IncomingMessage | Http2ServerRequest
export type AnyResponse = ServerResponse | Http2ServerResponse

/** What the listener knows about the request (the gateway's `localEndpoints` context). */
export interface TokenRequestContext {
  readonly requestId?: string
  readonly clientAddress: () => string
}

export interface TokenEndpointsDeps {
  readonly basePath: string
  readonly service: TokenService
  /** The JWKS document (serialised once). */
  readonly jwks: string
  /** Per client IP: 0 when allowed, else seconds until the next request is (the quote endpoints' buckets). */
  takePerIp(clientAddress: string, nowMs: number): number
  readonly nowMs: () => number
  readonly requestIdHeader: string
  readonly nextRequestId: () => string
  /** A refusal answered (metrics: `litgate_token_requests_refused_total{code}`). */
  onRefused?(code: ErrorCode): void
  /** A failure that is not a refusal (database, chain): logged by the caller. */
  onError?(err: unknown): void
  /**
   * `GET {base}/subscriptions/:id` for the holder of an access token whose `sub` is that id (the
   * subscriptions' lookup route answers; the admin listener serves it to operators without a token).
   */
  readonly subscriptionLookup?: {
    answer(rest: string): Promise<{ readonly status: number; readonly type: string; readonly body: string }>
  }
  /** `GET {base}/usage/:id` (src/qos), for the holder of an access token whose `sub` is that id. */
  readonly usageLookup?: {
    answer(rest: string): Promise<{ readonly status: number; readonly type: string; readonly body: string }>
  }
  /** The subscription id a Bearer token grants (verified, not revoked), or why not. */
  authorize?(
    token: string,
    nowMs: number,
  ): Promise<{ ok: true; sub: string } | { ok: false; description: string }>
}

export interface TokenEndpoints {
  handle(req: AnyRequest, res: AnyResponse, context: TokenRequestContext): boolean
}

export const JWKS_PATH = '/.well-known/jwks.json'
const MAX_BODY_BYTES = 8192

function readJson(req: AnyRequest): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let isTooLarge = false
    req.on('data', (chunk: Buffer) => {
      if (isTooLarge) return
      size += chunk.length
      if (size > MAX_BODY_BYTES) {
        isTooLarge = true
        reject(new RangeError(`the body is larger than ${MAX_BODY_BYTES} bytes`))
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => {
      if (isTooLarge) return
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')))
      } catch {
        reject(new SyntaxError('the body is not valid JSON'))
      }
    })
    req.on('error', reject)
  })
}

export function createTokenEndpoints(deps: TokenEndpointsDeps): TokenEndpoints {
  const base = deps.basePath
  const noncePath = `${base}/nonce`
  const tokenPath = `${base}/token`
  const refreshPath = `${base}/token/refresh`
  const lookupPrefix = `${base}/subscriptions/`
  const usagePrefix = `${base}/usage/`

  const send = (
    res: AnyResponse,
    requestId: string,
    status: number,
    body: string,
    headers: Record<string, string>,
  ) => {
    if (res.headersSent) return
    ;(res as ServerResponse).writeHead(status, {
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      [deps.requestIdHeader]: requestId,
      ...headers,
    })
    res.end(body)
  }
  const problem = (
    res: AnyResponse,
    requestId: string,
    code: ErrorCode,
    detail?: string,
    headers: Record<string, string> = {},
  ) => {
    deps.onRefused?.(code)
    send(res, requestId, ERROR_CODES[code].status, JSON.stringify(buildProblem(code, requestId, detail)), {
      'content-type': PROBLEM_CONTENT_TYPE,
      ...headers,
    })
  }
  const answer = (res: AnyResponse, requestId: string, work: Promise<Outcome<unknown>>) => {
    work.then(
      (outcome) => {
        if (outcome.ok) {
          send(res, requestId, 200, JSON.stringify(outcome.value), { 'content-type': 'application/json' })
          return
        }
        const headers: Record<string, string> =
          outcome.code === 'TOKEN_CAPACITY_EXHAUSTED' ? { 'retry-after': '5' } : {}
        problem(res, requestId, outcome.code, outcome.detail, headers)
      },
      (err: unknown) => {
        if (err instanceof RangeError || err instanceof SyntaxError)
          return problem(res, requestId, 'TOKEN_REQUEST_INVALID', err.message)
        deps.onError?.(err)
        const code = (err as { code?: unknown }).code
        if (typeof code === 'string' && code.startsWith('CHAIN_'))
          return problem(res, requestId, 'CHAIN_UNAVAILABLE', 'the chain cannot be read right now', {
            'retry-after': '5',
          })
        if (code === 'STORAGE_UNAVAILABLE')
          return problem(
            res,
            requestId,
            'STORAGE_UNAVAILABLE',
            'the token store cannot be reached right now',
            {
              'retry-after': '5',
            },
          )
        problem(res, requestId, 'INTERNAL_ERROR')
      },
    )
  }

  /** RFC 6750 §3: a Bearer challenge (no token: no error attribute). */
  const bearer = (description?: string) =>
    description === undefined
      ? 'Bearer realm="litgate"'
      : `Bearer realm="litgate", error="invalid_token", error_description="${description}"`
  const lookup = (
    res: AnyResponse,
    requestId: string,
    rest: string,
    authorization: string | undefined,
    answerer: NonNullable<TokenEndpointsDeps['subscriptionLookup']>,
  ) => {
    const token = bearerToken(authorization)
    if (token === undefined || deps.authorize === undefined) {
      problem(res, requestId, 'TOKEN_INVALID', 'an access token of this subscription is required', {
        'www-authenticate': bearer(),
      })
      return
    }
    const work = deps.authorize(token, deps.nowMs()).then(async (auth) => {
      if (!auth.ok)
        return problem(res, requestId, 'TOKEN_INVALID', auth.description, {
          'www-authenticate': bearer(auth.description),
        })
      if (auth.sub !== rest.toLowerCase())
        return problem(
          res,
          requestId,
          'TOKEN_SUBSCRIPTION_FORBIDDEN',
          'the access token is for another subscription',
        )
      const a = await answerer.answer(rest)
      send(res, requestId, a.status, a.body, { 'content-type': a.type })
    })
    work.catch((err: unknown) => {
      deps.onError?.(err)
      problem(res, requestId, 'INTERNAL_ERROR')
    })
  }

  return {
    handle(req, res, context) {
      const url = req.url ?? ''
      const q = url.indexOf('?')
      const path = q === -1 ? url : url.slice(0, q)
      const isJwks = path === JWKS_PATH
      const answerer =
        deps.subscriptionLookup !== undefined &&
        path.startsWith(lookupPrefix) &&
        path.length > lookupPrefix.length
          ? { of: deps.subscriptionLookup, prefix: lookupPrefix }
          : deps.usageLookup !== undefined && path.startsWith(usagePrefix) && path.length > usagePrefix.length
            ? { of: deps.usageLookup, prefix: usagePrefix }
            : undefined
      const isLookup = answerer !== undefined
      if (!isJwks && !isLookup && path !== noncePath && path !== tokenPath && path !== refreshPath)
        return false
      const header = req.headers[deps.requestIdHeader]
      const requestId =
        context.requestId ??
        (typeof header === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(header)
          ? header
          : deps.nextRequestId())
      const method = req.method ?? 'GET'
      if (isLookup) {
        req.resume()
        if (method !== 'GET' && method !== 'HEAD') {
          problem(res, requestId, 'METHOD_NOT_ALLOWED', undefined, { allow: 'GET, HEAD' })
          return true
        }
        lookup(res, requestId, path.slice(answerer.prefix.length), req.headers.authorization, answerer.of)
        return true
      }
      const isRead = path === noncePath || isJwks
      if (isRead ? method !== 'GET' && method !== 'HEAD' : method !== 'POST') {
        req.resume()
        problem(res, requestId, 'METHOD_NOT_ALLOWED', undefined, { allow: isRead ? 'GET, HEAD' : 'POST' })
        return true
      }
      if (isJwks) {
        req.resume()
        send(res, requestId, 200, deps.jwks, { 'content-type': 'application/json' })
        return true
      }
      const wait = deps.takePerIp(context.clientAddress(), deps.nowMs())
      if (wait > 0) {
        req.resume()
        problem(res, requestId, 'TOKEN_RATE_LIMITED', 'too many token requests from this client address', {
          'retry-after': String(wait),
        })
        return true
      }
      if (path === noncePath) {
        req.resume()
        answer(res, requestId, deps.service.createNonce())
        return true
      }
      if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
        req.resume()
        problem(res, requestId, 'TOKEN_REQUEST_INVALID', 'content-type must be application/json')
        return true
      }
      const host = req.headers.host ?? (req.headers[':authority'] as string | undefined)
      answer(
        res,
        requestId,
        readJson(req).then((body) =>
          path === tokenPath ? deps.service.issue(body, host) : deps.service.refresh(body),
        ),
      )
      return true
    },
  }
}
