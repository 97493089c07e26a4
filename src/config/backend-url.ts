/** A backend address as the pool needs it. */
export interface BackendOrigin {
  readonly origin: string
  readonly protocol: 'http:' | 'https:'
  readonly hostname: string
  readonly port: number
  /** `host[:port]` as a Host field names this backend (the port only when not the scheme's default). */
  readonly authority: string
}

/** Parses a backend `url` (scheme, host, port only). Returns an error message instead of throwing. */
export function parseBackendUrl(raw: string): BackendOrigin | string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return 'must be an absolute URL like http://127.0.0.1:8080'
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'scheme must be http or https'
  if (url.username !== '' || url.password !== '') return 'must not contain credentials'
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    return 'must not have a path, query or fragment'
  }
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)
  return { origin: url.origin, protocol: url.protocol, hostname: url.hostname, port, authority: url.host }
}
