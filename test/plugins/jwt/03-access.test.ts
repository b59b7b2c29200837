import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { jwtCounters } from '../../../src/plugins/jwt/index.js'
import { get } from '../../helpers/http.js'
import { startInProcess, type InProcessGateway } from '../../helpers/inproc.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

// The jwt plugin's access phase against a real worker (in this process) and a real upstream: every
// accept and refuse path, the attack catalogue of security-bar.md §2, the verified-token cache, and
// JWKS keys fed to the worker's key store as the primary would (src/auth/jwks/keys.ts).

const HS_SECRET = 'x'.repeat(24) + randomBytes(12).toString('hex') // 48 bytes
const B64_RAW = randomBytes(32)
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
const ed = generateKeyPairSync('ed25519')
const JWKS_URI = 'http://127.0.0.1:9/jwks.json' // never fetched here: the test plays the primary
const ISSUER = 'https://idp.example.test'

const now = () => Math.floor(Date.now() / 1000)
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
/** An HS token built by hand, so tests can put anything in its header. */
function hs(header: object, claims: object, secret: string | Buffer = HS_SECRET, hash = 'sha256'): string {
  const input = `${b64(header)}.${b64(claims)}`
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`
}
const alice = (claims: object = {}) => hs({ alg: 'HS256', typ: 'JWT' }, { iss: 'alice-key', ...claims })

let up: Upstream
let gw: InProcessGateway
type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey']
let jwksKeys: { kid: string; privateKey: PrivateKey; jwk: JWK }[] = []
let jwksFetchedAt = 0
let asks = 0

async function newJwksKey(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid } }
}
async function publish(keys: typeof jwksKeys): Promise<void> {
  jwksKeys = keys
  jwksFetchedAt = Date.now()
  await gw.jwks.update({ uri: JWKS_URI, jwks: { keys: keys.map((k) => k.jwk) }, fetchedAt: jwksFetchedAt, staleUntil: Date.now() + 60_000 })
}
function idpToken(kid: string, claims: object = {}, key = jwksKeys.find((k) => k.kid === kid)!.privateKey) {
  return new SignJWT({ sub: 'bob', aud: 'orders', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid })
    .setIssuer(ISSUER)
    .setExpirationTime('5m')
    .sign(key)
}

const call = (path: string, token?: string, headers: Record<string, string> = {}, method = 'GET') =>
  get(`${gw.url}${path}`, token === undefined ? headers : { authorization: `Bearer ${token}`, ...headers }, method)

before(async () => {
  up = await startUpstream()
  const route = (name: string, config: object = {}) => ({ name, paths: [`/${name}`], plugins: [{ name: 'jwt', config }] })
  gw = await startInProcess({
    _format_version: '3.0',
    consumers: [
      { username: 'alice', custom_id: 'c-alice', jwt_secrets: [{ key: 'alice-key', secret: HS_SECRET }] },
      { username: 'bob', jwt_secrets: [{ key: 'bob-key', algorithm: 'RS256', rsa_public_key: rsaPem }] },
      { username: 'carol', jwt_secrets: [{ key: 'carol-key', algorithm: 'ES256', rsa_public_key: ec.publicKey.export({ type: 'spki', format: 'pem' }).toString() }] },
      { username: 'dave', jwt_secrets: [{ key: 'dave-key', secret: B64_RAW.toString('base64') }] },
      { username: 'erin', jwt_secrets: [{ key: 'erin-key', algorithm: 'EdDSA', rsa_public_key: ed.publicKey.export({ type: 'spki', format: 'pem' }).toString() }], plugins: [{ name: 'request-termination', route: 'jwt', config: { status_code: 418, message: 'erin is blocked here' } }] },
      { username: 'guest' },
    ],
    services: [
      {
        name: 'svc',
        url: up.url,
        routes: [
          route('jwt'),
          route('strict', { claims_to_verify: ['exp', 'nbf'], maximum_expiration: 3600, audiences: ['api'], required_claims: ['sub'], realm: 'sluice' }),
          route('leeway', { leeway: 60 }),
          route('anon', { anonymous: 'guest' }),
          route('places', { uri_param_names: ['token'], cookie_names: ['session'], header_names: ['x-token'] }),
          route('preflight', { run_on_preflight: false }),
          route('b64', { secret_is_base64: true }),
          route('nocache', { token_cache_size: 0 }),
          route('jwks', { issuers: [{ issuer: ISSUER, jwks_uri: JWKS_URI, algorithms: ['RS256'], audiences: ['orders'], consumer_claim: 'sub', timeout: 200 }] }),
        ],
      },
    ],
  })
  // The worker asks the primary for a refetch on an unknown kid; here the "primary" answers at once that
  // nothing changed (as it does within the cooldown).
  gw.jwks.connect((uri) => {
    asks++
    void gw.jwks.update({ uri, jwks: null, fetchedAt: jwksFetchedAt, staleUntil: Date.now() + 60_000 })
  })
  await publish([await newJwksKey('k1')])
})

after(async () => {
  await gw.close()
  await up.close()
})

function expect401(r: Awaited<ReturnType<typeof call>>, body: Record<string, string>, code: string, challenge = 'Bearer error="invalid_token"') {
  assert.equal(r.status, 401, r.body)
  const { request_id, code: gotCode, ...fields } = r.json
  assert.deepEqual(fields, body)
  assert.equal(gotCode, code)
  assert.match(request_id, /.+/)
  assert.equal(r.headers['www-authenticate'], challenge)
}

describe('jwt: accepted tokens', () => {
  test('HS256 in the Authorization header: the consumer reaches the upstream, forged identity headers do not', async () => {
    const r = await call('/jwt', alice({ exp: now() + 60 }), { 'x-consumer-id': 'forged', 'x-credential-identifier': 'forged', 'x-anonymous-consumer': 'true' })
    assert.equal(r.status, 200, r.body)
    const h = r.json.headers
    assert.equal(h['x-consumer-username'], 'alice')
    assert.equal(h['x-consumer-custom-id'], 'c-alice')
    assert.match(h['x-consumer-id'], /^[0-9a-f-]{36}$/)
    assert.equal(h['x-credential-identifier'], 'alice-key')
    assert.equal(h['x-anonymous-consumer'], undefined)
    // The token itself is forwarded (Kong does not hide it either).
    assert.match(h.authorization, /^Bearer /)
  })

  test('RS256, ES256 and EdDSA credentials verify with their public keys', async () => {
    const rs = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setIssuer('bob-key').sign(rsa.privateKey)
    const es = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setIssuer('carol-key').sign(ec.privateKey)
    assert.equal((await call('/jwt', rs)).json.headers['x-consumer-username'], 'bob')
    assert.equal((await call('/jwt', es)).json.headers['x-consumer-username'], 'carol')
    // erin (EdDSA) has a consumer-scoped request-termination on this route: it runs once jwt names her.
    const ee = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA' }).setIssuer('erin-key').sign(ed.privateKey)
    for (let i = 0; i < 2; i++) {
      // Twice: the first request is verified (async path), the second is a cache hit (sync path).
      const r = await call('/jwt', ee)
      assert.equal(r.status, 418)
      assert.equal(r.json.message, 'erin is blocked here')
    }
    // On another route her plugin does not apply.
    assert.equal((await call('/leeway', ee)).status, 200)
  })

  test('token in a query parameter, a cookie, or a custom header', async () => {
    const t = alice()
    assert.equal((await get(`${gw.url}/jwt?jwt=${t}`)).status, 200)
    assert.equal((await get(`${gw.url}/places?token=${t}`)).status, 200)
    assert.equal((await get(`${gw.url}/places`, { cookie: `a=b; session=${t}; c=d` })).status, 200)
    assert.equal((await get(`${gw.url}/places`, { 'x-token': `bearer ${t}` })).status, 200)
    // Authorization is not among this route's header names.
    expect401(await call('/places', t), { message: 'Unauthorized' }, 'SLUICE_ERR_AUTH_MISSING', 'Bearer')
  })

  test('secret_is_base64 decodes the stored secret first', async () => {
    const t = hs({ alg: 'HS256' }, { iss: 'dave-key' }, B64_RAW)
    assert.equal((await call('/b64', t)).status, 200)
    expect401(await call('/jwt', t), { message: 'Invalid signature' }, 'SLUICE_ERR_AUTH_INVALID')
  })

  test('a repeated token is verified once, then served from the cache', async () => {
    const t = alice({ exp: now() + 120, n: 'cache' })
    const before = jwtCounters.verifications
    for (let i = 0; i < 5; i++) assert.equal((await call('/jwt', t)).status, 200)
    assert.equal(jwtCounters.verifications - before, 1)
    const nc = alice({ exp: now() + 120, n: 'nocache' })
    const before2 = jwtCounters.verifications
    for (let i = 0; i < 3; i++) assert.equal((await call('/nocache', nc)).status, 200)
    assert.equal(jwtCounters.verifications - before2, 3)
  })

  test('tokens over 8 KiB are verified every time, not cached (the cache is bounded by bytes too)', async () => {
    const big = alice({ exp: now() + 120, pad: 'p'.repeat(9000) })
    const before = jwtCounters.verifications
    for (let i = 0; i < 3; i++) assert.equal((await call('/jwt', big)).status, 200)
    assert.equal(jwtCounters.verifications - before, 3)
  })

  test('a cached token stops being accepted at its exp', async () => {
    const t = alice({ exp: now() + 1 })
    assert.equal((await call('/jwt', t)).status, 200)
    await new Promise((r) => setTimeout(r, 1100 + (1000 - (Date.now() % 1000))))
    expect401(await call('/jwt', t), { exp: 'token expired' }, 'SLUICE_ERR_AUTH_CLAIMS')
  })

  test('anonymous: a failed authentication proceeds as the anonymous consumer', async () => {
    for (const token of [undefined, 'garbage', alice({ exp: now() - 10 })]) {
      const r = await call('/anon', token)
      assert.equal(r.status, 200)
      assert.equal(r.json.headers['x-consumer-username'], 'guest')
      assert.equal(r.json.headers['x-anonymous-consumer'], 'true')
      assert.equal(r.json.headers['x-credential-identifier'], undefined)
    }
    // The refused bearer token is not forwarded beside X-Anonymous-Consumer.
    const refused = await call('/anon', 'garbage')
    assert.equal(refused.json.headers.authorization, undefined)
    const ok = await call('/anon', alice())
    assert.equal(ok.json.headers['x-consumer-username'], 'alice')
    assert.equal(ok.json.headers['x-anonymous-consumer'], undefined)
  })

  test('run_on_preflight false lets OPTIONS through unauthenticated; true (default) does not', async () => {
    assert.equal((await call('/preflight', undefined, {}, 'OPTIONS')).status, 200)
    assert.equal((await call('/preflight', undefined, {}, 'GET')).status, 401)
    assert.equal((await call('/jwt', undefined, {}, 'OPTIONS')).status, 401)
  })
})

describe("jwt: refusals with Kong's bodies", () => {
  test('no token, several tokens, bad signature, unknown or missing key claim', async () => {
    expect401(await call('/jwt'), { message: 'Unauthorized' }, 'SLUICE_ERR_AUTH_MISSING', 'Bearer')
    expect401(await call('/strict'), { message: 'Unauthorized' }, 'SLUICE_ERR_AUTH_MISSING', 'Bearer realm="sluice"')
    expect401(await get(`${gw.url}/jwt?jwt=${alice({ n: 'a' })}&jwt=${alice({ n: 'b' })}`), { message: 'Multiple tokens provided' }, 'SLUICE_ERR_AUTH_DUPLICATE')
    expect401(await call('/jwt', alice().slice(0, -4) + 'AAAA'), { message: 'Invalid signature' }, 'SLUICE_ERR_AUTH_INVALID')
    expect401(await call('/jwt', hs({ alg: 'HS256' }, { iss: 'nobody' })), { message: "No credentials found for given 'iss'" }, 'SLUICE_ERR_AUTH_INVALID')
    expect401(await call('/jwt', hs({ alg: 'HS256' }, { sub: 'x' })), { message: "No mandatory 'iss' in claims" }, 'SLUICE_ERR_AUTH_INVALID')
    expect401(await call('/jwt', hs({ alg: 'HS256' }, { iss: '' })), { message: "Invalid 'iss' in claims" }, 'SLUICE_ERR_AUTH_INVALID')
  })

  test("several distinct tokens anywhere are refused (Kong 3's token set); the same token twice is one", async () => {
    const a = alice({ n: 1 })
    const b = alice({ n: 2 })
    expect401(await get(`${gw.url}/jwt?jwt=${a}`, { authorization: `Bearer ${b}` }), { message: 'Multiple tokens provided' }, 'SLUICE_ERR_AUTH_DUPLICATE')
    const forged = `${b64({ alg: 'none' })}.${b64({ iss: 'alice-key', admin: true })}.`
    expect401(await get(`${gw.url}/jwt`, { authorization: [`Bearer ${a}`, `Bearer ${forged}`] } as never), { message: 'Multiple tokens provided' }, 'SLUICE_ERR_AUTH_DUPLICATE')
    expect401(await get(`${gw.url}/places`, { cookie: `session=${a}; session=${b}` }), { message: 'Multiple tokens provided' }, 'SLUICE_ERR_AUTH_DUPLICATE')
    expect401(await get(`${gw.url}/places?token=${a}`, { cookie: `session=${b}` }), { message: 'Multiple tokens provided' }, 'SLUICE_ERR_AUTH_DUPLICATE')
    assert.equal((await get(`${gw.url}/jwt?jwt=${a}`, { authorization: `Bearer ${a}` })).status, 200)
  })

  test('claims: expired, not yet valid, too long-lived, missing when required, audience, required claims', async () => {
    expect401(await call('/jwt', alice({ exp: now() - 1 })), { exp: 'token expired' }, 'SLUICE_ERR_AUTH_CLAIMS')
    expect401(await call('/jwt', alice({ nbf: now() + 30 })), { nbf: 'token not valid yet' }, 'SLUICE_ERR_AUTH_CLAIMS')
    expect401(await call('/jwt', alice({ exp: 'tomorrow' })), { exp: 'must be a number' }, 'SLUICE_ERR_AUTH_CLAIMS')
    const strict = 'Bearer realm="sluice", error="invalid_token"'
    expect401(await call('/strict', alice({ sub: 's', aud: 'api' })), { exp: 'must be a number', nbf: 'must be a number' }, 'SLUICE_ERR_AUTH_CLAIMS', strict)
    expect401(await call('/strict', alice({ sub: 's', aud: 'api', nbf: now(), exp: now() + 7200 })), { exp: 'exceeds maximum allowed expiration' }, 'SLUICE_ERR_AUTH_CLAIMS', strict)
    expect401(await call('/strict', alice({ sub: 's', aud: ['web'], nbf: now(), exp: now() + 60 })), { aud: 'audience not allowed' }, 'SLUICE_ERR_AUTH_CLAIMS', strict)
    expect401(await call('/strict', alice({ aud: 'api', nbf: now(), exp: now() + 60 })), { sub: 'required claim missing' }, 'SLUICE_ERR_AUTH_CLAIMS', strict)
    assert.equal((await call('/strict', alice({ sub: 's', aud: ['web', 'api'], nbf: now(), exp: now() + 60 }))).status, 200)
  })

  test('leeway: an explicit, small clock skew on exp and nbf', async () => {
    assert.equal((await call('/leeway', alice({ exp: now() - 30, nbf: now() + 30 }))).status, 200)
    expect401(await call('/leeway', alice({ exp: now() - 90 })), { exp: 'token expired' }, 'SLUICE_ERR_AUTH_CLAIMS')
    expect401(await call('/jwt', alice({ exp: now() - 30 })), { exp: 'token expired' }, 'SLUICE_ERR_AUTH_CLAIMS')
  })
})

describe('jwt: the attack catalogue (security-bar.md §2)', () => {
  test("alg none in any spelling, with or without a signature", async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const unsigned = `${b64({ alg, typ: 'JWT' })}.${b64({ iss: 'alice-key' })}.`
      expect401(await call('/jwt', unsigned), { message: 'Bad token; invalid base64url' }, 'SLUICE_ERR_AUTH_INVALID')
      const junk = `${b64({ alg })}.${b64({ iss: 'alice-key' })}.c2ln`
      expect401(await call('/jwt', junk), { message: 'Bad token; invalid alg' }, 'SLUICE_ERR_AUTH_INVALID')
    }
  })

  test('RS256 -> HS256 key confusion: an HMAC made with the RSA public key is refused', async () => {
    const forged = hs({ alg: 'HS256' }, { iss: 'bob-key' }, rsaPem)
    expect401(await call('/jwt', forged), { message: 'Invalid algorithm' }, 'SLUICE_ERR_AUTH_INVALID')
    // And the other way: an RS256 header on an HS credential.
    const rs = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setIssuer('alice-key').sign(rsa.privateKey)
    expect401(await call('/jwt', rs), { message: 'Invalid algorithm' }, 'SLUICE_ERR_AUTH_INVALID')
    // HS512 header on an HS256 credential: also one algorithm per credential.
    expect401(await call('/jwt', hs({ alg: 'HS512' }, { iss: 'alice-key' }, HS_SECRET, 'sha512')), { message: 'Invalid algorithm' }, 'SLUICE_ERR_AUTH_INVALID')
  })

  test('jku, x5u, jwk and x5c header parameters are refused, even on a valid signature', async () => {
    for (const param of ['jku', 'x5u', 'jwk', 'x5c']) {
      const t = hs({ alg: 'HS256', [param]: param === 'jwk' ? { kty: 'oct', k: 'AAAA' } : 'http://evil.test/keys' }, { iss: 'alice-key' })
      expect401(await call('/jwt', t), { message: `Bad token; header parameter '${param}' is not accepted` }, 'SLUICE_ERR_AUTH_INVALID')
    }
  })

  test('malformed base64, JSON, array payloads, array iss, JWE, huge tokens: 401 or 431, never 5xx', async () => {
    const cases: [string, string][] = [
      ['a.b', 'Bad token; not a compact JWS (three dot-separated parts expected)'],
      ['a.b.c.d.e', 'Bad token; not a compact JWS (encrypted tokens are not accepted)'],
      [`${b64({ alg: 'HS256' })}.%%%.abc`, 'Bad token; invalid base64url'],
      [`${b64({ alg: 'HS256' })}.${Buffer.from('{"iss":').toString('base64url')}.abc`, 'Bad token; invalid JSON'],
      [`${b64({ alg: 'HS256' })}.${b64(['iss', 'alice-key'])}.abc`, 'Bad token; invalid JSON'],
      [`${b64(['HS256'])}.${b64({ iss: 'alice-key' })}.abc`, 'Bad token; invalid JSON'],
      [`${b64({ alg: 'HS256' })}.${b64('alice-key')}.abc`, 'Bad token; invalid JSON'],
      [`${b64({ alg: 256 })}.${b64({ iss: 'alice-key' })}.abc`, 'Bad token; invalid alg'],
    ]
    for (const [token, message] of cases) expect401(await call('/jwt', token), { message }, 'SLUICE_ERR_AUTH_INVALID')
    expect401(await call('/jwt', hs({ alg: 'HS256' }, { iss: ['alice-key'] })), { message: "Invalid 'iss' in claims" }, 'SLUICE_ERR_AUTH_INVALID')
    const huge = alice({ pad: 'x'.repeat(40_000) })
    assert.equal((await call('/jwt', huge)).status, 431)
  })

  test('random mutations of a valid token never give a 5xx', async () => {
    const valid = alice({ exp: now() + 600, n: 'fuzz' })
    const alphabet = 'AZaz09-_.=+/ %{}"'
    let refused = 0
    for (let i = 0; i < 150; i++) {
      const chars = [...valid]
      const at = (i * 7919) % chars.length
      chars[at] = alphabet[(i * 31) % alphabet.length]
      if (i % 3 === 0) chars.splice((i * 13) % chars.length, 1)
      const r = await call('/nocache', chars.join(''))
      assert.ok(r.status === 200 || r.status === 401, `mutation ${i}: status ${r.status} ${r.body}`)
      if (r.status === 401) refused++
    }
    assert.ok(refused > 120, `only ${refused} of 150 mutations refused`)
  })
})

describe('jwt: JWKS issuers', () => {
  test('a token signed by a published key: consumer from the sub claim, issuer as credential', async () => {
    const r = await call('/jwks', await idpToken('k1'))
    assert.equal(r.status, 200, r.body)
    assert.equal(r.json.headers['x-consumer-username'], 'bob')
    assert.equal(r.json.headers['x-credential-identifier'], ISSUER)
  })

  test('kid traversal or unknown kid: one refetch request, then 401', async () => {
    const asked = asks
    const stranger = await newJwksKey('../../dev/null')
    const t = await idpToken('../../dev/null', {}, stranger.privateKey)
    expect401(await call('/jwks', t), { message: "No credentials found for given 'kid'" }, 'SLUICE_ERR_AUTH_INVALID')
    assert.equal(asks - asked, 1)
  })

  test('missing kid, wrong audience, consumer not found, algorithm outside the allowlist', async () => {
    const key = jwksKeys[0].privateKey
    const noKid = await new SignJWT({ sub: 'bob', aud: 'orders' }).setProtectedHeader({ alg: 'RS256' }).setIssuer(ISSUER).sign(key)
    expect401(await call('/jwks', noKid), { message: "No mandatory 'kid' in header" }, 'SLUICE_ERR_AUTH_INVALID')
    expect401(await call('/jwks', await idpToken('k1', { aud: 'billing' })), { aud: 'audience not allowed' }, 'SLUICE_ERR_AUTH_CLAIMS')
    expect401(await call('/jwks', await idpToken('k1', { sub: 'mallory' })), { message: "No consumer found for given 'sub'" }, 'SLUICE_ERR_AUTH_INVALID')
    const noExp = await new SignJWT({ sub: 'bob', aud: 'orders' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(ISSUER).sign(key)
    expect401(await call('/jwks', noExp), { exp: 'must be a number' }, 'SLUICE_ERR_AUTH_CLAIMS')
    // consumer_claim names a consumer by username or custom_id, never by id.
    const bobId = (await call('/jwks', await idpToken('k1'))).json.headers['x-consumer-id']
    expect401(await call('/jwks', await idpToken('k1', { sub: bobId })), { message: "No consumer found for given 'sub'" }, 'SLUICE_ERR_AUTH_INVALID')
    const hsForged = hs({ alg: 'HS256', kid: 'k1' }, { iss: ISSUER, sub: 'bob', aud: 'orders' }, JSON.stringify(jwksKeys[0].jwk))
    expect401(await call('/jwks', hsForged), { message: 'Invalid algorithm' }, 'SLUICE_ERR_AUTH_INVALID')
  })

  test('rotation: a new key is picked up; a cached token of a removed key is refused', async () => {
    const old = await idpToken('k1')
    assert.equal((await call('/jwks', old)).status, 200) // cached now
    const k2 = await newJwksKey('k2')
    await publish([k2])
    assert.equal((await call('/jwks', await idpToken('k2'))).status, 200)
    expect401(await call('/jwks', old), { message: "No credentials found for given 'kid'" }, 'SLUICE_ERR_AUTH_INVALID')
  })

  test('keys past their stale grace are not used', async () => {
    const k3 = await newJwksKey('k3')
    jwksKeys = [k3]
    await gw.jwks.update({ uri: JWKS_URI, jwks: { keys: [k3.jwk] }, fetchedAt: Date.now(), staleUntil: Date.now() + 300 })
    const t = await idpToken('k3')
    assert.equal((await call('/jwks', t)).status, 200)
    await new Promise((r) => setTimeout(r, 400))
    expect401(await call('/jwks', t), { message: "No credentials found for given 'kid'" }, 'SLUICE_ERR_AUTH_INVALID')
  })
})
