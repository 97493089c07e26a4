/**
 * The demo's database: PGlite in a fresh data directory each run. PGlite's first start runs initdb in
 * WebAssembly (4–10 s of CPU on a loaded 2-core host, blocking the event loop); opening an existing
 * directory takes under a second. So the first run builds a pristine, migrated template directory in a
 * cache (keyed by the PGlite version and the migrations' checksums) and every run copies it into its own
 * temporary directory: still a new, empty database each time, only without initdb.
 */
import { createHash, randomBytes } from 'node:crypto'
import { constants, existsSync, readFileSync } from 'node:fs'
import { copyFile, mkdir, readdir, rename, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { MIGRATIONS, migrationChecksum, openStorage } from '../storage/index.ts'

type Opened = Awaited<ReturnType<typeof openStorage>>

export interface DemoStorage extends Opened {
  /** `template`: copied from the cache; `fresh`: initdb ran (no cache, or the template failed). */
  readonly source: 'template' | 'fresh'
}

export interface DemoStorageOptions {
  /** The run's own data directory (must not exist yet). */
  readonly dataDir: string
  /** Where the template lives; undefined: no cache, initdb every run. */
  readonly cacheDir: string | undefined
  readonly onIdleError?: (err: Error) => void
}

/** The installed PGlite's version (its package.json is not exported: found above its entry point). */
function pgliteVersion(): string {
  let dir = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'))
  for (let i = 0; i < 5; i++) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string
        version?: string
      }
      if (manifest.name === '@electric-sql/pglite' && manifest.version !== undefined) return manifest.version
    } catch {
      // no package.json at this level
    }
    dir = dirname(dir)
  }
  throw new Error('cannot find the version of @electric-sql/pglite')
}

/** The template's name: changes with the PGlite build and with every migration. */
export function templateKey(): string {
  const hash = createHash('sha256').update(`pglite ${pgliteVersion()}\n`)
  for (const m of MIGRATIONS) hash.update(`${migrationChecksum(m)}\n`)
  return `pglite-template-${hash.digest('hex').slice(0, 16)}`
}

async function buildTemplate(template: string): Promise<void> {
  const building = `${template}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    const { storage } = await openStorage({ backend: 'pglite', dataDir: building })
    await storage.close()
    // Atomic: a concurrent demo that built it first wins, this copy is dropped.
    await rename(building, template).catch(() => undefined)
  } finally {
    await rm(building, { recursive: true, force: true })
    await rm(`${building}.lock`, { force: true })
  }
}

/**
 * Copies a directory tree with `concurrency` file copies in flight (a data directory is about a thousand
 * small files: `fs.cp` copies them one by one, ten times slower). Clones on file systems that can.
 */
export async function copyTree(from: string, to: string, concurrency = 16): Promise<void> {
  const files: Array<readonly [string, string]> = []
  const walk = async (a: string, b: string): Promise<void> => {
    await mkdir(b, { recursive: true })
    for (const entry of await readdir(a, { withFileTypes: true })) {
      if (entry.isDirectory()) await walk(join(a, entry.name), join(b, entry.name))
      else files.push([join(a, entry.name), join(b, entry.name)])
    }
  }
  await walk(from, to)
  let next = 0
  const worker = async (): Promise<void> => {
    for (let file = files[next++]; file !== undefined; file = files[next++])
      await copyFile(file[0], file[1], constants.COPYFILE_FICLONE)
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

/** Opens (and migrates) the demo's database, from the cached template when possible. */
export async function openDemoStorage(options: DemoStorageOptions): Promise<DemoStorage> {
  const deps = options.onIdleError === undefined ? {} : { onIdleError: options.onIdleError }
  const open = (): Promise<Opened> => openStorage({ backend: 'pglite', dataDir: options.dataDir }, deps)
  if (options.cacheDir !== undefined) {
    let template: string | undefined
    try {
      template = join(options.cacheDir, templateKey())
      await mkdir(options.cacheDir, { recursive: true })
      if (!existsSync(join(template, 'PG_VERSION'))) await buildTemplate(template)
      await copyTree(template, options.dataDir)
      return { ...(await open()), source: 'template' }
    } catch {
      // An unwritable cache or a damaged template: drop both, fall back to initdb below.
      await rm(options.dataDir, { recursive: true, force: true })
      if (template !== undefined) await rm(template, { recursive: true, force: true }).catch(() => undefined)
    }
  }
  return { ...(await open()), source: 'fresh' }
}
