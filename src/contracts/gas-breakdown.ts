// Where a transaction's gas goes, by opcode class, from a `debug_traceTransaction` struct-log trace (anvil's
// default tracer). Used by deploy.test.ts when LITGATE_GAS_BREAKDOWN=1 to document the cost of a payment.
// A call's own cost (cold/warm account access, value, memory) is its inclusive cost minus what its child
// frame spent; a precompile call (ecrecover) has no child frame, so its whole cost is attributed to it.

export interface StructLog {
  readonly op: string
  readonly gas: number
  readonly gasCost: number
  readonly depth: number
}

const CALLS = new Set(['CALL', 'STATICCALL', 'DELEGATECALL', 'CALLCODE'])

function classOf(op: string): string {
  if (op === 'TLOAD' || op === 'TSTORE') return 'TLOAD/TSTORE (re-entrancy guard)'
  if (op.startsWith('LOG')) return 'LOG (events)'
  if (op === 'KECCAK256' || op === 'SHA3') return 'KECCAK256'
  if (op === 'EXTCODESIZE' || op === 'EXTCODEHASH' || op === 'BALANCE') return 'account checks'
  return 'compute, memory, calldata copies, stack'
}

/** Gas of the calldata bytes (4 per zero byte, 16 per non-zero byte). */
export function calldataGas(input: string): number {
  let sum = 0
  for (let i = 2; i < input.length; i += 2) sum += input.slice(i, i + 2) === '00' ? 4 : 16
  return sum
}

/** Sums the execution gas of a struct-log trace per opcode class (calls split into access and precompile). */
export function gasByClass(logs: readonly StructLog[]): Map<string, number> {
  const out = new Map<string, number>()
  const add = (k: string, v: number): void => {
    out.set(k, (out.get(k) ?? 0) + v)
  }
  // Returns the gas spent by the frame whose first step is `start` (steps until depth drops below).
  const frame = (start: number): { spent: number; end: number } => {
    const depth = logs[start]!.depth
    let spent = 0
    let i = start
    while (i < logs.length && logs[i]!.depth === depth) {
      const step = logs[i]!
      const next = logs[i + 1]
      if (next !== undefined && next.depth > depth) {
        const child = frame(i + 1)
        const after = logs[child.end]
        const inclusive = after !== undefined && after.depth === depth ? step.gas - after.gas : step.gasCost
        add(`${step.op} (account access, memory, forwarding)`, inclusive - child.spent)
        spent += inclusive
        i = child.end
        continue
      }
      const cost = next !== undefined && next.depth === depth ? step.gas - next.gas : step.gasCost
      if (CALLS.has(step.op)) add('precompile call (ecrecover 3,000 + access)', cost)
      else if (step.op === 'SSTORE' || step.op === 'SLOAD') add(`${step.op} ×${cost}`, cost)
      else add(classOf(step.op), cost)
      spent += cost
      i += 1
    }
    return { spent, end: i }
  }
  if (logs.length > 0) frame(0)
  return out
}
