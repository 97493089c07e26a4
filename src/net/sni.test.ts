import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { createSniTable, dnsNamesOf, isServerNameCovered } from './sni.ts'

describe('SNI selection', () => {
  const table = createSniTable([
    { serverNames: ['api.example.com'], value: 'api' },
    { serverNames: ['*.example.com'], value: 'wild' },
    { serverNames: ['*.eu.example.com', 'Example.ORG'], value: 'eu' },
  ])

  test('an exact name wins over a wildcard that also matches', () => {
    assert.equal(table.select('api.example.com'), 'api')
    assert.equal(table.select('API.Example.COM.'), 'api', 'case and a trailing dot do not matter')
    assert.equal(table.select('example.org'), 'eu')
  })

  test('a wildcard covers exactly one label; the parent-domain wildcard is the longest that can match', () => {
    assert.equal(table.select('www.example.com'), 'wild')
    assert.equal(table.select('x.eu.example.com'), 'eu')
    assert.equal(table.select('a.b.example.com'), undefined, 'two labels under *.example.com')
    assert.equal(table.select('example.com'), undefined, 'the bare parent is not covered')
    assert.equal(table.select('.example.com'), undefined, 'an empty first label is no name')
  })

  test('anything else gets the default (undefined)', () => {
    assert.equal(table.select('other.net'), undefined)
    assert.equal(table.select('localhost'), undefined)
    assert.equal(createSniTable([]).select('api.example.com'), undefined)
  })

  test('a name listed twice keeps its first certificate', () => {
    const t = createSniTable([
      { serverNames: ['a.example.com'], value: 1 },
      { serverNames: ['A.example.com'], value: 2 },
    ])
    assert.equal(t.select('a.example.com'), 1)
  })
})

describe('SAN coverage (what a client would accept)', () => {
  test('exact SAN, or the parent-domain wildcard SAN', () => {
    assert.ok(isServerNameCovered('api.example.com', ['api.example.com']))
    assert.ok(isServerNameCovered('api.example.com', ['*.example.com']))
    assert.ok(!isServerNameCovered('a.api.example.com', ['*.example.com']))
    assert.ok(!isServerNameCovered('example.com', ['*.example.com']))
    assert.ok(!isServerNameCovered('api.example.com', ['www.example.com']))
  })
  test('a wildcard server name needs the same wildcard SAN', () => {
    assert.ok(isServerNameCovered('*.example.com', ['*.EXAMPLE.com']))
    assert.ok(!isServerNameCovered('*.example.com', ['api.example.com']))
  })
  test('DNS names are read from the subjectAltName text; IP entries are not names', () => {
    assert.deepEqual(dnsNamesOf('DNS:a.example.com, IP Address:127.0.0.1, DNS:*.example.com'), [
      'a.example.com',
      '*.example.com',
    ])
    assert.deepEqual(dnsNamesOf(undefined), [])
  })
})
