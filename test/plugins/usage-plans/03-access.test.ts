import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryBucketStore, windowBounds } from '../../../src/ratelimit/memory-store.js'
import { createRedis, redisConfigSchema, waitReady, type RedisClient } from '../../../src/redis/client.js'
import { RedisBucketStore, WINDOW_LUA, type LeaseRequest } from '../../../src/redis/lease.js'
import { get } from '../../helpers/http.js'
import { startInProcess, type InProcessGateway } from '../../helpers/inproc.js'
import { rawCommand, startRedis, type RedisServer } from '../../helpers/redis.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

// The usage-plans plugin in a real worker (in this process: `policy: local` leases from an in-process
// bucket) and against a real redis-server: the throttle's burst and refill, the quota's exhaustion and
// AWS's 429 bodies, X-Quota-* headers, consumers without a plan untouched, and the week and month
// windows computed the same in memory and in Redis.

let up: Upstream
let gw: InProcessGateway
let redis: RedisServer

const DAVE_ID = '3d0c8a52-4b1e-4c6f-9e0d-7a1b2c3d4e5f'
const consumer = (name: string, plan?: string, id?: string) => ({ username: name, ...(id ? { id } : {}), ...(plan ? { usage_plan: plan } : {}), keyauth_credentials: [{ key: `${name}-key-0123` }] })
const key = (name: string) => ({ apikey: `${name}-key-0123` })

before(async () => {
  up = await startUpstream()
  redis = await startRedis()
  gw = await startInProcess(gatewayConfig(4))
})

/** The test gateway; `monthly` is the plan a reload changes. */
function gatewayConfig(monthly: number): object {
  const plans = (config: object) => [{ name: 'key-auth' }, { name: 'usage-plans', config }]
  const local = { policy: 'local' }
  return {
    _format_version: '3.0',
    usage_plans: [
      { name: 'burst', throttle: { rate: 2, burst: 3 } },
      { name: 'trial', quota: { limit: 3, period: 'day' } },
      { name: 'both', throttle: { rate: 1, burst: 2 }, quota: { limit: 3, period: 'week' } },
      { name: 'monthly', quota: { limit: monthly, period: 'month' } },
      { name: 'quiet', quota: { limit: 1, period: 'day' } },
    ],
    consumers: [
      consumer('alice', 'burst'),
      consumer('bob', 'trial'),
      consumer('carol'),
      consumer('dave', 'monthly', DAVE_ID),
      consumer('erin', 'both'),
      consumer('frank', 'quiet'),
    ],
    services: [
      {
        name: 'svc',
        url: up.url,
        routes: [
          { name: 'local', paths: ['/local'], plugins: plans(local) },
          { name: 'open', paths: ['/open'], plugins: [{ name: 'usage-plans', config: local }] },
          { name: 'hidden', paths: ['/hidden'], plugins: plans({ ...local, hide_client_headers: true }) },
          { name: 'redis', paths: ['/redis'], plugins: plans({ redis: { host: '127.0.0.1', port: redis.port, timeout: 500 } }) },
        ],
      },
    ],
  }
}

after(async () => {
  await gw.close()
  await up.close()
  await redis.close()
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('usage-plans: throttle', () => {
  test('burst admitted at once, then 429 Too Many Requests, then refill at the rate', async () => {
    const statuses: number[] = []
    let refused: Awaited<ReturnType<typeof get>> | null = null
    for (let i = 0; i < 5; i++) {
      const r = await get(`${gw.url}/local`, key('alice'))
      statuses.push(r.status)
      if (r.status === 429) refused ??= r
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429])
    assert.equal(refused!.json.message, 'Too Many Requests')
    assert.equal(refused!.json.code, 'SLUICE_ERR_THROTTLED')
    assert.match(refused!.json.request_id, /.+/)
    assert.equal(refused!.headers['retry-after'], '1')
    // No quota in this plan: no quota headers.
    assert.equal(refused!.headers['x-quota-limit'], undefined)
    // rate 2/s: one token every 500 ms.
    await sleep(600)
    assert.equal((await get(`${gw.url}/local`, key('alice'))).status, 200)
    assert.equal((await get(`${gw.url}/local`, key('alice'))).status, 429)
  })
})

describe('usage-plans: quota', () => {
  test('the quota counts down in X-Quota-Remaining, then 429 Limit Exceeded until the next UTC day', async () => {
    const remaining: string[] = []
    for (let i = 0; i < 3; i++) {
      const r = await get(`${gw.url}/local`, key('bob'))
      assert.equal(r.status, 200)
      assert.equal(r.headers['x-quota-limit'], '3')
      remaining.push(r.headers['x-quota-remaining'] as string)
    }
    assert.deepEqual(remaining, ['2', '1', '0'])
    const r = await get(`${gw.url}/local`, key('bob'))
    assert.equal(r.status, 429)
    assert.deepEqual({ message: r.json.message, code: r.json.code }, { message: 'Limit Exceeded', code: 'SLUICE_ERR_QUOTA_EXCEEDED' })
    const now = Date.now()
    const toMidnight = Math.ceil((Math.floor(now / 86_400_000 + 1) * 86_400_000 - now) / 1000)
    for (const h of ['retry-after', 'x-quota-reset']) {
      assert.ok(Math.abs(Number(r.headers[h]) - toMidnight) <= 2, `${h} ${r.headers[h]} vs ${toMidnight} s to midnight UTC`)
    }
    assert.equal(r.headers['x-quota-remaining'], '0')
  })

  test('throttled requests do not spend the quota; the quota refuses once spent even with tokens in the throttle', async () => {
    const first = await Promise.all([0, 1].map(() => get(`${gw.url}/local`, key('erin'))))
    assert.deepEqual(first.map((r) => r.status), [200, 200])
    const throttled = await get(`${gw.url}/local`, key('erin'))
    assert.equal(throttled.status, 429)
    assert.equal(throttled.json.code, 'SLUICE_ERR_THROTTLED')
    assert.equal(throttled.headers['x-quota-remaining'], '1')
    await sleep(1100)
    const last = await get(`${gw.url}/local`, key('erin'))
    assert.equal(last.status, 200, JSON.stringify([last.body, last.headers]))
    assert.equal(last.headers['x-quota-remaining'], '0')
    await sleep(1100)
    const over = await get(`${gw.url}/local`, key('erin'))
    assert.equal(over.status, 429)
    assert.equal(over.json.code, 'SLUICE_ERR_QUOTA_EXCEEDED')
    // The week ends next Monday 00:00 UTC.
    const [, monday] = windowBounds(Date.now(), 0, 'week')
    assert.equal(new Date(monday).getUTCDay(), 1)
    assert.ok(Math.abs(Number(over.headers['x-quota-reset']) - (monday - Date.now()) / 1000) <= 2)
  })

  test('hide_client_headers: no X-Quota-* headers; a refusal keeps Retry-After', async () => {
    const ok = await get(`${gw.url}/hidden`, key('frank'))
    assert.equal(ok.status, 200)
    assert.equal(ok.headers['x-quota-limit'], undefined)
    assert.equal(ok.headers['x-quota-remaining'], undefined)
    const refused = await get(`${gw.url}/hidden`, key('frank'))
    assert.equal(refused.status, 429)
    assert.equal(refused.headers['x-quota-remaining'], undefined)
    assert.ok(Number(refused.headers['retry-after']) >= 1)
  })

  test('policy redis: the quota is counted in Redis under the plan and the consumer, per calendar month', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) statuses.push((await get(`${gw.url}/redis`, key('dave'))).status)
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429])
    const redisKey = `sluice:plan:monthly:${DAVE_ID}:quota`
    assert.equal(await rawCommand(redis.port, `HGET ${redisKey} count`), '$1\r\n4\r\n')
    const now = new Date()
    const start = String(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1))
    assert.equal(await rawCommand(redis.port, `HGET ${redisKey} window`), `$${start.length}\r\n${start}\r\n`)

    // A reload that raises the plan's quota applies at once, on top of what was already spent.
    await gw.reload(gatewayConfig(6))
    const after: { status: number; remaining: unknown; limit: unknown }[] = []
    for (let i = 0; i < 3; i++) {
      const r = await get(`${gw.url}/redis`, key('dave'))
      after.push({ status: r.status, remaining: r.headers['x-quota-remaining'], limit: r.headers['x-quota-limit'] })
    }
    assert.deepEqual(after, [
      { status: 200, remaining: '1', limit: '6' },
      { status: 200, remaining: '0', limit: '6' },
      { status: 429, remaining: '0', limit: '6' },
    ])
    assert.equal(await rawCommand(redis.port, `HGET ${redisKey} count`), '$1\r\n6\r\n')
  })
})

describe('usage-plans: requests it leaves alone', () => {
  test('a consumer without a plan, and a request without a consumer, pass with no quota headers', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await get(`${gw.url}/local`, key('carol'))
      assert.equal(r.status, 200)
      assert.equal(r.headers['x-quota-limit'], undefined)
    }
    for (let i = 0; i < 20; i++) {
      const r = await get(`${gw.url}/open`)
      assert.equal(r.status, 200)
      assert.equal(r.headers['x-quota-limit'], undefined)
    }
  })
})

describe('week and month windows: memory and Redis agree', () => {
  let client: RedisClient
  let store: RedisBucketStore

  before(async () => {
    client = createRedis(redisConfigSchema.parse({ host: '127.0.0.1', port: redis.port }))
    await waitReady(client, 2000)
    store = new RedisBucketStore(createRedis(redisConfigSchema.parse({ host: '127.0.0.1', port: redis.port })), { timeoutMs: 2000 })
  })
  after(async () => {
    client.disconnect()
    await store.close()
  })

  test('window_bounds in Lua and windowBounds in TypeScript give the same weeks and months, 1970 to 2200', async () => {
    const probes: number[] = []
    for (let day = 0; day < 84_000; day += 3) {
      const t = day * 86_400_000
      probes.push(t, t + 1, t + 86_399_999, t + 43_210_987)
    }
    const check = `${WINDOW_LUA}
local out = {}
for i = 2, #ARGV do
  local s, f = window_bounds(tonumber(ARGV[i]), 1, ARGV[1])
  out[#out + 1] = s
  out[#out + 1] = f
end
return out`
    for (const calendar of ['week', 'month'] as const) {
      for (let from = 0; from < probes.length; from += 20_000) {
        const chunk = probes.slice(from, from + 20_000)
        const bounds = (await client.eval(check, 0, calendar, ...chunk)) as number[]
        for (let i = 0; i < chunk.length; i++) {
          const expected = windowBounds(chunk[i], 1, calendar)
          if (bounds[2 * i] !== expected[0] || bounds[2 * i + 1] !== expected[1]) {
            assert.fail(`${calendar} of ${new Date(chunk[i]).toISOString()}: Lua [${bounds[2 * i]}, ${bounds[2 * i + 1]}], TypeScript [${expected}]`)
          }
        }
      }
    }
    // Weeks start on Monday 00:00 UTC and last 7 days; the checks above would pass for any shared mistake.
    const [start, end] = windowBounds(Date.UTC(2026, 10, 25, 7, 30), 1, 'week') // a Wednesday
    assert.deepEqual([start, end], [Date.UTC(2026, 10, 23), Date.UTC(2026, 10, 30)])
    assert.deepEqual(windowBounds(Date.UTC(2026, 10, 23), 1, 'week'), [Date.UTC(2026, 10, 23), Date.UTC(2026, 10, 30)])
    assert.deepEqual(windowBounds(Date.UTC(2026, 10, 22, 23, 59, 59, 999), 1, 'week'), [Date.UTC(2026, 10, 16), Date.UTC(2026, 10, 23)])
    assert.deepEqual(windowBounds(Date.UTC(2021, 0, 1), 1, 'week'), [Date.UTC(2020, 11, 28), Date.UTC(2021, 0, 4)]) // across a year
  })

  test('the same leases get the same grants and windows from both stores', async () => {
    const memory = new MemoryBucketStore()
    const tag = Math.random().toString(36).slice(2)
    for (const calendar of ['week', 'month'] as const) {
      const r: LeaseRequest = { key: `plan:${tag}:${calendar}`, algorithm: 'fixed-window', limit: 5, periodMs: 1000, calendar, want: 3, giveBack: 0 }
      const fromMemory = [memory.leaseNow([r])[0], memory.leaseNow([r])[0], memory.leaseNow([r])[0]]
      const fromRedis = [(await store.lease([r]))[0], (await store.lease([r]))[0], (await store.lease([r]))[0]]
      assert.deepEqual(fromMemory.map((g) => g.granted), [3, 2, 0])
      assert.deepEqual(fromRedis.map((g) => g.granted), [3, 2, 0])
      const [start, end] = windowBounds(Date.now(), 1000, calendar)
      for (const g of [...fromMemory, ...fromRedis]) {
        assert.equal(g.windowStart, start, calendar)
        assert.ok(Math.abs(Date.now() + g.resetMs - end) < 100, calendar)
      }
    }
  })
})
