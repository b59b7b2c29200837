import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Cluster, Redis } from 'ioredis'
import { createRedis, redisConfigSchema, waitReady, type RedisClient } from '../../src/redis/client.js'
import { keySlot, LeaseError, RedisBucketStore, WINDOW_LUA, type LeaseGrant, type LeaseRequest } from '../../src/redis/lease.js'
import { startRedis, startRedisCluster, type RedisCluster, type RedisServer } from '../helpers/redis.js'

// The lease store against a real redis-server and a real three-master cluster: arithmetic, window
// bounds, atomicity under concurrent workers, script cache loss, and outages.

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function tokenBucket(key: string, want: number, extra: Partial<LeaseRequest> = {}): LeaseRequest {
  return { key, algorithm: 'token-bucket', limit: 10, periodMs: 60_000, want, giveBack: 0, ...extra }
}

function fixedWindow(key: string, want: number, extra: Partial<LeaseRequest> = {}): LeaseRequest {
  return { key, algorithm: 'fixed-window', limit: 10, periodMs: 86_400_000, want, giveBack: 0, ...extra }
}

function standalone(server: RedisServer, timeout = 300): RedisClient {
  return createRedis(redisConfigSchema.parse({ host: '127.0.0.1', port: server.port, timeout }))
}

async function one(store: RedisBucketStore, request: LeaseRequest): Promise<LeaseGrant> {
  const [grant] = await store.lease([request])
  return grant
}

/**
 * `workers` stores with their own connections lease from one key in parallel loops (`inFlight`
 * concurrent leases each), handing back part of what they got, for `ms`. Returns the net tokens
 * taken (granted - given back) and the elapsed time that bounds the refill. Redis may credit less
 * than was given back (capped at capacity), never more, so `net` never overstates what was taken.
 */
async function hammer(stores: RedisBucketStore[], request: LeaseRequest, ms: number, inFlight: number, giveBacks = true): Promise<{ net: number; elapsed: number; grants: LeaseGrant[] }> {
  const started = Date.now()
  const grants: LeaseGrant[] = []
  let net = 0
  const loop = async (store: RedisBucketStore, seed: number): Promise<void> => {
    let held = 0
    let step = seed
    while (Date.now() - started < ms) {
      // Give back a varying part of the previous lease, as a worker that spent only some of it.
      const giveBack = giveBacks && held > 0 ? step % (held + 1) : 0
      step++
      const [grant] = await store.lease([{ ...request, want: 1 + (step % 7), giveBack, windowStart: grants.at(-1)?.windowStart }])
      net += grant.granted - giveBack
      held = grant.granted
      grants.push(grant)
    }
  }
  await Promise.all(stores.flatMap((store, w) => Array.from({ length: inFlight }, (_, i) => loop(store, w * 31 + i))))
  return { net, elapsed: Date.now() - started, grants }
}

describe('standalone redis', () => {
  let server: RedisServer
  let store: RedisBucketStore
  let raw: Redis

  before(async () => {
    server = await startRedis()
    const client = standalone(server)
    await waitReady(client, 5000)
    store = new RedisBucketStore(client, { timeoutMs: 1000 })
    raw = new Redis(server.port, '127.0.0.1')
  })

  after(async () => {
    raw?.disconnect()
    await store?.close()
    await server?.close()
  })

  describe('token bucket', () => {
    test('grants up to the tokens held, then nothing; reports what is left and when it is full again', async () => {
      const a = await one(store, tokenBucket('tb:grant', 4))
      assert.deepEqual([a.granted, a.remaining], [4, 6])
      // 4 tokens at 10 per minute take 24 s to come back.
      assert.ok(a.resetMs > 23_900 && a.resetMs <= 24_000, `resetMs ${a.resetMs}`)
      const b = await one(store, tokenBucket('tb:grant', 10))
      assert.deepEqual([b.granted, b.remaining], [6, 0])
      const c = await one(store, tokenBucket('tb:grant', 1))
      assert.deepEqual([c.granted, c.remaining], [0, 0])
      const pttl = await raw.pttl('tb:grant')
      assert.ok(pttl > 59_000 && pttl <= 61_000, `the key lives until the bucket is full again (+1 s), pttl ${pttl}`)
    })

    test('a fresh bucket holds exactly its capacity', async () => {
      const a = await one(store, tokenBucket('tb:fresh', 1000, { limit: 25 }))
      assert.deepEqual([a.granted, a.remaining], [25, 0])
    })

    test('refills evenly over the period, within the bounds of the elapsed time', async () => {
      const request = tokenBucket('tb:refill', 100, { limit: 20, periodMs: 400 })
      const before1 = Date.now()
      assert.equal((await one(store, request)).granted, 20)
      const after1 = Date.now()
      await sleep(100)
      const before2 = Date.now()
      const second = await one(store, request)
      const after2 = Date.now()
      // 20 tokens per 400 ms = 1 per 20 ms; Redis' clock is this machine's clock.
      const low = Math.floor(((before2 - after1) * 20) / 400)
      const high = Math.floor(((after2 - before1) * 20) / 400) + 1
      assert.ok(second.granted >= low && second.granted <= high, `granted ${second.granted} not in [${low}, ${high}]`)
      assert.equal(second.remaining, 0)
    })

    test('refill stops at capacity', async () => {
      const request = tokenBucket('tb:cap', 100, { limit: 5, periodMs: 100 })
      assert.equal((await one(store, request)).granted, 5)
      await sleep(250)
      const full = await one(store, request)
      assert.equal(full.granted, 5, 'two and a half periods refill one bucket, not 12 tokens')
    })

    test('given-back tokens are credited before granting, capped at capacity', async () => {
      assert.equal((await one(store, tokenBucket('tb:give', 10))).granted, 10)
      const back = await one(store, tokenBucket('tb:give', 0, { giveBack: 4 }))
      assert.deepEqual([back.granted, back.remaining], [0, 4])
      const again = await one(store, tokenBucket('tb:give', 10, { giveBack: 0 }))
      assert.equal(again.granted, 4)
      const over = await one(store, tokenBucket('tb:give', 0, { giveBack: 500 }))
      assert.equal(over.remaining, 10, 'a worker cannot give back more than the bucket holds')
      const swap = await one(store, tokenBucket('tb:give', 3, { giveBack: 2 }))
      assert.deepEqual([swap.granted, swap.remaining], [3, 7])
    })

    test('fractional wants and give-backs count whole tokens only', async () => {
      const a = await one(store, tokenBucket('tb:frac', 2.9))
      assert.deepEqual([a.granted, a.remaining], [2, 8])
      const b = await one(store, tokenBucket('tb:frac', 0, { giveBack: 1.7 }))
      assert.equal(b.remaining, 9)
    })

    test('refuses malformed requests before sending anything', async () => {
      const sent = store.stats.commands
      await assert.rejects(store.lease([tokenBucket('tb:bad', -1)]), TypeError)
      await assert.rejects(store.lease([tokenBucket('tb:bad', 1, { limit: 0 })]), TypeError)
      await assert.rejects(store.lease([tokenBucket('tb:bad', 1, { periodMs: 0.5 })]), TypeError)
      await assert.rejects(store.lease([tokenBucket('tb:bad', Number.NaN)]), TypeError)
      assert.equal(store.stats.commands, sent)
      assert.deepEqual(await store.lease([]), [])
    })
  })

  describe('fixed window', () => {
    test('grants up to the limit per window, aligned to the epoch', async () => {
      const a = await one(store, fixedWindow('fw:limit', 6))
      assert.equal(a.windowStart % 86_400_000, 0)
      assert.ok(Math.abs(a.windowStart + 86_400_000 - (Date.now() + a.resetMs)) < 50, 'resetMs runs to the end of the window')
      if (a.resetMs < 1000) return // midnight UTC: the rest would straddle two windows
      assert.deepEqual([a.granted, a.remaining], [6, 4])
      const b = await one(store, fixedWindow('fw:limit', 6))
      assert.deepEqual([b.granted, b.remaining, b.windowStart], [4, 0, a.windowStart])
      const c = await one(store, fixedWindow('fw:limit', 1))
      assert.deepEqual([c.granted, c.remaining], [0, 0])
    })

    test('seconds, minutes and hours start on their epoch boundaries', async () => {
      for (const periodMs of [1000, 60_000, 3_600_000]) {
        const g = await one(store, fixedWindow(`fw:align:${periodMs}`, 1, { periodMs }))
        assert.equal(g.windowStart % periodMs, 0, `period ${periodMs}`)
        assert.ok(g.resetMs > 0 && g.resetMs <= periodMs)
      }
    })

    test('a new window starts empty at the boundary', async () => {
      const request = fixedWindow('fw:reset', 100, { limit: 5, periodMs: 300 })
      const first = await one(store, request)
      await sleep(first.resetMs + 5)
      const second = await one(store, request)
      assert.equal(second.granted, 5)
      assert.equal(second.windowStart, first.windowStart + 300)
      const third = await one(store, request)
      assert.equal(third.granted, 0)
    })

    test('given-back tokens are credited only in the window they were leased in', async () => {
      const request = fixedWindow('fw:give', 5, { limit: 5, periodMs: 600 })
      // Start at the beginning of a window so the whole exchange fits in it.
      await sleep((await one(store, { ...request, want: 0 })).resetMs + 5)
      const leased = await one(store, request)
      assert.equal(leased.granted, 5)
      const stale = await one(store, { ...request, want: 0, giveBack: 3, windowStart: leased.windowStart - 600 })
      assert.equal(stale.remaining, 0, 'tokens of the previous window are not credited')
      const missing = await one(store, { ...request, want: 0, giveBack: 3 })
      assert.equal(missing.remaining, 0, 'nor tokens of an unknown window')
      const same = await one(store, { ...request, want: 0, giveBack: 3, windowStart: leased.windowStart })
      assert.equal(same.remaining, 3)
      assert.equal(same.windowStart, leased.windowStart)
      const over = await one(store, { ...request, want: 0, giveBack: 50, windowStart: leased.windowStart })
      assert.equal(over.remaining, 5, 'the count never goes below zero')
    })

    test('month and year windows follow the UTC calendar, as Kong counts them', async () => {
      const now = new Date()
      const month = await one(store, fixedWindow('fw:month', 1, { calendar: 'month' }))
      const year = await one(store, fixedWindow('fw:year', 1, { calendar: 'year' }))
      assert.equal(month.windowStart, Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1))
      assert.equal(year.windowStart, Date.UTC(now.getUTCFullYear(), 0, 1))
      const monthEnd = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)
      assert.ok(Math.abs(Date.now() + month.resetMs - monthEnd) < 50)
      const yearEnd = Date.UTC(now.getUTCFullYear() + 1, 0, 1)
      assert.ok(Math.abs(Date.now() + year.resetMs - yearEnd) < 50)
    })

    test('the calendar arithmetic in Lua matches Date.UTC from 1970 to 2200, leap years included', async () => {
      const probes: number[] = []
      for (let y = 1970; y <= 2200; y += y < 2100 ? 1 : 7) {
        for (let m = 0; m < 12; m++) {
          const start = Date.UTC(y, m, 1)
          probes.push(start, start + 1, start - 1, Date.UTC(y, m, 15, 13, 7, 3, 999))
        }
      }
      probes.push(Date.UTC(2000, 1, 29, 23, 59, 59, 999), Date.UTC(2100, 1, 28, 12), Date.UTC(2024, 11, 31, 23, 59, 59, 999))
      const check = `${WINDOW_LUA}
local out = {}
for i = 2, #ARGV do
  local s, f = window_bounds(tonumber(ARGV[i]), 1, ARGV[1])
  out[#out + 1] = s
  out[#out + 1] = f
end
return out`
      for (const calendar of ['month', 'year'] as const) {
        const bounds = (await raw.eval(check, 0, calendar, ...probes.filter((t) => t >= 0))) as number[]
        let i = 0
        for (const t of probes.filter((p) => p >= 0)) {
          const d = new Date(t)
          const y = d.getUTCFullYear()
          const m = calendar === 'month' ? d.getUTCMonth() : 0
          const expected = [Date.UTC(y, m, 1), calendar === 'month' ? Date.UTC(y, m + 1, 1) : Date.UTC(y + 1, 0, 1)]
          assert.deepEqual([bounds[i], bounds[i + 1]], expected, `${calendar} of ${d.toISOString()}`)
          i += 2
        }
      }
    })
  })

  describe('atomicity', () => {
    const workers: RedisBucketStore[] = []

    before(async () => {
      for (let i = 0; i < 4; i++) {
        const client = standalone(server, 1000)
        await waitReady(client, 5000)
        workers.push(new RedisBucketStore(client, { timeoutMs: 2000 }))
      }
    })

    after(async () => {
      for (const w of workers) await w.close()
    })

    test('four workers on separate connections never take more than capacity plus refill', async () => {
      const limit = 200
      const periodMs = 10_000
      const run = await hammer(workers, tokenBucket('atomic:tb', 0, { limit, periodMs }), 700, 4)
      const refill = Math.ceil((run.elapsed * limit) / periodMs)
      assert.ok(run.grants.length > 200, `enough contention: ${run.grants.length} leases`)
      assert.ok(run.net <= limit + refill, `net ${run.net} > ${limit} + ${refill}`)
      // Not vacuous: the workers drained the bucket and kept taking its refill.
      assert.ok(run.net >= limit, `net ${run.net} < ${limit}`)
      const rest = await one(workers[0], tokenBucket('atomic:tb', 0, { limit, periodMs }))
      assert.ok(run.net + rest.remaining <= limit + refill + 1)
    })

    test('a fixed window hands out its limit exactly once across workers', async () => {
      const limit = 500
      const run = await hammer(workers, fixedWindow('atomic:fw', 0, { limit }), 400, 4, false)
      const perWindow = new Map<number, number>()
      for (const g of run.grants) perWindow.set(g.windowStart, (perWindow.get(g.windowStart) ?? 0) + g.granted)
      for (const [start, granted] of perWindow) assert.ok(granted <= limit, `window ${start}: ${granted} > ${limit}`)
      // Midnight UTC aside, one window: the whole limit was handed out, and not a token more.
      if (perWindow.size === 1) assert.equal(run.net, limit)
    })
  })

  describe('script cache and outages', () => {
    test('SCRIPT FLUSH: entries answered NOSCRIPT are resent once with EVAL, then EVALSHA works again', async () => {
      await one(store, tokenBucket('ns:a', 1))
      await raw.script('FLUSH')
      const noscript = store.stats.noscript
      const grants = await store.lease([tokenBucket('ns:a', 1), fixedWindow('ns:b', 1), tokenBucket('ns:c', 1)])
      assert.deepEqual(grants.map((g) => g.granted), [1, 1, 1])
      assert.equal(store.stats.noscript - noscript, 3)
      await store.lease([tokenBucket('ns:a', 1), fixedWindow('ns:b', 1)])
      assert.equal(store.stats.noscript - noscript, 3, 'the scripts are cached again')
    })

    test('one pipeline per lease on a standalone Redis, whatever the batch size', async () => {
      const pipelines = store.stats.pipelines
      const batch = Array.from({ length: 50 }, (_, i) => tokenBucket(`batch:${i}`, 1))
      const grants = await store.lease(batch)
      assert.equal(grants.length, 50)
      assert.ok(grants.every((g) => g.granted === 1))
      assert.equal(store.stats.pipelines - pipelines, 1)
    })

    test('a big batch goes in chunks, each its own pipeline, grants in batch order', async () => {
      const own = new RedisBucketStore(store.client, { ownsClient: false, chunkSize: 256 })
      await own.lease([tokenBucket('chunk:warm', 1)]) // the script is cached on the server from here on
      const batch = Array.from({ length: 600 }, (_, i) => tokenBucket(`chunk:${i}`, 1 + (i % 5)))
      const pipelines = own.stats.pipelines
      const grants = await own.lease(batch)
      assert.deepEqual(grants.map((g) => g.granted), batch.map((r) => r.want))
      assert.equal(own.stats.pipelines - pipelines, 3)
      await own.close()
      assert.equal(store.client.status, 'ready', 'a store that does not own its client leaves it open')
    })

    test('fromConfig: a store with its own client, bounded by the block timeout', async () => {
      const own = RedisBucketStore.fromConfig(redisConfigSchema.parse({ host: '127.0.0.1', port: server.port, timeout: 400 }))
      try {
        await waitReady(own.client, 5000)
        assert.equal((await one(own, tokenBucket('from-config', 2))).granted, 2)
      } finally {
        await own.close()
      }
      assert.equal(own.client.status, 'end')
    })

    test('a stopped Redis rejects at once; after restart (empty script cache) leases work again', async () => {
      const client = standalone(server, 300)
      await waitReady(client, 5000)
      const own = new RedisBucketStore(client, { timeoutMs: 1000 })
      try {
        assert.equal((await one(own, tokenBucket('outage:a', 1))).granted, 1)
        await server.stop()
        const started = Date.now()
        await assert.rejects(own.lease([tokenBucket('outage:a', 1)]), LeaseError)
        assert.ok(Date.now() - started < 300, `rejected after ${Date.now() - started} ms`)
        await server.restart()
        await waitReady(client, 5000)
        const back = await one(own, tokenBucket('outage:a', 1))
        assert.equal(back.granted, 1)
        assert.ok(own.stats.noscript >= 1, 'the restarted server needed the script again')
        assert.ok(own.stats.failures >= 1)
      } finally {
        await own.close()
      }
    })

    test('a hung Redis (SIGSTOP) rejects within the command timeout, then recovers', async () => {
      const client = standalone(server, 250)
      await waitReady(client, 5000)
      const own = new RedisBucketStore(client, { timeoutMs: 2000 })
      try {
        server.pause()
        const started = Date.now()
        await assert.rejects(own.lease([tokenBucket('hung:a', 1), fixedWindow('hung:b', 1)]), /timed out/)
        const took = Date.now() - started
        assert.ok(took >= 200 && took < 700, `rejected after ${took} ms`)
        server.resume()
        await waitReady(client, 5000)
        assert.equal((await one(own, tokenBucket('hung:a', 1))).granted, 1)
      } finally {
        server.resume()
        await own.close()
      }
    })

    test("the store's own deadline cuts a lease shorter than the client's timeout", async () => {
      const client = standalone(server, 5000)
      await waitReady(client, 5000)
      const own = new RedisBucketStore(client, { timeoutMs: 150 })
      try {
        server.pause()
        const started = Date.now()
        await assert.rejects(own.lease([tokenBucket('deadline:a', 1)]), (err: unknown) => err instanceof LeaseError && err.code === 'SLUICE_ERR_REDIS' && /150 ms/.test(err.message))
        assert.ok(Date.now() - started < 400)
      } finally {
        server.resume()
        await own.close()
      }
    })
  })
})

test('with append-only persistence a killed Redis comes back with its buckets: no refill from amnesia', async () => {
  const server = await startRedis({ appendonly: true })
  const store = RedisBucketStore.fromConfig(redisConfigSchema.parse({ host: '127.0.0.1', port: server.port, timeout: 500 }))
  try {
    await waitReady(store.client, 5000)
    const request = tokenBucket('persist:a', 100, { limit: 50, periodMs: 3_600_000 })
    assert.equal((await one(store, request)).granted, 50)
    server.kill()
    await server.restart()
    await waitReady(store.client, 5000)
    const after = await one(store, request)
    assert.ok(after.granted <= 1, `granted ${after.granted} after the restart: the debit was kept`)
  } finally {
    await store.close()
    await server.close()
  }
})

describe('redis cluster (three masters)', () => {
  let cluster: RedisCluster
  let store: RedisBucketStore
  let client: Cluster

  const clusterConfig = (timeout: number) =>
    redisConfigSchema.parse({ cluster_nodes: cluster.startupNodes.map((n) => ({ ip: n.host, port: n.port })), timeout })

  before(async () => {
    cluster = await startRedisCluster(3)
    const c = createRedis(clusterConfig(500))
    assert.ok(c instanceof Cluster)
    client = c
    await waitReady(client, 10_000)
    store = new RedisBucketStore(client, { timeoutMs: 2000 })
  })

  after(async () => {
    await store?.close()
    await cluster?.stop()
  })

  test('keySlot agrees with CLUSTER KEYSLOT, hash tags included', async () => {
    const keys = ['a', 'sluice:rl:route-1:consumer-9:minute', '{user1000}.following', 'foo{}{bar}', 'foo{{bar}}zap', 'x{y', 'ünïcødé', '{}', '}{']
    for (let i = 0; i < 30; i++) keys.push(`k${i * 7919}`)
    for (const key of keys) assert.equal(keySlot(key), await client.cluster('KEYSLOT', key), key)
  })

  test('a batch spread over all masters: one pipeline per master, every grant right', async () => {
    const batch = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? tokenBucket(`cl:tb:${i}`, 3) : fixedWindow(`cl:fw:${i}`, 3)))
    const masters = new Set(batch.map((r) => client.slots[keySlot(r.key)][0]))
    assert.equal(masters.size, 3, 'the keys land on all three masters')
    const grants = await store.lease(batch)
    assert.deepEqual(grants.map((g) => [g.granted, g.remaining]), batch.map(() => [3, 7]))
    // The first lease also loaded the scripts on each master (NOSCRIPT, then EVAL): count the next.
    const pipelines = store.stats.pipelines
    const second = await store.lease(batch.map((r) => ({ ...r, want: 10 })))
    assert.deepEqual(second.map((g) => g.granted), batch.map(() => 7))
    assert.equal(store.stats.pipelines - pipelines, 3)
  })

  test('four cluster clients on one key never take more than capacity plus refill', async () => {
    const workers: RedisBucketStore[] = []
    try {
      for (let i = 0; i < 4; i++) {
        const c = createRedis(clusterConfig(1000))
        await waitReady(c, 10_000)
        workers.push(new RedisBucketStore(c, { timeoutMs: 2000 }))
      }
      const limit = 150
      const periodMs = 10_000
      const run = await hammer(workers, tokenBucket('cl:atomic', 0, { limit, periodMs }), 500, 3)
      const refill = Math.ceil((run.elapsed * limit) / periodMs)
      assert.ok(run.grants.length > 100, `${run.grants.length} leases`)
      assert.ok(run.net <= limit + refill && run.net >= limit, `net ${run.net}, limit ${limit} + refill ${refill}`)
    } finally {
      for (const w of workers) await w.close()
    }
  })

  test('SCRIPT FLUSH on every master: the batch recovers through EVAL', async () => {
    await Promise.all(client.nodes('master').map((node) => node.script('FLUSH')))
    const batch = Array.from({ length: 12 }, (_, i) => tokenBucket(`cl:ns:${i}`, 2))
    const noscript = store.stats.noscript
    const grants = await store.lease(batch)
    assert.ok(grants.every((g) => g.granted === 2))
    assert.equal(store.stats.noscript - noscript, 12)
  })

  test('a master down: the batch rejects quickly with the grants the other masters made; back up, leases work again', async () => {
    const batch = Array.from({ length: 30 }, (_, i) => tokenBucket(`cl:down:${i}`, 1))
    await store.lease(batch)
    const victim = cluster.nodes[0]
    const onVictim = batch.map((r) => client.slots[keySlot(r.key)][0] === `127.0.0.1:${victim.port}`)
    assert.ok(onVictim.includes(true) && onVictim.includes(false))
    await victim.stop()
    const started = Date.now()
    await assert.rejects(store.lease(batch), (err: unknown) => {
      assert.ok(err instanceof LeaseError)
      assert.ok(err.grants !== null)
      for (let i = 0; i < batch.length; i++) {
        if (onVictim[i]) assert.equal(err.grants[i], undefined, batch[i].key)
        else assert.equal(err.grants[i]?.granted, 1, batch[i].key)
      }
      return true
    })
    assert.ok(Date.now() - started < 1000, `rejected after ${Date.now() - started} ms`)
    await victim.restart()
    // The restarted master keeps its identity and slots (nodes.conf in its data directory).
    const deadline = Date.now() + 10_000
    for (;;) {
      try {
        const grants = await store.lease(batch)
        assert.equal(grants.length, 30)
        break
      } catch (err) {
        if (Date.now() > deadline) throw err
        await sleep(100)
      }
    }
  })
})
