import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { get } from '../../helpers/http.js'
import { rawCommand, startRedis, type RedisServer } from '../../helpers/redis.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

// Quotas outlive gateways: real gateway processes (primary + workers) with `policy: redis`, stopped with
// SIGTERM (a draining worker gives back the quota it leased but did not spend) and started again on the
// same Redis; and a redis-server with appendonly killed and restarted under them.

let up: Upstream
let redis: RedisServer
const running = new Set<Gateway>()

const ALICE_ID = '9b2f4c1d-6e3a-4f5b-8c7d-0e1f2a3b4c5d'
const BOB_ID = '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f'

function config(port: number): object {
  return {
    _format_version: '3.0',
    usage_plans: [
      { name: 'pro', quota: { limit: 20, period: 'month' } },
      { name: 'basic', throttle: { rate: 100, burst: 100 }, quota: { limit: 10, period: 'week' } },
    ],
    consumers: [
      { id: ALICE_ID, username: 'alice', usage_plan: 'pro', keyauth_credentials: [{ key: 'alice-key-0123' }] },
      { id: BOB_ID, username: 'bob', usage_plan: 'basic', keyauth_credentials: [{ key: 'bob-key-0123' }] },
    ],
    services: [{ name: 'svc', url: up.url, routes: [{ name: 'r', paths: ['/'] }] }],
    plugins: [{ name: 'key-auth' }, { name: 'usage-plans', config: { redis: { host: '127.0.0.1', port, timeout: 500 } } }],
  }
}

async function gateway(port: number, workers: number): Promise<Gateway> {
  const gw = await startGateway(config(port), { workers })
  running.add(gw)
  return gw
}

async function stop(gw: Gateway): Promise<void> {
  assert.equal(await gw.stop('SIGTERM'), 0, gw.output())
  running.delete(gw)
}

/** The quota count Redis holds for a consumer's plan (the fixed window's `count` field). */
async function counted(port: number, plan: string, consumerId: string): Promise<number> {
  const reply = await rawCommand(port, `HGET sluice:plan:${plan}:${consumerId}:quota count`)
  const m = /^\$\d+\r\n(\d+)\r\n$/.exec(reply)
  assert.ok(m, `no quota count in Redis: ${JSON.stringify(reply)}`)
  return Number(m[1])
}

/**
 * Spends what is left of a quota on a gateway whose workers may hold parked tokens: requests until one
 * is refused, then again after a sync has returned what other workers held, until a round admits none.
 */
async function spendAll(gw: Gateway, apikey: string): Promise<number> {
  let admitted = 0
  for (let round = 0; round < 10; round++) {
    let thisRound = 0
    for (let i = 0; i < 40; i++) {
      const r = await get(`${gw.url}/`, { apikey })
      if (r.status === 429) {
        assert.equal(r.json.code, 'SLUICE_ERR_QUOTA_EXCEEDED', r.body)
        break
      }
      assert.equal(r.status, 200, r.body)
      thisRound++
    }
    admitted += thisRound
    if (thisRound === 0 && round > 0) return admitted
    await new Promise((r) => setTimeout(r, 1300))
  }
  return admitted
}

before(async () => {
  up = await startUpstream()
  redis = await startRedis()
})

after(async () => {
  await Promise.all([...running].map((g) => g.stop('SIGKILL')))
  await up?.close()
  await redis?.close()
})

describe('usage-plans: quotas survive restarts', () => {
  test('a gateway stopped with SIGTERM and a new one on the same Redis continue the same quota', async () => {
    const first = await gateway(redis.port, 2)
    const remaining: string[] = []
    for (let i = 0; i < 7; i++) {
      const r = await get(`${first.url}/`, { apikey: 'alice-key-0123' })
      assert.equal(r.status, 200, r.body)
      remaining.push(r.headers['x-quota-remaining'] as string)
    }
    assert.equal(remaining[0], '19')
    // The workers lease ahead of demand: Redis has debited more than was spent...
    assert.ok((await counted(redis.port, 'pro', ALICE_ID)) > 7)
    await stop(first)
    // Tokens the two workers had leased and not spent went back on drain: Redis counts what was spent.
    assert.equal(await counted(redis.port, 'pro', ALICE_ID), 7)

    const second = await gateway(redis.port, 2)
    const r = await get(`${second.url}/`, { apikey: 'alice-key-0123' })
    assert.equal(r.status, 200)
    assert.equal(r.headers['x-quota-limit'], '20')
    assert.equal(r.headers['x-quota-remaining'], '12')
    // 20 in all over both gateways, not one more.
    assert.equal(1 + (await spendAll(second, 'alice-key-0123')), 13)
    assert.equal(await counted(redis.port, 'pro', ALICE_ID), 20)
    await stop(second)
  })

  test('with appendonly, a redis-server killed and restarted keeps the quota', async () => {
    const persistent = await startRedis({ appendonly: true })
    try {
      const gw = await gateway(persistent.port, 1)
      for (let i = 0; i < 4; i++) assert.equal((await get(`${gw.url}/`, { apikey: 'bob-key-0123' })).status, 200)
      await stop(gw)
      assert.equal(await counted(persistent.port, 'basic', BOB_ID), 4)
      // A crash, not a shutdown: only the append-only file keeps what was written.
      persistent.kill()
      await persistent.restart()
      assert.equal(await counted(persistent.port, 'basic', BOB_ID), 4)

      const again = await gateway(persistent.port, 1)
      const r = await get(`${again.url}/`, { apikey: 'bob-key-0123' })
      assert.equal(r.headers['x-quota-remaining'], '5')
      assert.equal(1 + (await spendAll(again, 'bob-key-0123')), 6)
      await stop(again)
    } finally {
      await persistent.close()
    }
  })

  test('without persistence, a redis-server restart forgets the quota (why the docs ask for appendonly)', async () => {
    const volatile = await startRedis()
    try {
      const gw = await gateway(volatile.port, 1)
      for (let i = 0; i < 3; i++) assert.equal((await get(`${gw.url}/`, { apikey: 'bob-key-0123' })).status, 200)
      await stop(gw)
      assert.equal(await counted(volatile.port, 'basic', BOB_ID), 3)
      volatile.kill()
      await volatile.restart()
      assert.equal(await rawCommand(volatile.port, `EXISTS sluice:plan:basic:${BOB_ID}:quota`), ':0\r\n')
    } finally {
      await volatile.close()
    }
  })
})
