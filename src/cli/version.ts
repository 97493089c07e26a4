import { execFileSync } from 'node:child_process'
import { readFileSync, realpathSync } from 'node:fs'
import { join } from 'node:path'

/** Runs git in `cwd` with `args`; returns its trimmed stdout, or undefined when git fails or is absent. */
export type RunGit = (cwd: string, args: readonly string[]) => string | undefined

export interface VersionInfo {
  readonly version: string
  /** Commit of the checkout litgate runs from, or `unknown` (not a git checkout, no git). */
  readonly commit: string
}

/** The real git, bounded in time; stderr discarded; any failure is undefined (never throws). */
export const runGit: RunGit = (cwd, args) => {
  try {
    const out = execFileSync('git', [...args], {
      cwd,
      encoding: 'utf8',
      timeout: 2000,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    return out.trim()
  } catch {
    return undefined
  }
}

/**
 * Version of the package at `root` and the git commit it runs from. The commit counts only when `root`
 * itself is the top of a git work tree: a litgate installed under some other repository's
 * node_modules must not report that repository's commit. Never throws.
 */
export function describeVersion(root: string, git: RunGit = runGit): VersionInfo {
  let version = 'unknown'
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: unknown }
    if (typeof pkg.version === 'string') version = pkg.version
  } catch {
    // unreadable package.json: say so in the output rather than fail
  }
  return { version, commit: commitOf(root, git) ?? 'unknown' }
}

function commitOf(root: string, git: RunGit): string | undefined {
  const out = git(root, ['rev-parse', '--show-toplevel', '--short=12', 'HEAD'])
  const [top, commit] = (out ?? '').split('\n')
  if (top === undefined || commit === undefined || !/^[0-9a-f]{7,40}$/.test(commit)) return undefined
  try {
    if (realpathSync(top) !== realpathSync(root)) return undefined
  } catch {
    return undefined
  }
  const dirty = git(root, ['status', '--porcelain', '--untracked-files=no'])
  return dirty === undefined || dirty === '' ? commit : `${commit}-dirty`
}

/** `litgate 0.1.0 (commit 4997d26cbe12)` */
export function formatVersion(info: VersionInfo): string {
  return `litgate ${info.version} (commit ${info.commit})\n`
}
