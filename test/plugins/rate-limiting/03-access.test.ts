import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { get } from '../../helpers/http.js'
import { startInProcess, type InProcessGateway } from '../../helpers/inproc.js'
import { startRedis, type RedisServer } from '../../helpers/redis.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

// The rate-limiting plugin's access phase in a real worker (in this process, so `policy: local` leases
// from an in-process bucket) and against a real redis-server: arithmetic, Kong's headers and 429, every
// limit_by, and the behaviour when Redis is down (fault_tolerant true and false).

let up: Upstream
let gw: InProcessGateway
let redis: RedisServer

const route = (name: string, config: object, extra: object = {}) => ({ name, paths: [`/${name}`], plugins: [{ name: 'rate-limiting', config }], ...extra })

before(async () => {
  up = await startUpstream()
  redis = await startRedis()
  gw = await startInProcess({
    _format_version: '3.0',
    consumers: [
      { username: 'alice', keyauth_credentials: [{ key: 'alice-key-123' }] },
      { username: 'bob', keyauth_credentials: [{ key: 'bob-key-4567' }] },
    ],
    services: [
      {
        name: 'svc',
        url: up.url,
        routes: [
          route('ip', { minute: 5, limit_by: 'ip' }),
          route('two-periods', { second: 3, minute: 4, limit_by: 'ip' }),
          route('header', { minute: 2, limit_by: 'header', header_name: 'X-Tenant' }),
          route('consumer', { minute: 2 }, { plugins: [{ name: 'rate-limiting', config: { minute: 2 } }, { name: 'key-auth' }] }),
          route('path', { minute: 1, limit_by: 'path', path: '/path/a' }),
          route('hidden', { minute: 1, limit_by: 'ip', hide_client_headers: true, error_code: 403, error_message: 'slow down' }),
          route('window', { minute: 3, limit_by: 'ip', algorithm: 'fixed-window' }),
          route('refill', { second: 2, limit_by: 'ip' }),
          route('redis', { minute: 6, limit_by: 'ip', policy: 'redis', redis: { host: '127.0.0.1', port: redis.port, timeout: 500 } }),
          route('redis-strict', { minute: 100, limit_by: 'ip', policy: 'redis', fault_tolerant: false, redis: { host: '127.0.0.1', port: redis.port, timeout: 500 } }),
          route('redis-sync', { minute: 3, limit_by: 'ip', policy: 'redis', sync_rate: -1, redis: { host: '127.0.0.1', port: redis.port, timeout: 500 } }),
        ],
      },
    ],
  })
})

after(async () => {
  await gw.close()
  await up.close()
  await redis.close()
})

async function statuses(path: string, n: number, headers: Record<string, string> = {}): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push((await get(`${gw.url}${path}`, headers)).status)
  return out
}

describe('rate-limiting: local policy', () => {
  test("exactly the limit is admitted, then 429 with Kong's body and headers", async () => {
    const seen: { status: number; remaining: string | undefined }[] = []
    for (let i = 0; i < 7; i++) {
      const r = await get(`${gw.url}/ip`)
      seen.push({ status: r.status, remaining: r.headers['x-ratelimit-remaining-minute'] as string | undefined })
      if (i === 0) {
        assert.equal(r.headers['x-ratelimit-limit-minute'], '5')
        assert.equal(r.headers['ratelimit-limit'], '5')
        assert.equal(r.headers['ratelimit-remaining'], '4')
        assert.ok(Number(r.headers['ratelimit-reset']) >= 1 && Number(r.headers['ratelimit-reset']) <= 60)
      }
      if (r.status === 429) {
        assert.equal(r.json.message, 'API rate limit exceeded')
        assert.equal(r.json.code, 'SLUICE_ERR_RATE_LIMITED')
        assert.match(r.json.request_id, /.+/)
        assert.equal(r.headers['x-ratelimit-remaining-minute'], '0')
        assert.ok(Number(r.headers['retry-after']) >= 1)
      }
    }
    assert.deepEqual(seen.map((s) => s.status), [200, 200, 200, 200, 200, 429, 429])
    assert.deepEqual(seen.slice(0, 5).map((s) => s.remaining), ['4', '3', '2', '1', '0'])
  })

  test('several periods: the strictest decides; RateLimit-* names the period with the fewest left', async () => {
    const r1 = await get(`${gw.url}/two-periods`)
    assert.equal(r1.headers['x-ratelimit-limit-second'], '3')
    assert.equal(r1.headers['x-ratelimit-limit-minute'], '4')
    assert.deepEqual(await statuses('/two-periods', 3), [200, 200, 429])
    await new Promise((r) => setTimeout(r, 1100))
    // The second's bucket refilled; the minute's (4) has one token left.
    assert.deepEqual(await statuses('/two-periods', 2), [200, 429])
  })

  test('token bucket refills evenly over the period', async () => {
    assert.deepEqual(await statuses('/refill', 3), [200, 200, 429])
    await new Promise((r) => setTimeout(r, 600)) // 2 per second: one token back after 500 ms
    assert.deepEqual(await statuses('/refill', 2), [200, 429])
  })

  test('fixed window: the limit per window', async () => {
    assert.deepEqual(await statuses('/window', 4), [200, 200, 200, 429])
  })

  test('limit_by header, consumer and path count separately per identity', async () => {
    assert.deepEqual(await statuses('/header', 3, { 'x-tenant': 'a' }), [200, 200, 429])
    assert.deepEqual(await statuses('/header', 2, { 'x-tenant': 'b' }), [200, 200])
    assert.deepEqual(await statuses('/consumer', 3, { apikey: 'alice-key-123' }), [200, 200, 429])
    assert.deepEqual(await statuses('/consumer', 2, { apikey: 'bob-key-4567' }), [200, 200])
    assert.deepEqual(await statuses('/path/a', 2), [200, 429])
  })

  test('hide_client_headers, error_code and error_message', async () => {
    const ok = await get(`${gw.url}/hidden`)
    assert.equal(ok.status, 200)
    assert.equal(ok.headers['x-ratelimit-limit-minute'], undefined)
    assert.equal(ok.headers['ratelimit-remaining'], undefined)
    const no = await get(`${gw.url}/hidden`)
    assert.equal(no.status, 403)
    assert.equal(no.json.message, 'slow down')
    assert.equal(no.headers['x-ratelimit-limit-minute'], undefined)
    assert.ok(Number(no.headers['retry-after']) >= 1)
  })
})

describe('rate-limiting: redis policy', () => {
  test('the limit holds against the shared bucket in Redis', async () => {
    assert.deepEqual(await statuses('/redis', 8), [200, 200, 200, 200, 200, 200, 429, 429])
    const keys = (await rawKeys()).filter((k) => k.startsWith('sluice:rl:'))
    assert.ok(keys.length >= 1, `no bucket keys in Redis: ${keys.join(', ')}`)
  })

  test('sync_rate -1: every request leases synchronously', async () => {
    assert.deepEqual(await statuses('/redis-sync', 4), [200, 200, 200, 429])
  })

  test('Redis down: fault tolerant routes decide locally (no 5xx); strict ones answer 503', async () => {
    await redis.stop()
    try {
      const tolerant = await statuses('/redis', 3)
      for (const s of tolerant) assert.ok(s === 200 || s === 429, `tolerant route answered ${s}`)
      const strict = await get(`${gw.url}/redis-strict`)
      assert.equal(strict.status, 503)
      assert.equal(strict.json.code, 'SLUICE_ERR_RATELIMIT_UNAVAILABLE')
      assert.equal(strict.headers['retry-after'], '1')
    } finally {
      await redis.restart()
    }
    // Back: leasing resumes (the strict route decides again) within a few syncs.
    let status = 0
    for (let i = 0; i < 30 && status !== 200; i++) {
      status = (await get(`${gw.url}/redis-strict`)).status
      if (status !== 200) await new Promise((r) => setTimeout(r, 200))
    }
    assert.equal(status, 200)
  })
})

async function rawKeys(): Promise<string[]> {
  const { rawCommand } = await import('../../helpers/redis.js')
  const reply = await rawCommand(redis.port, 'KEYS *')
  return reply.split('\r\n').filter((line) => line.startsWith('sluice:'))
}
