import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import { configSchema, type ConfigInput } from '../../src/config/index.ts'
import { Gateway, type GatewayDeps } from '../../src/lifecycle/index.ts'
import type { AdmissionStage } from '../../src/runtime/index.ts'

/** A logger that keeps every line in memory (for assertions and secret scanning). */
export function memoryLogger(level = 'debug'): { log: Logger; lines: string[] } {
  const lines: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString())
      cb()
    },
  })
  return { log: pino({ level }, sink), lines }
}

export interface TestGateway {
  readonly gateway: Gateway
  readonly url: string
  readonly port: number
  readonly lines: string[]
  stop(): Promise<void>
}

/** Starts a gateway in-process on an ephemeral loopback port from a config (defaults filled in). */
export async function startGateway(
  input: Omit<ConfigInput, 'version' | 'listeners'> & { listeners?: ConfigInput['listeners'] },
  options: {
    admission?: AdmissionStage[]
    now?: () => number
    localEndpoints?: GatewayDeps['localEndpoints']
    rateLimit?: GatewayDeps['rateLimit']
  } = {},
): Promise<TestGateway> {
  const config = configSchema.parse({
    version: 1,
    listeners: input.listeners ?? [{ name: 'main', host: '127.0.0.1', port: 0 }],
    ...input,
  })
  const { log, lines } = memoryLogger()
  const gateway = await Gateway.start(config, {
    log,
    ...(options.admission ? { admission: options.admission } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.localEndpoints ? { localEndpoints: options.localEndpoints } : {}),
    ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}),
  })
  const first = Object.values(gateway.addresses())[0]
  if (first === undefined) throw new Error('no listener')
  return {
    gateway,
    url: `http://127.0.0.1:${first.port}`,
    port: first.port,
    lines,
    stop: async () => {
      await gateway.stop(1000)
    },
  }
}
