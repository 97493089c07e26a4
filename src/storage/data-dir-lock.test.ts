import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isGatewayError } from '../errors/index.ts'
import { createStorage } from './index.ts'
import { lockDataDir } from './data-dir-lock.ts'

describe('PGlite data directory lock', () => {
  let dir = ''
  after(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  test('a second handle on an open data directory is refused (STORAGE_UNAVAILABLE); free again after close', async () => {
    dir = await mkdtemp(join(tmpdir(), 'litgate-lock-'))
    const dataDir = join(dir, 'data')
    const first = await createStorage({ backend: 'pglite', dataDir })
    try {
      await assert.rejects(createStorage({ backend: 'pglite', dataDir }), (err: unknown) => {
        assert.ok(isGatewayError(err) && err.code === 'STORAGE_UNAVAILABLE', String(err))
        assert.match((err as Error).message, new RegExp(`in use by process ${process.pid}`))
        return true
      })
    } finally {
      await first.close()
    }
    assert.equal(existsSync(`${dataDir}.lock`), false)
    const again = await createStorage({ backend: 'pglite', dataDir })
    await again.close()
  })

  test('a lock left by a process that is gone is taken over', async () => {
    dir ||= await mkdtemp(join(tmpdir(), 'litgate-lock-'))
    const dataDir = join(dir, 'stale')
    const gone = spawnSync(process.execPath, ['-e', '0']).pid
    assert.ok(gone !== undefined)
    await writeFile(`${dataDir}.lock`, `${gone}\n`)
    const release = await lockDataDir(dataDir)
    await assert.rejects(lockDataDir(dataDir), /in use by process/)
    await release()
    await (
      await lockDataDir(dataDir)
    )()
  })
})
