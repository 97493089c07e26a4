/**
 * Ed25519 signing keys (EdDSA JWS, RFC 8037) and the access-token codec over jose. The first key signs;
 * every key verifies (rotation with overlap by `kid`). Keys come from secret references as PKCS#8 PEM or a
 * private JWK; neither the key nor the token ever reaches a message.
 */
import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT, type JWK } from 'jose'
import { GatewayError } from '../errors/index.ts'
import { readAccessClaims, type AccessClaims } from './claims.ts'

export interface SigningKey {
  readonly kid: string
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  /** The public JWK served in the JWKS (`kty: OKP`, `crv: Ed25519`, `x`, `kid`, `alg`, `use`). */
  readonly jwk: JWK
}

/**
 * Parses one key: PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) or a private JWK (JSON with `d`). Throws
 * TOKEN_KEY_INVALID naming `kid` and `where` (a secret reference's name, never its value).
 */
export function parseSigningKey(kid: string, text: string, where: string): SigningKey {
  let privateKey: KeyObject
  try {
    const trimmed = text.trim()
    privateKey = trimmed.startsWith('{')
      ? createPrivateKey({ key: JSON.parse(trimmed) as JsonWebKey, format: 'jwk' })
      : createPrivateKey(trimmed)
  } catch {
    throw new GatewayError(
      'TOKEN_KEY_INVALID',
      `paidAccess.tokens.signingKeys ${JSON.stringify(kid)} (${where}) is neither a PKCS#8 PEM nor a private JWK`,
    )
  }
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new GatewayError(
      'TOKEN_KEY_INVALID',
      `paidAccess.tokens.signingKeys ${JSON.stringify(kid)} (${where}) is a ${String(privateKey.asymmetricKeyType)} key, not Ed25519`,
    )
  const publicKey = createPublicKey(privateKey)
  const exported = publicKey.export({ format: 'jwk' })
  const jwk: JWK = Object.freeze({
    kty: 'OKP',
    crv: 'Ed25519',
    x: exported.x as string,
    kid,
    alg: 'EdDSA',
    use: 'sig',
  })
  return Object.freeze({ kid, privateKey, publicKey, jwk })
}

/** Why a token was refused by the codec (bounded: a metrics label and a fixed WWW-Authenticate text). */
export type TokenRefusalReason = 'malformed' | 'signature' | 'expired' | 'claims'

export type VerifyOutcome =
  | { readonly ok: true; readonly claims: AccessClaims }
  | { readonly ok: false; readonly reason: TokenRefusalReason }

export interface AccessTokenCodec {
  sign(claims: AccessClaims): Promise<string>
  /** Signature by a known `kid`, `alg: EdDSA`, iss, aud, exp and nbf (± skew) at `nowMs`, litgate claims. */
  verify(token: string, nowMs: number): Promise<VerifyOutcome>
  /** `GET /.well-known/jwks.json`: the public keys of every configured key (serialised once). */
  readonly jwks: string
}

export interface AccessTokenCodecOptions {
  readonly issuer: string
  readonly audience: string
  readonly clockSkewSeconds: number
}

export function createAccessTokenCodec(
  keys: readonly SigningKey[],
  options: AccessTokenCodecOptions,
): AccessTokenCodec {
  const signer = keys[0]
  if (signer === undefined) throw new Error('createAccessTokenCodec: at least one signing key')
  const byKid = new Map(keys.map((k) => [k.kid, k.publicKey]))
  if (byKid.size !== keys.length) throw new Error('createAccessTokenCodec: key ids must be unique')
  const resolveKey = (header: { kid?: string }): KeyObject => {
    const key = header.kid === undefined ? undefined : byKid.get(header.kid)
    if (key === undefined) throw new joseErrors.JWKSNoMatchingKey()
    return key
  }
  const jwks = JSON.stringify({ keys: keys.map((k) => k.jwk) })
  return {
    jwks,
    sign: (claims) =>
      new SignJWT({ ...claims })
        .setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: 'at+jwt' })
        .sign(signer.privateKey),
    async verify(token, nowMs) {
      try {
        const { payload } = await jwtVerify(token, resolveKey, {
          algorithms: ['EdDSA'],
          issuer: options.issuer,
          audience: options.audience,
          clockTolerance: options.clockSkewSeconds,
          currentDate: new Date(nowMs),
          requiredClaims: ['exp', 'nbf', 'iat', 'sub', 'jti'],
        })
        const claims = readAccessClaims(payload as Record<string, unknown>)
        return claims === undefined ? { ok: false, reason: 'claims' } : { ok: true, claims }
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired) return { ok: false, reason: 'expired' }
        if (err instanceof joseErrors.JWTClaimValidationFailed) return { ok: false, reason: 'claims' }
        if (
          err instanceof joseErrors.JWSSignatureVerificationFailed ||
          err instanceof joseErrors.JWKSNoMatchingKey
        )
          return { ok: false, reason: 'signature' }
        return { ok: false, reason: 'malformed' }
      }
    },
  }
}
