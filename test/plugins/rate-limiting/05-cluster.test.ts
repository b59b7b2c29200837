import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { hash } from 'node:crypto'
import { Redis } from 'ioredis'
import { request } from 'undici'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { startRedisCluster, type RedisCluster } from '../../helpers/redis.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

// The rate-limiting plugin on a Redis Cluster of three masters started locally: a gateway with two
// workers, many identities whose bucket keys spread over every master, each identity's limit held.

const MINUTE = 60_000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const IDENTITIES = 30
const LIMIT = 10
const PER_IDENTITY = 25

let up: Upstream
let cluster: RedisCluster
let gw: Gateway

before(async () => {
  up = await startUpstream()
  cluster = await startRedisCluster(3)
  gw = await startGateway(
    {
      _format_version: '3.0',
      services: [
        {
          name: 'svc',
          url: up.url,
          routes: [
            {
              name: 'tenants',
              paths: ['/tenants'],
              plugins: [
                {
                  name: 'rate-limiting',
                  config: {
                    minute: LIMIT,
                    limit_by: 'header',
                    header_name: 'X-Tenant',
                    policy: 'redis',
                    fault_tolerant: false,
                    redis: { cluster_nodes: cluster.startupNodes.map((n) => ({ ip: n.host, port: n.port })), timeout: 1000 },
                  },
                },
              ],
            },
            {
              name: 'tolerant',
              paths: ['/tolerant'],
              plugins: [
                {
                  name: 'rate-limiting',
                  config: {
                    minute: 6000,
                    limit_by: 'header',
                    header_name: 'X-Tenant',
                    policy: 'redis',
                    redis: { cluster_nodes: cluster.startupNodes.map((n) => ({ ip: n.host, port: n.port })), timeout: 1000 },
                  },
                },
              ],
            },
          ],
        },
      ],
    },
    { workers: 2 },
  )
})

after(async () => {
  await gw?.stop()
  await up?.close()
  await cluster?.stop()
})

describe('rate-limiting on a Redis Cluster of three masters', () => {
  test('30 identities, 25 requests each from 8 clients: each identity admits at most its limit plus refill', async () => {
    // fault_tolerant false: a request the cluster could not decide is a 503 here, not a silent
    // local decision, so the numbers below are the cluster's.
    const queue: string[] = []
    for (let r = 0; r < PER_IDENTITY; r++) for (let i = 0; i < IDENTITIES; i++) queue.push(`tenant-${i}`)
    const admitted = new Map<string, number>()
    const others: string[] = []
    const servedBefore = (await gw.status()).workers.map((w: any) => Number(w.requests))
    const t0 = Date.now()
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let tenant = queue.shift(); tenant !== undefined; tenant = queue.shift()) {
          const res = await request(`${gw.url}/tenants`, { headers: { 'x-tenant': tenant }, reset: true })
          const body = await res.body.text()
          if (res.statusCode === 200) admitted.set(tenant, (admitted.get(tenant) ?? 0) + 1)
          else if (res.statusCode !== 429 || JSON.parse(body).message !== 'API rate limit exceeded') others.push(`${res.statusCode} ${body}`)
        }
      }),
    )
    const elapsed = Date.now() - t0
    const perWorker = (await gw.status()).workers.map((w: any, i: number) => Number(w.requests) - servedBefore[i])
    // Both workers lease from the cluster for the same identities: each must have served its part.
    for (const n of perWorker) assert.ok(n >= 100, `a worker served only ${n} of ${IDENTITIES * PER_IDENTITY}: ${perWorker.join(', ')}`)
    const bound = LIMIT + Math.ceil((LIMIT * elapsed) / MINUTE)
    const counts = Array.from({ length: IDENTITIES }, (_, i) => admitted.get(`tenant-${i}`) ?? 0)
    console.log(`# cluster: requests per worker ${perWorker.join(', ')}; admitted per identity min ${Math.min(...counts)} max ${Math.max(...counts)} (limit ${LIMIT}, bound ${bound}), ${elapsed} ms`)
    assert.deepEqual(others, [], gw.output())
    for (let i = 0; i < IDENTITIES; i++) {
      assert.ok(counts[i] <= bound, `tenant-${i}: ${counts[i]} admitted > ${bound}`)
      assert.ok(counts[i] >= LIMIT / 2, `tenant-${i}: only ${counts[i]} admitted of ${LIMIT}`)
    }

    // The buckets live on all three masters (30 keys by CRC16 slot). Keys name a header identity
    // by the SHA-1 of its value.
    const tenantIds = new Set(Array.from({ length: IDENTITIES }, (_, i) => `:h:${hash('sha1', `tenant-${i}`, 'base64url')}:`))
    const sizes = await Promise.all(
      cluster.nodes.map(async (n) => {
        const master = new Redis({ host: '127.0.0.1', port: n.port, lazyConnect: true, maxRetriesPerRequest: 0 })
        try {
          await master.connect()
          const keys = await master.keys('sluice:rl:*')
          return keys.filter((k) => [...tenantIds].some((id) => k.includes(id))).length
        } finally {
          master.disconnect()
        }
      }),
    )
    console.log(`# cluster: keys per master ${sizes.join(', ')}`)
    for (const size of sizes) assert.ok(size >= 1, `a master holds no bucket: ${sizes.join(', ')}`)
    assert.equal(sizes.reduce((a, b) => a + b, 0), IDENTITIES, `bucket keys of the 30 identities per master: ${sizes.join(', ')}`)
  })

  test('a master stopped for 3 s: no 5xx and no request waits past the budget; restarted: leasing resumes', async () => {
    const answers: { status: number; ms: number; at: number }[] = []
    let running = true
    let id = 0
    const load = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (running) {
          const at = Date.now()
          const t0 = performance.now()
          // A new identity per request: each one needs a lease, some from the stopped master.
          const res = await request(`${gw.url}/tolerant`, { headers: { 'x-tenant': `ft-${id++}` }, reset: true })
          await res.body.dump()
          answers.push({ status: res.statusCode, ms: performance.now() - t0, at })
        }
      }),
    )
    await sleep(300)
    const victim = cluster.nodes[1]
    const downAt = Date.now()
    await victim.stop()
    await sleep(3000)
    await victim.restart()
    const upAt = Date.now()
    // cluster-node-timeout is 2 s: the masters may report the cluster down for a while after.
    await sleep(3000)
    running = false
    await load
    const outage = answers.filter((a) => a.at >= downAt && a.at < upAt)
    const latencies = outage.map((a) => a.ms).sort((a, b) => a - b)
    const statuses: Record<number, number> = {}
    for (const a of answers) statuses[a.status] = (statuses[a.status] ?? 0) + 1
    console.log(
      `# cluster master down ${upAt - downAt} ms: ${outage.length} requests, p50 ${latencies[Math.floor(latencies.length / 2)].toFixed(1)} ms, ` +
        `p99 ${latencies[Math.floor(latencies.length * 0.99)].toFixed(1)} ms, max ${latencies[latencies.length - 1].toFixed(1)} ms; statuses ${JSON.stringify(statuses)}`,
    )
    assert.deepEqual(Object.keys(statuses), ['200'])
    assert.ok(outage.length >= 50, `only ${outage.length} requests answered while a master was down`)
    assert.ok(latencies[latencies.length - 1] < 500, `a request waited ${latencies[latencies.length - 1].toFixed(0)} ms for a dead master`)
    // The restarted master (empty: no persistence) holds buckets leased after its return.
    const master = new Redis({ host: '127.0.0.1', port: victim.port, lazyConnect: true, maxRetriesPerRequest: 0 })
    try {
      await master.connect()
      const keys = await master.keys('sluice:rl:*')
      console.log(`# restarted master holds ${keys.length} bucket keys`)
      assert.ok(keys.length > 0, 'no lease reached the restarted master')
    } finally {
      master.disconnect()
    }
  })
})
