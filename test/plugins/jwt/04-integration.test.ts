import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { SignJWT } from 'jose'
import { issuerKey, JwksServer, type IssuerKey } from '../../auth/jwks-server.js'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { get } from '../../helpers/http.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

// The jwt plugin in a real cluster (two workers, the primary fetching JWKS for both) against a real JWKS
// endpoint that rotates keys, goes down and comes back. Which worker answers a request is the kernel's
// choice (SO_REUSEPORT), so each step sends enough requests on fresh connections to reach both.

const ISSUER = 'https://idp.integration.test'
// Long enough that one burst, even on a loaded 2-core box, sits inside one cooldown.
const COOLDOWN_S = 3
const SECRET = 'integration-secret-0123456789abcdef-0123456789'

let up: Upstream
let idp: JwksServer
let gw: Gateway
const keys: Record<string, IssuerKey> = {}

const sign = (kid: string, claims: Record<string, unknown> = {}) =>
  new SignJWT({ sub: 'svc-user', aud: 'orders-api', n: Math.random(), ...claims })
    .setProtectedHeader({ alg: 'RS256', kid })
    .setIssuer(ISSUER)
    .setExpirationTime('5m')
    .sign(keys[kid].privateKey)

const call = (token: string) => get(`${gw.url}/api/orders`, { authorization: `Bearer ${token}` })

/** Sends `n` requests at once, each with a fresh token (so none is a cache hit), and returns the statuses. */
async function burst(kid: string, n: number): Promise<number[]> {
  const tokens = await Promise.all(Array.from({ length: n }, () => sign(kid)))
  return (await Promise.all(tokens.map(call))).map((r) => r.status)
}

before(async () => {
  up = await startUpstream()
  idp = new JwksServer()
  await idp.start()
  for (const kid of ['k1', 'k2', 'k3']) keys[kid] = await issuerKey(kid)
  idp.keys = [keys.k1.jwk]
  gw = await startGateway(
    {
      _format_version: '3.0',
      consumers: [{ username: 'svc-user' }, { username: 'hs-user', jwt_secrets: [{ key: 'hs-key', secret: SECRET }] }],
      services: [{ name: 'orders', url: up.url, routes: [{ name: 'orders', paths: ['/api/orders'] }] }],
      plugins: [
        {
          name: 'jwt',
          config: {
            issuers: [{ issuer: ISSUER, jwks_uri: idp.uri, audiences: ['orders-api'], consumer_claim: 'sub', cache_ttl: 600, refetch_cooldown: COOLDOWN_S, stale_grace: 3600, timeout: 1000 }],
          },
        },
      ],
    },
    { workers: 2 },
  )
})

after(async () => {
  await gw?.stop()
  await idp.stop()
  await up.close()
})

describe('jwt in a cluster with a JWKS endpoint', () => {
  test('the primary fetches the key set once for both workers; tokens verify on either', async () => {
    const statuses = await burst('k1', 16)
    assert.deepEqual(statuses, Array(16).fill(200))
    // One fetch at start-up for the whole cluster, none per worker or per request.
    assert.equal(idp.hits.length, 1)
    // The admin API shows the key set's health.
    const status = await gw.status()
    assert.equal(status.jwks.length, 1)
    assert.equal(status.jwks[0].uri, idp.uri)
    assert.equal(status.jwks[0].fetches, 1)
    assert.equal(status.jwks[0].failures_in_row, 0)
    assert.ok(Date.parse(status.jwks[0].stale_until) > Date.now())
    const r = await call(await sign('k1'))
    assert.equal(r.json.headers['x-consumer-username'], 'svc-user')
    assert.equal(r.json.headers['x-credential-identifier'], ISSUER)
  })

  test('rotation: a burst of tokens with a new kid causes exactly one refetch, across workers', async () => {
    idp.keys = [keys.k1.jwk, keys.k2.jwk]
    await new Promise((r) => setTimeout(r, COOLDOWN_S * 1000 + 100)) // past the cooldown of the start-up fetch
    const before = idp.hits.length
    const statuses = await burst('k2', 24)
    assert.deepEqual(statuses, Array(24).fill(200))
    assert.equal(idp.hits.length - before, 1, `JWKS fetches at ${idp.hits.map((t) => t % 100000).join(', ')}`)
  })

  test('JWKS endpoint down: cached keys keep serving; an unknown kid is refused quickly, never a 5xx', async () => {
    await idp.stop()
    assert.deepEqual(await burst('k2', 8), Array(8).fill(200))
    await new Promise((r) => setTimeout(r, COOLDOWN_S * 1000 + 100))
    const started = Date.now()
    const statuses = await burst('k3', 6)
    assert.deepEqual(statuses, Array(6).fill(401))
    // The refetch fails fast (connection refused); requests wait for that answer, not for a timeout.
    assert.ok(Date.now() - started < 1500, `unknown kid took ${Date.now() - started} ms while the IdP is down`)
    assert.deepEqual(await burst('k1', 4), Array(4).fill(200))
  })

  test('the endpoint comes back with a new key: it is fetched on the next unknown kid', async () => {
    idp.keys = [keys.k2.jwk, keys.k3.jwk]
    await idp.start(Number(new URL(idp.uri).port))
    await new Promise((r) => setTimeout(r, COOLDOWN_S * 1000 + 100))
    assert.deepEqual(await burst('k3', 8), Array(8).fill(200))
    // k1 left the published set: tokens signed with it are refused now, on every worker.
    assert.deepEqual(await burst('k1', 8), Array(8).fill(401))
  })

  test('consumer secrets and JWKS issuers side by side on one plugin', async () => {
    const hs = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('hs-key').sign(new TextEncoder().encode(SECRET))
    const r = await call(hs)
    assert.equal(r.status, 200)
    assert.equal(r.json.headers['x-consumer-username'], 'hs-user')
    assert.equal(r.json.headers['x-credential-identifier'], 'hs-key')
  })
})
