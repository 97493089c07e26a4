import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, symlinkSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { startUpstream } from '../helpers/upstream.ts'
import { admin, metric, spawnLitgate } from './support.ts'

const BIN = resolve(import.meta.dirname, '../../bin/litgate.js')

function reload(...args: string[]) {
  return reloadWith({}, ...args)
}

function reloadWith(env: Record<string, string>, ...args: string[]) {
  return spawnSync(process.execPath, [BIN, 'reload', ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, ...env },
  })
}

test('litgate reload: --admin host:port; a warning when -c is not the file the gateway loaded (from /status)', async () => {
  const up = await startUpstream()
  const gw = await spawnLitgate(`version: 1
listeners: [{ name: main, port: 0 }]
admin: { enabled: true, port: 0 }
upstreams: [{ id: app, backends: [{ url: "${up.url}" }] }]
routes: [{ id: one, match: {}, upstream: app }]
`)
  try {
    const hostPort = new URL(gw.adminUrl).host // 127.0.0.1:PORT
    const status = JSON.parse((await admin(`${gw.adminUrl}/status`)).body) as Record<string, unknown>
    assert.equal(status['configFile'], gw.configFile)

    const same = reload('-c', gw.configFile, '--admin', hostPort)
    assert.equal(same.status, 0, same.stderr)
    assert.match(same.stdout, /^unchanged: /)
    assert.equal(same.stderr, '', 'the running file: no warning')

    const linked = join(dirname(gw.configFile), 'linked.yaml')
    symlinkSync(gw.configFile, linked)
    const viaLink = reload('-c', linked, '--admin', `:${new URL(gw.adminUrl).port}`)
    assert.equal(viaLink.status, 0, viaLink.stderr)
    assert.equal(viaLink.stderr, '', 'a symlink to the running file is the same file')

    const other = join(dirname(gw.configFile), 'other.yaml')
    copyFileSync(gw.configFile, other)
    const wrong = reload('-c', other, '--admin', hostPort)
    assert.equal(wrong.status, 0, wrong.stderr)
    assert.ok(
      wrong.stderr.includes(
        `warning: ${other} is not the file the gateway at ${hostPort} loaded (${gw.configFile}); it reloads ${gw.configFile}`,
      ),
      wrong.stderr,
    )

    const bad = reload('-c', gw.configFile, '--admin', '127.0.0.1')
    assert.equal(bad.status, 2)
    assert.match(bad.stderr, /^invalid --admin "127\.0\.0\.1": no port \(expected host:port/)
    const metrics = (await admin(`${gw.adminUrl}/metrics`)).body
    assert.equal(
      metric(metrics, 'litgate_reloads_total', { result: 'unchanged' }),
      3,
      'the bad value sent nothing',
    )
  } finally {
    await gw.cleanup()
    await up.close()
  }
})

test('litgate reload against an admin API with tokens: refused without LITGATE_ADMIN_TOKEN, applied with it', async () => {
  const up = await startUpstream()
  const token = 'c'.repeat(48)
  const gw = await spawnLitgate(
    `version: 1
listeners: [{ name: main, port: 0 }]
admin: { enabled: true, port: 0, tokens: [{ id: deploy, role: operate, secret: { fromEnv: ADMIN_DEPLOY_TOKEN } }] }
upstreams: [{ id: app, backends: [{ url: "${up.url}" }] }]
routes: [{ id: one, match: {}, upstream: app }]
`,
    { env: { ADMIN_DEPLOY_TOKEN: token } },
  )
  try {
    const hostPort = new URL(gw.adminUrl).host
    const refused = reloadWith({ LITGATE_ADMIN_TOKEN: '' }, '-c', gw.configFile, '--admin', hostPort)
    assert.equal(refused.status, 1, refused.stderr)
    assert.match(refused.stderr, /error: the admin API refused the reload: ADMIN_UNAUTHORIZED/)
    const applied = reloadWith({ LITGATE_ADMIN_TOKEN: token }, '-c', gw.configFile, '--admin', hostPort)
    assert.equal(applied.status, 0, applied.stderr)
    assert.match(applied.stdout, /^unchanged: /)
    assert.ok(!applied.stderr.includes(token) && !applied.stdout.includes(token))
  } finally {
    await gw.cleanup()
    await up.close()
  }
})
