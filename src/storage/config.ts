import { resolveSecretRef, type SecretRefDeps, type StorageConfig } from '../config/index.ts'
import type { StorageOptions } from './storage.ts'

export type StorageConfigDeps = SecretRefDeps

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
  const url = await resolveSecretRef(ref, { field: 'storage.url', code: 'STORAGE_CONFIG_INVALID' }, deps)
  return {
    backend: 'postgres',
    url,
    maxConnections: config.maxConnections,
    connectTimeoutMs: config.connectTimeoutMs,
    ...(config.schema === undefined ? {} : { schema: config.schema }),
  }
}
