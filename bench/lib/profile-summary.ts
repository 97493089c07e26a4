// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per source file, top N.
// `node bench/lib/profile-summary.ts FILE.cpuprofile [N]`. Self time = samples whose leaf is the frame.
import { readFileSync } from 'node:fs'

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}
interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: readonly number[]
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[]
  readonly startTime: number
  readonly endTime: number
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

const file = process.argv[2]
const topN = Number(process.argv[3] ?? 30)
if (file === undefined) {
  process.stderr.write('usage: node bench/lib/profile-summary.ts FILE.cpuprofile [N]\n')
  process.exit(2)
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const selfUs = new Map<number, number>()
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i] as number
  // timeDeltas[i] is the time since the previous sample; attribute the gap to this sample.
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
}
const shortUrl = (url: string): string =>
  url === ''
    ? '(native)'
    : url.replace(/^file:\/\/.*?\/(node_modules|src|bench)\//, '$1/').replace(/^node:/, 'node:')

const byFunction = new Map<string, number>()
const byFile = new Map<string, number>()
let total = 0
for (const [id, us] of selfUs) {
  const node = byId.get(id)
  if (node === undefined) continue
  const f = node.callFrame
  const where = shortUrl(f.url)
  const key = `${f.functionName === '' ? '(anonymous)' : f.functionName}  ${where}${f.url === '' ? '' : `:${f.lineNumber + 1}`}`
  byFunction.set(key, (byFunction.get(key) ?? 0) + us)
  const fileKey = f.url === '' ? f.functionName : where
  byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us)
  total += us
}
const idle = byFunction.get('(idle)  (native)') ?? 0
const busy = total - idle
const print = (title: string, m: Map<string, number>): void => {
  process.stdout.write(
    `\n${title} (% of non-idle time, ${(busy / 1e6).toFixed(2)} s busy of ${(total / 1e6).toFixed(2)} s)\n`,
  )
  const rows = [...m]
    .filter(([k]) => !k.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
  for (const [k, us] of rows) process.stdout.write(`${((100 * us) / busy).toFixed(1).padStart(6)}%  ${k}\n`)
}
print('self time by function', byFunction)
print('self time by file', byFile)
