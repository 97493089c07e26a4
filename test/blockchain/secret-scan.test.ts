/**
 * Keys, mnemonics, keystore passwords and RPC credentials never appear in any output: runs a complete
 * chain scenario (fixtures/secret-run.ts) in a child process with fresh random secrets and scans every
 * byte it writes — logs at trace level, inspected errors with causes, status, metrics, runtime objects.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { toHex } from 'viem'
import { english, generateMnemonic, privateKeyToAccount } from 'viem/accounts'
import { encryptKeystore } from '../../src/blockchain/index.ts'
import { startAnvil, type AnvilInstance } from '../helpers/anvil.ts'
import { startTcpFault, type TcpFault } from '../helpers/tcp-fault.ts'

let anvil: AnvilInstance
let dead: TcpFault
let dir: string

before(async () => {
  ;[anvil, dead, dir] = await Promise.all([
    startAnvil({ chainId: 31337 }),
    startTcpFault({ mode: 'reset' }),
    mkdtemp(join(tmpdir(), 'litgate-secrets-')),
  ])
})
after(async () => {
  await Promise.all([anvil.stop(), dead.close(), rm(dir, { recursive: true, force: true })])
})

void test('no secret appears in any output of a full run', async (t) => {
  const key = randomBytes(32)
  const keyHex = key.toString('hex')
  const account = privateKeyToAccount(toHex(key))
  const mnemonic = generateMnemonic(english)
  const password = `pw-${randomBytes(12).toString('hex')}`
  const apiKey = `key${randomBytes(10).toString('hex')}`
  const basicPassword = `bp${randomBytes(10).toString('hex')}`
  const keystorePath = join(dir, 'hot.json')
  await writeFile(keystorePath, JSON.stringify(await encryptKeystore(key, password, { scryptN: 1024 })))
  await anvil.rpc('anvil_setBalance', [account.address, '0x56bc75e2d63100000'])

  const env = {
    PATH: process.env.PATH,
    LITGATE_CHAIN: 'anvil',
    // Two live endpoints besides the dead one: verified reads (the sender's confirmations) need two answers.
    LITGATE_CHAIN_RPC_URLS: `primary=http://ops:${basicPassword}@127.0.0.1:${dead.port}/v1/${apiKey},backup=http://ops:${basicPassword}@127.0.0.1:${anvil.port}/?apikey=${apiKey},backup2=http://ops:${basicPassword}@127.0.0.1:${anvil.port}/?key2=${apiKey}`,
    LITGATE_CHAIN_MAX_FEE_GWEI: '50',
    LITGATE_CHAIN_RPC_TIMEOUT_MS: '500',
    LITGATE_CHAIN_TX_POLL_MS: '50',
    LITGATE_SIGNER: 'keystore',
    LITGATE_SIGNER_KEYSTORE: keystorePath,
    LITGATE_SIGNER_KEYSTORE_PASSWORD: password,
    TEST_EXTRA_MNEMONIC: mnemonic,
    TEST_RAW_KEY: keyHex,
    ANVIL_CONTROL_URL: anvil.url,
  }
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'secret-run.ts')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr.on('data', (d: Buffer) => (output += d.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  t.diagnostic(`scanned ${output.length} bytes of output`)

  // The scenario really ran: success, failover, and every error path.
  assert.equal(code, 0, output.slice(-3_000))
  for (const marker of [
    'SCENARIO DONE',
    '"msg":"transaction confirmed"',
    '"endpoint":"primary"',
    'CHAIN_FEE_CAP_EXCEEDED',
    'CHAIN_KEY_INVALID',
    'CHAIN_CONFIG_INVALID',
    'CHAIN_RPC_ERROR',
    'litgate_chain_rpc_failures_total{endpoint="primary"',
    account.address,
  ]) {
    assert.ok(output.includes(marker), `missing marker ${marker}`)
  }

  const lower = output.toLowerCase()
  const secrets: Record<string, string> = {
    'private key': keyHex,
    'keystore password': password,
    'RPC API key': apiKey,
    'RPC basic-auth password': basicPassword,
    mnemonic,
    'mnemonic (first 4 words)': mnemonic.split(' ').slice(0, 4).join(' '),
  }
  for (const [what, secret] of Object.entries(secrets)) {
    assert.ok(!lower.includes(secret.toLowerCase()), `${what} leaked into the output`)
  }
  // Also not base64-encoded (e.g. an Authorization header dumped by an HTTP client).
  assert.ok(
    !output.includes(Buffer.from(`ops:${basicPassword}`).toString('base64')),
    'basic-auth header leaked',
  )
})
