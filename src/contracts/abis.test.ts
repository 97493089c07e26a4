import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { EXPORTED_CONTRACTS, loadArtifacts, mergeProxyAbi } from '../../scripts/gen-abis.ts'
import * as abis from './abis.ts'
import * as bytecode from './bytecode.ts'

const root = join(import.meta.dirname, '..', '..')
const forge = join(root, 'contracts', 'tools', 'forge')

test(
  'committed ABIs and bytecode match a fresh forge build (run `node scripts/gen-abis.ts` after contract changes)',
  {
    skip: process.env.LITGATE_SKIP_CONTRACTS === '1' || !existsSync(join(root, 'contracts', 'foundry.toml')),
  },
  () => {
    // Incremental: forge reuses contracts/cache, so this is fast after `npm test`'s forge run.
    const build = spawnSync(forge, ['build', '--root', 'contracts'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 300_000,
    })
    assert.equal(build.status, 0, `forge build failed:\n${build.stdout}\n${build.stderr}`)
    const artifacts = loadArtifacts(join(root, 'contracts', 'out'))
    const committedAbis = abis as Record<string, unknown>
    const committedBytecode = bytecode as Record<string, unknown>
    for (const [name, prefix] of EXPORTED_CONTRACTS) {
      const fresh = artifacts.get(name)
      assert.ok(fresh, `artifact ${name}`)
      assert.deepEqual(committedAbis[`${prefix}Abi`], fresh.abi, `${name} ABI drifted`)
      assert.equal(committedBytecode[`${prefix}Bytecode`], fresh.bytecode, `${name} bytecode drifted`)
    }
    assert.deepEqual(committedAbis.paymentProcessorAbi, mergeProxyAbi(artifacts), 'merged proxy ABI drifted')
  },
)
