// packages/client stands alone: it imports viem and its own files only (never the gateway's src/), its
// package.json declares viem as a peer dependency and nothing else, and the README's integration is the
// typechecked examples/basic.ts, under 50 lines.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

const PKG = new URL('../../packages/client/', import.meta.url).pathname
const IMPORT = /^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'/gm

test('the SDK imports only viem and its own modules', () => {
  const src = join(PKG, 'src')
  const outside: string[] = []
  for (const name of readdirSync(src)) {
    for (const m of readFileSync(join(src, name), 'utf8').matchAll(IMPORT)) {
      const target = m[1] as string
      const ok = target === 'viem' || target.startsWith('viem/') || /^\.\/[a-z-]+\.ts$/.test(target)
      if (!ok) outside.push(`${name} -> ${target}`)
    }
  }
  assert.deepEqual(outside, [])
  const pkg = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')) as Record<string, unknown>
  assert.equal(pkg['name'], '@litgate/client')
  assert.equal(pkg['type'], 'module')
  assert.deepEqual(Object.keys(pkg['peerDependencies'] as object), ['viem'])
  assert.equal(pkg['dependencies'], undefined)
})

test("the README's complete integration is examples/basic.ts and stays under 50 lines", () => {
  const readme = readFileSync(join(PKG, 'README.md'), 'utf8')
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1]
  assert.ok(block, 'a ts block')
  assert.equal(block, readFileSync(join(PKG, 'examples/basic.ts'), 'utf8'))
  assert.ok(block.split('\n').length < 50, `${block.split('\n').length} lines`)
})
