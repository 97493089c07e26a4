import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { GatewayError } from '../errors/index.ts'

/** Whether a process with this id exists (signal 0: EPERM means it exists but belongs to another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The pid a pid file names, or undefined when the file is absent, empty or not a pid. */
export function readPidFile(path: string): number | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
  const pid = Number(text.trim())
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

/**
 * Before binding anything: refuses (PID_FILE_IN_USE) when the file names a live process other than
 * `ownPid`; returns the stale pid it names otherwise (to be logged and overwritten), or undefined.
 */
export function checkPidFile(path: string, ownPid: number, isAlive = isProcessAlive): number | undefined {
  const pid = readPidFile(path)
  if (pid === undefined || pid === ownPid) return undefined
  if (isAlive(pid)) {
    throw new GatewayError(
      'PID_FILE_IN_USE',
      `pid file ${path} names process ${pid}, which is running (another litgate?); stop it or remove the file`,
    )
  }
  return pid
}

/**
 * Writes `pid` to `path` atomically: a temporary file beside it, then rename(2), so a reader sees
 * either the old content or the whole new pid, never a partial write. Throws PID_FILE_FAILED.
 */
export function writePidFile(path: string, pid: number): void {
  const tmp = `${path}.${pid}.tmp`
  try {
    writeFileSync(tmp, `${pid}\n`, { mode: 0o644 })
    renameSync(tmp, path)
  } catch (err) {
    rmSync(tmp, { force: true })
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw new GatewayError('PID_FILE_FAILED', `cannot write pid file ${path} (${reason})`, { cause: err })
  }
}

/** Removes the pid file if it still names `pid` (another process may have taken it over since). */
export function removePidFile(path: string, pid: number): void {
  if (readPidFile(path) !== pid) return
  rmSync(path, { force: true })
}
