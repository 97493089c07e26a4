import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describeVersion, formatVersion, type RunGit } from './version.ts'

function packageDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'litgate-version-'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'litgate', version: '9.8.7' }))
  return dir
}

test('a git checkout reports its commit (dirty when tracked files changed)', () => {
  const dir = packageDir()
  try {
    const clean: RunGit = (_cwd, args) => (args[0] === 'status' ? '' : `${dir}\nabcdef123456`)
    assert.deepEqual(describeVersion(dir, clean), { version: '9.8.7', commit: 'abcdef123456' })
    const dirty: RunGit = (_cwd, args) => (args[0] === 'status' ? ' M src/main.ts' : `${dir}\nabcdef123456`)
    assert.equal(describeVersion(dir, dirty).commit, 'abcdef123456-dirty')
    assert.equal(
      formatVersion({ version: '9.8.7', commit: 'abcdef123456' }),
      'litgate 9.8.7 (commit abcdef123456)\n',
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('no git, no checkout, or a checkout of some other repository: commit unknown, never a failure', () => {
  const dir = packageDir()
  try {
    assert.equal(describeVersion(dir, () => undefined).commit, 'unknown')
    assert.equal(describeVersion(dir, () => 'garbage').commit, 'unknown')
    // litgate under another project's node_modules: git answers for that project's top level.
    mkdirSync(join(dir, 'outer'))
    assert.equal(describeVersion(dir, () => `${join(dir, 'outer')}\nabcdef123456`).commit, 'unknown')
    assert.deepEqual(
      describeVersion(join(dir, 'nope'), () => undefined),
      { version: 'unknown', commit: 'unknown' },
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
