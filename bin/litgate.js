#!/usr/bin/env node
// Entry point. litgate runs its TypeScript sources directly on Node >= 24 (native type stripping).
const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  process.stderr.write(
    `litgate needs Node.js >= 24 (found ${process.versions.node}); run it through npm (npm start / npx litgate), ` +
      'which puts the pinned node@24 from node_modules/.bin first on PATH\n',
  )
  process.exit(1)
}
const { main } = await import('../src/main.ts')
process.exitCode = await main(process.argv.slice(2), process.env)
