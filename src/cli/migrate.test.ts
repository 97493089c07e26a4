import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { storageBackends } from '../../test/helpers/storage.ts'
import { createStorage, MIGRATIONS, type Migration, type StorageOptions } from '../storage/index.ts'
import { migrateCommand } from './migrate.ts'

const BASE =
  'version: 1\nlisteners: [{ name: m, port: 8080 }]\nupstreams: [{ id: u, backends: [{ url: "http://127.0.0.1:1" }] }]\nroutes: [{ id: r, match: {}, upstream: u }]\n'

function capture() {
  const out = { stdout: '', stderr: '' }
  return {
    out,
    io: { stdout: (t: string) => void (out.stdout += t), stderr: (t: string) => void (out.stderr += t) },
  }
}

/** A config file whose storage section points at `options` (PostgreSQL URL through an env variable). */
async function configFor(
  dir: string,
  options: StorageOptions,
): Promise<{ file: string; env: Record<string, string> }> {
  const file = join(dir, `litgate-${Math.random().toString(36).slice(2)}.yaml`)
  if (options.backend === 'pglite') {
    await writeFile(file, `${BASE}storage: { dataDir: ${JSON.stringify(options.dataDir)} }\n`)
    return { file, env: {} }
  }
  await writeFile(
    file,
    `${BASE}storage: { url: { fromEnv: LITGATE_TEST_DB }, schema: ${options.schema ?? 'public'} }\n`,
  )
  return { file, env: { LITGATE_TEST_DB: options.url } }
}

for (const backend of storageBackends()) {
  describe(`litgate migrate (${backend.name})`, () => {
    let dir = ''
    after(async () => {
      await backend.close()
      if (dir !== '') await rm(dir, { recursive: true, force: true })
    })

    test(`${backend.name}: applies every migration to an empty database, then reports it up to date`, async () => {
      dir = await mkdtemp(join(tmpdir(), 'litgate-migrate-'))
      const options = await backend.fresh({ onDisk: true })
      const { file, env } = await configFor(dir, options)
      const first = capture()
      assert.equal(await migrateCommand(file, { env }, first.io), 0, first.out.stderr)
      assert.match(first.out.stdout, /applied 1: initial schema/)
      assert.match(first.out.stdout, new RegExp(`migrated from version 0 to ${MIGRATIONS.length}`))
      const second = capture()
      assert.equal(await migrateCommand(file, { env }, second.io), 0, second.out.stderr)
      assert.match(second.out.stdout, new RegExp(`schema up to date \\(version ${MIGRATIONS.length}\\)`))
      if (options.backend === 'postgres') {
        const url = new URL(options.url)
        const printed = first.out.stdout + second.out.stdout
        assert.ok(!printed.includes(`${url.username}:${url.password}@`), 'no credentials printed')
        assert.doesNotMatch(printed, /postgres:\/\//, 'the URL itself is never printed')
      }
    })

    test(`${backend.name}: refuses a database migrated by newer code with exit 1 and STORAGE_SCHEMA_TOO_NEW`, async () => {
      dir ||= await mkdtemp(join(tmpdir(), 'litgate-migrate-'))
      const options = await backend.fresh({ onDisk: true })
      const future: Migration = {
        version: MIGRATIONS.length + 1,
        name: 'future',
        statements: ['CREATE TABLE future_thing (x int)'],
      }
      const newer = await createStorage(options, {}, [...MIGRATIONS, future])
      try {
        await newer.migrate()
      } finally {
        await newer.close()
      }
      const { file, env } = await configFor(dir, options)
      const run = capture()
      assert.equal(await migrateCommand(file, { env }, run.io), 1)
      assert.match(
        run.out.stderr,
        new RegExp(`^error: STORAGE_SCHEMA_TOO_NEW: database schema is at version ${MIGRATIONS.length + 1}`),
      )
    })
  })
}

describe('litgate migrate (config problems)', () => {
  test('an unset URL variable is exit 1 with STORAGE_CONFIG_INVALID naming the variable; no file is exit 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'litgate-migrate-'))
    try {
      const file = join(dir, 'c.yaml')
      await writeFile(file, `${BASE}storage: { url: { fromEnv: LITGATE_NO_SUCH_DB } }\n`)
      const run = capture()
      assert.equal(await migrateCommand(file, { env: {} }, run.io), 1)
      assert.match(
        run.out.stderr,
        /STORAGE_CONFIG_INVALID: storage.url: environment variable LITGATE_NO_SUCH_DB is unset/,
      )
      const none = capture()
      assert.equal(await migrateCommand(undefined, { env: {} }, none.io), 2)
      assert.equal(await migrateCommand(join(dir, 'missing.yaml'), { env: {} }, none.io), 2)
      await writeFile(file, `${BASE}storage: { url: 'postgres://u:p@h/db' }\n`)
      const inline = capture()
      assert.equal(
        await migrateCommand(file, { env: {} }, inline.io),
        2,
        'an inline URL is refused by the schema',
      )
      assert.match(inline.out.stderr, /storage\.url/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
