/** Exit codes (docs/operations/shutdown.md): 0 drained/ok, 1 failure, 2 usage/config, 3 forced. */
export const EXIT = Object.freeze({ ok: 0, failure: 1, usage: 2, forced: 3 })

/** Where a command writes: injected so commands run in tests without a process of their own. */
export interface CliIo {
  readonly stdout: (text: string) => void
  readonly stderr: (text: string) => void
}
