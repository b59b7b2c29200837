import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { RedisBucketStore, type LeaseRequest } from '../../src/redis/lease.js'
import { createRedis, redisConfigSchema } from '../../src/redis/client.js'
import { MemoryBucketStore, windowBounds } from '../../src/ratelimit/memory-store.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'

// `policy: local` (MemoryBucketStore, in the primary) and `policy: redis` (the Lua scripts) must admit
// the same way: the same sequence of leases gets the same grants from both.

let redis: RedisServer
let store: RedisBucketStore

before(async () => {
  redis = await startRedis()
  store = new RedisBucketStore(createRedis(redisConfigSchema.parse({ host: '127.0.0.1', port: redis.port })), { timeoutMs: 2000 })
})
after(async () => {
  await store.close()
  await redis.close()
})

test('token bucket and fixed window: the same grants from memory and from Redis', async () => {
  const memory = new MemoryBucketStore()
  // Long periods: refill between two calls (a few ms apart) stays below one token.
  const sequence: Omit<LeaseRequest, 'key'>[] = [
    { algorithm: 'token-bucket', limit: 10, periodMs: 3_600_000, want: 4, giveBack: 0 },
    { algorithm: 'token-bucket', limit: 10, periodMs: 3_600_000, want: 4, giveBack: 0 },
    { algorithm: 'token-bucket', limit: 10, periodMs: 3_600_000, want: 4, giveBack: 1 },
    { algorithm: 'token-bucket', limit: 10, periodMs: 3_600_000, want: 4, giveBack: 0 },
    { algorithm: 'token-bucket', limit: 10, periodMs: 3_600_000, want: 0, giveBack: 20 },
    { algorithm: 'token-bucket', limit: 10, periodMs: 3_600_000, want: 11, giveBack: 0 },
  ]
  const tag = Math.random().toString(36).slice(2)
  const fromMemory = sequence.map((r) => memory.leaseNow([{ ...r, key: `tb:${tag}` }])[0].granted)
  const fromRedis: number[] = []
  for (const r of sequence) fromRedis.push((await store.lease([{ ...r, key: `tb:${tag}` }]))[0].granted)
  assert.deepEqual(fromMemory, [4, 4, 3, 0, 0, 10])
  assert.deepEqual(fromRedis, fromMemory)

  const window: Omit<LeaseRequest, 'key'>[] = [
    { algorithm: 'fixed-window', limit: 5, periodMs: 86_400_000, want: 3, giveBack: 0 },
    { algorithm: 'fixed-window', limit: 5, periodMs: 86_400_000, want: 3, giveBack: 0 },
    { algorithm: 'fixed-window', limit: 5, periodMs: 86_400_000, want: 3, giveBack: 0 },
  ]
  const wMemory = window.map((r) => memory.leaseNow([{ ...r, key: `fw:${tag}` }])[0])
  const wRedis = []
  for (const r of window) wRedis.push((await store.lease([{ ...r, key: `fw:${tag}` }]))[0])
  assert.deepEqual(wMemory.map((g) => g.granted), [3, 2, 0])
  assert.deepEqual(wRedis.map((g) => g.granted), [3, 2, 0])
  assert.equal(wRedis[0].windowStart, wMemory[0].windowStart)
  // Give back within the same window: credited in both.
  const back = { algorithm: 'fixed-window' as const, limit: 5, periodMs: 86_400_000, want: 2, giveBack: 2, windowStart: wMemory[0].windowStart }
  assert.equal(memory.leaseNow([{ ...back, key: `fw:${tag}` }])[0].granted, 2)
  assert.equal((await store.lease([{ ...back, key: `fw:${tag}` }]))[0].granted, 2)
})

test('calendar windows: months and years in UTC, as Kong counts them', () => {
  const t = Date.UTC(2024, 1, 29, 13, 5) // a leap day
  assert.deepEqual(windowBounds(t, 0, 'month'), [Date.UTC(2024, 1, 1), Date.UTC(2024, 2, 1)])
  assert.deepEqual(windowBounds(t, 0, 'year'), [Date.UTC(2024, 0, 1), Date.UTC(2025, 0, 1)])
  assert.deepEqual(windowBounds(Date.UTC(2024, 11, 31, 23, 59), 0, 'month'), [Date.UTC(2024, 11, 1), Date.UTC(2025, 0, 1)])
  assert.deepEqual(windowBounds(61_500, 60_000), [60_000, 120_000])
})
