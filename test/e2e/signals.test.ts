import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts'
import { admin } from './support.ts'
import { demoAnvilPid, isGone, isPortFree, ROOT, startEntry, waitGone, type Started } from './operator.ts'

const BIN = join(ROOT, 'bin/litgate.js')
const hasNpm = spawnSync('npm', ['--version'], { encoding: 'utf8', timeout: 20_000 }).status === 0

function cfg(upstream: string, routeId: string): string {
  return `version: 1
listeners: [{ name: main, host: 127.0.0.1, port: 0 }]
admin: { enabled: true, port: 0 }
server: { shutdownTimeoutMs: 5000 }
upstreams: [{ id: app, backends: [{ url: "${upstream}" }] }]
routes: [{ id: ${routeId}, match: {}, upstream: app }]
`
}

/**
 * After a stop: the gateway process is gone, both its ports are free again, nothing is orphaned (the
 * demo's anvil included).
 */
async function assertStoppedClean(s: Started): Promise<void> {
  assert.ok(await waitGone(s.gatewayPid, 10_000), `gateway ${s.gatewayPid} still running (orphan)`)
  const anvilPid = demoAnvilPid(s.logs)
  if (anvilPid !== undefined)
    assert.ok(await waitGone(anvilPid, 10_000), `demo anvil ${anvilPid} still running`)
  assert.ok(await waitGone(s.holderPid, 10_000), `holder ${s.holderPid} still running`)
  assert.ok(await isPortFree(s.port), `port ${s.port} still held`)
  assert.ok(await isPortFree(s.adminPort), `admin port ${s.adminPort} still held`)
}

describe('signals reach the gateway (node bin/litgate.js run)', () => {
  let up: TestUpstream
  let dir: string
  before(async () => {
    up = await startUpstream()
    dir = mkdtempSync(join(tmpdir(), 'litgate-signals-'))
  })
  after(async () => {
    await up.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('pid in the serving line, /status and --pid-file; SIGHUP reloads; SIGTERM drains, exits 0, frees the ports, removes the pid file', async () => {
    const file = join(dir, 'direct.yaml')
    const pidFile = join(dir, 'direct.pid')
    writeFileSync(file, cfg(up.url, 'one'))
    const s = await startEntry(process.execPath, [BIN, 'run', '-c', file, '--pid-file', pidFile])
    try {
      assert.equal(s.gatewayPid, s.holderPid, 'node bin/litgate.js is the gateway itself')
      assert.equal(readFileSync(pidFile, 'utf8'), `${s.gatewayPid}\n`)
      const status = JSON.parse((await admin(`http://127.0.0.1:${s.adminPort}/status`)).body) as Record<
        string,
        unknown
      >
      assert.equal(status['pid'], s.gatewayPid)
      assert.equal(status['configFile'], file)
      const before = status['version']

      writeFileSync(file, cfg(up.url, 'two'))
      const from = s.logs.length
      process.kill(s.holderPid, 'SIGHUP')
      const reloaded = await s.waitForLog((l) => l['msg'] === 'config reloaded', from)
      assert.equal(reloaded['trigger'], 'signal')
      const after = JSON.parse((await admin(`http://127.0.0.1:${s.adminPort}/status`)).body) as Record<
        string,
        unknown
      >
      assert.notEqual(after['version'], before)

      process.kill(s.holderPid, 'SIGTERM')
      const exit = await s.holderExited
      assert.equal(exit.code, 0)
      assert.ok(s.logs.some((l) => l['msg'] === 'draining' && l['signal'] === 'SIGTERM'))
      assert.ok(s.logs.some((l) => l['msg'] === 'drained'))
      await assertStoppedClean(s)
      assert.equal(existsSync(pidFile), false, 'pid file removed on a clean exit')
    } finally {
      await s.cleanup()
    }
  })

  test('SIGINT drains and exits 0', async () => {
    const file = join(dir, 'int.yaml')
    writeFileSync(file, cfg(up.url, 'one'))
    const s = await startEntry(process.execPath, [BIN, 'run', '-c', file])
    try {
      process.kill(s.holderPid, 'SIGINT')
      assert.equal((await s.holderExited).code, 0)
      assert.ok(s.logs.some((l) => l['msg'] === 'draining' && l['signal'] === 'SIGINT'))
      await assertStoppedClean(s)
    } finally {
      await s.cleanup()
    }
  })

  test('--pid-file naming a running process refuses to start (PID_FILE_IN_USE) before binding anything', () => {
    const file = join(dir, 'refuse.yaml')
    const pidFile = join(dir, 'refuse.pid')
    writeFileSync(file, cfg(up.url, 'one'))
    writeFileSync(pidFile, `${process.pid}\n`) // this test process: alive
    const r = spawnSync(process.execPath, [BIN, 'run', '-c', file, '--pid-file', pidFile], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    assert.equal(r.status, 1, r.stderr)
    assert.match(
      r.stderr,
      new RegExp(`^error: PID_FILE_IN_USE: pid file .* names process ${process.pid}, which is running`),
    )
    assert.ok(!r.stdout.includes('gateway serving'), 'nothing was bound')
    assert.equal(readFileSync(pidFile, 'utf8'), `${process.pid}\n`, 'the other process keeps its pid file')
  })

  test('a stale pid file (its process is gone) is taken over', async () => {
    const file = join(dir, 'stale.yaml')
    const pidFile = join(dir, 'stale.pid')
    writeFileSync(file, cfg(up.url, 'one'))
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    })
    writeFileSync(pidFile, `${dead.stdout}\n`)
    const s = await startEntry(process.execPath, [BIN, 'run', '-c', file, '--pid-file', pidFile])
    try {
      assert.equal(readFileSync(pidFile, 'utf8'), `${s.gatewayPid}\n`)
      assert.ok(
        s.logs.some(
          (l) => l['msg']?.toString().startsWith('stale pid file') && l['stalePid'] === Number(dead.stdout),
        ),
      )
      process.kill(s.gatewayPid, 'SIGTERM')
      await s.holderExited
      assert.equal(existsSync(pidFile), false)
    } finally {
      await s.cleanup()
    }
  })
})

describe(
  'signals to the npm pid (npm start, npx litgate run)',
  { skip: hasNpm ? false : 'npm not on PATH' },
  () => {
    let up: TestUpstream
    let dir: string
    before(async () => {
      up = await startUpstream()
      dir = mkdtempSync(join(tmpdir(), 'litgate-npm-signals-'))
    })
    after(async () => {
      await up.close()
      rmSync(dir, { recursive: true, force: true })
    })

    const npmStart = (): Promise<Started> => startEntry('npm', ['start', '--', '--port', '0'])

    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      test(`npm start: ${signal} to npm reaches the gateway (npm is its parent: no shell in between); drain, exit, ports free`, async () => {
        const s = await npmStart()
        try {
          assert.notEqual(s.gatewayPid, s.holderPid)
          assert.ok(demoAnvilPid(s.logs) !== undefined, 'npm start runs the demo with its own anvil')
          assert.ok(
            s.logs.some(
              (l) =>
                l['msg']?.toString().startsWith('started by npm') &&
                String(l['wrapperPids']) === String(s.holderPid),
            ),
            'npm is the direct parent',
          )
          process.kill(s.holderPid, signal)
          await s.waitForLog((l) => l['msg'] === 'draining' && l['signal'] === signal)
          await s.waitForLog((l) => l['msg'] === 'stopped')
          await assertStoppedClean(s)
        } finally {
          await s.cleanup()
        }
      })
    }

    test('npm start: SIGHUP kills npm (it forwards no HUP); the gateway sees its wrapper go and drains instead of orphaning', async () => {
      const s = await npmStart()
      try {
        process.kill(s.holderPid, 'SIGHUP')
        const draining = await s.waitForLog((l) => l['msg'] === 'draining')
        assert.equal(draining['reason'], 'wrapper exited')
        assert.equal(draining['wrapperPid'], s.holderPid)
        await assertStoppedClean(s)
      } finally {
        await s.cleanup()
      }
    })

    const npx = (file: string): Promise<Started> =>
      startEntry('npx', ['litgate', 'run', '-c', file], { npm_config_yes: 'true' })

    test("npx: SIGTERM to npm kills npm's sh; the gateway drains and exits, no orphan holds the port", async () => {
      const file = join(dir, 'npx-term.yaml')
      writeFileSync(file, cfg(up.url, 'one'))
      const s = await npx(file)
      try {
        const started = await s.waitForLog(
          (l) => l['msg']?.toString().startsWith('started by npm through a shell') === true,
        )
        assert.equal((started['wrapperPids'] as number[]).length, 2, 'sh and npm')
        process.kill(s.holderPid, 'SIGTERM')
        const draining = await s.waitForLog((l) => l['msg'] === 'draining')
        assert.equal(draining['reason'], 'wrapper exited')
        await assertStoppedClean(s)
        for (const pid of started['wrapperPids'] as number[])
          assert.ok(isGone(pid), `wrapper ${pid} still running`)
      } finally {
        await s.cleanup()
      }
    })

    test('npx: SIGHUP to npm stops the gateway cleanly; SIGHUP to the gateway pid (from the serving line) reloads', async () => {
      const file = join(dir, 'npx-hup.yaml')
      writeFileSync(file, cfg(up.url, 'one'))
      const s = await npx(file)
      try {
        writeFileSync(file, cfg(up.url, 'two'))
        const from = s.logs.length
        process.kill(s.gatewayPid, 'SIGHUP')
        assert.equal((await s.waitForLog((l) => l['msg'] === 'config reloaded', from))['trigger'], 'signal')
        process.kill(s.holderPid, 'SIGHUP')
        assert.equal((await s.waitForLog((l) => l['msg'] === 'draining'))['reason'], 'wrapper exited')
        await assertStoppedClean(s)
      } finally {
        await s.cleanup()
      }
    })
  },
)
