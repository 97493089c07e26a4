import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseAdminAddress } from './admin-address.ts'

function url(value: string): string {
  const r = parseAdminAddress(value)
  assert.ok(r.ok, r.ok ? '' : r.message)
  return r.url.href
}

function message(value: string): string {
  const r = parseAdminAddress(value)
  assert.equal(r.ok, false, `${value} should be refused`)
  return r.ok ? '' : r.message
}

test('--admin takes host:port, [v6]:port and :port', () => {
  assert.equal(url('127.0.0.1:9901'), 'http://127.0.0.1:9901/')
  assert.equal(url('localhost:9901'), 'http://localhost:9901/')
  assert.equal(url('[::1]:9901'), 'http://[::1]:9901/')
  assert.equal(url(':9901'), 'http://127.0.0.1:9901/')
})

test('--admin still takes an http(s) URL, as before', () => {
  assert.equal(url('http://127.0.0.1:9901'), 'http://127.0.0.1:9901/')
  assert.equal(url('http://127.0.0.1:9901/'), 'http://127.0.0.1:9901/')
  assert.equal(url('https://admin.internal:8443'), 'https://admin.internal:8443/')
})

test('a bad --admin value is a clear error naming it', () => {
  assert.match(message('127.0.0.1'), /invalid --admin "127\.0\.0\.1": no port \(expected host:port/)
  assert.match(message('localhost:99999'), /port 99999 out of range/)
  assert.match(message('localhost:0'), /port 0 out of range/)
  assert.match(message('ftp://h:21'), /scheme ftp: is not http or https/)
  assert.match(message('http://u:p@h:1'), /credentials are not allowed/)
  assert.match(message('http://h:1/reload'), /no path/)
  assert.match(message('a b:80'), /no port|not a host/)
  assert.match(message(''), /invalid --admin ""/)
})
