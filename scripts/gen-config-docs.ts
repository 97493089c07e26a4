// Regenerates docs/config.md and docs/config.schema.json from the zod schema.
import { writeFileSync } from 'node:fs'
import { configJsonSchema, configMarkdown } from '../src/config/docs.ts'

writeFileSync('docs/config.schema.json', `${JSON.stringify(configJsonSchema(), null, 2)}\n`)
writeFileSync('docs/config.md', configMarkdown())
process.stdout.write('wrote docs/config.md and docs/config.schema.json\n')
