/**
 * Reads the value a `secretRefSchema` reference names (an environment variable, or a file's content),
 * trimmed. The error names the config field and the variable or file, never a value: `<field>: cannot read
 * file X (ENOENT)` or `<field>: environment variable X is unset or empty`, with the caller's code.
 */
import { readFile } from 'node:fs/promises'
import { GatewayError, type ErrorCode } from '../errors/index.ts'

export type SecretRefValue = { readonly fromEnv: string } | { readonly file: string }

export interface SecretRefDeps {
  /** The process environment (main.ts passes process.env). */
  readonly env: Readonly<Record<string, string | undefined>>
  readonly readFile?: (path: string) => Promise<string>
}

export async function resolveSecretRef(
  ref: SecretRefValue,
  where: { readonly field: string; readonly code: ErrorCode },
  deps: SecretRefDeps,
): Promise<string> {
  let value: string | undefined
  let source: string
  if ('fromEnv' in ref) {
    source = `environment variable ${ref.fromEnv}`
    value = deps.env[ref.fromEnv]
  } else {
    source = `file ${ref.file}`
    try {
      value = await (deps.readFile ?? ((p) => readFile(p, 'utf8')))(ref.file)
    } catch (err) {
      throw new GatewayError(
        where.code,
        `${where.field}: cannot read ${source} (${(err as NodeJS.ErrnoException).code ?? 'EIO'})`,
      )
    }
  }
  value = value?.trim()
  if (value === undefined || value === '')
    throw new GatewayError(where.code, `${where.field}: ${source} is unset or empty`)
  return value
}
