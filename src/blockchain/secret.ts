/**
 * A reference to a secret (private key, mnemonic, keystore password) that can be passed around, logged and
 * serialised safely: only its reference (`env:NAME` or `file:/path`) ever prints. The value lives in a
 * closure and is revealed only to the code that derives the signing key.
 */
import { readFile } from 'node:fs/promises'
import { inspect } from 'node:util'

export interface Secret {
  /** Where the value comes from, e.g. `env:LITGATE_SIGNER_PRIVATE_KEY`; safe to log. */
  readonly ref: string
  /** The value, trimmed of surrounding whitespace (files usually end with a newline). */
  reveal(): Promise<string>
  toJSON(): string
  toString(): string
}

function makeSecret(ref: string, reveal: () => Promise<string>): Secret {
  const printable = `[secret ${ref}]`
  return Object.freeze({
    ref,
    reveal,
    toJSON: () => printable,
    toString: () => printable,
    [inspect.custom]: () => printable,
  })
}

/** A secret whose value was read from an environment variable `name` (by main, not by us). */
export function secretFromEnv(name: string, value: string): Secret {
  return makeSecret(`env:${name}`, () => Promise.resolve(value.trim()))
}

/** A secret read from a file when revealed (Docker/Kubernetes secrets, systemd credentials). */
export function secretFromFile(path: string, read: (path: string) => Promise<string> = (p) => readFile(p, 'utf8')): Secret {
  return makeSecret(`file:${path}`, async () => (await read(path)).trim())
}
