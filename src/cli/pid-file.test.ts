import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkPidFile, isProcessAlive, readPidFile, removePidFile, writePidFile } from './pid-file.ts'
import { isGatewayError } from '../errors/index.ts'

/** The pid of a process that has exited (spawned and waited for). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await new Promise((r) => child.once('exit', r))
  return child.pid as number
}

describe('pid file', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'litgate-pid-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('is written whole through a temporary file and rename, leaving nothing else behind', () => {
    const path = join(dir, 'a.pid')
    writePidFile(path, 4242)
    assert.equal(readFileSync(path, 'utf8'), '4242\n')
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('a.pid')),
      ['a.pid'],
    )
    writePidFile(path, 4343)
    assert.equal(readPidFile(path), 4343)
  })

  test('a file naming a live process refuses the start (PID_FILE_IN_USE)', () => {
    const path = join(dir, 'live.pid')
    writeFileSync(path, `${process.ppid}\n`) // our parent: alive, not us
    assert.throws(
      () => checkPidFile(path, process.pid),
      (err: unknown) =>
        isGatewayError(err) && err.code === 'PID_FILE_IN_USE' && err.message.includes(String(process.ppid)),
    )
  })

  test('a stale file (dead pid), our own pid, garbage or no file do not refuse', async () => {
    const path = join(dir, 'stale.pid')
    const dead = await deadPid()
    assert.equal(isProcessAlive(dead), false)
    writeFileSync(path, `${dead}\n`)
    assert.equal(checkPidFile(path, process.pid), dead)
    writeFileSync(path, `${process.pid}\n`)
    assert.equal(checkPidFile(path, process.pid), undefined)
    writeFileSync(path, 'not a pid\n')
    assert.equal(checkPidFile(path, process.pid), undefined)
    assert.equal(checkPidFile(join(dir, 'none.pid'), process.pid), undefined)
  })

  test('an unwritable location is PID_FILE_FAILED naming the path', () => {
    const path = join(dir, 'missing-dir', 'x.pid')
    assert.throws(
      () => writePidFile(path, 1),
      (err: unknown) => isGatewayError(err) && err.code === 'PID_FILE_FAILED' && err.message.includes(path),
    )
  })

  test('is removed only while it still names us', () => {
    const path = join(dir, 'rm.pid')
    writePidFile(path, 777)
    removePidFile(path, 778)
    assert.ok(existsSync(path), 'a file naming another process is left alone')
    removePidFile(path, 777)
    assert.equal(existsSync(path), false)
  })
})
