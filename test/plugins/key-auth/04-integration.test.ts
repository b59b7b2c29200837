import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { echo, startUpstream, type Upstream } from '../../helpers/upstream.js'

// key-auth through a real gateway and an echo upstream: where the key is looked for (header, query,
// body) and in what order, Kong's three 401s with their challenge, identity headers upstream (and
// forged ones not), hide_credentials everywhere, anonymous, preflights, and a consumer-scoped plugin.

let up: Upstream
let gw: Gateway

const ALICE_ID = '6f1c2a3e-5b7d-4e8f-9a0b-1c2d3e4f5a6b'
const ALICE_KEY_ID = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'

before(async () => {
  up = await startUpstream(echo('up'))
  const route = (name: string, config: object = {}, extra: object[] = []) => ({
    name,
    paths: [`/${name}`],
    plugins: [{ name: 'key-auth', config }, ...extra],
  })
  gw = await startGateway({
    _format_version: '3.0',
    consumers: [
      {
        id: ALICE_ID,
        username: 'alice',
        custom_id: 'alice-cid',
        keyauth_credentials: [{ id: ALICE_KEY_ID, key: 'alice-key' }],
        // Consumer scope: applies only once key-auth has identified alice, and only on this route.
        plugins: [{ name: 'request-termination', route: 'ka-scoped', config: { status_code: 418, message: 'alice is blocked here' } }],
      },
      { username: 'bob', keyauth_credentials: [{ key: 'bob+key/=%' }, { key: 'bob-second-key' }] },
      { username: 'guest', custom_id: 'guest-cid' },
    ],
    services: [
      {
        name: 'echo',
        url: up.url,
        routes: [
          route('ka'),
          route('ka-names', { key_names: ['X-Api-Key', 'token'], realm: 'sluice' }),
          route('ka-hide', { hide_credentials: true, key_in_body: true }),
          route('ka-body', { key_in_body: true, key_in_header: false, key_in_query: false }),
          route('ka-noquery', { key_in_query: false }),
          route('ka-noheader', { key_in_header: false }),
          // '_' is allowed only where headers are not searched (uWS drops headers with '_' unanswered).
          route('ka-underscore', { key_names: ['api_key'], key_in_header: false }),
          route('ka-anon', { anonymous: 'guest' }),
          route('ka-nopreflight', { run_on_preflight: false }),
          route('ka-scoped'),
        ],
      },
    ],
  })
})

after(async () => {
  await gw.stop()
  await up.close()
})

interface Sent {
  status: number
  headers: Record<string, string | string[] | undefined>
  json: any
}

/** One request; `headers` is a flat [name, value, ...] list so a name can repeat. */
async function send(path: string, headers: string[] = [], method = 'GET', body?: string): Promise<Sent> {
  const res = await request(`${gw.url}${path}`, { method: method as 'GET', headers, body })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, json: text.length > 0 ? JSON.parse(text) : null }
}

/** Kong's 401: its message first, Sluice's code and the request id, and the challenge. */
function assert401(r: Sent, message: string, code: string, challenge = 'Key'): void {
  assert.equal(r.status, 401)
  assert.deepEqual(r.json, { message, code, request_id: r.headers['x-correlation-id'] })
  assert.equal(r.headers['www-authenticate'], challenge)
  assert.match(String(r.headers['content-type']), /^application\/json/)
}

test('no key: 401 "No API key found in request" with WWW-Authenticate: Key; the upstream sees nothing', async () => {
  const before = up.requests.length
  assert401(await send('/ka'), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
  assert401(await send('/ka', ['apikey', '']), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
  assert401(await send('/ka?apikey='), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
  assert401(await send('/ka?apikey'), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
  assert401(await send('/ka?other=alice-key'), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
  assert.equal(up.requests.length, before)
})

test('unknown key: 401 "Unauthorized"; so is a prefix of a real key or a different case', async () => {
  assert401(await send('/ka', ['apikey', 'nope']), 'Unauthorized', 'SLUICE_ERR_AUTH_INVALID')
  assert401(await send('/ka', ['apikey', 'alice-ke']), 'Unauthorized', 'SLUICE_ERR_AUTH_INVALID')
  assert401(await send('/ka', ['apikey', 'ALICE-KEY']), 'Unauthorized', 'SLUICE_ERR_AUTH_INVALID')
  assert401(await send('/ka?apikey=alice-key%00'), 'Unauthorized', 'SLUICE_ERR_AUTH_INVALID')
})

test('the same key name twice: 401 "Duplicate API key found" (two headers, a repeated query parameter)', async () => {
  assert401(await send('/ka', ['apikey', 'alice-key', 'apikey', 'alice-key']), 'Duplicate API key found', 'SLUICE_ERR_AUTH_DUPLICATE')
  assert401(await send('/ka?apikey=alice-key&apikey=bob-second-key'), 'Duplicate API key found', 'SLUICE_ERR_AUTH_DUPLICATE')
  assert401(await send('/ka?apikey=alice-key&api%6Bey=x'), 'Duplicate API key found', 'SLUICE_ERR_AUTH_DUPLICATE')
})

test('a key in the header authenticates: X-Consumer-* and X-Credential-Identifier reach the upstream', async () => {
  const r = await send('/ka', ['apikey', 'alice-key'])
  assert.equal(r.status, 200)
  const h = r.json.headers
  assert.equal(h['x-consumer-id'], ALICE_ID)
  assert.equal(h['x-consumer-username'], 'alice')
  assert.equal(h['x-consumer-custom-id'], 'alice-cid')
  assert.equal(h['x-credential-identifier'], ALICE_KEY_ID)
  assert.equal(h['x-anonymous-consumer'], undefined)
  assert.equal(h.apikey, 'alice-key', 'without hide_credentials the key is forwarded')
})

test('forged identity headers from the client never reach the upstream', async () => {
  const forged = ['x-consumer-id', 'forged-id', 'x-credential-identifier', 'forged-cred', 'X-Consumer-Username', 'root', 'x-consumer-custom-id', 'forged', 'x-anonymous-consumer', 'false']
  const r = await send('/ka', ['apikey', 'bob-second-key', ...forged])
  assert.equal(r.status, 200)
  const h = r.json.headers
  assert.equal(h['x-consumer-username'], 'bob')
  assert.notEqual(h['x-consumer-id'], 'forged-id')
  assert.notEqual(h['x-credential-identifier'], 'forged-cred')
  assert.equal(h['x-consumer-custom-id'], undefined, 'bob has no custom_id: the forged one is gone, not kept')
  assert.equal(h['x-anonymous-consumer'], undefined)
  // Forged headers are no credential either.
  assert401(await send('/ka', forged), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
})

test('a key in the query string; percent-encoded keys are decoded; header wins over query', async () => {
  const q = await send('/ka?x=1&apikey=alice-key&y=2')
  assert.equal(q.status, 200)
  assert.equal(q.json.headers['x-consumer-username'], 'alice')
  assert.equal(q.json.url, '/?x=1&apikey=alice-key&y=2', 'without hide_credentials the query is untouched (strip_path: /ka goes)')
  const encoded = await send(`/ka?apikey=${encodeURIComponent('bob+key/=%')}`)
  assert.equal(encoded.status, 200)
  assert.equal(encoded.json.headers['x-consumer-username'], 'bob')
  // The header is looked at first: a valid header with a bogus query key passes as the header's consumer.
  const both = await send('/ka?apikey=bogus', ['apikey', 'bob-second-key'])
  assert.equal(both.status, 200)
  assert.equal(both.json.headers['x-consumer-username'], 'bob')
  const wrongHeader = await send('/ka?apikey=alice-key', ['apikey', 'bogus'])
  assert401(wrongHeader, 'Unauthorized', 'SLUICE_ERR_AUTH_INVALID')
})

test('key_names: each name in turn, headers case-insensitive, query names as written; realm in the challenge', async () => {
  assert.equal((await send('/ka-names', ['x-api-key', 'alice-key'])).status, 200)
  assert.equal((await send('/ka-names', ['X-API-KEY', 'alice-key'])).status, 200)
  assert.equal((await send('/ka-names?token=alice-key')).status, 200)
  assert.equal((await send('/ka-names', ['token', 'alice-key'])).status, 200)
  assert401(await send('/ka-names?apikey=alice-key'), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING', 'Key realm="sluice"')
  assert401(await send('/ka-names?TOKEN=alice-key'), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING', 'Key realm="sluice"')
  assert401(await send('/ka-names', ['x-api-key', 'x']), 'Unauthorized', 'SLUICE_ERR_AUTH_INVALID', 'Key realm="sluice"')
})

test('key_in_query false ignores the query; key_in_header false ignores headers', async () => {
  assert401(await send('/ka-noquery?apikey=alice-key'), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
  assert.equal((await send('/ka-noquery', ['apikey', 'alice-key'])).status, 200)
  assert401(await send('/ka-noheader', ['apikey', 'alice-key']), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
  assert.equal((await send('/ka-noheader?apikey=alice-key')).status, 200)
})

test("a key name with '_' (key_in_header false) is read from the query string", async () => {
  const r = await send('/ka-underscore?api_key=alice-key')
  assert.equal(r.status, 200)
  assert.equal(r.json.headers['x-consumer-username'], 'alice')
  assert401(await send('/ka-underscore?api-key=alice-key'), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
})

test('key_in_body: form-urlencoded and JSON bodies; other media types and bad JSON are not searched', async () => {
  const form = ['content-type', 'application/x-www-form-urlencoded']
  const json = ['content-type', 'application/json; charset=utf-8']
  const f = await send('/ka-body', form, 'POST', 'a=1&apikey=alice-key')
  assert.equal(f.status, 200)
  assert.equal(f.json.headers['x-consumer-username'], 'alice')
  assert.equal(f.json.body, 'a=1&apikey=alice-key', 'without hide_credentials the body is forwarded as sent')
  const j = await send('/ka-body', json, 'POST', JSON.stringify({ apikey: 'bob+key/=%', n: 1 }))
  assert.equal(j.status, 200)
  assert.equal(j.json.headers['x-consumer-username'], 'bob')
  assert401(await send('/ka-body', json, 'POST', JSON.stringify({ apikey: ['alice-key', 'x'] })), 'Duplicate API key found', 'SLUICE_ERR_AUTH_DUPLICATE')
  assert401(await send('/ka-body', form, 'POST', 'apikey=alice-key&apikey=x'), 'Duplicate API key found', 'SLUICE_ERR_AUTH_DUPLICATE')
  assert401(await send('/ka-body', json, 'POST', JSON.stringify({ apikey: 42 })), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
  assert401(await send('/ka-body', json, 'POST', '{"apikey": "alice-key"'), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
  assert401(await send('/ka-body', ['content-type', 'text/plain'], 'POST', 'apikey=alice-key'), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
  assert401(await send('/ka-body', json, 'POST', JSON.stringify({ apikey: 'nope' })), 'Unauthorized', 'SLUICE_ERR_AUTH_INVALID')
  // key_in_header false here: a header key is not enough.
  assert401(await send('/ka-body', ['apikey', 'alice-key']), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
})

test('key_in_body: a body over 64 KiB streams to the upstream unread, so its key is not found', async () => {
  const big = `apikey=alice-key&pad=${'x'.repeat(70 * 1024)}`
  const r = await send('/ka-body', ['content-type', 'application/x-www-form-urlencoded'], 'POST', big)
  assert401(r, 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
})

test('hide_credentials strips the key from the header, the query string and the body', async () => {
  const h = await send('/ka-hide', ['apikey', 'alice-key', 'x-other', 'kept'])
  assert.equal(h.status, 200)
  assert.equal(h.json.headers.apikey, undefined)
  assert.equal(h.json.headers['x-other'], 'kept')
  assert.equal(h.json.headers['x-consumer-username'], 'alice')

  const q = await send('/ka-hide?a=1&apikey=alice-key&b=x%20y')
  assert.equal(q.status, 200)
  assert.equal(q.json.url, '/?a=1&b=x%20y', 'the other parameters keep their exact spelling')
  const only = await send('/ka-hide?apikey=alice-key')
  assert.equal(only.json.url, '/', 'no empty ? left behind')

  const f = await send('/ka-hide', ['content-type', 'application/x-www-form-urlencoded'], 'POST', 'a=1&apikey=alice-key&b=2')
  assert.equal(f.status, 200)
  assert.equal(f.json.body, 'a=1&b=2')
  assert.equal(f.json.headers['content-length'], '7', 'Content-Length follows the shortened body')

  const j = await send('/ka-hide', ['content-type', 'application/json'], 'POST', JSON.stringify({ apikey: 'bob+key/=%', keep: [1, 2] }))
  assert.equal(j.status, 200)
  assert.deepEqual(JSON.parse(j.json.body), { keep: [1, 2] })
  assert.equal(j.json.headers['x-consumer-username'], 'bob')

  // A key in the header with key_in_body: a copy in the body is removed too (Kong clears every place).
  const both = await send('/ka-hide', ['apikey', 'alice-key', 'content-type', 'application/json'], 'POST', '{"apikey":"alice-key","v":1}')
  assert.equal(both.status, 200)
  assert.equal(both.json.body, '{"v":1}')
  assert.equal(both.json.headers.apikey, undefined)
})

test('anonymous: a missing, unknown or duplicate key proceeds as the anonymous consumer', async () => {
  for (const headers of [[], ['apikey', 'nope'], ['apikey', 'a', 'apikey', 'b']]) {
    const r = await send('/ka-anon', headers)
    assert.equal(r.status, 200)
    assert.equal(r.json.headers['x-consumer-username'], 'guest')
    assert.equal(r.json.headers['x-consumer-custom-id'], 'guest-cid')
    assert.equal(r.json.headers['x-anonymous-consumer'], 'true')
    assert.equal(r.json.headers['x-credential-identifier'], undefined)
  }
  const known = await send('/ka-anon', ['apikey', 'alice-key', 'x-anonymous-consumer', 'true'])
  assert.equal(known.json.headers['x-consumer-username'], 'alice')
  assert.equal(known.json.headers['x-anonymous-consumer'], undefined, 'a real key is not anonymous, whatever the client says')
})

test('run_on_preflight false lets OPTIONS through unauthenticated; the default authenticates it', async () => {
  const skipped = await send('/ka-nopreflight', [], 'OPTIONS')
  assert.equal(skipped.status, 200)
  assert.equal(skipped.json.method, 'OPTIONS')
  assert.equal(skipped.json.headers['x-consumer-id'], undefined)
  assert401(await send('/ka-nopreflight'), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
  assert401(await send('/ka', [], 'OPTIONS'), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
})

test('a consumer-scoped plugin applies only to requests authenticated as that consumer', async () => {
  const before = up.requests.length
  const alice = await send('/ka-scoped', ['apikey', 'alice-key'])
  assert.equal(alice.status, 418)
  assert.deepEqual(alice.json, { message: 'alice is blocked here' })
  assert.equal(up.requests.length, before, 'terminated before the upstream')
  const bob = await send('/ka-scoped', ['apikey', 'bob-second-key'])
  assert.equal(bob.status, 200)
  assert.equal(bob.json.headers['x-consumer-username'], 'bob')
  // The consumer+route plugin does not leak onto alice's other routes.
  assert.equal((await send('/ka', ['apikey', 'alice-key'])).status, 200)
  assert401(await send('/ka-scoped'), 'No API key found in request', 'SLUICE_ERR_AUTH_MISSING')
})
