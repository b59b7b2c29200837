import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { rawCommand, startRedis, type RedisServer } from '../../helpers/redis.js'
import { startUpstream, type Upstream } from '../../helpers/upstream.js'

// The rate-limiting plugin across real processes: two gateway nodes (two workers each) sharing one
// redis-server, the node-wide bucket of `policy: local`, and Redis outages (stopped, then hung) in the
// middle of a run. Every request goes on a fresh connection so that all workers of both nodes serve.

const WORKERS = 2
const MINUTE = 60_000
const HOUR = 3_600_000

let up: Upstream
let redis: RedisServer
let nodeA: Gateway
let nodeB: Gateway

interface Answer {
  status: number
  ms: number
  /** Parsed body of non-200 answers. */
  json: any
  /** When the request was sent (epoch ms). */
  at: number
}

/**
 * Sends `total` GETs with `clients` concurrent clients, client i on node i % 2 (or only `nodes[0]`),
 * each request on a new connection. Returns every answer with its latency.
 */
async function burst(nodes: readonly Gateway[], path: string, total: number, clients: number, headers: Record<string, string>): Promise<Answer[]> {
  const answers: Answer[] = []
  let next = 0
  const client = async (i: number): Promise<void> => {
    const node = nodes[i % nodes.length]
    while (next < total) {
      next++
      answers.push(await send(node, path, headers))
    }
  }
  await Promise.all(Array.from({ length: clients }, (_, i) => client(i)))
  return answers
}

async function send(node: Gateway, path: string, headers: Record<string, string>): Promise<Answer> {
  const at = Date.now()
  const t0 = performance.now()
  const res = await request(`${node.url}${path}`, { headers, reset: true, headersTimeout: 10_000, bodyTimeout: 10_000 })
  const text = await res.body.text()
  const ms = performance.now() - t0
  let json: any = null
  if (res.statusCode !== 200) {
    try {
      json = JSON.parse(text)
    } catch {
      json = text
    }
  }
  return { status: res.statusCode, ms, json, at }
}

function count(answers: readonly Answer[], status: number): number {
  return answers.filter((a) => a.status === status).length
}

/** Tokens a token bucket of `limit` per `periodMs` refills in `elapsedMs` (rounded up: the bound must not be too tight). */
function refill(limit: number, periodMs: number, elapsedMs: number): number {
  return Math.ceil((limit * elapsedMs) / periodMs)
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

function assertOnlyKong429(answers: readonly Answer[]): void {
  for (const a of answers) {
    if (a.status === 200) continue
    assert.equal(a.status, 429, `unexpected answer ${a.status}: ${JSON.stringify(a.json)}`)
    assert.equal(a.json.message, 'API rate limit exceeded')
  }
}

async function bucketKeys(): Promise<number> {
  // A multi-bulk reply starts with `*<count>`; the count is all this needs.
  const reply = await rawCommand(redis.port, 'KEYS sluice:rl:*')
  const m = /^\*(\d+)\r\n/.exec(reply)
  assert.ok(m, `unexpected KEYS reply: ${JSON.stringify(reply)}`)
  return Number(m[1])
}

/** Requests each worker of the given nodes has served so far (admin /status), node by node. */
async function served(nodes: readonly Gateway[]): Promise<number[]> {
  const out: number[] = []
  for (const node of nodes) for (const w of (await node.status()).workers) out.push(Number(w.requests))
  return out
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

before(async () => {
  up = await startUpstream()
  redis = await startRedis()
  const shared = { host: '127.0.0.1', port: redis.port, timeout: 500 }
  const route = (name: string, config: object) => ({ name, paths: [`/${name}`], plugins: [{ name: 'rate-limiting', config }] })
  const config = {
    _format_version: '3.0',
    services: [
      {
        name: 'svc',
        url: up.url,
        routes: [
          route('bucket', { minute: 200, limit_by: 'header', header_name: 'X-Client', policy: 'redis', redis: shared }),
          route('window', { hour: 200, limit_by: 'header', header_name: 'X-Client', policy: 'redis', algorithm: 'fixed-window', redis: shared }),
          route('sync', { minute: 100, limit_by: 'header', header_name: 'X-Client', policy: 'redis', sync_rate: -1, redis: shared }),
          route('node', { minute: 200, limit_by: 'header', header_name: 'X-Client', policy: 'local' }),
          route('outage', { minute: 40, limit_by: 'header', header_name: 'X-Client', policy: 'redis', redis: shared }),
          route('hung', { minute: 6000, limit_by: 'header', header_name: 'X-Client', policy: 'redis', redis: shared }),
          route('strict', { minute: 1000, limit_by: 'header', header_name: 'X-Client', policy: 'redis', fault_tolerant: false, redis: shared }),
        ],
      },
    ],
  }
  ;[nodeA, nodeB] = await Promise.all([startGateway(config, { workers: WORKERS }), startGateway(config, { workers: WORKERS })])
})

after(async () => {
  await Promise.all([nodeA?.stop(), nodeB?.stop()])
  await up?.close()
  await redis?.close()
})

describe('rate-limiting across two nodes sharing one Redis', () => {
  test('token bucket: 600 requests from 8 clients on two nodes admit at most the limit plus refill', async () => {
    const limit = 200
    const before = await served([nodeA, nodeB])
    const t0 = Date.now()
    const answers = await burst([nodeA, nodeB], '/bucket', 600, 8, { 'x-client': 'tb-1' })
    const elapsed = Date.now() - t0
    const after = await served([nodeA, nodeB])
    const perWorker = after.map((n, i) => n - before[i])
    console.log(`# requests per worker (node A, node B): ${perWorker.join(', ')}`)
    // The point of the test is a limit shared by four workers: each of them must have taken part.
    assert.equal(perWorker.length, 2 * WORKERS)
    for (const n of perWorker) assert.ok(n >= 30, `a worker served only ${n} of 600: ${perWorker.join(', ')}`)
    const admitted = count(answers, 200)
    const bound = limit + refill(limit, MINUTE, elapsed)
    console.log(`# redis token bucket: admitted ${admitted} of 600, limit ${limit}, bound ${bound}, ${elapsed} ms`)
    assertOnlyKong429(answers)
    assert.ok(admitted <= bound, `over-admission: ${admitted} > ${bound}`)
    assert.ok(admitted >= 0.8 * limit, `under-admission: ${admitted} < 80% of ${limit}`)
  })

  test('fixed window: the same load admits at most the limit per window', async () => {
    const limit = 200
    const t0 = Date.now()
    const answers = await burst([nodeA, nodeB], '/window', 600, 8, { 'x-client': 'fw-1' })
    const t1 = Date.now()
    // Windows are epoch-aligned (Redis' clock, the same machine's): a run crossing a boundary may
    // legitimately use two.
    const windows = Math.floor(t1 / HOUR) - Math.floor(t0 / HOUR) + 1
    const admitted = count(answers, 200)
    console.log(`# redis fixed window: admitted ${admitted} of 600, limit ${limit} x ${windows} window(s), ${t1 - t0} ms`)
    assertOnlyKong429(answers)
    assert.ok(admitted <= limit * windows, `over-admission: ${admitted} > ${limit * windows}`)
    assert.ok(admitted >= 0.8 * limit, `under-admission: ${admitted} < 80% of ${limit}`)
  })

  test('tokens parked in one node come back at its next syncs: the other node then gets them', async () => {
    // Node A spends half the limit and keeps leases for more; node B asks right away (what it gets
    // then is the under-admission cost of parking), and again after two sync intervals, when A's
    // workers hold at most one token each. The three together come within A's last leases of the
    // limit, and never above it.
    const limit = 200
    const t0 = Date.now()
    const onA = await burst([nodeA], '/bucket', 100, 8, { 'x-client': 'tb-2' })
    const onBAtOnce = await burst([nodeB], '/bucket', 150, 8, { 'x-client': 'tb-2' })
    await sleep(2200)
    const onBLater = await burst([nodeB], '/bucket', 150, 8, { 'x-client': 'tb-2' })
    const elapsed = Date.now() - t0
    const [a, b1, b2] = [count(onA, 200), count(onBAtOnce, 200), count(onBLater, 200)]
    const admitted = a + b1 + b2
    const bound = limit + refill(limit, MINUTE, elapsed)
    console.log(`# redis token bucket, parked tokens: node A ${a}, then node B ${b1} at once and ${b2} after 2 syncs = ${admitted}, bound ${bound}, ${elapsed} ms`)
    assertOnlyKong429([...onA, ...onBAtOnce, ...onBLater])
    assert.ok(admitted <= bound, `over-admission: ${admitted} > ${bound}`)
    assert.ok(b2 >= 1, 'nothing came back from node A after two syncs')
    // After two syncs each of A's workers holds at most its last lease (want 1 after an idle interval).
    assert.ok(admitted >= limit - 2 * WORKERS, `tokens lost: ${admitted} admitted, limit ${limit}`)
  })
})

describe('rate-limiting: sync_rate -1 on two nodes', () => {
  test('every request asks Redis: exactly the limit (plus refill) is admitted, nothing parked', async () => {
    const limit = 100
    const t0 = Date.now()
    const answers = await burst([nodeA, nodeB], '/sync', 300, 8, { 'x-client': 'sync-1' })
    const elapsed = Date.now() - t0
    const admitted = count(answers, 200)
    const bound = limit + refill(limit, MINUTE, elapsed)
    console.log(`# redis sync_rate -1: admitted ${admitted} of 300, limit ${limit}, bound ${bound}, ${elapsed} ms`)
    assertOnlyKong429(answers)
    assert.ok(admitted <= bound, `over-admission: ${admitted} > ${bound}`)
    // No worker holds tokens between requests, so none are missing either.
    assert.ok(admitted >= limit, `under-admission without leases: ${admitted} < ${limit}`)
  })
})

describe('rate-limiting: policy local on one node', () => {
  test("the node's two workers share one bucket in the primary", async () => {
    const limit = 200
    const t0 = Date.now()
    const answers = await burst([nodeA], '/node', 600, 8, { 'x-client': 'local-1' })
    const elapsed = Date.now() - t0
    const admitted = count(answers, 200)
    const bound = limit + refill(limit, MINUTE, elapsed)
    console.log(`# local (node-wide): admitted ${admitted} of 600, limit ${limit}, bound ${bound}, ${elapsed} ms`)
    assertOnlyKong429(answers)
    assert.ok(admitted <= bound, `over-admission: ${admitted} > ${bound} (per-worker buckets would allow ${WORKERS * limit})`)
    assert.ok(admitted >= 0.8 * limit, `under-admission: ${admitted} < 80% of ${limit}`)
  })

  test('each node has a bucket of its own', async () => {
    const limit = 200
    const t0 = Date.now()
    const answers = await burst([nodeB], '/node', 300, 8, { 'x-client': 'local-1' })
    const elapsed = Date.now() - t0
    // Node B never served local-1: its primary's bucket is full, whatever node A did.
    const admitted = count(answers, 200)
    assert.ok(admitted >= 0.8 * limit && admitted <= limit + refill(limit, MINUTE, elapsed), `node B admitted ${admitted}`)
  })
})

describe('rate-limiting when Redis fails', () => {
  test('Redis stopped mid-run: no 5xx, no waiting, local shares enforced; restarted: sync resumes, global limit again', async () => {
    const limit = 40
    const nodes = [nodeA, nodeB]
    // Before: a warm key, leased normally.
    const warm = await burst(nodes, '/outage', 40, 4, { 'x-client': 'warm' })
    assertOnlyKong429(warm)

    // Stop Redis while 8 clients are sending.
    const during: Answer[] = []
    let stopping = true
    const load = (async () => {
      while (stopping) during.push(...(await burst(nodes, '/outage', 8, 8, { 'x-client': 'warm' })))
    })()
    await sleep(200)
    const logFrom = nodes.map((n) => n.output().length)
    await redis.stop()
    const downAt = Date.now()
    stopping = false
    await load

    // The outage: a fresh identity, far more than its local share (limit / workers per worker).
    const strict = await send(nodeA, '/strict', { 'x-client': 'strict-1' })
    const t0 = Date.now()
    const outage = await burst(nodes, '/outage', 300, 8, { 'x-client': 'outage-1' })
    const elapsed = Date.now() - t0
    const latencies = outage.map((a) => a.ms)
    const admitted = count(outage, 200)
    const share = Math.floor(limit / WORKERS)
    const fallbackBound = 2 * WORKERS * (share + refill(share, MINUTE, elapsed))
    console.log(
      `# outage: admitted ${admitted} of 300 (bound ${fallbackBound} = 4 workers x ${share}), ` +
        `p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms; ` +
        `while stopping: ${during.length} answers, max ${Math.max(...during.map((a) => a.ms)).toFixed(1)} ms`,
    )
    for (const a of [...during, ...outage]) assert.ok(a.status === 200 || a.status === 429, `answer ${a.status} during the outage: ${JSON.stringify(a.json)}`)
    assertOnlyKong429(outage)
    assert.ok(Math.max(...latencies) < 500, `a request waited ${Math.max(...latencies).toFixed(0)} ms for a dead Redis`)
    assert.ok(admitted <= fallbackBound, `outage admitted ${admitted} > ${fallbackBound}`)
    assert.ok(count(outage, 429) > 0, 'no 429 during the outage: limits not applied locally')

    // fault_tolerant false: the requests the limiter cannot decide get 503.
    assert.equal(strict.status, 503)
    assert.equal(strict.json.code, 'SLUICE_ERR_RATELIMIT_UNAVAILABLE')
    const retry = await request(`${nodeB.url}/strict`, { headers: { 'x-client': 'strict-2' }, reset: true })
    await retry.body.dump()
    assert.equal(retry.statusCode, 503)
    assert.ok(Number(retry.headers['retry-after']) >= 1, `Retry-After: ${String(retry.headers['retry-after'])}`)

    // Restart (no persistence: every bucket is forgotten). Without any request, the periodic sync
    // of the keys the workers still hold must write them back within a few seconds.
    await redis.restart()
    const upAt = Date.now()
    assert.equal(await bucketKeys(), 0)
    let keys = 0
    while (Date.now() - upAt < 6000) {
      keys = await bucketKeys()
      if (keys > 0) break
      await sleep(100)
    }
    console.log(`# redis down ${upAt - downAt} ms; ${keys} bucket keys back ${Date.now() - upAt} ms after restart`)
    assert.ok(keys > 0, 'no bucket key in Redis 6 s after its restart: sync did not resume')

    // Every worker leases again once its sync succeeds (at most one interval plus a reconnect).
    await sleep(2500)
    const t1 = Date.now()
    const back = await burst(nodes, '/outage', 200, 8, { 'x-client': 'after-1' })
    const backAdmitted = count(back, 200)
    const backBound = limit + refill(limit, MINUTE, Date.now() - t1)
    console.log(`# after restart: admitted ${backAdmitted} of 200, limit ${limit}, bound ${backBound}`)
    assertOnlyKong429(back)
    assert.ok(backAdmitted <= backBound, `after restart: ${backAdmitted} > ${backBound} (still deciding locally?)`)
    assert.ok(backAdmitted >= 0.8 * limit, `after restart: only ${backAdmitted} admitted`)
    const strictBack = await send(nodeA, '/strict', { 'x-client': 'strict-3' })
    assert.equal(strictBack.status, 200)

    // One warning per worker and outage, not one per request; and the recovery is logged.
    for (const [i, node] of nodes.entries()) {
      const log = node.output().slice(logFrom[i])
      const down = log.split('\n').filter((l) => l.includes('deciding locally')).length
      const up = log.split('\n').filter((l) => l.includes('leasing resumed')).length
      assert.ok(down >= 1 && down <= WORKERS, `node ${i}: ${down} outage warnings from the fault-tolerant limiter`)
      assert.ok(up >= 1, `node ${i}: recovery not logged`)
    }
  })

  test('Redis hung (SIGSTOP) for 2 s: requests keep answering within the budget', async () => {
    const nodes = [nodeA, nodeB]
    // A new identity per request: every one needs a top-up, so each would wait on the hung Redis.
    let i = 0
    const answers: Answer[] = []
    let running = true
    const load = Promise.all(
      Array.from({ length: 8 }, async (_, c) => {
        while (running) answers.push(await send(nodes[c % 2], '/hung', { 'x-client': `hung-${i++}` }))
      }),
    )
    await sleep(300)
    const pausedAt = Date.now()
    redis.pause()
    await sleep(700)
    // fault_tolerant false: a hung Redis is a 503 after the budget, not after the command timeout.
    const strict = await send(nodeB, '/strict', { 'x-client': 'strict-hung' })
    await sleep(1300)
    redis.resume()
    const resumedAt = Date.now()
    await sleep(500)
    running = false
    await load
    const hung = answers.filter((a) => a.at >= pausedAt && a.at < resumedAt)
    const latencies = hung.map((a) => a.ms)
    console.log(
      `# hung redis: ${hung.length} requests during the pause, p50 ${percentile(latencies, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms; strict route ${strict.status} in ${strict.ms.toFixed(1)} ms`,
    )
    for (const a of answers) assert.equal(a.status, 200, `answer ${a.status}: ${JSON.stringify(a.json)}`)
    assert.ok(hung.length >= 50, `only ${hung.length} requests answered during a 2 s pause`)
    assert.ok(Math.max(...latencies) < 500, `a request waited ${Math.max(...latencies).toFixed(0)} ms for a hung Redis`)
    assert.equal(strict.status, 503, JSON.stringify(strict.json))
    assert.equal(strict.json.code, 'SLUICE_ERR_RATELIMIT_UNAVAILABLE')
    assert.ok(strict.ms < 400, `the strict route waited ${strict.ms.toFixed(0)} ms for a hung Redis (timeout 500)`)
  })
})
