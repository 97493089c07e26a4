// Preloaded into every test file's process by scripts/test.js (`--import`). When a file's tests have all
// finished but something still keeps its event loop alive (a server, socket, timer or child process that
// a test forgot to close), the file would hang the run. Instead of hiding that with --test-force-exit
// (which ends the run while files are still reporting and silently loses results), this guard waits a
// grace period and then fails the file, naming the resources still open. The timer is unref'd: a file
// that exits by itself never waits for it.
import { after } from 'node:test'

const graceMs = Number(process.env.LITGATE_TEST_LEAK_GRACE_MS ?? 5000)

// Only in the per-file child processes of `node --test`, never in the runner itself.
if (process.env.NODE_TEST_CONTEXT !== undefined) {
  const baseline = process.getActiveResourcesInfo()
  after(() => {
    const timer = setTimeout(() => {
      const open = process.getActiveResourcesInfo()
      const left = [...open]
      for (const kind of baseline) {
        const i = left.indexOf(kind)
        if (i !== -1) left.splice(i, 1)
      }
      process.stderr.write(
        `leaked handles: ${process.argv[1] ?? 'this test file'} still had ${JSON.stringify(left)} open ` +
          `${graceMs} ms after its last test finished; close them in the test (after/finally)\n`,
      )
      process.exit(70)
    }, graceMs)
    timer.unref()
  })
}
