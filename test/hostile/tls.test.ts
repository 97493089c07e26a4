/**
 * TLS on both TLS listener kinds (HTTP/1.1, and h2 with HTTP/1.1 fallback), with real handshakes on
 * loopback: SNI selection (exact, one-label wildcard, default), the protocol floor and cipher list, ALPN,
 * client certificates (require / request), certificate reload without dropping open connections, and
 * clear refusals of mismatched pairs and uncovered names at start and on reload.
 */
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { Agent, request as httpsRequest } from 'node:https'
import { connect as h2connect, type ClientHttp2Session } from 'node:http2'
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls'
import { configSchema, parseConfig, type ConfigInput } from '../../src/config/index.ts'
import { isGatewayError } from '../../src/errors/index.ts'
import { startGateway, type TestGateway } from '../helpers/gateway.ts'
import { makeSelfSignedCert, makeTestCa, type TestCa, type TestCert } from '../helpers/tls.ts'
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts'

const fp = (c: TestCert): string => new X509Certificate(c.cert).fingerprint256

interface Exchange {
  /** Certificate the server presented (undefined when the handshake failed). */
  readonly fingerprint?: string
  readonly alpn?: string | false | null
  readonly protocol?: string | null
  /** Status of a GET over HTTP/1.1 after the handshake, or the error that ended the connection. */
  readonly status?: number
  readonly error?: string
}

/** Handshake, then one HTTP/1.1 GET (TLS 1.3 reports a refused client certificate only after it). */
function exchange(port: number, options: ConnectionOptions = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    let result: Exchange = {}
    let data = ''
    const s: TLSSocket = tlsConnect(
      { host: '127.0.0.1', port, rejectUnauthorized: false, ...options },
      () => {
        result = {
          fingerprint: s.getPeerCertificate().fingerprint256,
          alpn: s.alpnProtocol,
          protocol: s.getProtocol(),
        }
        s.write('GET /x HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n')
      },
    )
    s.setEncoding('utf8')
    s.on('data', (chunk: string) => (data += chunk))
    s.setTimeout(5000, () => s.destroy(new Error('timeout')))
    let error: string | undefined
    s.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message))
    s.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data)
      resolve({
        ...result,
        ...(m === null ? {} : { status: Number(m[1]) }),
        ...(error === undefined ? {} : { error }),
      })
    })
  })
}

/** GET over an existing keep-alive agent; returns the status, the socket and the certificate it saw. */
function get(
  port: number,
  agent: Agent,
  servername: string,
): Promise<{ status: number; socket: TLSSocket; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: '/x', servername, agent, rejectUnauthorized: false },
      (res) => {
        const socket = res.socket as TLSSocket
        const fingerprint = socket.getPeerCertificate().fingerprint256
        res.resume()
        res.once('end', () => resolve({ status: res.statusCode ?? 0, socket, fingerprint }))
      },
    )
    req.once('error', reject)
    req.end()
  })
}

function h2get(session: ClientHttp2Session): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': '/x', ':authority': 'gw.test' })
    stream.once('response', (h) => {
      stream.resume()
      stream.once('end', () => resolve(Number(h[':status'])))
    })
    stream.once('error', reject)
    stream.end()
  })
}

function h2open(port: number, servername: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`https://127.0.0.1:${port}`, { servername, rejectUnauthorized: false })
    session.once('connect', () => resolve(session))
    session.once('error', reject)
  })
}

function closeSession(session: ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (session.closed) return resolve()
    session.close(() => resolve())
  })
}

interface Certs {
  main: TestCert
  main2: TestCert
  api: TestCert
  api2: TestCert
  wild: TestCert
  ca: TestCa
  otherCa: TestCa
  client: { cert: Buffer; key: Buffer }
  stranger: { cert: Buffer; key: Buffer }
}

let certs: Certs
let up: TestUpstream
before(async () => {
  const [main, main2, api, api2, wild, ca, otherCa] = await Promise.all([
    makeSelfSignedCert(),
    makeSelfSignedCert(),
    makeSelfSignedCert({ dns: ['api.example.com'] }),
    makeSelfSignedCert({ dns: ['api.example.com'] }),
    makeSelfSignedCert({ dns: ['*.example.com'] }),
    makeTestCa(),
    makeTestCa(),
  ])
  const [client, stranger] = await Promise.all([ca.issueClient('client'), otherCa.issueClient('stranger')])
  certs = { main, main2, api, api2, wild, ca, otherCa, client, stranger }
  up = await startUpstream()
})
after(async () => {
  await up.close()
  await Promise.all(
    [certs.main, certs.main2, certs.api, certs.api2, certs.wild, certs.ca, certs.otherCa].map((c) =>
      c.remove(),
    ),
  )
})

type Listeners = NonNullable<ConfigInput['listeners']>

function listeners(http2: boolean, sni: { main: TestCert; api: TestCert }): Listeners {
  const { wild, ca } = certs
  return [
    {
      name: 'sni',
      port: 0,
      http2,
      tls: {
        certFile: sni.main.certFile,
        keyFile: sni.main.keyFile,
        certificates: [
          { certFile: sni.api.certFile, keyFile: sni.api.keyFile },
          { certFile: wild.certFile, keyFile: wild.keyFile, serverNames: ['*.example.com'] },
        ],
      },
    },
    {
      name: 'require',
      port: 0,
      http2,
      tls: {
        certFile: certs.main.certFile,
        keyFile: certs.main.keyFile,
        certificates: [{ certFile: certs.api.certFile, keyFile: certs.api.keyFile }],
        clientAuth: { caFile: ca.certFile },
      },
    },
    {
      name: 'request',
      port: 0,
      http2,
      tls: {
        certFile: certs.main.certFile,
        keyFile: certs.main.keyFile,
        clientAuth: { caFile: ca.certFile, mode: 'request' },
      },
    },
    {
      name: 'tls13',
      port: 0,
      http2,
      tls: { certFile: certs.main.certFile, keyFile: certs.main.keyFile, minVersion: 'TLSv1.3' },
    },
  ]
}

const rest = () => ({
  upstreams: [{ id: 'u', backends: [{ url: up.url }] }],
  routes: [{ id: 'all', match: { path: { prefix: '/' } }, upstream: 'u' }],
})

for (const http2 of [false, true]) {
  const kind = http2 ? 'TLS h2 (ALPN, HTTP/1.1 fallback)' : 'TLS HTTP/1.1'
  describe(`${kind} listener`, () => {
    let gw: TestGateway
    const port = (name: string): number => {
      const a = gw.gateway.addresses()[name]
      assert.ok(a !== undefined, name)
      return a.port
    }
    before(async () => {
      gw = await startGateway({ listeners: listeners(http2, certs), ...rest() })
    })
    after(async () => {
      await gw.stop()
    })

    test('SNI picks the exact name, then the one-label wildcard, else the default certificate', async () => {
      const p = port('sni')
      const served = async (servername?: string) =>
        (await exchange(p, servername === undefined ? {} : { servername })).fingerprint
      assert.equal(await served('api.example.com'), fp(certs.api))
      assert.equal(await served('API.Example.com'), fp(certs.api), 'names compare case-insensitively')
      assert.equal(await served('www.example.com'), fp(certs.wild))
      assert.equal(await served('a.b.example.com'), fp(certs.main), 'a wildcard covers one label only')
      assert.equal(await served('example.com'), fp(certs.main))
      assert.equal(await served('other.test'), fp(certs.main))
      assert.equal(await served(), fp(certs.main), 'no SNI (an IP address) gets the default')
      const ok = await exchange(p, { servername: 'www.example.com' })
      assert.equal(ok.status, 200)
    })

    test('TLS 1.0 and 1.1 are refused with protocol_version; minVersion TLSv1.3 refuses 1.2', async () => {
      // The client allows the old versions (and their SHA-1 suites), so the refusal is the server's.
      const old = { ciphers: 'DEFAULT:@SECLEVEL=0', minVersion: 'TLSv1', maxVersion: 'TLSv1.1' } as const
      const refused = await exchange(port('sni'), old)
      assert.equal(refused.fingerprint, undefined)
      assert.equal(refused.error, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION')
      const v10 = await exchange(port('sni'), { ...old, maxVersion: 'TLSv1' })
      assert.equal(v10.error, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION')
      assert.equal((await exchange(port('sni'), { maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2')
      assert.equal((await exchange(port('sni'))).protocol, 'TLSv1.3')
      const v12 = await exchange(port('tls13'), { maxVersion: 'TLSv1.2' })
      assert.equal(v12.error, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION')
      assert.equal((await exchange(port('tls13'))).status, 200)
    })

    test('the default cipher list refuses CBC suites and accepts AEAD ones (TLS 1.2)', async () => {
      const cbc = await exchange(port('sni'), { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256' })
      assert.equal(cbc.fingerprint, undefined)
      assert.match(cbc.error ?? '', /ALERT_HANDSHAKE_FAILURE$/)
      const gcm = await exchange(port('sni'), {
        maxVersion: 'TLSv1.2',
        ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
      })
      assert.equal(gcm.status, 200)
      const chacha = await exchange(port('sni'), {
        maxVersion: 'TLSv1.2',
        ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305',
      })
      assert.equal(chacha.status, 200)
    })

    test(`ALPN: ${http2 ? 'h2 when offered, http/1.1 otherwise' : 'http/1.1 only'}`, async () => {
      const both = await exchange(port('sni'), { ALPNProtocols: ['h2', 'http/1.1'] })
      assert.equal(both.alpn, http2 ? 'h2' : 'http/1.1')
      const h1 = await exchange(port('sni'), { ALPNProtocols: ['http/1.1'] })
      assert.equal(h1.alpn, 'http/1.1')
      assert.equal(h1.status, 200)
      if (http2) {
        const session = await h2open(port('sni'), 'api.example.com')
        try {
          assert.equal(await h2get(session), 200)
          assert.equal(session.alpnProtocol, 'h2')
        } finally {
          await closeSession(session)
        }
      }
    })

    test('clientAuth require: no certificate or one from another CA is refused; the CA’s is served (also under SNI)', async () => {
      const p = port('require')
      // TLS 1.3 completes the client's side of the handshake first: the refusal ends the connection
      // before any response.
      const none = await exchange(p)
      assert.equal(none.status, undefined)
      const stranger = await exchange(p, certs.stranger)
      assert.equal(stranger.status, undefined)
      assert.equal((await exchange(p, certs.client)).status, 200)
      // The SNI context verifies with the same CA.
      const sni = await exchange(p, { ...certs.client, servername: 'api.example.com' })
      assert.equal(sni.fingerprint, fp(certs.api))
      assert.equal(sni.status, 200)
      assert.equal((await exchange(p, { servername: 'api.example.com' })).status, undefined)
      // TLS 1.2: the refusal is in the handshake itself.
      const v12 = await exchange(p, { maxVersion: 'TLSv1.2' })
      assert.equal(v12.fingerprint, undefined)
    })

    test('clientAuth request: every client is served; the verification result is logged', async () => {
      const p = port('request')
      const before = gw.lines.length
      assert.equal((await exchange(p)).status, 200)
      assert.equal((await exchange(p, certs.stranger)).status, 200)
      assert.equal((await exchange(p, certs.client)).status, 200)
      const lines = gw.lines
        .slice(before)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => typeof l['clientCertAuthorized'] === 'boolean')
      assert.deepEqual(
        lines.map((l) => [l['listener'], l['clientCertAuthorized'], l['clientCertError']]),
        [
          ['request', false, 'NO_CERTIFICATE'],
          ['request', false, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
          ['request', true, undefined],
        ],
      )
      assert.equal(
        lines[2]?.['clientCertFingerprint256'],
        new X509Certificate(certs.client.cert).fingerprint256,
      )
    })

    test('reload swaps every certificate for new connections; open keep-alive connections keep working', async () => {
      const p = port('sni')
      const agent = new Agent({ keepAlive: true, maxSockets: 1 })
      const session = http2 ? await h2open(p, 'api.example.com') : undefined
      try {
        const first = await get(p, agent, 'api.example.com')
        assert.equal(first.fingerprint, fp(certs.api))
        if (session !== undefined) assert.equal(await h2get(session), 200)
        const next = configSchema.parse({
          version: 1,
          listeners: listeners(http2, { main: certs.main2, api: certs.api2 }),
          ...rest(),
        })
        const result = await gw.gateway.reload(next)
        assert.ok(result.tlsReloaded.includes('sni'))
        // The open connection: same socket, old certificate, still served.
        const again = await get(p, agent, 'api.example.com')
        assert.equal(again.socket, first.socket, 'the keep-alive connection was reused')
        assert.equal(again.status, 200)
        assert.equal(again.fingerprint, fp(certs.api))
        if (session !== undefined) {
          assert.equal(await h2get(session), 200)
          assert.ok(!session.closed && !session.destroyed)
        }
        // New connections: the new set (default and SNI).
        assert.equal((await exchange(p, { servername: 'api.example.com' })).fingerprint, fp(certs.api2))
        assert.equal((await exchange(p)).fingerprint, fp(certs.main2))
        assert.equal((await exchange(p, { servername: 'www.example.com' })).fingerprint, fp(certs.wild))

        // A mismatched pair is refused as a whole: nothing changes, the current set keeps serving.
        const broken = listeners(http2, {
          main: certs.main,
          api: { ...certs.api2, keyFile: certs.wild.keyFile },
        })
        await assert.rejects(
          gw.gateway.reload(configSchema.parse({ version: 1, listeners: broken, ...rest() })),
          (err: unknown) => {
            assert.ok(isGatewayError(err))
            assert.equal(err.code, 'RELOAD_FAILED')
            assert.match(err.message, /TLS_KEY_MISMATCH: listener sni: tls\.certificates\[0\]\.keyFile /)
            return true
          },
        )
        assert.equal((await exchange(p)).fingerprint, fp(certs.main2), 'the default was not swapped')
        assert.equal((await exchange(p, { servername: 'api.example.com' })).fingerprint, fp(certs.api2))
        assert.equal((await get(p, agent, 'api.example.com')).socket, first.socket)
      } finally {
        agent.destroy()
        if (session !== undefined) await closeSession(session)
        // Back to the first set for the tests that follow in this file (none do today).
        await gw.gateway.reload(
          configSchema.parse({ version: 1, listeners: listeners(http2, certs), ...rest() }),
        )
      }
    })
  })
}

describe('refused at start and in config validation', () => {
  test('a mismatched SNI pair or an uncovered server name stops the start, naming listener, index and file', async () => {
    const mismatched: Listeners = [
      {
        name: 'edge',
        port: 0,
        tls: {
          certFile: certs.main.certFile,
          keyFile: certs.main.keyFile,
          certificates: [
            { certFile: certs.wild.certFile, keyFile: certs.wild.keyFile },
            { certFile: certs.api.certFile, keyFile: certs.main.keyFile },
          ],
        },
      },
    ]
    await assert.rejects(startGateway({ listeners: mismatched, ...rest() }), (err: unknown) => {
      assert.ok(isGatewayError(err))
      assert.equal(err.code, 'TLS_KEY_MISMATCH')
      assert.equal(
        err.message,
        `listener edge: tls.certificates[1].keyFile ${certs.main.keyFile} is not the private key of tls.certificates[1].certFile ${certs.api.certFile}`,
      )
      return true
    })
    const uncovered: Listeners = [
      {
        name: 'edge',
        port: 0,
        tls: {
          certFile: certs.main.certFile,
          keyFile: certs.main.keyFile,
          certificates: [
            { certFile: certs.api.certFile, keyFile: certs.api.keyFile, serverNames: ['www.example.com'] },
          ],
        },
      },
    ]
    await assert.rejects(startGateway({ listeners: uncovered, ...rest() }), (err: unknown) => {
      assert.ok(isGatewayError(err))
      assert.equal(err.code, 'TLS_NAME_NOT_COVERED')
      assert.match(
        err.message,
        /^listener edge: tls\.certificates\[0\]\.serverNames\[0\] "www\.example\.com" is not covered/,
      )
      return true
    })
  })

  test('server names, duplicates and cipher lists are checked in config, naming field and value', () => {
    const yaml = (tls: string) => `
version: 1
listeners:
  - name: edge
    port: 0
    tls:
      certFile: a.pem
      keyFile: b.pem
${tls}
upstreams:
  - id: u
    backends: [{ url: 'http://127.0.0.1:1' }]
routes:
  - { id: r, match: { path: { prefix: / } }, upstream: u }
`
    const issues = (tls: string) => {
      const r = parseConfig(yaml(tls))
      assert.ok(!r.ok)
      return r.issues.map(
        (i) => `${i.path}: ${i.message}${'value' in i && i.value !== undefined ? ` (${i.value})` : ''}`,
      )
    }
    const bad = issues(`      certificates:
        - { certFile: c.pem, keyFile: d.pem, serverNames: ['a.*.example.com'] }`)
    assert.equal(bad.length, 1)
    assert.match(
      bad[0] ?? '',
      /^listeners\[0\]\.tls\.certificates\[0\]\.serverNames\[0\]: must be a DNS name .*a\.\*\.example\.com/,
    )
    assert.deepEqual(
      issues(`      certificates:
        - { certFile: c.pem, keyFile: d.pem, serverNames: [api.example.com] }
        - { certFile: e.pem, keyFile: f.pem, serverNames: ['*.example.com', API.example.com] }`),
      [
        'listeners[0].tls.certificates[1].serverNames[1]: server name listed for two certificates ("API.example.com")',
      ],
    )
    assert.deepEqual(issues(`      ciphers: NOPE-CIPHER`), [
      'listeners[0].tls.ciphers: no cipher OpenSSL knows in this list ("NOPE-CIPHER")',
    ])
    assert.match(
      issues(`      clientAuth: { caFile: ca.pem, mode: optional }`)[0] ?? '',
      /^listeners\[0\]\.tls\.clientAuth\.mode: /,
    )
    assert.match(issues(`      minVersion: TLSv1.1`)[0] ?? '', /^listeners\[0\]\.tls\.minVersion: /)
  })
})
