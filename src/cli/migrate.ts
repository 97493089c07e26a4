import { formatIssue, formatOf, parseConfig } from '../config/index.ts'
import { isGatewayError } from '../errors/index.ts'
import {
  describePostgresUrl,
  openStorage,
  storageOptionsFromConfig,
  type StorageOptions,
} from '../storage/index.ts'
import { EXIT, type CliIo } from './io.ts'
import { readConfigText } from './validate.ts'

export interface MigrateDeps {
  /** The process environment: the `storage.url` secret reference may name a variable of it. */
  readonly env: Readonly<Record<string, string | undefined>>
}

function describeTarget(options: StorageOptions): string {
  if (options.backend === 'pglite') return `PGlite ${options.dataDir ?? '(in memory)'}`
  return `PostgreSQL ${describePostgresUrl(options.url)}${options.schema === undefined ? '' : ` schema ${options.schema}`}`
}

/**
 * `litgate migrate -c FILE`: opens the database the config's `storage` section names and applies the
 * pending migrations (the same code the gateway runs at start). Exit 0 when the schema is current, 1
 * when the database refuses or fails (STORAGE_* code on stderr), 2 for usage or an invalid config.
 */
export async function migrateCommand(
  path: string | undefined,
  deps: MigrateDeps,
  io: CliIo,
): Promise<number> {
  if (path === undefined) {
    io.stderr('migrate needs -c FILE\n')
    return EXIT.usage
  }
  const text = await readConfigText(path, io)
  if (text === undefined) return EXIT.usage
  const result = parseConfig(text, formatOf(path))
  if (!result.ok) {
    for (const issue of result.issues) io.stderr(`${formatIssue(issue)}\n`)
    io.stderr(`${path}: invalid\n`)
    return EXIT.usage
  }
  try {
    const options = await storageOptionsFromConfig(result.config.storage, { env: deps.env })
    const target = describeTarget(options)
    const { storage, migration } = await openStorage(options)
    await storage.close()
    for (const m of migration.applied) io.stdout(`applied ${m.version}: ${m.name}\n`)
    io.stdout(
      migration.applied.length === 0
        ? `${target}: schema up to date (version ${migration.to})\n`
        : `${target}: migrated from version ${migration.from} to ${migration.to}\n`,
    )
    return EXIT.ok
  } catch (err) {
    if (!isGatewayError(err)) throw err
    io.stderr(`error: ${err.code}: ${err.message}\n`)
    return EXIT.failure
  }
}
