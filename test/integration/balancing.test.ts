import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Agent, request } from 'undici'
import { startGateway, type Gateway } from '../helpers/gateway.js'
import { get } from '../helpers/http.js'
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js'

// Each balancing algorithm's distribution, measured at real upstreams behind a real gateway (one worker,
// so the worker's balancer state sees every request), and retries onto the next target.

let a: Upstream
let b: Upstream
let c: Upstream
let slowA: Upstream
let fastB: Upstream
let gw: Gateway
let deadPort: number

before(async () => {
  ;[a, b, c] = await Promise.all([startUpstream(echo('a')), startUpstream(echo('b')), startUpstream(echo('c'))])
  slowA = await startUpstream((_req, res) => void setTimeout(() => res.end('slow'), 300))
  fastB = await startUpstream((_req, res) => res.end('fast'))
  const dead = await startUpstream()
  deadPort = dead.port
  await dead.close()
  gw = await startGateway({
    _format_version: '3.0',
    upstreams: [
      { name: 'rr', targets: [{ target: a.target, weight: 100 }, { target: b.target, weight: 100 }, { target: c.target, weight: 100 }] },
      { name: 'wrr', targets: [{ target: a.target, weight: 300 }, { target: b.target, weight: 100 }, { target: c.target, weight: 0 }] },
      { name: 'lc', algorithm: 'least-connections', targets: [{ target: slowA.target }, { target: fastB.target }] },
      { name: 'hash-ip', algorithm: 'consistent-hashing', hash_on: 'ip', targets: [{ target: a.target }, { target: b.target }, { target: c.target }] },
      { name: 'hash-hdr', algorithm: 'consistent-hashing', hash_on: 'header', hash_on_header: 'x-user', targets: [{ target: a.target }, { target: b.target }, { target: c.target }] },
      { name: 'retry', targets: [{ target: `127.0.0.1:${deadPort}` }, { target: a.target }] },
    ],
    services: ['rr', 'wrr', 'lc', 'hash-ip', 'hash-hdr', 'retry'].map((name) => ({
      name,
      host: name,
      routes: [{ name, paths: [`/${name}`] }],
    })),
  })
})

after(async () => {
  await gw.stop()
  await Promise.all([a, b, c, slowA, fastB].map((u) => u.close()))
})

async function spread(path: string, n: number, headers: Record<string, string> = {}): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  const agent = new Agent({ connections: 1 })
  for (let i = 0; i < n; i++) {
    const res = await request(`${gw.url}${path}`, { dispatcher: agent, headers })
    const body = (await res.body.json()) as { name: string }
    counts[body.name] = (counts[body.name] ?? 0) + 1
  }
  await agent.close()
  return counts
}

describe('load balancing', () => {
  test('round-robin: equal weights rotate exactly', async () => {
    assert.deepEqual(await spread('/rr', 300), { a: 100, b: 100, c: 100 })
  })

  test('weighted round-robin: 3:1, and weight 0 gets nothing', async () => {
    assert.deepEqual(await spread('/wrr', 400), { a: 300, b: 100 })
  })

  test('least-connections: the slow target holds connections, so the fast one takes most requests', async () => {
    // Four clients in a loop for 1.5 s: the slow target (300 ms) keeps its requests open, so
    // least-connections sends nearly everything else to the fast one; round-robin would split evenly.
    let fast = 0
    let slow = 0
    const until = Date.now() + 1500
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (Date.now() < until) {
          const r = await get(`${gw.url}/lc`)
          if (r.body === 'fast') fast++
          else slow++
        }
      }),
    )
    assert.ok(fast > 10 * slow, `fast ${fast}, slow ${slow}`)
  })

  test('consistent hashing on a header: one key always lands on one target, keys spread', async () => {
    const landing = new Map<string, string>()
    for (let u = 0; u < 60; u++) {
      const counts = await spread('/hash-hdr', 3, { 'x-user': `user-${u}` })
      const names = Object.keys(counts)
      assert.equal(names.length, 1, `user-${u} went to ${names}`)
      landing.set(`user-${u}`, names[0])
    }
    const perTarget = new Set(landing.values())
    assert.equal(perTarget.size, 3, 'sixty keys use all three targets')
  })

  test('consistent hashing on the client IP: one client, one target', async () => {
    const counts = await spread('/hash-ip', 30)
    assert.equal(Object.keys(counts).length, 1)
  })

  test('an idempotent request whose target refuses the connection is retried on the next target', async () => {
    for (let i = 0; i < 6; i++) {
      const r = await get(`${gw.url}/retry`)
      assert.equal(r.status, 200)
      assert.equal(r.json.name, 'a')
    }
  })

  test('a POST is not retried: the refused attempt answers 502', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) {
      const res = await request(`${gw.url}/retry`, { method: 'POST', body: 'x' })
      await res.body.dump()
      statuses.push(res.statusCode)
    }
    assert.ok(statuses.includes(502), `statuses ${statuses}`)
    assert.ok(statuses.includes(200), `statuses ${statuses}`)
  })
})
