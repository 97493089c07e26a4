#!/usr/bin/env node
// A minimal `solc` command line for forge, backed by the npm `solc` package (solc-js, pinned 0.8.30), so
// contracts build offline (forge cannot download a native solc here; see shared TOOLCHAIN.md).
// Supports what forge calls: `--version` and `--standard-json` (input on stdin, output on stdout), with
// imports resolved against the cwd and any `--base-path`, `--include-path` and `--allow-paths` roots.
// Plain CommonJS so it runs on the system Node 20 as well as the pinned Node 24.
'use strict'
const fs = require('node:fs')
const path = require('node:path')

function loadSolc() {
  const roots = [path.join(__dirname, '..', 'node_modules'), path.join(__dirname, '..', '..', 'node_modules')]
  for (const root of roots) {
    try {
      return require(require.resolve('solc', { paths: [root] }))
    } catch {
      // try the next root
    }
  }
  return require('solc')
}

const args = process.argv.slice(2)
const solc = loadSolc()

if (args.includes('--version') || args.includes('-v')) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`)
  process.exit(0)
}

if (!args.includes('--standard-json')) {
  process.stderr.write('tools/solc: only --version and --standard-json are supported\n')
  process.exit(2)
}

const roots = [process.cwd()]
for (let i = 0; i < args.length; i++) {
  const flag = args[i]
  if (flag === '--base-path' || flag === '--include-path') {
    if (args[i + 1]) roots.push(path.resolve(args[++i]))
  } else if (flag === '--allow-paths') {
    for (const p of (args[++i] ?? '').split(',')) if (p) roots.push(path.resolve(p))
  } else if (flag.startsWith('--base-path=') || flag.startsWith('--include-path=')) {
    roots.push(path.resolve(flag.slice(flag.indexOf('=') + 1)))
  } else if (flag.startsWith('--allow-paths=')) {
    for (const p of flag.slice('--allow-paths='.length).split(',')) if (p) roots.push(path.resolve(p))
  }
}

function findImports(importPath) {
  const candidates = path.isAbsolute(importPath) ? [importPath] : roots.map((r) => path.join(r, importPath))
  for (const file of candidates) {
    try {
      return { contents: fs.readFileSync(file, 'utf8') }
    } catch {
      // not under this root
    }
  }
  return { error: `File not found: ${importPath}` }
}

const chunks = []
process.stdin.on('data', (c) => chunks.push(c))
process.stdin.on('end', () => {
  const input = Buffer.concat(chunks).toString('utf8')
  const output = solc.compile(input, { import: findImports })
  process.stdout.write(output)
})
