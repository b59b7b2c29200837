import { test } from 'node:test'
import assert from 'node:assert/strict'
import { findHeader } from '../../../src/pipeline/context.js'
import { keyAuth } from '../../../src/plugins/key-auth/index.js'
import { DUPLICATE, findParam, withoutParam } from '../../../src/plugins/key-auth/params.js'
import { keyAuthSchema } from '../../../src/plugins/key-auth/schema.js'
import { compileEnv, makeContext, type TestRequest } from './context.js'

// The access phase in process: the query/form scanner's edge cases and the order of the search, which
// the integration test covers end to end only for the common shapes.

const env = compileEnv([
  { id: 'c-alice', username: 'alice', keyauth_credentials: [{ id: 'k-alice', key: 'alice-key', tags: [] }] },
  { id: 'c-guest', username: 'guest' },
])

function run(config: object, req: TestRequest) {
  const state = keyAuth.compile(keyAuthSchema.parse(config), env)
  const { ctx, answer } = makeContext(req)
  const verdict = keyAuth.access!(ctx, state)
  return { verdict, ctx, answer, message: answer.body === '' ? null : (JSON.parse(answer.body).message as string) }
}

test('findParam: exact names, decoding, repeats, names without a value', () => {
  assert.equal(findParam('apikey=k', 'apikey'), 'k')
  assert.equal(findParam('a=1&apikey=k%2Bx+y&b', 'apikey'), 'k+x y')
  assert.equal(findParam('xapikey=k&apikeyx=k', 'apikey'), undefined)
  assert.equal(findParam('APIKEY=k', 'apikey'), undefined, 'query names are case-sensitive, as in Kong')
  assert.equal(findParam('api%6bey=k', 'apikey'), 'k')
  assert.equal(findParam('apikey=a&apikey=b', 'apikey'), DUPLICATE)
  assert.equal(findParam('apikey&apikey=b', 'apikey'), DUPLICATE)
  assert.equal(findParam('apikey', 'apikey'), undefined, 'no value: Kong reads `true`, never a key')
  assert.equal(findParam('apikey=', 'apikey'), '')
  assert.equal(findParam('apikey=%zz%', 'apikey'), '%zz%', 'a malformed escape stays as written (never throws)')
  assert.equal(findParam('&&&apikey=a=b&&', 'apikey'), 'a=b')
  assert.equal(findParam('', 'apikey'), undefined)
})

test('findParam stays linear on a hostile query (no "=" anywhere)', () => {
  const hostile = '&a'.repeat(200_000)
  const started = process.hrtime.bigint()
  assert.equal(findParam(hostile, 'apikey'), undefined)
  assert.equal(withoutParam(hostile, 'apikey'), hostile)
  // A quadratic scan would take tens of seconds here; linear takes a few ms. Generous bound.
  assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 1000)
})

test('withoutParam keeps the other parameters byte for byte', () => {
  assert.equal(withoutParam('a=%20&apikey=k&b=+', 'apikey'), 'a=%20&b=+')
  assert.equal(withoutParam('apikey=k', 'apikey'), '')
  assert.equal(withoutParam('api%6Bey=k&apikey&c', 'apikey'), 'c')
  assert.equal(withoutParam('a=1&b=2', 'apikey'), 'a=1&b=2')
})

test('success is synchronous and sets the consumer, credential and upstream identity headers', () => {
  const { verdict, ctx } = run({}, { headers: ['apikey', 'alice-key'] })
  assert.equal(verdict, true)
  assert.equal(ctx.consumer?.id, 'c-alice')
  assert.equal(ctx.credential?.id, 'k-alice')
  const up = ctx.upstreamHeaders!
  assert.equal(findHeader(up, 'x-consumer-id'), 'c-alice')
  assert.equal(findHeader(up, 'x-consumer-username'), 'alice')
  assert.equal(findHeader(up, 'x-credential-identifier'), 'k-alice')
  assert.equal(findHeader(up, 'x-consumer-custom-id'), undefined)
  assert.equal(findHeader(up, 'apikey'), 'alice-key')
})

test('each key name in turn: header, then query, then body, for the first name before the second', () => {
  // The first name is in the body only, the second in a header: the first name wins (Kong's order).
  const r = run(
    { key_names: ['first', 'second'], key_in_body: true },
    { headers: ['second', 'nope', 'content-type', 'application/json'], body: '{"first":"alice-key"}' },
  )
  assert.equal(r.verdict, true)
  assert.equal(r.ctx.consumer?.username, 'alice')
})

test('a JSON body naming an inherited property finds nothing; JSON arrays and non-objects are not searched', () => {
  const json = ['content-type', 'application/json']
  assert.equal(run({ key_names: ['constructor'], key_in_body: true }, { headers: json, body: '{}' }).message, 'No API key found in request')
  assert.equal(run({ key_in_body: true }, { headers: json, body: '["alice-key"]' }).message, 'No API key found in request')
  assert.equal(run({ key_in_body: true }, { headers: json, body: '"alice-key"' }).message, 'No API key found in request')
  assert.equal(run({ key_in_body: true }, { headers: json, body: '{"apikey":{"a":1}}' }).message, 'Duplicate API key found')
  assert.equal(run({ key_in_body: true }, { headers: ['content-type', 'application/vnd.api+json'], body: '{"apikey":"alice-key"}' }).verdict, true)
})

test('key_in_body false never reads the body, even when it holds a key', () => {
  const r = run({}, { headers: ['content-type', 'application/x-www-form-urlencoded'], body: 'apikey=alice-key' })
  assert.equal(r.verdict, false)
  assert.equal(r.message, 'No API key found in request')
  assert.equal(r.answer.status.slice(0, 3), '401')
  assert.deepEqual(r.answer.headers, ['content-type', 'application/json; charset=utf-8', 'www-authenticate', 'Key'])
})

test('anonymous is skipped when an earlier plugin already authenticated the request', () => {
  const state = keyAuth.compile(keyAuthSchema.parse({ anonymous: 'guest' }), env)
  const { ctx } = makeContext({})
  const earlier = env.consumers.find('alice')!
  ctx.consumer = earlier
  ctx.credential = { kind: 'jwt', id: 'j', identifier: 'j', consumer: earlier }
  assert.equal(keyAuth.access!(ctx, state), true)
  assert.equal(ctx.consumer, earlier, 'left as it was')
  assert.equal(ctx.credential.kind, 'jwt')
})

test('an anonymous consumer that does not exist fails at compile, not per request', () => {
  assert.throws(() => keyAuth.compile(keyAuthSchema.parse({ anonymous: 'nobody' }), env), /anonymous consumer 'nobody'/)
})
