import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigObject } from '../../../src/config/load.js'
import '../../../src/plugins/index.js'
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
  assert.deepEqual(keyAuthSchema.parse({ key_names: ['X-API-Key', 'api-key'] }).key_names, ['X-API-Key', 'api-key'])
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

test("a key name with '_' is refused while keys are read from headers (uWS drops such headers unanswered)", () => {
  for (const config of [{ key_names: ['api_key'] }, { key_names: ['apikey', 'API_KEY'], key_in_header: true }]) {
    const r = keyAuthSchema.safeParse(config)
    assert.equal(r.success, false)
    assert.equal(r.error!.issues.length, 1)
    const issue = r.error!.issues[0]
    assert.deepEqual(issue.path, ['key_names', config.key_names.length - 1])
    assert.match(issue.message, /contains '_'/)
    assert.match(issue.message, /use '-' \(e\.g\. 'api-key'\)|use '-' \(e\.g\. 'API-KEY'\)/)
    assert.match(issue.message, /key_in_header: false/)
  }
  // Each offending name is named.
  assert.deepEqual(
    keyAuthSchema.safeParse({ key_names: ['a_b', 'ok', 'c_d'] }).error!.issues.map((i) => i.path),
    [
      ['key_names', 0],
      ['key_names', 2],
    ],
  )
  // Still accepted when headers are not searched: the key comes in the query string or the body.
  assert.deepEqual(keyAuthSchema.parse({ key_names: ['api_key'], key_in_header: false }).key_names, ['api_key'])
})

test("the config loader names the plugin's bad key name by its path", async () => {
  const config = {
    _format_version: '3.0',
    services: [{ name: 's', url: 'http://127.0.0.1:1', routes: [{ name: 'k', paths: ['/k'], plugins: [{ name: 'key-auth', config: { key_names: ['apikey', 'api_key'] } }] }] }],
  }
  await assert.rejects(loadConfigObject(config), /services\[0\]\.routes\[0\]\.plugins\[0\]\.config\.key_names\[1\]: 'api_key' contains '_'/)
})
