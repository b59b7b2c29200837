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

test('a refused header is remembered: repeating it costs no scrypt run; an unknown username costs one run too; malformed headers none', async () => {
  const state = compile()
  const checks = verifier.checks
  const rejectedHits = basicAuthStats.rejectedHits

  const first = makeContext({ headers: ['authorization', basic('bob:wrong')] })
  const verdict = basicAuth.access!(first.ctx, state)
  assert.ok(verdict instanceof Promise, 'the first time goes to scrypt')
  assert.equal(await verdict, false)
  assert.equal(JSON.parse(first.answer.body).code, 'SLUICE_ERR_AUTH_INVALID')
  assert.equal(verifier.checks, checks + 1)

  for (let i = 0; i < 3; i++) {
    const { ctx, answer } = makeContext({ headers: ['authorization', basic('bob:wrong')] })
    assert.equal(basicAuth.access!(ctx, state), false, 'refused synchronously from the cache')
    assert.equal(answer.status, '401 Unauthorized')
    assert.deepEqual(JSON.parse(answer.body), { message: 'Unauthorized', code: 'SLUICE_ERR_AUTH_INVALID', request_id: 'req-1' })
    assert.deepEqual(answer.headers.slice(2), ['www-authenticate', 'Basic realm="service"'])
  }
  assert.equal(verifier.checks, checks + 1, 'a repeated wrong password runs no scrypt')
  assert.equal(basicAuthStats.rejectedHits, rejectedHits + 3)

  // A remembered refusal still falls back to the anonymous consumer where one is configured.
  const anonymous = compile({ anonymous: 'c-bob' })
  await basicAuth.access!(makeContext({ headers: ['authorization', basic('bob:wrong')] }).ctx, anonymous)
  const fallback = makeContext({ headers: ['authorization', basic('bob:wrong')] })
  assert.equal(basicAuth.access!(fallback.ctx, anonymous), true)
  assert.equal(fallback.ctx.credential, null)
  assert.equal(verifier.checks, checks + 2)

  // Another wrong password is another header value: checked.
  assert.equal(await basicAuth.access!(makeContext({ headers: ['authorization', basic('bob:wrong2')] }).ctx, state), false)
  assert.equal(verifier.checks, checks + 3)

  const unknown = makeContext({ headers: ['authorization', basic('mallory:bob-pass')] })
  assert.equal(await basicAuth.access!(unknown.ctx, state), false)
  assert.equal(verifier.checks, checks + 4, 'the decoy hash is checked so that timing does not reveal the username is unknown')
  assert.equal(basicAuth.access!(makeContext({ headers: ['authorization', basic('mallory:bob-pass')] }).ctx, state), false)
  assert.equal(verifier.checks, checks + 4, 'and its refusal is remembered like any other')

  const malformed = makeContext({ headers: ['authorization', 'Basic bm9jb2xvbg=='] }) // "nocolon"
  assert.equal(basicAuth.access!(malformed.ctx, state), false, 'refused synchronously')
  assert.deepEqual(malformed.answer.headers.slice(2), ['www-authenticate', 'Basic realm="service"'])
  assert.equal(verifier.checks, checks + 4)

  // The right password after wrong ones is not shadowed by them.
  assert.equal(await basicAuth.access!(makeContext({ headers: ['authorization', basic('bob:bob-pass')] }).ctx, state), true)
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
  const gate = new VerifierGate(1, 8)
  const stored = parsePasswordHash(hashPassword('pw', randomBytes(16), COST))!
  const live = { aborted: false }
  const results = [gate.verify('pw', stored, live), gate.verify('no', stored, live), gate.verify('pw', stored, live)]
  assert.equal(gate.checks, 1, 'one started, two queued')
  assert.equal(gate.queued, 2)
  assert.deepEqual(await Promise.all(results), ['match', 'mismatch', 'match'])
  assert.equal(gate.checks, 3)
  // The slot is free again afterwards.
  const again = gate.verify('pw', stored, live)
  assert.equal(gate.checks, 4)
  assert.equal(await again, 'match')
})

test('the verifier gate skips a waiter whose request was aborted before its turn', async () => {
  const gate = new VerifierGate(1, 8)
  const stored = parsePasswordHash(hashPassword('pw', randomBytes(16), COST))!
  const requests = [{ aborted: false }, { aborted: false }, { aborted: false }, { aborted: false }]
  const results = requests.map((r) => gate.verify('pw', stored, r))
  assert.equal(gate.checks, 1)
  requests[1].aborted = true
  requests[2].aborted = true
  assert.deepEqual(await Promise.all(results), ['match', 'abandoned', 'abandoned', 'match'])
  assert.equal(gate.checks, 2, 'no scrypt run for the aborted requests')
  assert.equal(gate.abandoned, 2)
  assert.equal(gate.queued, 0)
})

test('the verifier gate refuses past `maxWaiting`, dropping aborted waiters first', async () => {
  const gate = new VerifierGate(1, 2)
  const stored = parsePasswordHash(hashPassword('pw', randomBytes(16), COST))!
  const requests = [{ aborted: false }, { aborted: false }, { aborted: false }]
  const results = requests.map((r) => gate.verify('pw', stored, r))
  assert.equal(gate.queued, 2)
  assert.equal(gate.verify('pw', stored, { aborted: false }), null, 'full: refused at once')
  assert.equal(gate.refused, 1)
  assert.equal(gate.checks, 1, 'nothing started for the refused check')

  // A place held by an aborted request is given to the newcomer.
  requests[1].aborted = true
  const newcomer = gate.verify('pw', stored, { aborted: false })
  assert.ok(newcomer instanceof Promise)
  assert.equal(gate.refused, 1)
  assert.equal(gate.abandoned, 1)
  assert.deepEqual(await Promise.all([...results, newcomer]), ['match', 'abandoned', 'match', 'match'])
  assert.equal(gate.checks, 3)
})

/** Starts checks on the plugin's (per worker) gate until every running slot is taken; returns their verdicts. */
function occupyRunning(state: ReturnType<typeof compile>, tag: string): Array<boolean | Promise<boolean>> {
  const verdicts: Array<boolean | Promise<boolean>> = []
  for (let i = 0; verifier.inFlight < verifier.maxRunning; i++) {
    verdicts.push(basicAuth.access!(makeContext({ headers: ['authorization', basic(`bob:${tag}-${i}`)] }).ctx, state))
  }
  assert.equal(verifier.queued, 0)
  return verdicts
}

test('a request aborted while its check waits costs no scrypt run, and its header is not remembered', async () => {
  const state = compile()
  const pending = occupyRunning(state, 'running')
  const checks = verifier.checks
  const abandoned = verifier.abandoned
  const queued = [1, 2, 3, 4].map((i) => makeContext({ headers: ['authorization', basic(`bob:queued-${i}`)] }))
  for (const { ctx } of queued) pending.push(basicAuth.access!(ctx, state))
  assert.equal(verifier.checks, checks, 'all four wait')
  queued[0].ctx.aborted = true
  queued[2].ctx.aborted = true
  const verdicts = await Promise.all(pending)
  assert.ok(verdicts.every((v) => v === false))
  assert.equal(verifier.checks, checks + 2, 'only the two requests still open were checked')
  assert.equal(verifier.abandoned, abandoned + 2)
  assert.equal(queued[0].answer.status, '', 'nothing written to a closed connection')
  assert.equal(queued[1].answer.status, '401 Unauthorized')

  // Not checked, so not remembered as refused: the same header on a live request goes to scrypt.
  const again = basicAuth.access!(makeContext({ headers: ['authorization', basic('bob:queued-1')] }).ctx, state)
  assert.ok(again instanceof Promise)
  assert.equal(await again, false)
  assert.equal(verifier.checks, checks + 3)
})

test('a full check queue answers 503 with Retry-After and SLUICE_ERR_AUTH_BUSY, even with anonymous configured', async () => {
  const state = compile()
  assert.equal(await basicAuth.access!(makeContext({ headers: ['authorization', basic('bob:bob-pass')] }).ctx, state), true)
  const pending = occupyRunning(state, 'busy-running')
  const checks = verifier.checks
  const refused = verifier.refused
  const waiting: ReturnType<typeof makeContext>[] = []
  while (verifier.refused === refused) {
    const request = makeContext({ headers: ['authorization', basic(`bob:busy-${waiting.length}`)] })
    const verdict = basicAuth.access!(request.ctx, state)
    if (verifier.refused !== refused) {
      assert.equal(verdict, false, 'refused synchronously')
      assert.equal(request.answer.status, '503 Service Unavailable')
      assert.deepEqual(request.answer.headers, ['content-type', 'application/json; charset=utf-8', 'retry-after', '1'])
      assert.deepEqual(JSON.parse(request.answer.body), {
        message: 'Authentication is busy, retry later',
        code: 'SLUICE_ERR_AUTH_BUSY',
        request_id: 'req-1',
      })
      assert.equal(request.ctx.errorCode, 'SLUICE_ERR_AUTH_BUSY')
      break
    }
    waiting.push(request)
    pending.push(verdict)
  }
  assert.equal(waiting.length, 64, 'the queue holds 64 checks per worker')
  assert.equal(verifier.maxWaiting, 64)
  assert.equal(verifier.checks, checks, 'no check started for the refused request')

  // anonymous: a credential that was not checked is not a wrong one; the client is told to retry.
  const anonymous = compile({ anonymous: 'c-bob' })
  const anon = makeContext({ headers: ['authorization', basic('bob:busy-anon')] })
  assert.equal(basicAuth.access!(anon.ctx, anonymous), false)
  assert.equal(anon.answer.status, '503 Service Unavailable')
  assert.equal(anon.ctx.consumer, null)

  // Headers already verified need no check and are still served while the queue is full.
  const known = makeContext({ headers: ['authorization', basic('bob:bob-pass')] })
  assert.equal(basicAuth.access!(known.ctx, state), true)
  assert.equal(known.ctx.credential?.id, 'b-bob')

  // Aborted waiters make room for live requests.
  for (const r of waiting) r.ctx.aborted = true
  const live = makeContext({ headers: ['authorization', `basic ${basic('bob:bob-pass').slice(6)}`] })
  const verdict = basicAuth.access!(live.ctx, state)
  assert.ok(verdict instanceof Promise, 'queued, not refused')
  assert.equal(verifier.queued, 1)
  assert.equal(await verdict, true)
  await Promise.all(pending)
  assert.equal(verifier.checks, checks + 1, 'only the live request was checked')
})

test("the decoy for unknown usernames costs as much as the costliest credential, whichever is listed first", () => {
  const cheapFirst = compileEnv([
    { id: 'c-legacy', username: 'legacy', basicauth_credentials: [{ id: 'b-legacy', username: 'legacy', password_hash: hashPassword('x', randomBytes(16), { ln: 10, r: 8, p: 1 }), tags: [] }] },
    { id: 'c-alice', username: 'alice', basicauth_credentials: [{ id: 'b-alice', username: 'alice', password_hash: hashPassword('x', randomBytes(16), { ln: 12, r: 8, p: 1 }), tags: [] }] },
    { id: 'c-carol', username: 'carol', basicauth_credentials: [{ id: 'b-carol', username: 'carol', password_hash: hashPassword('x', randomBytes(16), { ln: 11, r: 16, p: 1 }), tags: [] }] },
  ])
  const { decoy } = basicAuth.compile(basicAuthSchema.parse({}), cheapFirst)
  assert.deepEqual([decoy.ln, decoy.r, decoy.p], [12, 8, 1], 'the costliest by N·r·p (2^12·8), not the first listed (2^10·8); a tie (2^11·16) keeps the earlier')
  assert.equal(decoy.hash.length, 32)

  const none = basicAuth.compile(basicAuthSchema.parse({}), compileEnv([]))
  assert.deepEqual([none.decoy.ln, none.decoy.r, none.decoy.p], [14, 8, 1], 'no credentials: the default cost')
})
