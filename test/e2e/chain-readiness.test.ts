import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { startAnvil } from '../helpers/anvil.ts'
import { startUpstream, eventually } from '../helpers/upstream.ts'
import { send } from '../helpers/client.ts'

const ROOT = new URL('../..', import.meta.url).pathname

test('chain down: proxying continues, /readyz stays ready and its details show the chain degraded', async () => {
  const anvil = await startAnvil()
  const backend = await startUpstream()
  const dir = await mkdtemp(join(tmpdir(), 'litgate-chain-'))
  const file = join(dir, 'config.json')
  await writeFile(
    file,
    JSON.stringify({
      version: 1,
      listeners: [{ name: 'main', host: '127.0.0.1', port: 0 }],
      admin: { enabled: true, host: '127.0.0.1', port: 0 },
      upstreams: [{ id: 'u', backends: [{ url: backend.url }] }],
      routes: [{ id: 'r', match: {}, upstream: 'u' }],
    }),
  )
  const child = spawn(process.execPath, [join(ROOT, 'bin/litgate.js'), 'run', '-c', file], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      LITGATE_CHAIN: 'anvil',
      LITGATE_CHAIN_RPC_URLS: `local=${anvil.url}`,
      LITGATE_CHAIN_PROBE_INTERVAL_MS: '200',
      LITGATE_CHAIN_RPC_TIMEOUT_MS: '300',
      LITGATE_SIGNER: 'none',
    },
  })
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  const lines: string[] = []
  let gatewayPort = 0
  let adminPort = 0
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line)
    const entry = JSON.parse(line) as {
      msg?: string
      listeners?: Record<string, { port: number }>
      address?: { port: number }
    }
    if (entry.msg === 'gateway serving') gatewayPort = Object.values(entry.listeners ?? {})[0]?.port ?? 0
    if (entry.msg === 'admin listening') adminPort = entry.address?.port ?? 0
  })
  try {
    await eventually(() => gatewayPort > 0 && adminPort > 0, 15_000, 'gateway and admin listening')
    const chainState = async (): Promise<string> => {
      const r = await send(`http://127.0.0.1:${adminPort}/readyz?verbose`)
      return r.json<{ ready: boolean; chain: { state: string } }>().chain.state
    }
    let state = ''
    for (let i = 0; i < 50 && state !== 'up'; i++) {
      state = await chainState()
      if (state !== 'up') await new Promise((r) => setTimeout(r, 100))
    }
    assert.equal(state, 'up')

    await anvil.kill()
    for (let i = 0; i < 50 && state === 'up'; i++) {
      await new Promise((r) => setTimeout(r, 100))
      state = await chainState()
    }
    assert.notEqual(state, 'up', 'the chain is reported degraded or down')
    const ready = await send(`http://127.0.0.1:${adminPort}/readyz?verbose`)
    assert.equal(ready.status, 200, 'the proxy stays ready without the chain')
    assert.equal(ready.json<{ ready: boolean }>().ready, true)
    const proxied = await send(`http://127.0.0.1:${gatewayPort}/still-proxying`)
    assert.equal(proxied.status, 200, 'proxying continues untouched')
  } finally {
    child.kill('SIGTERM')
    await exited
    await anvil.stop()
    await backend.close()
    await rm(dir, { recursive: true, force: true })
  }
})
