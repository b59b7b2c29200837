import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { hashPassword, parsePasswordHash } from '../../../src/auth/password.js'
import { basicAuth, basicAuthStats, verifier } from '../../../src/plugins/basic-auth/index.js'
import { basicAuthSchema } from '../../../src/plugins/basic-auth/schema.js'
import { VerifierGate } from '../../../src/plugins/basic-auth/verifier.js'
import { compileEnv, makeContext } from '../key-auth/context.js'

// The access phase in process, where the cost of a check is observable without timing: a verified
// header is answered synchronously from the cache with no scrypt run; failures and unknown users each
// cost one scrypt run; malformed headers none.

const COST = { ln: 10, r: 8, p: 1 } // cheap for tests; the plugin's decoy takes the same cost
const env = compileEnv([
  {
    id: 'c-bob',
    username: 'bob',
    basicauth_credentials: [{ id: 'b-bob', username: 'bob', password_hash: hashPassword('bob-pass', randomBytes(16), COST), tags: [] }],
  },
])

function basic(userPass: string): string {
  return `Basic ${Buffer.from(userPass).toString('base64')}`
}

const compile = (config: object = {}) => basicAuth.compile(basicAuthSchema.parse(config), env)

test('a verified header is served from the cache: synchronously, without another scrypt run', async () => {
  const state = compile()
  const checks = verifier.checks
  const hits = basicAuthStats.cacheHits

  const first = makeContext({ headers: ['authorization', basic('bob:bob-pass')] })
  const verdict = basicAuth.access!(first.ctx, state)
  assert.ok(verdict instanceof Promise, 'the first time goes to scrypt on the thread pool')
  assert.equal(await verdict, true)
  assert.equal(first.ctx.credential?.id, 'b-bob')
  assert.equal(verifier.checks, checks + 1)

  const second = makeContext({ headers: ['authorization', basic('bob:bob-pass')] })
  assert.equal(basicAuth.access!(second.ctx, state), true, 'answered synchronously')
  assert.equal(second.ctx.consumer?.username, 'bob')
  assert.equal(second.ctx.credential?.id, 'b-bob')
  assert.equal(verifier.checks, checks + 1, 'no second scrypt run')
  assert.equal(basicAuthStats.cacheHits, hits + 1)

  // The exact header value is the key: the same credentials spelled differently are verified again.
  const spelled = makeContext({ headers: ['authorization', `basic ${basic('bob:bob-pass').slice(6)}`] })
  assert.equal(await basicAuth.access!(spelled.ctx, state), true)
  assert.equal(verifier.checks, checks + 2)
})

test('failures are never cached; an unknown username costs a scrypt run too; malformed headers none', async () => {
  const state = compile()
  const checks = verifier.checks
  for (let i = 0; i < 2; i++) {
    const { ctx, answer } = makeContext({ headers: ['authorization', basic('bob:wrong')] })
    assert.equal(await basicAuth.access!(ctx, state), false)
    assert.equal(JSON.parse(answer.body).message, 'Unauthorized')
  }
  assert.equal(verifier.checks, checks + 2, 'each wrong password is checked again')

  const unknown = makeContext({ headers: ['authorization', basic('mallory:bob-pass')] })
  assert.equal(await basicAuth.access!(unknown.ctx, state), false)
  assert.equal(verifier.checks, checks + 3, 'the decoy hash is checked so that timing does not reveal the username is unknown')

  const malformed = makeContext({ headers: ['authorization', 'Basic bm9jb2xvbg=='] }) // "nocolon"
  assert.equal(basicAuth.access!(malformed.ctx, state), false, 'refused synchronously')
  assert.deepEqual(malformed.answer.headers.slice(2), ['www-authenticate', 'Basic realm="service"'])
  assert.equal(verifier.checks, checks + 3)
})

test('a reload (a new compiled state) starts with an empty cache', async () => {
  const a = compile()
  assert.equal(await basicAuth.access!(makeContext({ headers: ['authorization', basic('bob:bob-pass')] }).ctx, a), true)
  const checks = verifier.checks
  const b = compile()
  const verdict = basicAuth.access!(makeContext({ headers: ['authorization', basic('bob:bob-pass')] }).ctx, b)
  assert.ok(verdict instanceof Promise)
  assert.equal(await verdict, true)
  assert.equal(verifier.checks, checks + 1)
})

test('hide_credentials removes Authorization from the upstream head even when the check fails', async () => {
  const state = compile({ hide_credentials: true, anonymous: null })
  const { ctx } = makeContext({ headers: ['authorization', basic('bob:wrong'), 'x-kept', '1'] })
  await basicAuth.access!(ctx, state)
  assert.deepEqual(ctx.upstreamHeaders, ['x-kept', '1', 'host', 'upstream'])
})

test('the verifier gate runs at most `max` checks at once and serves the queue in order', async () => {
  const gate = new VerifierGate(1)
  const stored = parsePasswordHash(hashPassword('pw', randomBytes(16), COST))!
  const results = [gate.verify('pw', stored), gate.verify('no', stored), gate.verify('pw', stored)]
  assert.equal(gate.checks, 1, 'one started, two queued')
  assert.deepEqual(await Promise.all(results), [true, false, true])
  assert.equal(gate.checks, 3)
  // The slot is free again afterwards.
  const again = gate.verify('pw', stored)
  assert.equal(gate.checks, 4)
  assert.equal(await again, true)
})
