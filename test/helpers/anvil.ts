/**
 * A real anvil node for integration tests: src/demo/anvil.ts (the demo starts the same way), with the
 * `ANVIL_BIN` environment override. Each instance is owned by the test that started it and must be stopped
 * in `after()`; `stop()` ends only this process, by pid.
 */
import {
  anvilBinary as findAnvilBinary,
  startAnvil as startAnvilNode,
  type AnvilInstance,
  type AnvilOptions,
} from '../../src/demo/index.ts'

export { ANVIL_MNEMONIC, type AnvilInstance, type AnvilOptions } from '../../src/demo/index.ts'

/** The anvil binary tests run: `ANVIL_BIN` when set, else the npm package's platform binary. */
export function anvilBinary(): string {
  return findAnvilBinary(process.env['ANVIL_BIN'])
}

export function startAnvil(options: AnvilOptions = {}): Promise<AnvilInstance> {
  return startAnvilNode({ binary: anvilBinary(), ...options })
}
