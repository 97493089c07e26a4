import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { formatIssue, parseConfig, type ConfigIssue } from './index.ts'

const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
const PP = '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512'

function config(overrides: { routes?: unknown[]; paidAccess?: Record<string, unknown> | null } = {}): string {
  const paidAccess =
    overrides.paidAccess === null
      ? undefined
      : {
          chain: { preset: 'anvil' },
          contract: { paymentProcessor: PP },
          quoteSigner: { fromEnv: 'LITGATE_QUOTE_SIGNER_KEY' },
          plans: [
            {
              name: 'pro',
              planId: 1,
              displayName: 'Pro',
              prices: { [TOKEN]: '10000000' },
              qos: { requestsPerSecond: 10, burst: 20, requestsPerDay: 100000 },
            },
          ],
          ...overrides.paidAccess,
        }
  return JSON.stringify({
    version: 1,
    listeners: [{ name: 'main', port: 0 }],
    upstreams: [{ id: 'app', backends: [{ url: 'http://127.0.0.1:9' }] }],
    routes: overrides.routes ?? [
      { id: 'paid', match: { path: { prefix: '/api' } }, upstream: 'app', access: ['pro'] },
      { id: 'rest', match: {}, upstream: 'app' },
    ],
    ...(paidAccess === undefined ? {} : { paidAccess }),
  })
}

function issues(text: string): readonly ConfigIssue[] {
  const r = parseConfig(text, 'json')
  assert.equal(r.ok, false, 'expected the config to be refused')
  return r.ok ? [] : r.issues
}

function hasIssue(list: readonly ConfigIssue[], path: string, pattern: RegExp): void {
  assert.ok(
    list.some((i) => i.path === path && pattern.test(`${i.message} ${i.value ?? ''}`)),
    `no issue at ${path} matching ${pattern}: ${list.map(formatIssue).join(' | ')}`,
  )
}

describe('paidAccess config', () => {
  test('defaults: basePath, quote TTL and caps, challenge; routes are public unless they list plans', () => {
    const r = parseConfig(config(), 'json')
    assert.ok(r.ok, r.ok ? '' : r.issues.map(formatIssue).join('\n'))
    const paid = r.config.paidAccess
    assert.ok(paid)
    assert.equal(paid.basePath, '/litgate/v1')
    assert.equal(paid.quotes.ttlSeconds, 300)
    assert.equal(paid.quotes.maxOpenPerPayer, 10)
    assert.equal(paid.challenge.paymentAuth.enabled, false)
    assert.deepEqual(r.config.routes[0]?.access, ['pro'])
    assert.equal(r.config.routes[1]?.access, 'public')
    assert.equal(paid.plans[0]?.prices[TOKEN], '10000000')
  })

  test('a price must be a decimal string of base units, never a number; errors name field and value', () => {
    const plan = { name: 'pro', planId: 1, displayName: 'Pro', qos: { requestsPerSecond: 1, burst: 1 } }
    hasIssue(
      issues(config({ paidAccess: { plans: [{ ...plan, prices: { [TOKEN]: 10 } }] } })),
      `paidAccess.plans[0].prices.${TOKEN}`,
      /string/,
    )
    hasIssue(
      issues(config({ paidAccess: { plans: [{ ...plan, prices: { [TOKEN]: '1.5' } }] } })),
      `paidAccess.plans[0].prices.${TOKEN}`,
      /base units.*"1\.5"/,
    )
    hasIssue(
      issues(config({ paidAccess: { plans: [{ ...plan, prices: { [TOKEN]: (2n ** 128n).toString() } }] } })),
      `paidAccess.plans[0].prices.${TOKEN}`,
      /2\^128/,
    )
    hasIssue(
      issues(config({ paidAccess: { plans: [{ ...plan, prices: { '0x1234': '1' } }] } })),
      'paidAccess.plans[0].prices.0x1234',
      /Invalid key.*0x1234/,
    )
  })

  test('bounds: quote TTL, secret reference with exactly one source, contract with exactly one source', () => {
    hasIssue(
      issues(config({ paidAccess: { quotes: { ttlSeconds: 5 } } })),
      'paidAccess.quotes.ttlSeconds',
      /30/,
    )
    hasIssue(
      issues(config({ paidAccess: { quoteSigner: { fromEnv: 'A', file: '/k' } } })),
      'paidAccess.quoteSigner',
      /exactly one/,
    )
    hasIssue(issues(config({ paidAccess: { quoteSigner: '0xabc' } })), 'paidAccess.quoteSigner', /object/)
    hasIssue(issues(config({ paidAccess: { contract: {} } })), 'paidAccess.contract', /exactly one/)
    hasIssue(issues(config({ paidAccess: { chain: { id: 5 } } })), 'paidAccess.chain', /preset.*rpc/)
    hasIssue(
      issues(config({ paidAccess: { challenge: { paymentAuth: { enabled: true } } } })),
      'paidAccess.challenge.paymentAuth',
      /secret/,
    )
  })

  test('route access must name known plans, and needs the paidAccess section', () => {
    hasIssue(
      issues(config({ routes: [{ id: 'r', match: {}, upstream: 'app', access: ['gold'] }] })),
      'routes[0].access[0]',
      /unknown plan.*"gold"/,
    )
    hasIssue(
      issues(
        config({ paidAccess: null, routes: [{ id: 'r', match: {}, upstream: 'app', access: ['pro'] }] }),
      ),
      'routes[0].access',
      /paidAccess/,
    )
  })

  test('plan names and on-chain ids are unique; a token is listed once per plan', () => {
    const plan = {
      name: 'pro',
      planId: 1,
      displayName: 'Pro',
      prices: { [TOKEN]: '1' },
      qos: { requestsPerSecond: 1, burst: 1 },
    }
    const list = issues(config({ paidAccess: { plans: [plan, { ...plan }] } }))
    hasIssue(list, 'paidAccess.plans[1].name', /duplicate plan name "pro"/)
    hasIssue(list, 'paidAccess.plans[1].planId', /same on-chain plan id 1/)
    hasIssue(
      issues(
        config({
          paidAccess: { plans: [{ ...plan, prices: { [TOKEN]: '1', [TOKEN.toLowerCase()]: '2' } }] },
        }),
      ),
      'paidAccess.plans[0].prices',
      /twice/,
    )
  })

  test('a route inside basePath is refused (the gateway endpoints shadow it); a catch-all route is fine', () => {
    hasIssue(
      issues(
        config({ routes: [{ id: 'x', match: { path: { prefix: '/litgate/v1/quote' } }, upstream: 'app' }] }),
      ),
      'routes[0].match.path',
      /basePath "\/litgate\/v1"/,
    )
    hasIssue(
      issues(
        config({
          paidAccess: { basePath: '/pay' },
          routes: [{ id: 'x', match: { path: { exact: '/pay' } }, upstream: 'app' }],
        }),
      ),
      'routes[0].match.path',
      /shadow/,
    )
    assert.ok(
      parseConfig(
        config({ routes: [{ id: 'x', match: { path: { prefix: '/litgate/v10' } }, upstream: 'app' }] }),
        'json',
      ).ok,
    )
    hasIssue(issues(config({ paidAccess: { basePath: '/pay/' } })), 'paidAccess.basePath', /trailing/)
  })
})
