import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { startUpstream } from '../helpers/upstream.ts'
import { admin, metric, spawnLitgate } from './support.ts'

const BIN = resolve(import.meta.dirname, '../../bin/litgate.js')

function cfg(upstream: string, routeId: string, extra = ''): string {
  return `version: 1
listeners: [{ name: main, port: 0 }]
admin: { enabled: true, port: 0 }
${extra}upstreams: [{ id: app, backends: [{ url: "${upstream}" }] }]
routes: [{ id: ${routeId}, match: {}, upstream: app }]
`
}

test('litgate reload: validates locally (invalid → exit 2, nothing sent), then reloads through the admin API', async () => {
  const up = await startUpstream()
  const gw = await spawnLitgate(cfg(up.url, 'one'))
  try {
    const reload = () =>
      spawnSync(process.execPath, [BIN, 'reload', '-c', gw.configFile, '--admin', gw.adminUrl], { encoding: 'utf8', timeout: 20_000 })
    gw.writeConfig('version: 1\nlisteners: []\n')
    const bad = reload()
    assert.equal(bad.status, 2)
    assert.match(bad.stderr, /nothing was sent/)
    assert.equal(metric((await admin(`${gw.adminUrl}/metrics`)).body, 'litgate_reloads_total', { result: 'failure' }), undefined)

    gw.writeConfig(cfg(up.url, 'two'))
    const ok = reload()
    assert.equal(ok.status, 0, ok.stderr)
    assert.match(ok.stdout, /^reloaded: [0-9a-f]{12} -> [0-9a-f]{12}/)
    const again = reload()
    assert.equal(again.status, 0)
    assert.match(again.stdout, /^unchanged: /)

    // Valid locally but refused by the gateway (listener change needs a restart): exit 1, code printed.
    gw.writeConfig(cfg(up.url, 'two').replace('name: main', 'name: other'))
    const refused = reload()
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /CONFIG_RESTART_REQUIRED/)
  } finally {
    await gw.cleanup()
    await up.close()
  }
})

test('reload.watchFile: writing the file reloads it; an invalid write is refused and counted', async () => {
  const up = await startUpstream()
  const watch = 'reload: { watchFile: true, watchDebounceMs: 100 }\n'
  const gw = await spawnLitgate(cfg(up.url, 'one', watch))
  try {
    const from = gw.logs.length
    gw.writeConfig(cfg(up.url, 'two', watch))
    const line = await gw.waitForLog((l) => l['msg'] === 'config reloaded', from)
    assert.equal(line['trigger'], 'watch')
    const from2 = gw.logs.length
    gw.writeConfig(`${cfg(up.url, 'three', watch)}bogus: 1\n`)
    const failed = await gw.waitForLog((l) => String(l['msg']).startsWith('reload failed'), from2)
    assert.equal(failed['code'], 'CONFIG_INVALID')
    const text = (await admin(`${gw.adminUrl}/metrics`)).body
    assert.equal(metric(text, 'litgate_reloads_total', { result: 'failure', code: 'CONFIG_INVALID' }), 1)
    assert.equal(metric(text, 'litgate_config_last_reload_successful'), 0)
    assert.equal((await admin(`${gw.url}/x`)).status, 200)
  } finally {
    await gw.cleanup()
    await up.close()
  }
})
