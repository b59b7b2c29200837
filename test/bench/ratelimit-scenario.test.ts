import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigObject, parseConfigText } from '../../src/config/load.js'
import { fullScenario, RATE_LIMIT_SECOND, scenarioConfigYaml, SCENARIOS, selectScenarios } from '../../src/bench/scenarios.js'
import { commandsProcessed, startBenchRedis, type BenchRedis } from '../../src/bench/redis.js'
import { stopAll } from '../../src/bench/lifecycle.js'
import { get } from '../helpers/http.js'
import { startInProcess, type InProcessGateway } from '../helpers/inproc.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

// The rate-limit bench scenario must price the plugin's admitted path on a real Redis: a config that
// failed to load, or a plugin that refused, would bench something else.

const routing = SCENARIOS.find((s) => s.name === 'routing')!
const rateLimit = SCENARIOS.find((s) => s.name === 'rate-limit')!

describe('rate-limit bench scenario', () => {
  test('is routing plus a global rate-limiting plugin on Redis, and needs a redis-server', () => {
    assert.ok(rateLimit !== undefined, 'rate-limit is a runnable scenario')
    assert.deepEqual(selectScenarios(['rate-limit']).map((s) => s.name), ['rate-limit'])
    assert.deepEqual(rateLimit.config.services, routing.config.services)
    assert.equal(rateLimit.request.path, routing.request.path)
    assert.equal(rateLimit.needsRedis, true)
    assert.equal(fullScenario().needsRedis, true, 'full includes it, so it needs Redis too')
    assert.deepEqual(rateLimit.config.plugins?.map((p) => p.name), ['rate-limiting'])
  })

  test('{redisPort} becomes the port number, {upstream} the URL', async () => {
    const raw = parseConfigText(scenarioConfigYaml(rateLimit, 'http://127.0.0.1:9/json', {}, 12345), 'rl.yaml') as {
      plugins: { config: { redis: { port: unknown; host: string }; policy: string; second: number } }[]
      services: { url: string }[]
    }
    const cfg = raw.plugins[0].config
    assert.equal(cfg.redis.port, 12345)
    assert.equal(cfg.redis.host, '127.0.0.1')
    assert.equal(cfg.policy, 'redis')
    assert.equal(cfg.second, RATE_LIMIT_SECOND)
    assert.equal(raw.services[0].url, 'http://127.0.0.1:9/json')
    const loaded = await loadConfigObject(raw)
    assert.equal(loaded.config.plugins.length, 1)
  })

  describe('against a real worker, upstream and redis-server', () => {
    let up: Upstream
    let redis: RedisServer
    let gw: InProcessGateway | null = null
    before(async () => {
      up = await startUpstream()
      redis = await startRedis()
    })
    after(async () => {
      await gw?.close()
      await up.close()
      await redis.close()
    })

    for (const scenario of [rateLimit, fullScenario()]) {
      test(`${scenario.name}: the scenario's request gets 200 with the limit headers, and leases from Redis`, async () => {
        const raw = parseConfigText(scenarioConfigYaml(scenario, up.url, {}, redis.port), `${scenario.name}.yaml`) as object
        await gw?.close()
        gw = await startInProcess(raw)
        const before = await commandsProcessed(redis.port)
        const res = await get(`${gw.url}${scenario.request.path}`, { ...(scenario.request.headers ?? {}) })
        assert.equal(res.status, 200, res.body)
        assert.equal(res.headers['x-ratelimit-limit-second'], String(RATE_LIMIT_SECOND))
        const remaining = Number(res.headers['x-ratelimit-remaining-second'])
        assert.ok(remaining > 0 && remaining < RATE_LIMIT_SECOND, `remaining ${remaining}`)
        // The first request of a key leases from the shared bucket: Redis saw more than our own INFO.
        assert.ok((await commandsProcessed(redis.port)) - before > 1, 'the limiter talked to this redis-server')
      })
    }
  })

  test('startBenchRedis: a redis-server that answers INFO, stopped by the lifecycle', async () => {
    let r: BenchRedis | null = await startBenchRedis()
    try {
      const a = await commandsProcessed(r.port)
      const b = await commandsProcessed(r.port)
      assert.equal(b - a, 1, 'each INFO counts itself once')
      assert.match(r.version, /^\d+\.\d+/)
      const pid = r.pid
      await stopAll()
      r = null
      assert.throws(() => process.kill(pid, 0), /ESRCH/, 'stopAll() ended the redis-server')
    } finally {
      await r?.stop()
    }
  })
})
