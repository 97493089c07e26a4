/**
 * BIP-39 mnemonic validation and BIP-44 account derivation (`m/44'/60'/0'/0/i`, the Ethereum path that
 * wallets and anvil use). Derivation goes through viem's HD account; we keep only the derived private key's
 * account and wipe the HD node so the chain code and seed are not kept alive in memory.
 */
import { createHash } from 'node:crypto'
import { toHex } from 'viem'
import { english, mnemonicToAccount, privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts'

const WORD_INDEX: ReadonlyMap<string, number> = new Map(english.map((w, i) => [w, i]))

/** NFKD, lower case, single spaces (BIP-39 §"From mnemonic to seed" normalises with NFKD). */
export function normalizeMnemonic(phrase: string): string {
  return phrase.normalize('NFKD').trim().toLowerCase().split(/\s+/).join(' ')
}

/** Whether `phrase` is a valid English BIP-39 mnemonic: known words, 12–24 of them, correct checksum. */
export function isValidMnemonic(phrase: string): boolean {
  const words = normalizeMnemonic(phrase).split(' ')
  if (![12, 15, 18, 21, 24].includes(words.length)) return false
  let bits = ''
  for (const w of words) {
    const i = WORD_INDEX.get(w)
    if (i === undefined) return false
    bits += i.toString(2).padStart(11, '0')
  }
  const entropyBits = (words.length * 11 * 32) / 33
  const entropy = Buffer.alloc(entropyBits / 8)
  for (let i = 0; i < entropy.length; i++) entropy[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2)
  const checksumBits = entropyBits / 32
  const hash = createHash('sha256').update(entropy).digest()
  const expected = (hash[0] ?? 0) >> (8 - checksumBits)
  entropy.fill(0)
  return expected === parseInt(bits.slice(entropyBits), 2)
}

/** BIP-44 path of Ethereum account `index`. */
export function ethereumPath(index: number): `m/44'/60'/${string}` {
  return `m/44'/60'/0'/0/${index}`
}

/** Derives account `index` of `phrase` (caller validates the phrase first). */
export function accountFromMnemonic(phrase: string, index: number): PrivateKeyAccount {
  const hd = mnemonicToAccount(normalizeMnemonic(phrase), { addressIndex: index }).getHdKey()
  const key = hd.privateKey
  if (key === null) throw new Error('BIP-32 derivation produced no private key')
  try {
    return privateKeyToAccount(toHex(key))
  } finally {
    hd.wipePrivateData()
  }
}
