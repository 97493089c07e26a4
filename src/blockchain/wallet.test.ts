import assert from 'node:assert/strict'
import { test } from 'node:test'
import { inspect } from 'node:util'
import { isGatewayError } from '../errors/index.ts'
import { decryptKeystore, encryptKeystore } from './keystore.ts'
import { accountFromMnemonic, isValidMnemonic, normalizeMnemonic } from './mnemonic.ts'
import { secretFromEnv, secretFromFile } from './secret.ts'
import { loadSigner } from './wallet.ts'

// Anvil's well-known development mnemonic and its first two accounts (public test vectors).
const DEV_MNEMONIC = 'test test test test test test test test test test test junk'
const DEV_KEY0 = 'ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const DEV_ADDR0 = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
const DEV_ADDR1 = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'

// Web3 Secret Storage spec test vector (PBKDF2-SHA-256), password "testpassword".
const SPEC_PBKDF2 = {
  crypto: {
    cipher: 'aes-128-ctr',
    cipherparams: { iv: '6087dab2f9fdbbfaddc31a909735c1e6' },
    ciphertext: '5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46',
    kdf: 'pbkdf2',
    kdfparams: { c: 262144, dklen: 32, prf: 'hmac-sha256', salt: 'ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd' },
    mac: '517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2',
  },
  id: '3198bc9c-6672-5ab3-d995-4942343ae5b6',
  version: 3,
}
const SPEC_KEY = '7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d'

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e)
  assert.ok(isGatewayError(err), `expected a GatewayError, got ${String(err)}`)
  return err.code
}

void test('decrypts the Web3 Secret Storage PBKDF2 test vector', async () => {
  assert.equal((await decryptKeystore(SPEC_PBKDF2, 'testpassword')).toString('hex'), SPEC_KEY)
})

void test('a wrong keystore password is CHAIN_KEY_INVALID with a MAC message', async () => {
  const err = await decryptKeystore(JSON.stringify(SPEC_PBKDF2), 'nope').catch((e: unknown) => e)
  assert.ok(isGatewayError(err) && err.code === 'CHAIN_KEY_INVALID')
  assert.match(err.message, /MAC mismatch/)
})

void test('scrypt keystore round-trips', async () => {
  const key = Buffer.from(DEV_KEY0, 'hex')
  const ks = await encryptKeystore(key, 'pw', { scryptN: 1024, scryptR: 8 })
  assert.equal(ks.crypto?.kdf, 'scrypt')
  assert.equal((await decryptKeystore(JSON.stringify(ks), 'pw')).toString('hex'), DEV_KEY0)
})

void test('rejects malformed keystores and RFC 7914-violating scrypt parameters', async () => {
  assert.equal(await codeOf(decryptKeystore('{not json', 'pw')), 'CHAIN_KEY_INVALID')
  assert.equal(await codeOf(decryptKeystore({ version: 3 }, 'pw')), 'CHAIN_KEY_INVALID')
  const ks = await encryptKeystore(Buffer.from(DEV_KEY0, 'hex'), 'pw', { scryptN: 1024, scryptR: 8 })
  const bad = { ...ks, crypto: { ...ks.crypto!, kdfparams: { n: 2 ** 18, r: 1, p: 1, dklen: 32, salt: '00' } } }
  assert.equal(await codeOf(decryptKeystore(bad, 'pw')), 'CHAIN_KEY_INVALID')
  const huge = { ...ks, crypto: { ...ks.crypto!, kdfparams: { n: 2 ** 22, r: 8, p: 1, dklen: 32, salt: '00' } } }
  assert.equal(await codeOf(decryptKeystore(huge, 'pw')), 'CHAIN_KEY_INVALID')
})

void test('BIP-39 checksum validation', () => {
  assert.equal(isValidMnemonic(DEV_MNEMONIC), true)
  assert.equal(isValidMnemonic('abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about'), true)
  assert.equal(isValidMnemonic('abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon'), false)
  assert.equal(isValidMnemonic('test test test'), false)
  assert.equal(isValidMnemonic('test test test test test test test test test test test junkx'), false)
  assert.equal(normalizeMnemonic('  Test  test\ttest '), 'test test test')
})

void test("BIP-44 derivation m/44'/60'/0'/0/i matches the well-known dev accounts", () => {
  assert.equal(accountFromMnemonic(DEV_MNEMONIC, 0).address, DEV_ADDR0)
  assert.equal(accountFromMnemonic(DEV_MNEMONIC, 1).address, DEV_ADDR1)
})

void test('loads signers from each kind of reference', async () => {
  const pk = await loadSigner({ kind: 'private-key', key: secretFromEnv('K', `0x${DEV_KEY0}\n`) })
  assert.equal(pk.address, DEV_ADDR0)
  const mn = await loadSigner({ kind: 'mnemonic', phrase: secretFromEnv('M', DEV_MNEMONIC), index: 1 })
  assert.equal(mn.address, DEV_ADDR1)
  const ks = JSON.stringify(await encryptKeystore(Buffer.from(DEV_KEY0, 'hex'), 'pw', { scryptN: 1024 }))
  const files: Record<string, string> = { '/ks.json': ks, '/pw': 'pw\n' }
  const read = async (p: string) => files[p] ?? Promise.reject(new Error(`ENOENT ${p}`))
  const fromKs = await loadSigner({ kind: 'keystore', path: '/ks.json', password: secretFromFile('/pw', read) }, { readFile: read })
  assert.equal(fromKs.address, DEV_ADDR0)
  assert.equal(fromKs.source, 'keystore:/ks.json')
})

void test('loading failures name the reference, never the value', async () => {
  const badKey = 'deadbeef'.repeat(7)
  const err = await loadSigner({ kind: 'private-key', key: secretFromEnv('LITGATE_SIGNER_PRIVATE_KEY', badKey) }).catch((e: unknown) => e)
  assert.ok(isGatewayError(err) && err.code === 'CHAIN_KEY_INVALID')
  assert.match(err.message, /env:LITGATE_SIGNER_PRIVATE_KEY/)
  assert.ok(!inspect(err, { depth: 10 }).includes(badKey))
  const phrase = 'test test test test test test test test test test test test'
  const err2 = await loadSigner({ kind: 'mnemonic', phrase: secretFromEnv('MN', phrase), index: 0 }).catch((e: unknown) => e)
  assert.ok(isGatewayError(err2) && err2.code === 'CHAIN_KEY_INVALID')
  assert.ok(!inspect(err2, { depth: 10 }).includes(phrase))
  assert.equal(await codeOf(loadSigner({ kind: 'private-key', key: secretFromEnv('E', '  ') })), 'CHAIN_KEY_INVALID')
})

void test('secrets and signers print only references and addresses', async () => {
  const secret = secretFromEnv('LITGATE_SIGNER_PRIVATE_KEY', DEV_KEY0)
  const signer = await loadSigner({ kind: 'private-key', key: secret })
  for (const text of [
    JSON.stringify({ secret, signer }),
    inspect({ secret, signer }, { depth: 20, showHidden: true }),
    `${secret}`,
    JSON.stringify(signer.account),
  ]) {
    assert.ok(!text.toLowerCase().includes(DEV_KEY0), text)
  }
  assert.equal(JSON.stringify(secret), '"[secret env:LITGATE_SIGNER_PRIVATE_KEY]"')
  assert.deepEqual(JSON.parse(JSON.stringify(signer)), { address: DEV_ADDR0, source: 'private-key:env:LITGATE_SIGNER_PRIVATE_KEY' })
})
