import { readFileSync } from 'node:fs'

/** What /proc says about a process. */
export interface ProcInfo {
  readonly ppid: number
  /** Executable name (`/proc/<pid>/comm`), e.g. `sh`. */
  readonly comm: string
  /** Command line, NULs as spaces (npm rewrites its own to its title, e.g. `npm exec litgate run …`). */
  readonly cmdline: string
}

export type ReadProc = (pid: number) => ProcInfo | undefined

/** Linux /proc reader; undefined when the process is gone or there is no /proc (other systems). */
export const readProc: ReadProc = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
    const close = stat.lastIndexOf(')')
    const ppid = Number(stat.slice(close + 2).split(' ')[1])
    const comm = stat.slice(stat.indexOf('(') + 1, close)
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()
    return Number.isInteger(ppid) ? { ppid, comm, cmdline } : undefined
  } catch {
    return undefined
  }
}

const SHELLS = new Set(['sh', 'dash', 'bash', 'ash', 'zsh', 'ksh', 'mksh', 'busybox'])

function isNpm(p: ProcInfo): boolean {
  return p.comm === 'npm' || /^npm(\s|$)/.test(p.cmdline) || /(^|[\s/])npm-cli\.js(\s|$)/.test(p.cmdline)
}

/**
 * The wrapper chain when npm started us: `[npm]` when npm is the parent (`npm start` with `exec` in the
 * script), `[shell, npm]` when npm's script shell sits in between (`npx litgate …`, `npm exec`: npm
 * builds that `sh -c` itself, so no `exec` can remove it). Empty otherwise: a gateway started by a
 * shell, systemd or a container runtime is never watched, so `nohup`/`setsid` keep working.
 */
export function findNpmWrapper(ppid: number, read: ReadProc): number[] {
  const parent = read(ppid)
  if (parent === undefined) return []
  if (isNpm(parent)) return [ppid]
  if (!SHELLS.has(parent.comm)) return []
  const grandparent = read(parent.ppid)
  return grandparent !== undefined && isNpm(grandparent) ? [ppid, parent.ppid] : []
}

export interface WrapperWatchDeps {
  readonly ppid: () => number
  readonly read: ReadProc
  readonly intervalMs: number
  /** Called once, with the pid of the wrapper that went away. */
  readonly onGone: (pid: number) => void
}

/**
 * Watches the wrapper chain: each link must still be the parent of the one below it (a dead process's
 * children are re-parented at once, so this also holds against pid reuse). npm forwards only SIGINT and
 * SIGTERM, and only to its direct child: when a shell sits in between, SIGTERM kills the shell; SIGHUP
 * kills npm itself. Either way the gateway would keep its port as an orphan; this turns the wrapper's
 * death into a drain instead. Returns a stop function; the timer never holds the process open.
 */
export function watchWrapper(chain: readonly number[], deps: WrapperWatchDeps): () => void {
  if (chain.length === 0) return () => {}
  const timer = setInterval(() => {
    let gone: number | undefined = deps.ppid() === chain[0] ? undefined : chain[0]
    for (let i = 1; gone === undefined && i < chain.length; i++) {
      if (deps.read(chain[i - 1] as number)?.ppid !== chain[i]) gone = chain[i]
    }
    if (gone !== undefined) {
      clearInterval(timer)
      deps.onGone(gone)
    }
  }, deps.intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}
