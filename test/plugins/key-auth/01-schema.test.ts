import { test } from 'node:test'
import assert from 'node:assert/strict'
import { keyAuthSchema } from '../../../src/plugins/key-auth/schema.js'

test("defaults are Kong 3's", () => {
  assert.deepEqual(keyAuthSchema.parse({}), {
    key_names: ['apikey'],
    key_in_header: true,
    key_in_query: true,
    key_in_body: false,
    hide_credentials: false,
    anonymous: null,
    run_on_preflight: true,
    realm: null,
  })
})

test('key names are header names; at least one', () => {
  assert.deepEqual(keyAuthSchema.parse({ key_names: ['X-API-Key', 'api_key'] }).key_names, ['X-API-Key', 'api_key'])
  assert.equal(keyAuthSchema.safeParse({ key_names: [] }).success, false)
  assert.equal(keyAuthSchema.safeParse({ key_names: ['api key'] }).success, false)
  assert.equal(keyAuthSchema.safeParse({ key_names: ['a:b'] }).success, false)
  assert.equal(keyAuthSchema.safeParse({ key_names: [''] }).success, false)
})

test('realm cannot break out of the WWW-Authenticate quotes; unknown fields are refused', () => {
  assert.equal(keyAuthSchema.parse({ realm: 'api' }).realm, 'api')
  assert.equal(keyAuthSchema.safeParse({ realm: 'a"b' }).success, false)
  assert.equal(keyAuthSchema.safeParse({ realm: 'a\r\nSet-Cookie: x=1' }).success, false)
  assert.equal(keyAuthSchema.safeParse({ realm: 'a\\' }).success, false)
  assert.equal(keyAuthSchema.safeParse({ key_in_cookie: true }).success, false)
  assert.equal(keyAuthSchema.safeParse({ anonymous: '' }).success, false)
  assert.equal(keyAuthSchema.safeParse({ hide_credentials: 'yes' }).success, false)
})
