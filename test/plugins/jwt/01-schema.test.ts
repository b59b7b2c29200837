import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { loadConfigObject } from '../../../src/config/load.js'
import { ConfigError } from '../../../src/errors.js'
import '../../../src/plugins/index.js'

// The jwt plugin's config and the jwt_secrets credentials: Kong's defaults, and every refusal with the
// path of the bad field. Secrets never appear in a message.

const pem = (key: ReturnType<typeof generateKeyPairSync>['publicKey']) => key.export({ type: 'spki', format: 'pem' }).toString()
const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 })
const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 })
const ec256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
const SECRET = 'a-secret-that-is-long-enough-for-hs256!!'

function config(consumerSecrets: object[], pluginConfig: object = {}, extra: object = {}) {
  return {
    _format_version: '3.0',
    consumers: [{ username: 'alice', jwt_secrets: consumerSecrets }],
    services: [{ name: 's', url: 'http://127.0.0.1:1', routes: [{ name: 'r', paths: ['/'] }] }],
    plugins: [{ name: 'jwt', config: pluginConfig }],
    ...extra,
  }
}

async function issues(cfg: object): Promise<string[]> {
  try {
    await loadConfigObject(cfg)
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`)
    throw err
  }
  return []
}

describe('jwt plugin config', () => {
  test("Kong's defaults", async () => {
    const loaded = await loadConfigObject(config([{ key: 'k', secret: SECRET }]))
    const c = loaded.config.plugins[0].config
    assert.deepEqual(
      {
        uri_param_names: c.uri_param_names,
        cookie_names: c.cookie_names,
        header_names: c.header_names,
        key_claim_name: c.key_claim_name,
        secret_is_base64: c.secret_is_base64,
        claims_to_verify: c.claims_to_verify,
        maximum_expiration: c.maximum_expiration,
        anonymous: c.anonymous,
        run_on_preflight: c.run_on_preflight,
        leeway: c.leeway,
      },
      {
        uri_param_names: ['jwt'],
        cookie_names: [],
        header_names: ['authorization'],
        key_claim_name: 'iss',
        secret_is_base64: false,
        claims_to_verify: [],
        maximum_expiration: 0,
        anonymous: null,
        run_on_preflight: true,
        leeway: 0,
      },
    )
    assert.equal(loaded.config.consumers[0].jwt_secrets[0].algorithm, 'HS256')
  })

  test('refusals name the field', async () => {
    assert.deepEqual(await issues(config([], { maximum_expiration: 60 })), ["plugins[0].config.claims_to_verify: must contain 'exp' when maximum_expiration is set"])
    assert.match((await issues(config([], { claims_to_verify: ['iat'] })))[0], /^plugins\[0\]\.config\.claims_to_verify\[0\]/)
    assert.match((await issues(config([], { leeway: 3600 })))[0], /^plugins\[0\]\.config\.leeway: must be at most 300/)
    assert.deepEqual(await issues(config([], { anonymous: 'nobody' })), ["plugins[0].config.anonymous: no consumer named 'nobody' (or with that id)"])
    assert.match((await issues(config([], { realm: 'a"b' })))[0], /^plugins\[0\]\.config\.realm/)
    assert.match((await issues(config([], { issuers: [{ issuer: 'x', jwks_uri: 'file:///etc/passwd', audiences: ['a'] }] })))[0], /issuers\[0\]\.jwks_uri: must be an http\(s\) URL/)
    assert.match((await issues(config([], { issuers: [{ issuer: 'x', jwks_uri: 'https://idp/jwks', audiences: ['a'], algorithms: ['HS256'] }] })))[0], /issuers\[0\]\.algorithms\[0\]/)
    // An issuer needs an audience check, its own or the plugin's.
    assert.deepEqual(await issues(config([], { issuers: [{ issuer: 'x', jwks_uri: 'https://idp/jwks' }] })), [
      "plugins[0].config.issuers[0].audiences: is required (here or in the plugin's 'audiences'): without it, tokens the issuer made for any other application are accepted",
    ])
    assert.deepEqual(await issues(config([], { audiences: ['api'], issuers: [{ issuer: 'x', jwks_uri: 'https://idp/jwks' }] })), [])
    const twice = { issuer: 'x', jwks_uri: 'https://idp/jwks', audiences: ['a'] }
    assert.deepEqual(await issues(config([], { issuers: [twice, twice] })), ["plugins[0].config.issuers[1].issuer: issuer 'x' is listed twice"])
  })

  test('the jwt plugin cannot be scoped to a consumer (it is what finds the consumer)', async () => {
    const cfg = config([])
    ;(cfg.consumers[0] as Record<string, unknown>).plugins = [{ name: 'jwt' }]
    assert.deepEqual(await issues(cfg), [
      "consumers[0].plugins[0]: plugin 'jwt' cannot be configured for a consumer: it is what identifies the consumer",
    ])
  })
})

describe('jwt_secrets', () => {
  test('each credential is bound to one algorithm with matching key material', async () => {
    const cases: [object, string][] = [
      [{ key: 'k' }, 'consumers[0].jwt_secrets[0].secret: is required for HS256'],
      [{ key: 'k', secret: 'short' }, 'consumers[0].jwt_secrets[0].secret: must be at least 32 bytes for HS256 (RFC 7518 §3.2)'],
      [{ key: 'k', algorithm: 'HS512', secret: SECRET }, 'consumers[0].jwt_secrets[0].secret: must be at least 64 bytes for HS512 (RFC 7518 §3.2)'],
      [{ key: 'k', secret: SECRET, rsa_public_key: pem(rsa2048.publicKey) }, "consumers[0].jwt_secrets[0].rsa_public_key: must not be set for HS256 (an HMAC credential uses 'secret')"],
      [{ key: 'k', algorithm: 'RS256' }, 'consumers[0].jwt_secrets[0].rsa_public_key: is required for RS256 (a PEM public key)'],
      [{ key: 'k', algorithm: 'RS256', secret: SECRET, rsa_public_key: pem(rsa2048.publicKey) }, "consumers[0].jwt_secrets[0].secret: must not be set for RS256 (use 'rsa_public_key' with a PEM public key)"],
      [{ key: 'k', algorithm: 'RS256', rsa_public_key: 'not a pem' }, 'consumers[0].jwt_secrets[0].rsa_public_key: is not a PEM public key'],
      [{ key: 'k', algorithm: 'RS256', rsa_public_key: pem(rsa1024.publicKey) }, 'consumers[0].jwt_secrets[0].rsa_public_key: is a 1024-bit RSA key: RS256 needs at least 2048 bits'],
      [{ key: 'k', algorithm: 'ES256', rsa_public_key: pem(rsa2048.publicKey) }, 'consumers[0].jwt_secrets[0].rsa_public_key: is not an EC key on the curve ES256 needs (prime256v1)'],
      [{ key: 'k', algorithm: 'ES384', rsa_public_key: pem(ec256.publicKey) }, 'consumers[0].jwt_secrets[0].rsa_public_key: is not an EC key on the curve ES384 needs (secp384r1)'],
      [{ key: 'k', algorithm: 'EdDSA', rsa_public_key: pem(ec256.publicKey) }, 'consumers[0].jwt_secrets[0].rsa_public_key: is a ec key, not Ed25519/Ed448 as EdDSA needs'],
      [{ key: 'k', algorithm: 'none', secret: SECRET }, "consumers[0].jwt_secrets[0].algorithm: must be one of 'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA' (got 'none')"],
    ]
    for (const [cred, expected] of cases) assert.deepEqual(await issues(config([cred])), [expected], JSON.stringify(cred))
    const privatePem = rsa2048.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    assert.deepEqual(await issues(config([{ key: 'k', algorithm: 'RS256', rsa_public_key: privatePem }])), [
      'consumers[0].jwt_secrets[0].rsa_public_key: holds a private key: give the public key only',
    ])
    assert.deepEqual(await issues(config([{ key: 'k', algorithm: 'ES256', rsa_public_key: pem(ec256.publicKey) }])), [])
  })

  test('with secret_is_base64, HMAC secrets must decode to at least the hash size', async () => {
    const b64 = Buffer.alloc(32, 7).toString('base64')
    assert.deepEqual(await issues(config([{ key: 'k', secret: b64 }], { secret_is_base64: true })), [])
    const hex = 'ab'.repeat(16) // 32 characters pass the plain check, but decode to 24 bytes
    assert.deepEqual(await issues(config([{ key: 'k', secret: hex }], { secret_is_base64: true })), [
      "plugins[0].config.secret_is_base64: consumers[0].jwt_secrets[0] ('k'): with secret_is_base64 its secret must be base64 of at least 32 bytes for HS256",
    ])
    assert.equal((await issues(config([{ key: 'k', secret: '!'.repeat(40) }], { secret_is_base64: true }))).length, 1)
  })

  test('keys are unique across consumers; messages never quote a secret', async () => {
    const cfg = {
      _format_version: '3.0',
      consumers: [
        { username: 'a', jwt_secrets: [{ key: 'shared', secret: SECRET }] },
        { username: 'b', jwt_secrets: [{ key: 'shared', secret: 'x'.repeat(20) }] },
      ],
    }
    const found = await issues(cfg)
    assert.deepEqual(found, [
      'consumers[1].jwt_secrets[0].secret: must be at least 32 bytes for HS256 (RFC 7518 §3.2)',
    ])
    const dup = await issues({ ...cfg, consumers: [cfg.consumers[0], { username: 'b', jwt_secrets: [{ key: 'shared', secret: SECRET }] }] })
    assert.deepEqual(dup, ["consumers[1].jwt_secrets[0].key: duplicate jwt_secret key 'shared' (also used by consumers[0].jwt_secrets[0])"])
    for (const message of [...found, ...dup]) assert.ok(!message.includes(SECRET))
  })
})
