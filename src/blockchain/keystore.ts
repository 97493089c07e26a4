/**
 * Web3 Secret Storage (keystore v3) encryption and decryption: the at-rest form recommended for the
 * gateway's hot-wallet key (https://ethereum.org/en/developers/docs/data-structures-and-encoding/web3-secret-storage/).
 * KDF scrypt (or pbkdf2-hmac-sha256 for older files), cipher aes-128-ctr, MAC = keccak256(dk[16..32] ‖ ciphertext).
 * Uses node:crypto (scrypt runs on the libuv thread pool, so decrypting never blocks the event loop).
 */
import { createCipheriv, createDecipheriv, pbkdf2, randomBytes, randomUUID, scrypt, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import { keccak256 } from 'viem'
import { z } from 'zod'
import { GatewayError } from '../errors/index.ts'

const scryptAsync = promisify(scrypt) as (pw: Buffer, salt: Buffer, keylen: number, opts: object) => Promise<Buffer>
const pbkdf2Async = promisify(pbkdf2)

const hexString = z.string().regex(/^(0x)?[0-9a-fA-F]*$/)
// Upper bounds keep a hostile or corrupt file from pinning CPU/memory (geth "standard" is N=2^18, r=8, p=1).
const scryptParams = z.object({
  kdf: z.literal('scrypt'),
  kdfparams: z.object({
    n: z.number().int().min(2).max(2 ** 20),
    r: z.number().int().min(1).max(16),
    p: z.number().int().min(1).max(16),
    dklen: z.literal(32),
    salt: hexString,
  }),
})
// RFC 7914 §2: N < 2^(128·r/8). OpenSSL enforces it (the spec page's r=1, N=2^18 sample violates it).
const isRfc7914 = (n: number, r: number): boolean => 16 * r > 52 || n < 2 ** (16 * r)
const pbkdf2Params = z.object({
  kdf: z.literal('pbkdf2'),
  kdfparams: z.object({
    c: z.number().int().min(1).max(10_000_000),
    prf: z.literal('hmac-sha256'),
    dklen: z.literal(32),
    salt: hexString,
  }),
})
const cryptoSection = z.intersection(
  z.object({
    cipher: z.literal('aes-128-ctr'),
    cipherparams: z.object({ iv: hexString }),
    ciphertext: hexString,
    mac: hexString,
  }),
  z.discriminatedUnion('kdf', [scryptParams, pbkdf2Params]),
)
const keystoreFile = z.object({
  version: z.literal(3),
  id: z.string().optional(),
  address: z.string().optional(),
  crypto: cryptoSection.optional(),
  Crypto: cryptoSection.optional(), // some older tools capitalise it
})

/** A parsed keystore v3 document. */
export type KeystoreV3 = z.infer<typeof keystoreFile>

const hex = (s: string): Buffer => Buffer.from(s.startsWith('0x') ? s.slice(2) : s, 'hex')

async function deriveKey(password: string, c: z.infer<typeof cryptoSection>): Promise<Buffer> {
  const pw = Buffer.from(password, 'utf8')
  if (c.kdf === 'scrypt') {
    const { n, r, p, dklen, salt } = c.kdfparams
    if (!isRfc7914(n, r)) throw new GatewayError('CHAIN_KEY_INVALID', 'keystore scrypt parameters violate RFC 7914 (N must be < 2^(16·r))')
    return scryptAsync(pw, hex(salt), dklen, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 })
  }
  const { c: iterations, dklen, salt } = c.kdfparams
  return pbkdf2Async(pw, hex(salt), iterations, dklen, 'sha256')
}

function mac(derived: Buffer, ciphertext: Buffer): Buffer {
  return hex(keccak256(Buffer.concat([derived.subarray(16, 32), ciphertext])))
}

/**
 * Decrypts a keystore (JSON text or parsed object) to the raw 32-byte private key. Throws
 * `CHAIN_KEY_INVALID` for a malformed file or a wrong password; messages never include key material.
 * The caller should `fill(0)` the returned buffer once it has derived the account.
 */
export async function decryptKeystore(json: string | unknown, password: string): Promise<Buffer> {
  let doc: unknown
  try {
    doc = typeof json === 'string' ? JSON.parse(json) : json
  } catch {
    throw new GatewayError('CHAIN_KEY_INVALID', 'keystore is not valid JSON')
  }
  const parsed = keystoreFile.safeParse(doc)
  const c = parsed.success ? (parsed.data.crypto ?? parsed.data.Crypto) : undefined
  if (c === undefined) {
    throw new GatewayError('CHAIN_KEY_INVALID', 'keystore is not a supported Web3 Secret Storage v3 document (scrypt or pbkdf2, aes-128-ctr)')
  }
  const derived = await deriveKey(password, c)
  try {
    const ciphertext = hex(c.ciphertext)
    const expected = hex(c.mac)
    const actual = mac(derived, ciphertext)
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
      throw new GatewayError('CHAIN_KEY_INVALID', 'keystore MAC mismatch: wrong password or corrupt file')
    }
    const decipher = createDecipheriv('aes-128-ctr', derived.subarray(0, 16), hex(c.cipherparams.iv))
    const key = Buffer.concat([decipher.update(ciphertext), decipher.final()])
    if (key.length !== 32) {
      key.fill(0)
      throw new GatewayError('CHAIN_KEY_INVALID', 'keystore does not hold a 32-byte key')
    }
    return key
  } finally {
    derived.fill(0)
  }
}

export interface EncryptKeystoreOptions {
  /** scrypt cost; the default 2^18 matches geth's "standard" setting. Tests use small values. */
  readonly scryptN?: number
  readonly scryptR?: number
  readonly scryptP?: number
  /** Lower-case hex address without 0x, stored for tooling that lists keystores. */
  readonly address?: string
}

/** Encrypts a 32-byte private key as a keystore v3 document (scrypt, aes-128-ctr). */
export async function encryptKeystore(privateKey: Uint8Array, password: string, options: EncryptKeystoreOptions = {}): Promise<KeystoreV3> {
  if (privateKey.length !== 32) throw new GatewayError('CHAIN_KEY_INVALID', 'a private key has 32 bytes')
  const n = options.scryptN ?? 2 ** 18
  const r = options.scryptR ?? 8
  const p = options.scryptP ?? 1
  const salt = randomBytes(32)
  const iv = randomBytes(16)
  const derived = await scryptAsync(Buffer.from(password, 'utf8'), salt, 32, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 })
  try {
    const cipher = createCipheriv('aes-128-ctr', derived.subarray(0, 16), iv)
    const ciphertext = Buffer.concat([cipher.update(privateKey), cipher.final()])
    return {
      version: 3,
      id: randomUUID(),
      ...(options.address === undefined ? {} : { address: options.address }),
      crypto: {
        cipher: 'aes-128-ctr',
        cipherparams: { iv: iv.toString('hex') },
        ciphertext: ciphertext.toString('hex'),
        kdf: 'scrypt',
        kdfparams: { n, r, p, dklen: 32, salt: salt.toString('hex') },
        mac: mac(derived, ciphertext).toString('hex'),
      },
    }
  } finally {
    derived.fill(0)
  }
}
