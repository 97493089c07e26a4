import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'

export interface ConfigWatcherOptions {
  /** Quiet time after the last change event before `onChange` fires. */
  readonly debounceMs: number
}

/**
 * Watches one config file and calls `onChange` once per burst of changes. The directory is watched,
 * not the file: editors and `kubectl`/ConfigMap updates replace files by rename, which ends a watch on
 * the old inode. Returns a function that stops watching.
 */
export function watchConfigFile(
  path: string,
  options: ConfigWatcherOptions,
  onChange: () => void,
): () => void {
  const full = resolve(path)
  const name = basename(full)
  let timer: NodeJS.Timeout | undefined
  const fire = (): void => {
    timer = undefined
    onChange()
  }
  // ConfigMap volumes swap a `..data` symlink; any event in the directory may mean a new file content.
  const watcher: FSWatcher = watch(dirname(full), { persistent: false }, (_event, filename) => {
    if (filename !== null && filename !== name && !filename.startsWith('..')) return
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(fire, options.debounceMs)
    timer.unref()
  })
  watcher.on('error', () => watcher.close())
  return () => {
    if (timer !== undefined) clearTimeout(timer)
    watcher.close()
  }
}
