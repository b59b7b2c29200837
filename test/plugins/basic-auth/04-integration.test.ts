import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { request } from 'undici'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { echo, startUpstream, type Upstream } from '../../helpers/upstream.js'

// basic-auth through a real gateway and an echo upstream: Kong 3's 401 and challenge on every failure
// (missing, malformed, wrong password, unknown user), plain-text and `sluice hash-password` credentials,
// Proxy-Authorization, hide_credentials, anonymous, preflights; and key-auth + basic-auth as a logical OR.

const ROOT = new URL('../../../', import.meta.url).pathname

let up: Upstream
let gw: Gateway

const BOB_CRED_ID = '3c9f2d1e-7a6b-4c5d-8e9f-0a1b2c3d4e5f'

function basic(userPass: string, scheme = 'Basic'): string {
  return `${scheme} ${Buffer.from(userPass, 'utf8').toString('base64')}`
}

before(async () => {
  up = await startUpstream(echo('up'))
  // The password goes in on stdin, as an operator would pipe it.
  const carolHash = execFileSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'hash-password'], { cwd: ROOT, input: 'carol pass\n' })
    .toString()
    .trim()
  assert.match(carolHash, /^\$scrypt\$ln=14,r=8,p=1\$/)
  const route = (name: string, plugins: object[]) => ({ name, paths: [`/${name}`], plugins })
  gw = await startGateway({
    _format_version: '3.0',
    consumers: [
      { username: 'bob', custom_id: 'bob-cid', basicauth_credentials: [{ id: BOB_CRED_ID, username: 'bob', password: 'bob-pass' }] },
      { username: 'carol', basicauth_credentials: [{ username: 'carol', password_hash: carolHash }] },
      { username: 'dave', basicauth_credentials: [{ username: 'dave@example.com', password: 'pa:ss:wörd' }] },
      { username: 'alice', keyauth_credentials: [{ key: 'alice-key' }] },
      {
        username: 'guest',
        // Kong's recipe for "key-auth OR basic-auth": both fall back to the anonymous consumer, and a
        // plugin scoped to that consumer refuses it on the route.
        plugins: [{ name: 'request-termination', route: 'either', config: { status_code: 401, message: 'Unauthorized' } }],
      },
    ],
    services: [
      {
        name: 'echo',
        url: up.url,
        routes: [
          route('ba', [{ name: 'basic-auth' }]),
          route('ba-realm', [{ name: 'basic-auth', config: { realm: 'internal' } }]),
          route('ba-hide', [{ name: 'basic-auth', config: { hide_credentials: true } }]),
          route('ba-anon', [{ name: 'basic-auth', config: { anonymous: 'guest' } }]),
          route('ba-nopreflight', [{ name: 'basic-auth', config: { run_on_preflight: false } }]),
          route('either', [
            { name: 'key-auth', config: { anonymous: 'guest' } },
            { name: 'basic-auth', config: { anonymous: 'guest' } },
          ]),
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

async function send(path: string, headers: string[] = [], method = 'GET'): Promise<Sent> {
  const res = await request(`${gw.url}${path}`, { method: method as 'GET', headers })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, json: text.length > 0 ? JSON.parse(text) : null }
}

function assert401(r: Sent, code: string, challenge = 'Basic realm="service"'): void {
  assert.equal(r.status, 401)
  assert.deepEqual(r.json, { message: 'Unauthorized', code, request_id: r.headers['x-correlation-id'] })
  assert.equal(r.headers['www-authenticate'], challenge)
}

test('no Authorization: 401 "Unauthorized" with WWW-Authenticate: Basic realm="service"', async () => {
  const before = up.requests.length
  assert401(await send('/ba'), 'SLUICE_ERR_AUTH_MISSING')
  assert401(await send('/ba-realm'), 'SLUICE_ERR_AUTH_MISSING', 'Basic realm="internal"')
  assert.equal(up.requests.length, before)
})

test('wrong password, unknown user, malformed base64, missing colon, empty username, other schemes: 401', async () => {
  const before = up.requests.length
  const bad = [
    basic('bob:wrong'),
    basic('bob:'),
    basic('bob:bob-pass '),
    basic('BOB:bob-pass'),
    basic('mallory:bob-pass'),
    'Basic !!!notbase64!!!',
    'Basic Ym9i*OmJvYi1wYXNz',
    'Basic',
    'Basic ',
    basic('bobbob-pass'),
    basic(':bob-pass'),
    basic('bob:bob-pass', 'Bearer'),
    `Basic${Buffer.from('bob:bob-pass').toString('base64')}`,
  ]
  for (const value of bad) assert401(await send('/ba', ['authorization', value]), 'SLUICE_ERR_AUTH_INVALID')
  assert401(await send('/ba-realm', ['authorization', basic('bob:wrong')]), 'SLUICE_ERR_AUTH_INVALID', 'Basic realm="internal"')
  assert.equal(up.requests.length, before, 'no failed request reaches the upstream')
})

test('a plain-text config password is accepted (hashed at load); identity headers reach the upstream', async () => {
  const r = await send('/ba', ['authorization', basic('bob:bob-pass'), 'x-consumer-username', 'forged', 'x-credential-identifier', 'forged'])
  assert.equal(r.status, 200)
  const h = r.json.headers
  assert.equal(h['x-consumer-username'], 'bob')
  assert.equal(h['x-consumer-custom-id'], 'bob-cid')
  assert.equal(h['x-credential-identifier'], 'bob', "Kong sends the credential's username")
  assert.ok(typeof h['x-consumer-id'] === 'string' && h['x-consumer-id'] !== 'forged')
  assert.equal(h['x-anonymous-consumer'], undefined)
  assert.equal(h.authorization, basic('bob:bob-pass'), 'without hide_credentials Authorization is forwarded')
  // The same credential again (now from the verified cache) and with a lower-case scheme.
  assert.equal((await send('/ba', ['authorization', basic('bob:bob-pass')])).json.headers['x-consumer-username'], 'bob')
  assert.equal((await send('/ba', ['authorization', basic('bob:bob-pass', 'basic')])).status, 200)
  assert.equal((await send('/ba', ['authorization', `  ${basic('bob:bob-pass', 'BASIC')}  `])).status, 200)
})

test('a password_hash made by `sluice hash-password` is accepted; passwords may contain ":" and UTF-8', async () => {
  const carol = await send('/ba', ['authorization', basic('carol:carol pass')])
  assert.equal(carol.status, 200)
  assert.equal(carol.json.headers['x-consumer-username'], 'carol')
  assert401(await send('/ba', ['authorization', basic('carol:carol pass\n')]), 'SLUICE_ERR_AUTH_INVALID')
  const dave = await send('/ba', ['authorization', basic('dave@example.com:pa:ss:wörd')])
  assert.equal(dave.status, 200)
  assert.equal(dave.json.headers['x-consumer-username'], 'dave')
  assert.equal(dave.json.headers['x-credential-identifier'], 'dave@example.com')
})

test('Proxy-Authorization is read too, and never forwarded', async () => {
  const r = await send('/ba', ['proxy-authorization', basic('carol:carol pass')])
  assert.equal(r.status, 200)
  assert.equal(r.json.headers['x-consumer-username'], 'carol')
  assert.equal(r.json.headers['proxy-authorization'], undefined)
  // Kong: Proxy-Authorization naming an unknown user defers to Authorization.
  const fallback = await send('/ba', ['proxy-authorization', basic('nobody:x'), 'authorization', basic('bob:bob-pass')])
  assert.equal(fallback.json.headers['x-consumer-username'], 'bob')
  assert401(await send('/ba', ['proxy-authorization', basic('nobody:x')]), 'SLUICE_ERR_AUTH_INVALID')
})

test('hide_credentials removes Authorization before forwarding', async () => {
  const r = await send('/ba-hide', ['authorization', basic('bob:bob-pass'), 'x-other', 'kept'])
  assert.equal(r.status, 200)
  assert.equal(r.json.headers.authorization, undefined)
  assert.equal(r.json.headers['x-other'], 'kept')
  assert.equal(r.json.headers['x-consumer-username'], 'bob')
})

test('anonymous: missing or wrong credentials proceed as the anonymous consumer', async () => {
  for (const headers of [[], ['authorization', basic('bob:wrong')], ['authorization', 'Basic %%%']]) {
    const r = await send('/ba-anon', headers)
    assert.equal(r.status, 200)
    assert.equal(r.json.headers['x-consumer-username'], 'guest')
    assert.equal(r.json.headers['x-anonymous-consumer'], 'true')
    assert.equal(r.json.headers['x-credential-identifier'], undefined)
  }
  const bob = await send('/ba-anon', ['authorization', basic('bob:bob-pass')])
  assert.equal(bob.json.headers['x-consumer-username'], 'bob')
  assert.equal(bob.json.headers['x-anonymous-consumer'], undefined)
})

test('run_on_preflight false lets OPTIONS through; the default authenticates it', async () => {
  const r = await send('/ba-nopreflight', [], 'OPTIONS')
  assert.equal(r.status, 200)
  assert.equal(r.json.headers['x-consumer-id'], undefined)
  assert401(await send('/ba-nopreflight'), 'SLUICE_ERR_AUTH_MISSING')
  assert401(await send('/ba', [], 'OPTIONS'), 'SLUICE_ERR_AUTH_MISSING')
})

test('key-auth OR basic-auth (both anonymous, anonymous refused by a consumer-scoped plugin)', async () => {
  const byKey = await send('/either', ['apikey', 'alice-key'])
  assert.equal(byKey.status, 200)
  assert.equal(byKey.json.headers['x-consumer-username'], 'alice')

  const byPassword = await send('/either', ['authorization', basic('bob:bob-pass')])
  assert.equal(byPassword.status, 200)
  assert.equal(byPassword.json.headers['x-consumer-username'], 'bob')
  assert.equal(byPassword.json.headers['x-anonymous-consumer'], undefined, 'the earlier anonymous fallback is replaced')
  assert.equal(byPassword.json.headers['x-credential-identifier'], 'bob')

  // key-auth runs first (priority 1250 > 1100): with a valid key, basic-auth does not even look.
  const both = await send('/either', ['apikey', 'alice-key', 'authorization', basic('bob:wrong')])
  assert.equal(both.status, 200)
  assert.equal(both.json.headers['x-consumer-username'], 'alice')

  const before = up.requests.length
  for (const headers of [[], ['apikey', 'nope'], ['authorization', basic('bob:wrong')], ['apikey', 'nope', 'authorization', basic('x:y')]]) {
    const r = await send('/either', headers)
    assert.equal(r.status, 401)
    assert.deepEqual(r.json, { message: 'Unauthorized' })
  }
  assert.equal(up.requests.length, before)
  // The anonymous consumer is refused only on this route: on /ba-anon it is served.
  assert.equal((await send('/ba-anon')).status, 200)
})
