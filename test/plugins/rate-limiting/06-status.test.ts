import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { get } from '../../helpers/http.js'
import { startRedis, type RedisServer } from '../../helpers/redis.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

// A Redis outage is visible on the admin port (GET /status, per worker), not only in the logs.

let up: Upstream
let redis: RedisServer
let gw: Gateway

before(async () => {
  up = await startUpstream()
  redis = await startRedis()
  gw = await startGateway({
    _format_version: '3.0',
    services: [{ name: 's', url: up.url, routes: [{ name: 'r', paths: ['/'] }] }],
    plugins: [{ name: 'rate-limiting', config: { minute: 1000, limit_by: 'ip', policy: 'redis', redis: { host: '127.0.0.1', port: redis.port, timeout: 300 } } }],
  })
})

after(async () => {
  await gw?.stop()
  await redis.close()
  await up.close()
})

const stores = async () => (await gw.status()).workers.flatMap((w: { ratelimit: unknown[] | null }) => w.ratelimit ?? [])

test('GET /status reports each worker rate-limit store: healthy, degraded during an outage, healthy again', async () => {
  assert.equal((await get(`${gw.url}/`)).status, 200)
  let seen = await stores()
  assert.equal(seen.length, 1)
  assert.equal(seen[0].degraded, false)
  assert.ok(seen[0].keys >= 1)
  await redis.stop()
  for (let i = 0; i < 3; i++) assert.equal((await get(`${gw.url}/`)).status, 200)
  seen = await stores()
  assert.equal(seen[0].degraded, true)
  assert.ok(seen[0].failures >= 1)
  await redis.restart()
  const deadline = Date.now() + 8000
  while (Date.now() < deadline) {
    await get(`${gw.url}/`)
    seen = await stores()
    if (!seen[0].degraded) break
    await new Promise((r) => setTimeout(r, 300))
  }
  assert.equal(seen[0].degraded, false)
})
