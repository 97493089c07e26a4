import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { GatewayError } from '../errors/index.ts'

/** True when a process with this pid exists (EPERM: it exists but is not ours). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Claims a PGlite data directory for this process: `<dataDir>.lock` holds the owner's pid. PGlite is one
 * PostgreSQL backend without PostgreSQL's own postmaster lock, so two processes (or two handles in one)
 * on one directory would corrupt it; a second opener is refused with STORAGE_UNAVAILABLE naming the
 * owner. A lock left by a process that is gone (a crash) is taken over. Answers the release function.
 */
export async function lockDataDir(dataDir: string, pid: number = process.pid): Promise<() => Promise<void>> {
  const lock = `${dataDir}.lock`
  await mkdir(dirname(lock), { recursive: true })
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lock, `${pid}\n`, { flag: 'wx' })
      return () => rm(lock, { force: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new GatewayError(
          'STORAGE_UNAVAILABLE',
          `cannot lock the PGlite data directory ${dataDir} (${(err as NodeJS.ErrnoException).code ?? 'EIO'})`,
          { cause: err },
        )
      }
    }
    const owner = Number.parseInt(await readFile(lock, 'utf8').catch(() => ''), 10)
    if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
      throw new GatewayError(
        'STORAGE_UNAVAILABLE',
        `the PGlite data directory ${dataDir} is in use by process ${owner}${owner === pid ? ' (this one: close the other handle first)' : ''}; PGlite allows one user per directory (use PostgreSQL for several gateways)`,
      )
    }
    await rm(lock, { force: true }) // stale: its process is gone
  }
  throw new GatewayError(
    'STORAGE_UNAVAILABLE',
    `cannot lock the PGlite data directory ${dataDir} (contended)`,
  )
}
