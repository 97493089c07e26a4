import { z } from 'zod'

/** A reference to secret material: never the secret itself in the config file. */
export const secretRefSchema = z.union([
  z.strictObject({ fromEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name') }),
  z.strictObject({ file: z.string().min(1) }),
])
