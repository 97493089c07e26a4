// An in-test stand-in for the gateway's TOKEN endpoints of the issue 12 contract (GET {base}/nonce,
// POST {base}/token, POST {base}/token/refresh) and its Bearer admission, for the SDK's unit tests (the anvil
// tests use the real gateway's endpoints).
// It checks what the contract says the gateway checks: the EIP-4361 message (domain = Host, uri = origin,
// chain id, a known single-use nonce, exactly one `urn:litgate:subscription:` resource, not expired) and its
// signature; activation is asked of `isActive` (the anvil tests ask the real gateway's admin listener).
// Refresh tokens rotate; a spent one revokes its family (401 TOKEN_REFRESH_REUSED).
import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { verifyMessage, type Address, type Hex } from 'viem'
import { parseSiweMessage } from 'viem/siwe'

export interface FakeTokenOptions {
  readonly chainId: number
  readonly basePath?: string
  readonly accessTtlSeconds?: number
  readonly refreshTtlSeconds?: number
  /** Whether the subscription grants access now to `address` (owner or beneficiary). */
  readonly isActive: (subscriptionId: Hex, address: Address) => Promise<boolean> | boolean
}

export interface FakeTokenEndpoints {
  /** Answers a token endpoint; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>
  /** The subscription of a valid Bearer token in `req`, 'invalid' for a bad one, undefined without one. */
  bearer(req: IncomingMessage): Hex | 'invalid' | undefined
  /** Revokes every token issued so far (the operator API or a chain event would). */
  revokeAll(): void
  readonly stats: {
    nonces: number
    signIns: number
    inactive: number
    issued: number
    refreshes: number
    refreshReused: number
    /** Every refusal sent, by code. */
    refusals: string[]
    /** The EIP-4361 messages that were accepted. */
    messages: string[]
  }
}

const id = () => randomBytes(24).toString('base64url')

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length
    if (size > 16_384) return undefined
    chunks.push(c)
  }
  try {
    const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

export function createFakeTokenEndpoints(options: FakeTokenOptions): FakeTokenEndpoints {
  const base = options.basePath ?? '/litgate/v1'
  const accessTtl = options.accessTtlSeconds ?? 600
  const refreshTtl = options.refreshTtlSeconds ?? 86_400
  const nonces = new Map<string, boolean>() // nonce → used
  const access = new Map<string, { sub: Hex; fam: string }>()
  const refresh = new Map<string, { sub: Hex; fam: string; plan: string; spent: boolean }>()
  const revoked = new Set<string>()
  const stats: FakeTokenEndpoints['stats'] = {
    nonces: 0,
    signIns: 0,
    inactive: 0,
    issued: 0,
    refreshes: 0,
    refreshReused: 0,
    refusals: [],
    messages: [],
  }

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const problem = status >= 400
    if (problem) stats.refusals.push(String((body as { code: string }).code))
    res.writeHead(status, {
      'content-type': problem ? 'application/problem+json' : 'application/json',
      'cache-control': 'no-store',
      ...headers,
    })
    res.end(JSON.stringify(problem ? { status, requestId: id(), ...(body as object) } : body))
  }

  const issue = (res: ServerResponse, sub: Hex, fam: string) => {
    const accessToken = `fake.${id()}`
    const refreshToken = id()
    access.set(accessToken, { sub, fam })
    refresh.set(refreshToken, { sub, fam, plan: 'pro', spent: false })
    stats.issued++
    send(res, 200, {
      accessToken,
      tokenType: 'Bearer',
      expiresIn: accessTtl,
      refreshToken,
      refreshExpiresIn: refreshTtl,
      subscriptionId: sub,
      plan: 'pro',
      expiresAt: new Date(Date.now() + accessTtl * 1000).toISOString(),
    })
  }

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.signIns++
    const body = await readJson(req)
    const message = body?.['message']
    const signature = body?.['signature']
    if (typeof message !== 'string' || typeof signature !== 'string')
      return send(res, 400, { code: 'TOKEN_REQUEST_INVALID' })
    const host = req.headers.host ?? ''
    const m = parseSiweMessage(message)
    const resource =
      m.resources?.length === 1
        ? /^urn:litgate:subscription:(0x[0-9a-f]{64})$/.exec(m.resources[0] ?? '')
        : null
    const invalid = (why: string) => send(res, 401, { code: 'TOKEN_SIGNATURE_INVALID', detail: why })
    if (m.domain !== host) return invalid(`domain ${String(m.domain)}`)
    if (m.uri !== `http://${host}`) return invalid(`uri ${String(m.uri)}`)
    if (m.version !== '1') return invalid('version')
    if (m.chainId !== options.chainId) return invalid(`chainId ${String(m.chainId)}`)
    if (m.nonce === undefined || nonces.get(m.nonce) !== false) return invalid('nonce unknown or used')
    if (m.expirationTime !== undefined && m.expirationTime.getTime() <= Date.now()) return invalid('expired')
    if (resource === null || m.address === undefined) return invalid('resource')
    const ok = await verifyMessage({ address: m.address, message, signature: signature as Hex })
    if (!ok) return invalid('signature')
    const sub = resource[1] as Hex
    if (!(await options.isActive(sub, m.address))) {
      stats.inactive++
      return send(
        res,
        402,
        { code: 'SUBSCRIPTION_INACTIVE', detail: 'not active yet' },
        { 'retry-after': '1' },
      )
    }
    // As the gateway does: the nonce is spent only when a token is issued (a 402 leaves it usable).
    nonces.set(m.nonce, true)
    stats.messages.push(message)
    issue(res, sub, id())
  }

  async function refreshToken(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.refreshes++
    const body = await readJson(req)
    const presented = body?.['refreshToken']
    const entry = typeof presented === 'string' ? refresh.get(presented) : undefined
    if (entry === undefined || revoked.has(entry.fam))
      return send(res, 401, { code: 'TOKEN_REFRESH_INVALID' })
    if (entry.spent) {
      stats.refreshReused++
      revoked.add(entry.fam)
      return send(res, 401, { code: 'TOKEN_REFRESH_REUSED' })
    }
    entry.spent = true
    issue(res, entry.sub, entry.fam)
  }

  return {
    stats,
    async handle(req, res) {
      const path = (req.url ?? '').split('?')[0]
      if (path === `${base}/nonce` && req.method === 'GET') {
        const nonce = randomBytes(12).toString('hex')
        nonces.set(nonce, false)
        stats.nonces++
        send(res, 200, { nonce, expiresAt: new Date(Date.now() + 300_000).toISOString() })
        return true
      }
      if (path === `${base}/token` && req.method === 'POST') {
        await token(req, res)
        return true
      }
      if (path === `${base}/token/refresh` && req.method === 'POST') {
        await refreshToken(req, res)
        return true
      }
      return false
    },
    bearer(req) {
      const auth = req.headers.authorization
      if (auth === undefined) return undefined
      const entry = access.get(auth.replace(/^Bearer /, ''))
      return entry === undefined || revoked.has(entry.fam) ? 'invalid' : entry.sub
    },
    revokeAll() {
      for (const e of access.values()) revoked.add(e.fam)
    },
  }
}

/** The 401 the contract specifies for a bad token. */
export function sendTokenInvalid(res: ServerResponse): void {
  res.writeHead(401, {
    'content-type': 'application/problem+json',
    'www-authenticate': 'Bearer realm="litgate", error="invalid_token", error_description="revoked"',
  })
  res.end(JSON.stringify({ status: 401, code: 'TOKEN_INVALID', requestId: id() }))
}
