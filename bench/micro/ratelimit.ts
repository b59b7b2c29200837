// Rate-limiting micro-benchmark: `node --import tsx bench/micro/ratelimit.ts`
//
// What the rate-limiting plugin (src/plugins/rate-limiting/) costs an admitted request on a warm lease
// (the `rate-limit` bench scenario's path: policy redis, limit_by ip, one period, limit never hit), and
// its pieces, rebuilt here from the limiter's public API the way the plugin calls it:
//   key       the lease key string (prefix + route/service scope + identity + period), a fresh string
//   lookup    limiter.lease(key): the Map lookup of that fresh key (hashes it)
//   take      limiter.tryTake([lease]): the local decision
//   headers   the 5 header pairs' strings (limit, remaining per period; RateLimit-*), String() of numbers
// A real redis-server (started here, no persistence) gives the lease; the sync timer runs between
// rounds. Each row: warm-up, then 5 timed rounds, median with the GCs seen in it (GCs in a row mean the
// path allocates). The box is shared: compare rows of one run, not runs.

import { PerformanceObserver } from 'node:perf_hooks'
import { ConsumerIndex } from '../../src/auth/consumers.js'
import { JwksKeys } from '../../src/auth/jwks/keys.js'
import { startBenchRedis } from '../../src/bench/redis.js'
import { stopAll } from '../../src/bench/lifecycle.js'
import { RequestContext } from '../../src/pipeline/context.js'
import '../../src/plugins/index.js'
import { rateLimiting } from '../../src/plugins/rate-limiting/index.js'
import { rateLimitingSchema } from '../../src/plugins/rate-limiting/schema.js'
import { closeLimiters } from '../../src/ratelimit/registry.js'
import type { Snapshot } from '../../src/worker/compile.js'
import type { HttpResponse } from 'uWebSockets.js'

let gcs = 0
new PerformanceObserver((list) => {
  gcs += list.getEntries().length
}).observe({ entryTypes: ['gc'] })

const redis = await startBenchRedis()
const config = rateLimitingSchema.parse({
  second: 1_000_000,
  limit_by: 'ip',
  policy: 'redis',
  redis: { host: '127.0.0.1', port: redis.port },
  sync_rate: 1,
})
const env = { consumers: new ConsumerIndex([]), jwks: new JwksKeys(), workers: 1, pluginId: 'bench-rl' }
const state = rateLimiting.compile(config, env)

// A route and service as the router hands them over (the plugin reads their ids only).
const route = { id: 'r613-0000-4000-8000-000000000613', service: { id: 'svc-0000-4000-8000-000000000001' } }
/** Header values and the client IP as uWS hands them over: fresh strings per request. */
const fresh = (s: string) => Buffer.from(s).toString()
function contexts(n = 64): RequestContext[] {
  const out: RequestContext[] = []
  for (let i = 0; i < n; i++) {
    const headers = ['host', fresh('api.example.com'), 'accept', fresh('*/*')]
    const ctx = new RequestContext(null as unknown as Snapshot, null as unknown as HttpResponse, 'GET', '/api/v2/orders-613/items/42', '', 'api.example.com', 'api.example.com', fresh('127.0.0.1'), 'r', headers, 0)
    ;(ctx as unknown as { route: unknown }).route = route
    out.push(ctx)
  }
  return out
}
const pool = contexts()

interface Sample {
  readonly nsPerOp: number
  readonly gcs: number
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
let slow = 0
/**
 * A timed loop is synchronous, so it cannot await a top-up: a lease that ran dry inside it would send
 * every later request to the store with nothing to answer it. The key's lease is topped up by hand
 * before each round instead (the sync gives the surplus back to Redis); the code timed is the same.
 */
let refill = (): void => undefined
const pending: Promise<unknown>[] = []
/** A synchronous loop; an access() that went to the store (a top-up) is awaited after the round and counted. */
async function timeSync(fn: (i: number) => unknown, iterations: number): Promise<Sample> {
  refill()
  for (let i = 0; i < Math.min(iterations, 200_000); i++) fn(i)
  await Promise.all(pending.splice(0))
  const samples: Sample[] = []
  for (let round = 0; round < 5; round++) {
    await sleep(20)
    refill()
    const gc0 = gcs
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < iterations; i++) fn(i)
    samples.push({ nsPerOp: Number(process.hrtime.bigint() - t0) / iterations, gcs: gcs - gc0 })
    await Promise.all(pending.splice(0))
  }
  return samples.sort((a, b) => a.nsPerOp - b.nsPerOp)[2]
}

const rows: string[][] = []
const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
function row(what: string, s: Sample): void {
  rows.push([what, fmt(1e9 / s.nsPerOp), s.nsPerOp.toFixed(0), String(s.gcs)])
}

// The first request leases from Redis (asynchronous); every later one is decided from the lease. On a
// busy box the connection may miss the first lease's budget and the limiter decide locally for a while
// (tryTake answers null then): wait until a request is decided synchronously, from a real lease.
const first = pool[0]
for (const until = Date.now() + 15_000; ; ) {
  const r = rateLimiting.access!(first, state)
  if (r === true) break
  if ((await r) !== true) throw new Error('first request refused')
  if (Date.now() > until) throw new Error('no synchronous decision within 15 s: is the redis-server answering?')
  await sleep(100)
}
{
  const key = `${state.prefix}${route.id}:${route.service.id}:ip:127.0.0.1:second`
  const warm = state.limiter.lease(key, 'token-bucket', 1_000_000, 1000, undefined)
  // The first lease is one token (spent): the key is the plugin's when lease() created no second one.
  if (state.limiter.size !== 1) throw new Error(`the warm lease is not the key the plugin uses: ${key}`)
  refill = () => void (warm.held = Math.max(warm.held, 2_000_000))
}

let sink = 0
row('plugin access(), warm lease (whole)', await timeSync((i) => {
  const ctx = pool[i & 63]
  ctx.responseHeaders = null
  const r = rateLimiting.access!(ctx, state)
  if (r !== true) {
    slow++
    pending.push(r as Promise<unknown>)
  }
}, 200_000))

// The pieces, as leasesFor / tryTake / rateLimitHeaders do them.
const limiter = state.limiter
const prefix = state.prefix
row('  key string (template: prefix, scope, identity, period)', await timeSync((i) => {
  const ctx = pool[i & 63]
  const r = ctx.route as unknown as typeof route
  const base = `${prefix}${`${r.id}:${r.service.id}`}:${`ip:${ctx.clientIp}`}:`
  sink += (base + 'second').length
}, 500_000))
const keys = pool.map((ctx) => `${prefix}${route.id}:${route.service.id}:ip:${ctx.clientIp}:second`)
row('  limiter.lease(key): Map lookup of a fresh key', await timeSync((i) => {
  // A fresh string each time, as each request builds one: the Map hashes it.
  const key = fresh(keys[i & 63])
  sink += limiter.lease(key, 'token-bucket', 1_000_000, 1000, undefined).held > 0 ? 1 : 0
}, 200_000))
row('  key string + limiter.lease(key), as leasesFor does (concatenation hashed)', await timeSync((i) => {
  const ctx = pool[i & 63]
  const r = ctx.route as unknown as typeof route
  const base = `${prefix}${`${r.id}:${r.service.id}`}:${`ip:${ctx.clientIp}`}:`
  sink += limiter.lease(base + 'second', 'token-bucket', 1_000_000, 1000, undefined).held > 0 ? 1 : 0
}, 500_000))
row('  (for scale) fresh key string alone (Buffer round trip)', await timeSync((i) => {
  sink += fresh(keys[i & 63]).length
}, 200_000))
const lease = limiter.lease(keys[0], 'token-bucket', 1_000_000, 1000, undefined)
const leases = [lease]
row('  limiter.tryTake([lease])', await timeSync(() => {
  if (limiter.tryTake(leases) === null) slow++
}, 1_000_000))
row('  headers: 10 strings, estimateRemaining, String() x3', await timeSync(() => {
  const remaining = limiter.estimateRemaining(lease)
  const h = ['X-RateLimit-Limit-Second', String(1_000_000), 'X-RateLimit-Remaining-Second', String(remaining)]
  h.push('RateLimit-Limit', String(1_000_000), 'RateLimit-Remaining', String(remaining), 'RateLimit-Reset', String(1))
  sink += h.length
}, 500_000))
row('  responseHeaders concat onto an existing array (another plugin set some)', await timeSync((i) => {
  const a = ['x-a', 'b']
  sink += a.concat(keys[i & 1] === '' ? [] : ['k', 'v', 'k2', 'v2']).length
}, 500_000))

await closeLimiters()
await stopAll()

const widths = [72, 14, 8, 4]
const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
process.stdout.write(`${line(['rate-limiting, warm lease', 'ops/s', 'ns/op', 'GCs'])}\n`)
for (const r of rows) process.stdout.write(`${line(r)}\n`)
process.stdout.write(`(store trips during timing: ${slow}; sink ${sink > 0 ? 'ok' : 0})\n`)
