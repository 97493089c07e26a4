import { readFile } from 'node:fs/promises'
import type { StorageConfig } from '../config/index.ts'
import { GatewayError } from '../errors/index.ts'
import type { StorageOptions } from './storage.ts'

export interface StorageConfigDeps {
  /** The process environment (main.ts passes process.env). */
  readonly env: Readonly<Record<string, string | undefined>>
  readonly readFile?: (path: string) => Promise<string>
}

/**
 * The `storage` config section as StorageOptions: resolves the URL's secret reference (environment
 * variable or file, trimmed). A reference that resolves to nothing is STORAGE_CONFIG_INVALID naming the
 * variable or file, never a value.
 */
export async function storageOptionsFromConfig(
  config: StorageConfig,
  deps: StorageConfigDeps,
): Promise<StorageOptions> {
  const ref = config.url
  if (ref === undefined) return { backend: 'pglite', dataDir: config.dataDir }
  let url: string | undefined
  let where: string
  if ('fromEnv' in ref) {
    where = `environment variable ${ref.fromEnv}`
    url = deps.env[ref.fromEnv]
  } else {
    where = `file ${ref.file}`
    try {
      url = await (deps.readFile ?? ((p) => readFile(p, 'utf8')))(ref.file)
    } catch (err) {
      throw new GatewayError(
        'STORAGE_CONFIG_INVALID',
        `storage.url: cannot read ${where} (${(err as NodeJS.ErrnoException).code ?? 'EIO'})`,
      )
    }
  }
  url = url?.trim()
  if (url === undefined || url === '') {
    throw new GatewayError('STORAGE_CONFIG_INVALID', `storage.url: ${where} is unset or empty`)
  }
  return {
    backend: 'postgres',
    url,
    maxConnections: config.maxConnections,
    connectTimeoutMs: config.connectTimeoutMs,
    ...(config.schema === undefined ? {} : { schema: config.schema }),
  }
}
