import { z } from 'zod'
import { configSchema } from './schema.ts'

/** JSON Schema (draft 2020-12) of the config as written (defaults optional), for editors. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
}

type Json = Record<string, unknown>

function typeOf(node: Json): string {
  if (Array.isArray(node['anyOf'])) return (node['anyOf'] as Json[]).map(typeOf).join(' \\| ')
  if (node['const'] !== undefined) return `\`${JSON.stringify(node['const'])}\``
  if (Array.isArray(node['enum'])) return (node['enum'] as unknown[]).map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ')
  const t = node['type']
  if (t === 'array') return `array of ${typeOf((node['items'] as Json | undefined) ?? {})}`
  if (t === 'integer') {
    const min = node['minimum']
    const max = node['maximum']
    return `integer${min !== undefined || max !== undefined ? ` (${String(min ?? '')}–${String(max ?? '')})` : ''}`
  }
  if (typeof t === 'string') return t
  return 'any'
}

function rows(node: Json, path: string, out: string[]): void {
  if (Array.isArray(node['anyOf'])) {
    for (const alt of node['anyOf'] as Json[]) if (alt['type'] === 'object') rows(alt, path, out)
    return
  }
  if (node['type'] === 'array' && typeof node['items'] === 'object') {
    const items = node['items'] as Json
    if (items['type'] === 'object' || Array.isArray(items['anyOf'])) rows(items, `${path}[]`, out)
    return
  }
  const props = node['properties'] as Record<string, Json> | undefined
  if (props === undefined) return
  const required = new Set((node['required'] as string[] | undefined) ?? [])
  for (const [key, child] of Object.entries(props)) {
    const p = path === '' ? key : `${path}.${key}`
    const def = child['default'] === undefined ? (required.has(key) ? '*required*' : '') : `\`${JSON.stringify(child['default'])}\``
    const desc = String(child['description'] ?? '').replaceAll('|', '\\|')
    const isContainer = child['type'] === 'object' || (child['type'] === 'array' && (child['items'] as Json | undefined)?.['type'] === 'object')
    out.push(`| \`${p}\` | ${isContainer ? (child['type'] === 'array' ? 'array of objects' : 'object') : typeOf(child)} | ${def.length > 60 ? '(see below)' : def} | ${desc} |`)
    rows(child, p, out)
  }
}

/** docs/config.md, generated from the schema (`npm run docs:config`). */
export function configMarkdown(): string {
  const schema = configJsonSchema()
  const out: string[] = []
  rows(schema, '', out)
  return `<!-- Generated from src/config/schema.ts by \`npm run docs:config\`. Do not edit by hand. -->
# Configuration reference (version 1)

A config file is YAML (or JSON when the name ends in \`.json\`). Unknown keys are errors, with the
closest allowed key at that path suggested (\`unknown key "wieght"; did you mean "weight"?\`). Durations
are milliseconds (\`…Ms\`), sizes are bytes (\`…Bytes\`). Check a file with \`litgate validate -c FILE\`: it
reports every schema problem with its path and value and, once the schema is satisfied, every semantic
problem (duplicate ids, unknown upstream references, shadowed routes, bad CIDRs, bad backend URLs), and
loads the TLS certificates, keys and CA files the config names exactly as \`run\` does (missing,
unreadable, not PEM, key not matching the certificate). \`--strict\` makes warnings fail too. A JSON Schema for editors is in
[config.schema.json](config.schema.json).

| Path | Type | Default | Description |
| --- | --- | --- | --- |
${out.join('\n')}

## Example

\`\`\`yaml
${EXAMPLE}\`\`\`
`
}

const EXAMPLE = `version: 1
listeners:
  - { name: public, host: 0.0.0.0, port: 8443, http2: true, tls: { certFile: /etc/litgate/cert.pem, keyFile: /etc/litgate/key.pem } }
  - { name: plain, host: 0.0.0.0, port: 8080 }
server:
  maxConnections: 20000
  trustedProxies: [10.0.0.0/8]
upstreams:
  - id: api
    balancing: least-connections
    backends:
      - { url: "http://10.0.1.10:8080", weight: 2 }
      - { url: "http://10.0.1.11:8080" }
    pool: { maxConnectionsPerBackend: 256, maxQueue: 2048, queueTimeoutMs: 500 }
    timeouts: { connectMs: 2000, headersMs: 30000, bodyIdleMs: 30000 }
routes:
  - id: api-v1
    match: { hosts: [api.example.com], path: { prefix: /v1 } }
    upstream: api
    timeoutMs: 60000
  - id: health
    match: { path: { exact: /healthz }, methods: [GET] }
    upstream: api
`
