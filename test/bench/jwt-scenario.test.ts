import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigObject, parseConfigText } from '../../src/config/load.js'
import { fullScenario, JWT_AUTHORIZATION, scenarioConfigYaml, SCENARIOS } from '../../src/bench/scenarios.js'
import { jwtCounters } from '../../src/plugins/jwt/index.js'
import { get } from '../helpers/http.js'
import { startInProcess, type InProcessGateway } from '../helpers/inproc.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

// The jwt bench scenario must measure what it claims: routing's table and request plus a jwt check
// that passes. A token the plugin refused would bench the 401 path instead.

const routing = SCENARIOS.find((s) => s.name === 'routing')!
const jwt = SCENARIOS.find((s) => s.name === 'jwt')!

describe('jwt bench scenario', () => {
  test('is routing plus the jwt plugin: same routes, same path, a global jwt plugin and one HS256 consumer', () => {
    assert.ok(jwt !== undefined, 'jwt is a runnable scenario')
    assert.deepEqual(jwt.config.services, routing.config.services)
    assert.deepEqual(jwt.config.settings, routing.config.settings)
    assert.equal(jwt.request.path, routing.request.path)
    assert.equal(jwt.request.method, routing.request.method)
    assert.deepEqual(jwt.config.plugins?.map((p) => p.name), ['jwt'])
    const secret = (jwt.config.consumers?.[0].jwt_secrets as { algorithm: string; secret: string }[])[0]
    assert.equal(secret.algorithm, 'HS256')
    assert.ok(Buffer.byteLength(secret.secret) >= 32, 'HS256 secret of at least 32 bytes')
    assert.equal(jwt.request.headers?.authorization, JWT_AUTHORIZATION)
    const claims = JSON.parse(Buffer.from(JWT_AUTHORIZATION.split('.')[1], 'base64url').toString()) as { exp: number }
    assert.ok(claims.exp - Date.now() / 1000 > 300 * 86400, 'the token outlives any bench run')
  })

  test('full carries the real token, not the headers scenario placeholder, and the jwt consumer', () => {
    const full = fullScenario()
    assert.equal(full.request.headers?.authorization, JWT_AUTHORIZATION)
    assert.deepEqual(full.config.consumers, jwt.config.consumers)
    assert.ok(full.config.plugins?.some((p) => p.name === 'jwt'))
  })

  describe('against a real worker and upstream', () => {
    let up: Upstream
    let gw: InProcessGateway | null = null
    before(async () => {
      up = await startUpstream()
    })
    after(async () => {
      await gw?.close()
      await up.close()
    })

    for (const scenario of [jwt, fullScenario()]) {
      test(`${scenario.name}: the config loads and the scenario's request gets 200 as the bench consumer`, async () => {
        const raw = parseConfigText(scenarioConfigYaml(scenario, up.url), `${scenario.name}.yaml`) as object
        const loaded = await loadConfigObject(raw)
        assert.equal(loaded.config.consumers.length, 1)
        await gw?.close()
        gw = await startInProcess(raw)
        const before = { ...jwtCounters }
        const headers = { ...(scenario.request.headers ?? {}) }
        const first = await get(`${gw.url}${scenario.request.path}`, headers)
        assert.equal(first.status, 200, first.body)
        const seen = up.requests.at(-1)!
        assert.equal(seen.headers['x-consumer-username'], 'bench-consumer')
        assert.equal(seen.headers['x-credential-identifier'], 'bench-issuer')
        // The second request is the one the bench repeats: a verified-token cache hit, no signature check.
        const second = await get(`${gw.url}${scenario.request.path}`, headers)
        assert.equal(second.status, 200, second.body)
        assert.equal(jwtCounters.verifications - before.verifications, 1)
        assert.equal(jwtCounters.cacheHits - before.cacheHits, 1)
        // And the plugin is really on the road: without the token, 401.
        const { authorization: _, ...bare } = headers
        assert.equal((await get(`${gw.url}${scenario.request.path}`, bare)).status, 401)
      })
    }
  })
})
