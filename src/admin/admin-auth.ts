/**
 * Authentication of the admin listener: bearer tokens from secret references, kept only as SHA-256
 * digests (the raw value is dropped once hashed), compared in constant time, each with an id (the "who"
 * of the audit) and a role. Roles are ordered: admin ⊃ operate ⊃ read.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import type { AdminConfig, AdminRole } from '../config/index.ts'
import { resolveSecretRef, type SecretRefDeps } from '../config/index.ts'
import { GatewayError } from '../errors/index.ts'

export type { AdminRole }

const RANK: Readonly<Record<AdminRole, number>> = { read: 1, operate: 2, admin: 3 }

/** Whether `held` includes everything `needed` allows. */
export function roleAllows(held: AdminRole, needed: AdminRole): boolean {
  return RANK[held] >= RANK[needed]
}

/** Who made an admin request: a configured token, or `anonymous` on an unauthenticated loopback admin. */
export interface AdminActor {
  readonly id: string
  readonly role: AdminRole
}

/** The anonymous actor of an admin listener without tokens (loopback only). */
export const ANONYMOUS: AdminActor = Object.freeze({ id: 'anonymous', role: 'admin' })

/** Shortest accepted token: 32 characters (e.g. `openssl rand -hex 16` gives exactly that). */
export const MIN_TOKEN_LENGTH = 32

/** The digests of the configured tokens and which endpoints stay open; immutable (swapped whole on reload). */
export interface AdminCredentials {
  /** False when no token is configured: every endpoint is open (loopback only). */
  readonly isEnabled: boolean
  readonly openPaths: ReadonlySet<string>
  /** The actor of an `Authorization` header value, or undefined (missing, malformed, unknown). */
  authenticate(authorization: string | undefined): AdminActor | undefined
}

interface Entry {
  readonly actor: AdminActor
  readonly digest: Buffer
}

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest()

/** Credentials from already-read secrets (tests, and loadAdminCredentials). */
export function createAdminCredentials(
  tokens: readonly { readonly id: string; readonly role: AdminRole; readonly secret: string }[],
  openPaths: readonly string[],
): AdminCredentials {
  const entries: Entry[] = tokens.map((t) => ({
    actor: Object.freeze({ id: t.id, role: t.role }),
    digest: sha256(t.secret),
  }))
  return Object.freeze({
    isEnabled: entries.length > 0,
    openPaths: new Set(openPaths),
    authenticate(authorization: string | undefined): AdminActor | undefined {
      if (authorization === undefined) return undefined
      const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)
      if (m === null) return undefined
      const digest = sha256(m[1] as string)
      let found: AdminActor | undefined
      // Every entry is compared (no early exit): the time taken does not tell which one matched.
      for (const e of entries) if (timingSafeEqual(e.digest, digest)) found ??= e.actor
      return found
    },
  })
}

/**
 * Reads every `admin.tokens[i].secret` and hashes it. Throws ADMIN_TOKEN_INVALID naming the field (never
 * the value) for an unreadable or short secret, or one shared by two ids (the audit could not tell who).
 */
export async function loadAdminCredentials(
  admin: AdminConfig,
  deps: SecretRefDeps,
): Promise<AdminCredentials> {
  const read: { id: string; role: AdminRole; secret: string }[] = []
  const owners = new Map<string, string>()
  for (const [i, t] of admin.tokens.entries()) {
    const field = `admin.tokens[${i}].secret`
    const secret = await resolveSecretRef(t.secret, { field, code: 'ADMIN_TOKEN_INVALID' }, deps)
    if (secret.length < MIN_TOKEN_LENGTH)
      throw new GatewayError('ADMIN_TOKEN_INVALID', `${field}: shorter than ${MIN_TOKEN_LENGTH} characters`)
    const key = sha256(secret).toString('hex')
    const other = owners.get(key)
    if (other !== undefined)
      throw new GatewayError('ADMIN_TOKEN_INVALID', `${field}: same secret as token ${other}`)
    owners.set(key, t.id)
    read.push({ id: t.id, role: t.role, secret })
  }
  const credentials = createAdminCredentials(read, admin.openPaths)
  read.length = 0
  return credentials
}

/** True for 127.0.0.0/8, ::1 (also as ::ffff:127.x), and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  if (h.toLowerCase() === 'localhost') return true
  if (isIP(h) === 4) return h.startsWith('127.')
  if (isIP(h) === 6) {
    const lower = h.toLowerCase()
    if (lower.startsWith('::ffff:')) return isLoopbackHost(lower.slice(7))
    return /^(0{0,4}:){2,7}0{0,3}1$/.test(lower) || lower === '::1'
  }
  return false
}

/**
 * Refuses (ADMIN_AUTH_REQUIRED) an admin listener on a non-loopback address without tokens: its reload
 * and revocation endpoints would be open to the network.
 */
export function assertAdminExposure(host: string, credentials: AdminCredentials): void {
  if (!credentials.isEnabled && !isLoopbackHost(host))
    throw new GatewayError(
      'ADMIN_AUTH_REQUIRED',
      `admin.host ${host} is not a loopback address and admin.tokens is empty: configure admin.tokens or bind to 127.0.0.1`,
    )
}
