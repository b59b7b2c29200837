import { test } from 'node:test'
import assert from 'node:assert/strict'
import { basicAuthSchema } from '../../../src/plugins/basic-auth/schema.js'

test("defaults are Kong 3's (realm 'service')", () => {
  assert.deepEqual(basicAuthSchema.parse({}), { anonymous: null, hide_credentials: false, realm: 'service', run_on_preflight: true })
})

test('realm cannot break out of the challenge; unknown fields are refused', () => {
  assert.equal(basicAuthSchema.parse({ realm: 'my api' }).realm, 'my api')
  assert.equal(basicAuthSchema.safeParse({ realm: 'x"' }).success, false)
  assert.equal(basicAuthSchema.safeParse({ realm: 'x\n' }).success, false)
  assert.equal(basicAuthSchema.safeParse({ realm: null }).success, false)
  assert.equal(basicAuthSchema.safeParse({ anonymous: '' }).success, false)
  assert.equal(basicAuthSchema.safeParse({ hide_credentials: 1 }).success, false)
  assert.equal(basicAuthSchema.safeParse({ password: 'x' }).success, false)
})
