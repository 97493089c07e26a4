/**
 * Out-of-range and malformed private keys go through the real entry points (loadChainEnv for the
 * environment variable, loadSigner for `_FILE` references and keystores) and every byte that could reach
 * an operator — the error message, its inspected form with causes, a pino log line of it — is scanned for
 * the key in every encoding a library might print (hex either case, with or without 0x, decimal).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { inspect } from 'node:util'
import {
  encryptKeystore,
  loadChainEnv,
  loadSigner,
  secretFromEnv,
  type SignerSpec,
} from '../../src/blockchain/index.ts'
import { isGatewayError } from '../../src/errors/index.ts'
import { captureLog } from './support.ts'

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const hex64 = (v: bigint): string => v.toString(16).padStart(64, '0')

/** Keys of the right shape whose value is outside [1, n-1], and keys of the wrong shape. */
const OUT_OF_RANGE: Record<string, string> = {
  zero: hex64(0n),
  'n (group order)': hex64(N),
  'n + 7': hex64(N + 7n),
  'all ff': 'f'.repeat(64),
}
const MALFORMED: Record<string, string> = {
  'too short': `0x${'5a'.repeat(31)}c`,
  'too long': `0x${'5a'.repeat(33)}`,
  'not hex': `0x${'5a'.repeat(30)}zz5q`,
}

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'litgate-badkey-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Every form in which `key` could leak; zero has no distinctive decimal form, so only its hex counts. */
function leakForms(key: string): string[] {
  const bare = key.replace(/^0x/, '')
  const forms = [bare, bare.toUpperCase()]
  if (/^[0-9a-fA-F]+$/.test(bare) && bare.length >= 32) {
    const value = BigInt(`0x${bare}`)
    if (value > 1_000_000n) forms.push(value.toString(10))
  }
  return forms.map((f) => f.toLowerCase())
}

async function errorOf(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work()
  } catch (err) {
    return err
  }
  assert.fail('expected the key to be refused')
}

/** Asserts the error is CHAIN_KEY_INVALID naming `ref`, and that nothing printed of it holds the key. */
function assertRefusedByReference(err: unknown, ref: string, key: string, what: string): void {
  assert.ok(isGatewayError(err), `${what}: expected a GatewayError, got ${inspect(err)}`)
  assert.ok(err.code === 'CHAIN_KEY_INVALID' || err.code === 'CHAIN_CONFIG_INVALID', `${what}: ${err.code}`)
  assert.ok(err.message.includes(ref), `${what}: message must name ${ref}: ${err.message}`)
  const captured = captureLog()
  captured.log.error({ err }, 'signer refused')
  const output = [
    err.message,
    String(err),
    inspect(err, { depth: 12, showHidden: true }),
    JSON.stringify(err),
    ...captured.lines,
  ]
    .join('\n')
    .toLowerCase()
  for (const form of leakForms(key))
    assert.ok(!output.includes(form), `${what}: the key leaked (${form.slice(0, 6)}…)`)
}

void test('an out-of-range or malformed key in the environment variable is refused by name', async () => {
  for (const [what, key] of Object.entries({ ...OUT_OF_RANGE, ...MALFORMED })) {
    const err = await errorOf(async () =>
      loadChainEnv({ LITGATE_SIGNER: 'private-key', LITGATE_SIGNER_PRIVATE_KEY: key }),
    )
    assertRefusedByReference(err, 'LITGATE_SIGNER_PRIVATE_KEY', key, `env ${what}`)
  }
})

void test('an out-of-range or malformed key behind a _FILE reference is refused by its path', async () => {
  for (const [i, [what, key]] of Object.entries({ ...OUT_OF_RANGE, ...MALFORMED }).entries()) {
    const path = join(dir, `key-${i}`)
    await writeFile(path, `${key}\n`)
    const settings = loadChainEnv({ LITGATE_SIGNER: 'private-key', LITGATE_SIGNER_PRIVATE_KEY_FILE: path })
    const err = await errorOf(() => loadSigner(settings.signer as SignerSpec))
    assertRefusedByReference(err, `file:${path}`, key, `file ${what}`)
  }
})

void test('a keystore that decrypts to an out-of-range key is refused by its path', async () => {
  for (const [i, [what, key]] of Object.entries(OUT_OF_RANGE).entries()) {
    const path = join(dir, `keystore-${i}.json`)
    await writeFile(
      path,
      JSON.stringify(await encryptKeystore(Buffer.from(key, 'hex'), 'pw', { scryptN: 1024 })),
    )
    const err = await errorOf(() =>
      loadSigner({
        kind: 'keystore',
        path,
        password: secretFromEnv('LITGATE_SIGNER_KEYSTORE_PASSWORD', 'pw'),
      }),
    )
    assertRefusedByReference(err, path, key, `keystore ${what}`)
  }
})

void test('a valid key still loads', async () => {
  const signer = await loadSigner({ kind: 'private-key', key: secretFromEnv('K', hex64(N - 1n)) })
  assert.match(signer.address, /^0x[0-9a-fA-F]{40}$/)
})
