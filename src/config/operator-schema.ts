/**
 * Operator features of routes and upstreams (docs/routing.md, docs/security.md): direct responses
 * (`routes[].respond`), per-route client IP lists (`routes[].ipAllow` / `ipDeny`), the Host sent upstream
 * (`upstreams[].hostHeader`, `routes[].hostHeader`), CORS (`routes[].cors`) and the security headers on
 * responses litgate makes (`server.securityHeaders`). Cross-field rules (respond vs upstream, CIDR
 * syntax, credentials with `*`) are in operator-validation.ts, so errors name the field and its value.
 */
import { z } from 'zod'

/** Largest `respond.body` in UTF-8 bytes: a fixed answer, not a file server. */
export const MAX_DIRECT_BODY_BYTES = 64 * 1024

const fieldName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP field name')
  .transform((s) => s.toLowerCase())

// RFC 9110 §5.5: field values are visible characters, spaces and tabs; never CR, LF or NUL.
const fieldValue = z
  .string()
  .regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'must not contain control characters (CR, LF, NUL…)')

export const directResponseSchema = z
  .strictObject({
    status: z.int().min(200).max(599).meta({
      description:
        'Status to answer with (200–599), e.g. 403 to deny a path or 301 with a `location` header.',
    }),
    headers: z.record(fieldName, fieldValue).default({}).meta({
      description:
        'Response fields (name → value). Framing and hop-by-hop fields (`content-length`, `transfer-encoding`, `connection`…) and the request id header are set by the gateway and refused here.',
    }),
    body: z
      .string()
      .default('')
      .meta({
        description: `Response body (UTF-8, at most ${MAX_DIRECT_BODY_BYTES} bytes); \`content-type\` defaults to \`text/plain; charset=utf-8\` when a body is set. Not allowed with 204 or 304.`,
      }),
  })
  .meta({
    description:
      'Answer at the gateway with a fixed response instead of proxying (like nginx `return`). Exclusive with `upstream`. HEAD gets the head only.',
  })

const hostValue = z
  .string()
  .regex(
    /^(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/,
    'must be a host name or address, optionally with a port',
  )

export const hostHeaderSchema = z
  .union([z.enum(['preserve', 'backend']), z.strictObject({ fixed: hostValue })])
  .meta({
    description:
      "Host sent upstream (and HTTP/2 `:authority`): `preserve` the client's, `backend` (the backend URL's own host and port), or `{ fixed: \"api.internal\" }`. X-Forwarded-Host always carries the client's.",
  })

const origin = z
  .string()
  .regex(
    /^(?:\*|https?:\/\/(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?)$/i,
    'must be `*` or an origin like https://app.example.com (scheme, host, optional port; no path)',
  )
  .transform((s) => s.toLowerCase())

const method = z.string().regex(/^(?:\*|[A-Za-z]+)$/, 'must be a method name or `*`')

export const corsSchema = z
  .strictObject({
    allowOrigins: z
      .array(origin)
      .min(1)
      .meta({ description: 'Origins allowed to read responses: exact origins, or `["*"]` for any.' }),
    allowMethods: z
      .array(method)
      .min(1)
      .transform((a) => a.map((m) => m.toUpperCase()))
      .default(['GET', 'HEAD', 'POST'])
      .meta({
        description:
          'Methods a preflight may ask for (default GET, HEAD, POST); `*` allows any (the requested one is echoed).',
      }),
    allowHeaders: z.array(fieldName).default([]).meta({
      description: 'Request headers a preflight may ask for; `*` allows any (the requested ones are echoed).',
    }),
    exposeHeaders: z.array(fieldName).default([]).meta({
      description:
        'Response headers scripts may read beyond the CORS-safelisted ones (Access-Control-Expose-Headers).',
    }),
    allowCredentials: z.boolean().default(false).meta({
      description: 'Send `Access-Control-Allow-Credentials: true` (not allowed with `allowOrigins: ["*"]`).',
    }),
    maxAgeSeconds: z
      .int()
      .min(0)
      .max(86_400)
      .optional()
      .meta({ description: 'How long browsers may cache a preflight answer (Access-Control-Max-Age).' }),
  })
  .meta({
    description:
      'CORS handled at the gateway: preflights (OPTIONS with Origin and Access-Control-Request-Method) are answered without reaching the upstream; other responses get Access-Control-* for allowed origins and `Vary: Origin`.',
  })

export const securityHeadersSchema = z
  .strictObject({
    hsts: z
      .strictObject({
        maxAgeSeconds: z
          .int()
          .min(0)
          .max(63_072_000)
          .meta({ description: 'HSTS `max-age` (0 tells browsers to forget it).' }),
        includeSubDomains: z.boolean().default(false),
        preload: z.boolean().default(false),
      })
      .optional()
      .meta({
        description: 'Send Strict-Transport-Security on responses over TLS listeners (never over cleartext).',
      }),
    proxiedResponses: z.boolean().default(false).meta({
      description:
        'Also add `X-Content-Type-Options: nosniff` (and HSTS over TLS) to proxied responses that do not carry them already.',
    }),
  })
  .meta({
    description:
      'Headers on responses litgate makes itself (errors, direct responses, CORS preflights): `X-Content-Type-Options: nosniff` always, HSTS on TLS when configured. Applied on reload.',
  })

export type DirectResponseConfig = z.output<typeof directResponseSchema>
export type HostHeaderConfig = z.output<typeof hostHeaderSchema>
export type CorsConfig = z.output<typeof corsSchema>
export type SecurityHeadersConfig = z.output<typeof securityHeadersSchema>
