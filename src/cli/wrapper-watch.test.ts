import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { findNpmWrapper, readProc, watchWrapper, type ProcInfo } from './wrapper-watch.ts'

function table(entries: Record<number, ProcInfo>): (pid: number) => ProcInfo | undefined {
  return (pid) => entries[pid]
}

const NPM_EXEC: ProcInfo = { ppid: 1, comm: 'npm exec litgat', cmdline: 'npm exec litgate run -c x.yaml' }
const SH: ProcInfo = { ppid: 100, comm: 'sh', cmdline: "sh -c 'litgate' run -c x.yaml" }

describe('npm wrapper', () => {
  test('npm as the parent (npm start with exec) is the chain', () => {
    assert.deepEqual(findNpmWrapper(100, table({ 100: { ...NPM_EXEC, cmdline: 'npm start' } })), [100])
  })

  test("npx: npm's own sh -c between npm and the gateway is watched with npm", () => {
    assert.deepEqual(findNpmWrapper(200, table({ 100: NPM_EXEC, 200: SH })), [200, 100])
    // npm's title not set: the script path still tells it is npm
    const plain = {
      ppid: 1,
      comm: 'node',
      cmdline: '/usr/bin/node /usr/lib/node_modules/npm/bin/npm-cli.js exec litgate',
    }
    assert.deepEqual(findNpmWrapper(200, table({ 100: plain, 200: SH })), [200, 100])
  })

  test('a gateway started by a shell, systemd or a script is not watched', () => {
    assert.deepEqual(
      findNpmWrapper(200, table({ 100: { ppid: 1, comm: 'bash', cmdline: '-bash' }, 200: SH })),
      [],
    )
    assert.deepEqual(findNpmWrapper(1, table({ 1: { ppid: 0, comm: 'systemd', cmdline: '/sbin/init' } })), [])
    assert.deepEqual(findNpmWrapper(300, table({})), [])
  })

  test('the /proc reader parses our own process', () => {
    const self = readProc(process.pid)
    assert.equal(self?.ppid, process.ppid)
    assert.match(self?.cmdline ?? '', /node|test/)
  })

  test('fires once when the npm process above the shell dies (the shell is re-parented)', async () => {
    const procs: Record<number, ProcInfo> = { 100: NPM_EXEC, 200: SH }
    const gone: number[] = []
    const stop = watchWrapper([200, 100], {
      ppid: () => 200,
      read: table(procs),
      intervalMs: 5,
      onGone: (p) => gone.push(p),
    })
    await new Promise((r) => setTimeout(r, 30))
    assert.deepEqual(gone, [], 'nothing happened: no call')
    procs[200] = { ...SH, ppid: 1 }
    await new Promise((r) => setTimeout(r, 30))
    stop()
    assert.deepEqual(gone, [100])
  })

  test('fires when the direct parent dies (we are re-parented), and stops watching after', async () => {
    let ppid = 200
    const gone: number[] = []
    const stop = watchWrapper([200, 100], {
      ppid: () => ppid,
      read: table({ 100: NPM_EXEC, 200: SH }),
      intervalMs: 5,
      onGone: (p) => gone.push(p),
    })
    ppid = 1
    await new Promise((r) => setTimeout(r, 40))
    stop()
    assert.deepEqual(gone, [200])
  })

  test('an empty chain watches nothing', () => {
    const stop = watchWrapper([], {
      ppid: () => 1,
      read: () => undefined,
      intervalMs: 1,
      onGone: () => assert.fail(),
    })
    stop()
  })
})
