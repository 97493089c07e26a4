/**
 * The gateway's signing account, loaded from a reference (environment variable, file, keystore) — never
 * from the configuration file itself. The key stays in viem's signing closures; the returned signer prints
 * only its address and the reference it was loaded from.
 */
import { readFile } from 'node:fs/promises'
import { inspect } from 'node:util'
import { toHex } from 'viem'
import { privateKeyToAccount, type LocalAccount } from 'viem/accounts'
import { GatewayError } from '../errors/index.ts'
import { decryptKeystore } from './keystore.ts'
import { accountFromMnemonic, ethereumPath, isValidMnemonic } from './mnemonic.ts'
import type { Secret } from './secret.ts'
import type { Address, Hex } from './types.ts'

/** Where the signing key comes from. Every variant holds references, never the secret as a plain field. */
export type SignerSpec =
  | { readonly kind: 'private-key'; readonly key: Secret }
  | { readonly kind: 'mnemonic'; readonly phrase: Secret; readonly index: number }
  | { readonly kind: 'keystore'; readonly path: string; readonly password: Secret }

export interface ChainSigner {
  readonly address: Address
  /** viem local account: signs in-process, holds the key only in closures. */
  readonly account: LocalAccount
  /** Safe description of the key's origin, e.g. `keystore:/run/secrets/hot.json`. */
  readonly source: string
  toJSON(): { address: Address; source: string }
}

export interface LoadSignerDeps {
  readonly readFile?: (path: string) => Promise<string>
}

const PRIVATE_KEY = /^(0x)?[0-9a-fA-F]{64}$/
/** Order of the secp256k1 group (SEC 2 §2.4.1): a private key is an integer in [1, n-1]. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/**
 * Whether `key` is 32 bytes of hex (optional 0x) encoding a valid secp256k1 private key (1 ≤ k < n).
 * Checked before any library sees the key: their errors print the value.
 */
export function isValidPrivateKeyHex(key: string): boolean {
  if (!PRIVATE_KEY.test(key)) return false
  const k = BigInt(key.startsWith('0x') ? key : `0x${key}`)
  return k >= 1n && k < SECP256K1_N
}

/**
 * The account of a validated key. Any library error is replaced by one naming `ref` only: noble's
 * messages include the key as a number ("expected valid private key: … got 0").
 */
function accountOf(key: Hex, ref: string): LocalAccount {
  if (!isValidPrivateKeyHex(key))
    throw new GatewayError(
      'CHAIN_KEY_INVALID',
      `${ref} is not a valid secp256k1 private key (32 bytes of hex, 1 ≤ key < n)`,
    )
  try {
    return privateKeyToAccount(key)
  } catch {
    throw new GatewayError('CHAIN_KEY_INVALID', `${ref} could not be turned into an account`)
  }
}

/** Describes a spec without revealing anything (for logs and status). */
export function describeSignerSpec(spec: SignerSpec): string {
  if (spec.kind === 'private-key') return `private-key:${spec.key.ref}`
  if (spec.kind === 'mnemonic') return `mnemonic:${spec.phrase.ref}#${ethereumPath(spec.index)}`
  return `keystore:${spec.path}`
}

function wrap(account: LocalAccount, source: string): ChainSigner {
  const view = { address: account.address, source }
  return Object.freeze({
    address: account.address,
    account,
    source,
    toJSON: () => view,
    [inspect.custom]: () => `ChainSigner(${account.address}, ${source})`,
  })
}

/** Loads the signer. Throws `CHAIN_KEY_INVALID` naming the reference (never the value) on any problem. */
export async function loadSigner(spec: SignerSpec, deps: LoadSignerDeps = {}): Promise<ChainSigner> {
  const read = deps.readFile ?? ((p: string) => readFile(p, 'utf8'))
  const source = describeSignerSpec(spec)
  const reveal = async (secret: Secret): Promise<string> => {
    try {
      const value = await secret.reveal()
      if (value === '') throw new Error('empty')
      return value
    } catch {
      // The cause may be a file-system error naming the path only; still, keep it out: the ref says enough.
      throw new GatewayError('CHAIN_KEY_INVALID', `${secret.ref} is empty or unreadable`)
    }
  }

  if (spec.kind === 'private-key') {
    const key = await reveal(spec.key)
    if (!PRIVATE_KEY.test(key))
      throw new GatewayError('CHAIN_KEY_INVALID', `${spec.key.ref} is not a 32-byte hex private key`)
    return wrap(accountOf(key.startsWith('0x') ? (key as Hex) : `0x${key}`, spec.key.ref), source)
  }
  if (spec.kind === 'mnemonic') {
    const phrase = await reveal(spec.phrase)
    if (!isValidMnemonic(phrase))
      throw new GatewayError('CHAIN_KEY_INVALID', `${spec.phrase.ref} is not a valid BIP-39 English mnemonic`)
    try {
      return wrap(accountFromMnemonic(phrase, spec.index), source)
    } catch {
      throw new GatewayError(
        'CHAIN_KEY_INVALID',
        `${spec.phrase.ref} did not derive a valid key at ${ethereumPath(spec.index)}`,
      )
    }
  }
  let json: string
  try {
    json = await read(spec.path)
  } catch {
    throw new GatewayError('CHAIN_KEY_INVALID', `keystore ${spec.path} is unreadable`)
  }
  const key = await decryptKeystore(json, await reveal(spec.password))
  try {
    return wrap(accountOf(toHex(key), `keystore ${spec.path}`), source)
  } finally {
    key.fill(0)
  }
}
