/** Where `litgate reload` finds the admin API, as a base URL; or why the value is not usable. */
export type AdminAddress =
  { readonly ok: true; readonly url: URL } | { readonly ok: false; readonly message: string }

const EXPECTED = 'expected host:port, [v6-address]:port, :port or http(s)://host:port'

/**
 * Parses `--admin`: `host:port` (`127.0.0.1:9901`, `localhost:9901`, `[::1]:9901`), `:port` (loopback),
 * or a URL `http://host:port` / `https://host:port` (what it accepted before) with no path, query or
 * credentials. Pure; the message names the value.
 */
export function parseAdminAddress(value: string): AdminAddress {
  const bad = (why: string): AdminAddress => ({
    ok: false,
    message: `invalid --admin ${JSON.stringify(value)}: ${why} (${EXPECTED})`,
  })
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value)) {
    let url: URL
    try {
      url = new URL(value)
    } catch {
      return bad('not a URL')
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      return bad(`scheme ${url.protocol} is not http or https`)
    if (url.username !== '' || url.password !== '') return bad('credentials are not allowed')
    if (url.pathname !== '/' || url.search !== '' || url.hash !== '')
      return bad('no path, query or fragment allowed')
    return { ok: true, url }
  }
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]@]*):(\d{1,5})$/.exec(value)
  if (m === null) return bad('no port')
  const port = Number(m[2])
  if (port < 1 || port > 65535) return bad(`port ${m[2]} out of range 1-65535`)
  const host = m[1] === '' ? '127.0.0.1' : (m[1] as string)
  try {
    return { ok: true, url: new URL(`http://${host}:${port}/`) }
  } catch {
    return bad(`host ${JSON.stringify(host)} is not a host name or address`)
  }
}
