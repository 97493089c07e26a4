// The admin listener's authentication and audit, through the real server on 127.0.0.1 port 0. The
// authorisation suite walks the server's own route table, so a route added to it (built in or registered
// by a subsystem) is refused without a token, with a wrong one and with every role below its own.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Registry } from 'prom-client'
import {
  assertAdminExposure,
  createAdminAudit,
  createAdminCredentials,
  isLoopbackHost,
  loadAdminCredentials,
  roleAllows,
  startAdminServer,
  type AdminCredentials,
  type AdminDeps,
  type AdminRole,
  type AdminRoute,
  type AdminRouteEntry,
  type AdminServer,
} from '../../src/admin/index.ts'
import { configSchema } from '../../src/config/index.ts'
import { isGatewayError } from '../../src/errors/index.ts'
import type { ReloadOutcome } from '../../src/lifecycle/index.ts'
import type { Storage } from '../../src/storage/index.ts'
import { send, type SimpleResponse } from '../helpers/client.ts'
import { memoryLogger } from '../helpers/gateway.ts'
import { storageBackends } from '../helpers/storage.ts'

const SECRETS: Record<AdminRole, string> = {
  read: 'r'.repeat(20) + 'read-token-000000',
  operate: 'o'.repeat(20) + 'operate-token-000',
  admin: 'a'.repeat(20) + 'admin-token-00000',
}
const ROLES: readonly AdminRole[] = ['read', 'operate', 'admin']
const SUB = `0x${'ab'.repeat(32)}`
const MINIMAL = {
  listeners: [{ name: 'a', port: 0 }],
  upstreams: [{ id: 'u', backends: [{ url: 'http://127.0.0.1:1' }] }],
  routes: [{ id: 'r', match: {}, upstream: 'u' }],
}

const credentialsOf = (openPaths: readonly string[] = []): AdminCredentials =>
  createAdminCredentials(
    ROLES.map((role) => ({ id: `ops-${role}`, role, secret: SECRETS[role] })),
    openPaths,
  )

let version = 1
const reloadOutcome = (): ReloadOutcome => {
  version++
  return {
    ok: true,
    trigger: 'admin',
    isChanged: true,
    version: `v${version}`,
    previousVersion: `v${version - 1}`,
    tlsReloaded: [],
    warnings: [],
    durationMs: 1,
  }
}

/** Routes as a subsystem registers them: a lookup (GET) and an action (POST) with audit facts. */
const subsystemRoutes: AdminRoute[] = [
  {
    endpoint: 'GET /litgate/v1/subscriptions/:id',
    prefix: '/litgate/v1/subscriptions/',
    answer: (rest) =>
      Promise.resolve({ status: 200, type: 'application/json', body: JSON.stringify({ id: rest }) }),
  },
  {
    endpoint: 'POST /litgate/v1/revocations/:kind/:id',
    method: 'POST',
    prefix: '/litgate/v1/revocations/',
    answer: (rest) =>
      Promise.resolve({
        status: 200,
        type: 'application/json',
        body: JSON.stringify({ revoked: [] }),
        audit: { subject: rest.slice(rest.indexOf('/') + 1).toLowerCase(), after: { revokedFamilies: 0 } },
      }),
  },
]

/** An empty subscription store: the authorisation suites only need the routes to exist. */
const noSubscriptions = { search: () => Promise.resolve([]), get: () => Promise.resolve(undefined) }

function deps(over: Partial<AdminDeps> & { lines?: string[] } = {}): AdminDeps {
  const { log } = memoryLogger('debug')
  return {
    log,
    subscriptions: noSubscriptions,
    registry: new Registry(),
    isReady: () => true,
    status: () => ({ state: 'serving' }),
    reload: () => Promise.resolve(reloadOutcome()),
    routes: subsystemRoutes,
    ...over,
  }
}

/** A concrete path of a route entry. */
const pathOf = (r: AdminRouteEntry): string =>
  r.isPrefix ? `${r.path}${r.path.includes('revocations') ? `subscription/${SUB}` : SUB}` : r.path

const call = (server: AdminServer, r: AdminRouteEntry, authorization?: string): Promise<SimpleResponse> =>
  send(`http://127.0.0.1:${server.address().port}${pathOf(r)}`, {
    method: r.method,
    headers: authorization === undefined ? {} : { authorization },
  })

function assertProblem(res: SimpleResponse, status: number, code: string, what: string): void {
  assert.equal(res.status, status, `${what}: ${res.body}`)
  assert.equal(res.headers['content-type'], 'application/problem+json', what)
  const body = res.json<{ code: string; requestId: string; status: number }>()
  assert.equal(body.code, code, what)
  assert.equal(body.status, status, what)
  assert.equal(body.requestId, res.headers['x-request-id'], `${what}: request id in body and header`)
}

describe('admin authorisation: every route of the table', () => {
  let server: AdminServer
  const { log, lines } = memoryLogger('debug')
  // Every optional route present: the audit and the subscriptions need a database (embedded here).
  const backend = storageBackends({})[0] as typeof storageBackends extends () => (infer B)[] ? B : never
  before(async () => {
    const storage = await backend.open()
    const { log: auditLog } = memoryLogger('debug')
    server = await startAdminServer(
      { host: '127.0.0.1', port: 0 },
      deps({
        log,
        credentials: () => credentialsOf(),
        audit: createAdminAudit({ log: auditLog, repository: storage.audit }),
        subscriptions: storage.subscriptions,
      }),
    )
  })
  after(async () => {
    await server.close()
    await backend.close()
  })

  test('the table holds the built-in and the subsystem endpoints', () => {
    const endpoints = server.routes.map((r) => r.endpoint)
    for (const e of [
      'GET /metrics',
      'GET /healthz',
      'GET /readyz',
      'GET /status',
      'POST /reload',
      'GET /audit',
      'GET /subscriptions',
      'GET /subscriptions/:id',
    ])
      assert.ok(endpoints.includes(e), e)
    for (const r of subsystemRoutes) assert.ok(endpoints.includes(r.endpoint), r.endpoint)
    assert.equal(server.routes.find((r) => r.endpoint === 'POST /reload')?.role, 'operate')
    assert.equal(server.routes.find((r) => r.method === 'POST' && r.isPrefix)?.role, 'operate')
  })

  test('a missing token is 401 with WWW-Authenticate on every route', async () => {
    for (const r of server.routes) {
      const res = await call(server, r)
      assertProblem(res, 401, 'ADMIN_UNAUTHORIZED', r.endpoint)
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="litgate-admin"', r.endpoint)
    }
  })

  test('a wrong or malformed token is 401 on every route', async () => {
    for (const r of server.routes) {
      for (const header of [
        `Bearer ${SECRETS.admin}x`,
        `Bearer ${SECRETS.admin.slice(0, -1)}`,
        'Bearer ',
        `Basic ${Buffer.from(`x:${SECRETS.admin}`).toString('base64')}`,
        SECRETS.admin,
      ]) {
        const res = await call(server, r, header)
        assertProblem(res, 401, 'ADMIN_UNAUTHORIZED', `${r.endpoint} with ${header.slice(0, 8)}…`)
        assert.match(String(res.headers['www-authenticate']), /^Bearer realm="litgate-admin"/)
      }
    }
  })

  test('every role below the route role is 403; the route role and above are served', async () => {
    let refused = 0
    for (const r of server.routes) {
      for (const role of ROLES) {
        const res = await call(server, r, `Bearer ${SECRETS[role]}`)
        if (roleAllows(role, r.role)) {
          assert.ok(res.status !== 401 && res.status !== 403, `${r.endpoint} as ${role}: ${res.status}`)
        } else {
          assertProblem(res, 403, 'ADMIN_FORBIDDEN', `${r.endpoint} as ${role}`)
          refused++
        }
      }
    }
    assert.ok(refused >= 2, 'the write routes refused the read token')
  })

  test('a lower-case scheme is accepted; an unknown path with no token is 401, not the endpoint list', async () => {
    const base = `http://127.0.0.1:${server.address().port}`
    assert.equal(
      (await send(`${base}/status`, { headers: { authorization: `bearer ${SECRETS.read}` } })).status,
      200,
    )
    assertProblem(await send(`${base}/nope`), 401, 'ADMIN_UNAUTHORIZED', 'unknown path')
    const known = await send(`${base}/nope`, { headers: { authorization: `Bearer ${SECRETS.read}` } })
    assertProblem(known, 404, 'ROUTE_NOT_FOUND', 'unknown path with a token')
    assert.ok(known.json<{ endpoints: string[] }>().endpoints.includes('POST /reload'))
  })

  test('no log line holds a token', () => {
    assert.ok(lines.length > 0)
    for (const secret of Object.values(SECRETS))
      assert.ok(!lines.some((l) => l.includes(secret)), 'a secret was logged')
    assert.ok(lines.some((l) => l.includes('"code":"ADMIN_UNAUTHORIZED"')))
    assert.ok(lines.some((l) => l.includes('"code":"ADMIN_FORBIDDEN"')))
  })
})

describe('admin open paths and the unauthenticated default', () => {
  test('admin.openPaths are answered without a token, the rest still refused', async () => {
    const server = await startAdminServer(
      { host: '127.0.0.1', port: 0 },
      deps({ credentials: () => credentialsOf(['/healthz', '/readyz', '/metrics']) }),
    )
    try {
      for (const r of server.routes) {
        const res = await call(server, r)
        if (r.isOpenable) assert.equal(res.status, 200, r.endpoint)
        else assertProblem(res, 401, 'ADMIN_UNAUTHORIZED', r.endpoint)
      }
    } finally {
      await server.close()
    }
  })

  test('the schema default opens /healthz and /readyz only', async () => {
    const admin = configSchema.parse({ version: 1, ...MINIMAL }).admin
    assert.deepEqual(admin.openPaths, ['/healthz', '/readyz'])
    assert.deepEqual(admin.tokens, [])
  })

  test('without tokens every route is served (loopback default, backward compatible)', async () => {
    const server = await startAdminServer(
      { host: '127.0.0.1', port: 0 },
      deps({ credentials: () => createAdminCredentials([], ['/healthz']) }),
    )
    try {
      for (const r of server.routes) {
        const res = await call(server, r)
        // The empty store answers 404 for the one subscription; everything else is served.
        assert.equal(res.status, r.endpoint === 'GET /subscriptions/:id' ? 404 : 200, r.endpoint)
      }
    } finally {
      await server.close()
    }
  })

  test('a reload swaps the tokens for the next request (credentials read per request)', async () => {
    let current = credentialsOf()
    const server = await startAdminServer(
      { host: '127.0.0.1', port: 0 },
      deps({ credentials: () => current }),
    )
    const url = `http://127.0.0.1:${server.address().port}/status`
    try {
      const old = { authorization: `Bearer ${SECRETS.read}` }
      assert.equal((await send(url, { headers: old })).status, 200)
      const rotated = 'n'.repeat(40)
      current = createAdminCredentials([{ id: 'new', role: 'read', secret: rotated }], [])
      assert.equal((await send(url, { headers: old })).status, 401)
      assert.equal((await send(url, { headers: { authorization: `Bearer ${rotated}` } })).status, 200)
    } finally {
      await server.close()
    }
  })
})

describe('admin exposure and token loading', () => {
  const adminConfig = (tokens: unknown[], host = '127.0.0.1') =>
    configSchema.parse({ version: 1, ...MINIMAL, admin: { enabled: true, host, tokens } }).admin

  test('loopback addresses', () => {
    for (const h of [
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      'localhost',
      '::ffff:127.0.0.1',
      '0:0:0:0:0:0:0:1',
    ])
      assert.ok(isLoopbackHost(h), h)
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'admin.internal', '128.0.0.1', '::2'])
      assert.ok(!isLoopbackHost(h), h)
  })

  test('a non-loopback admin without tokens is refused with ADMIN_AUTH_REQUIRED; with tokens it is not', async () => {
    const none = await loadAdminCredentials(adminConfig([], '0.0.0.0'), { env: {} })
    assert.throws(
      () => assertAdminExposure('0.0.0.0', none),
      (err: unknown) =>
        isGatewayError(err) && err.code === 'ADMIN_AUTH_REQUIRED' && /0\.0\.0\.0/.test(err.message),
    )
    assertAdminExposure('127.0.0.1', none)
    const some = await loadAdminCredentials(
      adminConfig([{ id: 'ops', role: 'read', secret: { fromEnv: 'T' } }], '0.0.0.0'),
      { env: { T: SECRETS.read } },
    )
    assertAdminExposure('0.0.0.0', some)
    assert.deepEqual(some.authenticate(`Bearer ${SECRETS.read}`), { id: 'ops', role: 'read' })
  })

  test('unreadable, short and shared secrets are ADMIN_TOKEN_INVALID naming the field, never the value', async () => {
    const cases: Array<[unknown[], Record<string, string>, RegExp]> = [
      [
        [{ id: 'a', role: 'read', secret: { fromEnv: 'UNSET' } }],
        {},
        /admin\.tokens\[0\]\.secret: environment variable UNSET/,
      ],
      [
        [{ id: 'a', role: 'read', secret: { file: '/nonexistent/token' } }],
        {},
        /admin\.tokens\[0\]\.secret: cannot read file/,
      ],
      [[{ id: 'a', role: 'read', secret: { fromEnv: 'S' } }], { S: 'short-secret' }, /shorter than 32/],
      [
        [
          { id: 'a', role: 'read', secret: { fromEnv: 'S' } },
          { id: 'b', role: 'admin', secret: { fromEnv: 'S' } },
        ],
        { S: SECRETS.admin },
        /admin\.tokens\[1\]\.secret: same secret as token a/,
      ],
    ]
    for (const [tokens, env, message] of cases) {
      await assert.rejects(loadAdminCredentials(adminConfig(tokens), { env }), (err: unknown) => {
        assert.ok(isGatewayError(err) && err.code === 'ADMIN_TOKEN_INVALID', String(err))
        assert.match(err.message, message)
        for (const v of Object.values(env)) assert.ok(!err.message.includes(v), 'secret in the message')
        return true
      })
    }
  })

  test('duplicate token ids are refused by the schema', () => {
    const r = configSchema.safeParse({
      version: 1,
      ...MINIMAL,
      admin: {
        tokens: [
          { id: 'a', role: 'read', secret: { fromEnv: 'A' } },
          { id: 'a', role: 'admin', secret: { fromEnv: 'B' } },
        ],
      },
    })
    assert.equal(r.success, false)
    assert.match(JSON.stringify(r.error?.issues), /duplicate token id a/)
  })
})

for (const backend of storageBackends()) {
  describe(`admin audit on ${backend.name}`, () => {
    let storage: Storage
    let server: AdminServer
    const { log, lines } = memoryLogger('debug')
    before(async () => {
      storage = await backend.open()
      server = await startAdminServer(
        { host: '127.0.0.1', port: 0 },
        deps({
          credentials: () => credentialsOf(),
          audit: createAdminAudit({ log, repository: storage.audit }),
          subscriptions: storage.subscriptions,
        }),
      )
    })
    after(async () => {
      await server.close()
      await backend.close()
    })
    const base = (): string => `http://127.0.0.1:${server.address().port}`
    const read = { authorization: `Bearer ${SECRETS.read}` }
    interface Page {
      entries: Array<{
        id: string
        at: string
        entity: string
        subject: string
        cause: string
        toState: string
        detail: Record<string, unknown>
      }>
      nextCursor: string | null
    }
    const audit = async (query: string): Promise<Page> => {
      const res = await send(`${base()}/audit${query}`, { headers: read })
      assert.equal(res.status, 200, res.body)
      return res.json<Page>()
    }

    test('every write route of the table appears in the audit: who, what, subject, request id, before/after', async () => {
      const writes = server.routes.filter((r) => r.method === 'POST')
      assert.ok(writes.length >= 2)
      for (const r of writes) {
        const res = await call(server, r, `Bearer ${SECRETS.operate}`)
        assert.equal(res.status, 200, r.endpoint)
        const requestId = String(res.headers['x-request-id'])
        const all = await audit('?entity=admin&limit=500')
        const entry = all.entries.find((e) => e.detail['requestId'] === requestId)
        assert.ok(entry !== undefined, `${r.endpoint} not in the audit`)
        assert.equal(entry.cause, r.endpoint)
        assert.equal(entry.toState, 'done')
        assert.equal(entry.detail['actor'], 'ops-operate')
        assert.equal(entry.detail['role'], 'operate')
        assert.equal(entry.detail['path'], pathOf(r))
        const line = lines.find((l) => l.includes(requestId) && l.includes('"msg":"admin action"'))
        assert.ok(line !== undefined, `${r.endpoint}: no log line`)
      }
      const reload = (await audit('?subject=config')).entries.at(-1)
      assert.deepEqual(reload?.detail['before'], { version: `v${version - 1}` })
      assert.deepEqual(reload?.detail['after'], { version: `v${version}`, isChanged: true })
    })

    test('refused writes are not audited as actions', async () => {
      const before = (await audit('?entity=admin&limit=500')).entries.length
      const reload = server.routes.find((r) => r.endpoint === 'POST /reload') as AdminRouteEntry
      assert.equal((await call(server, reload)).status, 401)
      assert.equal((await call(server, reload, `Bearer ${SECRETS.read}`)).status, 403)
      assert.equal((await audit('?entity=admin&limit=500')).entries.length, before)
    })

    test('subject joins the operator action and the subscription transitions; cursor pages cover all once', async () => {
      const subject = `0x${'cd'.repeat(32)}`
      await storage.audit.append({
        entity: 'subscription',
        entityId: subject,
        fromState: null,
        toState: 'active',
        cause: 'payment-confirmed',
      })
      const revoke = server.routes.find((r) => r.method === 'POST' && r.isPrefix) as AdminRouteEntry
      for (let i = 0; i < 4; i++) {
        const res = await send(
          `${base()}${revoke.path}subscription/${subject.toUpperCase().replace('0X', '0x')}`,
          {
            method: 'POST',
            headers: { authorization: `Bearer ${SECRETS.admin}` },
          },
        )
        assert.equal(res.status, 200)
      }
      const whole = await audit(`?subject=${subject}`)
      assert.deepEqual(
        whole.entries.map((e) => e.entity),
        ['subscription', 'admin', 'admin', 'admin', 'admin'],
      )
      assert.equal(whole.nextCursor, null)
      const seen: string[] = []
      let cursor: string | null = ''
      let pages = 0
      while (cursor !== null) {
        const page = await audit(`?subject=${subject}&limit=2${cursor === '' ? '' : `&cursor=${cursor}`}`)
        assert.ok(page.entries.length <= 2)
        seen.push(...page.entries.map((e) => e.id))
        cursor = page.nextCursor
        pages++
      }
      assert.deepEqual(
        seen,
        whole.entries.map((e) => e.id),
      )
      assert.equal(pages, 3)
    })

    test('since/until bound the time range', async () => {
      const all = await audit('?limit=500')
      assert.ok(all.entries.length > 2)
      const future = await audit(`?since=${Math.floor(Date.now() / 1000) + 3600}`)
      assert.deepEqual(future.entries, [])
      const past = await audit('?until=2000-01-01T00:00:00Z')
      assert.deepEqual(past.entries, [])
      const first = all.entries[0] as Page['entries'][number]
      const from = await audit(`?since=${encodeURIComponent(first.at)}&limit=500`)
      assert.equal(from.entries.length, all.entries.length)
      const upto = await audit(`?until=${encodeURIComponent(first.at)}&limit=500`)
      assert.ok(upto.entries.every((e) => Date.parse(e.at) < Date.parse(first.at)))
    })

    const owner = (n: number) => `0x${n.toString(16).padStart(40, '0')}`
    const subId = (n: number) => `0x${n.toString(16).padStart(64, '0')}`
    interface SubPage {
      subscriptions: Array<{ id: string; owner: string; planId: number; state: string; end: number }>
      nextCursor: string | null
    }
    const list = async (query: string): Promise<SubPage> => {
      const res = await send(`${base()}/subscriptions${query}`, { headers: read })
      assert.equal(res.status, 200, res.body)
      return res.json<SubPage>()
    }

    test('GET /subscriptions filters by owner, plan, state and expiry window; cursor pages cover all once', async () => {
      const rows = Array.from({ length: 7 }, (_, i) => ({
        id: subId(0x100 + i) as `0x${string}`,
        owner: owner(i % 2 === 0 ? 0xa : 0xb) as `0x${string}`,
        beneficiary: owner(0xc) as `0x${string}`,
        planId: i % 3,
        token: owner(0xd) as `0x${string}`,
        startAt: 1_000,
        endAt: 2_000 + i * 100,
        state: (i === 6 ? 'revoked' : 'active') as 'active' | 'revoked',
      }))
      for (const r of rows) assert.ok(await storage.subscriptions.insert(r, { cause: 'test' }))
      const ids = (p: SubPage) => p.subscriptions.map((x) => x.id)
      const pick = (...i: number[]) => i.map((n) => rows[n]?.id)
      assert.deepEqual(ids(await list('?limit=500')), pick(0, 1, 2, 3, 4, 5, 6))
      assert.deepEqual(ids(await list(`?owner=0x${owner(0xa).slice(2).toUpperCase()}`)), pick(0, 2, 4, 6))
      assert.deepEqual(ids(await list('?planId=1')), pick(1, 4))
      assert.deepEqual(ids(await list('?state=revoked')), pick(6))
      assert.deepEqual(ids(await list('?expiresFrom=2200&expiresBefore=2400')), pick(2, 3))
      assert.deepEqual(ids(await list(`?owner=${owner(0xb)}&planId=0`)), pick(3))
      const seen: string[] = []
      let cursor: string | null = ''
      let pages = 0
      while (cursor !== null) {
        const page: SubPage = await list(`?limit=3${cursor === '' ? '' : `&cursor=${cursor}`}`)
        assert.ok(page.subscriptions.length <= 3)
        seen.push(...ids(page))
        cursor = page.nextCursor
        pages++
      }
      assert.deepEqual(seen, pick(0, 1, 2, 3, 4, 5, 6))
      assert.equal(pages, 3)
      for (const q of [
        '?owner=0x12',
        '?planId=70000',
        '?state=gone',
        '?expiresFrom=soon',
        '?limit=501',
        '?cursor=zz',
        '?x=1',
      ]) {
        const res = await send(`${base()}/subscriptions${q}`, { headers: read })
        assertProblem(res, 400, 'ADMIN_QUERY_INVALID', q)
      }
    })

    test('GET /subscriptions/:id answers the stored row with its transitions and the admin actions on it', async () => {
      const id = subId(0x100)
      const revoke = server.routes.find((r) => r.method === 'POST' && r.isPrefix) as AdminRouteEntry
      const done = await send(`${base()}${revoke.path}subscription/${id}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${SECRETS.operate}` },
      })
      assert.equal(done.status, 200)
      const res = await send(`${base()}/subscriptions/0x${id.slice(2).toUpperCase()}`, { headers: read })
      assert.equal(res.status, 200, res.body)
      const body = res.json<{
        subscription: { id: string; state: string; owner: string }
        audit: Array<{ entity: string; cause: string; toState: string; detail: Record<string, unknown> }>
        auditNextCursor: string | null
      }>()
      assert.equal(body.subscription.id, id)
      assert.equal(body.subscription.state, 'active')
      assert.deepEqual(
        body.audit.map((e) => [e.entity, e.cause, e.toState]),
        [
          ['subscription', 'test', 'active'],
          ['admin', revoke.endpoint, 'done'],
        ],
      )
      assert.equal(body.audit[1]?.detail['requestId'], done.headers['x-request-id'])
      assert.equal(body.auditNextCursor, null)
      const unknown = await send(`${base()}/subscriptions/${subId(0x999)}`, { headers: read })
      assertProblem(unknown, 404, 'SUBSCRIPTION_NOT_FOUND', 'unknown')
      const malformed = await send(`${base()}/subscriptions/0x12`, { headers: read })
      assertProblem(malformed, 400, 'SUBSCRIPTION_ID_INVALID', 'malformed')
    })

    test('malformed parameters are ADMIN_QUERY_INVALID', async () => {
      for (const q of [
        '?limit=0',
        '?limit=501',
        '?since=yesterday',
        '?cursor=abc',
        '?entity=quote',
        '?bogus=1',
      ]) {
        const res = await send(`${base()}/audit${q}`, { headers: read })
        assertProblem(res, 400, 'ADMIN_QUERY_INVALID', q)
      }
    })
  })
}
