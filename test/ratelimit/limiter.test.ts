import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { BucketStore, LeaseGrant, LeaseRequest } from '../../src/redis/lease.js'
import { Limiter, Verdict, type Lease } from '../../src/ratelimit/limiter.js'
import { MemoryBucketStore } from '../../src/ratelimit/memory-store.js'

// The worker limiter against a shared bucket: several limiters (workers) on one store never admit more
// than the bucket holds; a slow or failing store costs a request at most the budget; recovery.

async function admit(limiter: Limiter, leases: Lease[]): Promise<Verdict> {
  return limiter.tryTake(leases) ?? (await limiter.decide(leases))
}

/** A store that can be made to fail or to answer slowly. */
class FlakyStore implements BucketStore {
  down = false
  delayMs = 0
  calls = 0
  constructor(readonly inner = new MemoryBucketStore()) {}
  async lease(batch: readonly LeaseRequest[]): Promise<LeaseGrant[]> {
    this.calls++
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs))
    if (this.down) throw new Error('store down')
    return this.inner.leaseNow(batch)
  }
  async close(): Promise<void> {}
}

test('four workers on one bucket admit exactly the limit, whatever the interleaving', async () => {
  const store = new MemoryBucketStore()
  const workers = Array.from({ length: 4 }, () => new Limiter(store, { syncMs: 20, faultTolerant: true, localShare: 4 }))
  const LIMIT = 100
  let admitted = 0
  // 400 requests spread over the workers, concurrently in waves, with syncs happening in between.
  for (let wave = 0; wave < 40; wave++) {
    const verdicts = await Promise.all(
      Array.from({ length: 10 }, (_, i) => {
        const w = workers[(wave + i) % 4]
        return admit(w, [w.lease('k', 'token-bucket', LIMIT, 3_600_000)])
      }),
    )
    admitted += verdicts.filter((v) => v === Verdict.Allow).length
    if (wave % 5 === 0) await new Promise((r) => setTimeout(r, 25))
  }
  for (const w of workers) await w.close()
  // Refill over the test (< 1 s of a 1-hour period) is below one token: exactly the limit.
  assert.equal(admitted, LIMIT)
})

test('store operations follow keys and syncs, not requests', async () => {
  const store = new FlakyStore()
  const limiter = new Limiter(store, { syncMs: 50, faultTolerant: true, localShare: 1 })
  const lease = limiter.lease('busy', 'token-bucket', 100_000, 1000)
  let allowed = 0
  for (let i = 0; i < 5000; i++) if ((await admit(limiter, [lease])) === Verdict.Allow) allowed++
  await new Promise((r) => setTimeout(r, 120))
  for (let i = 0; i < 5000; i++) if ((await admit(limiter, [lease])) === Verdict.Allow) allowed++
  await limiter.close()
  assert.equal(allowed, 10_000)
  // Top-ups double the lease up to a quarter of the limit: far fewer store calls than requests.
  assert.ok(store.calls < 100, `${store.calls} store calls for 10,000 requests`)
})

test('a known-empty bucket is refused locally, without asking the store', async () => {
  const store = new FlakyStore()
  const limiter = new Limiter(store, { syncMs: 1000, faultTolerant: true, localShare: 1 })
  const lease = limiter.lease('empty', 'token-bucket', 2, 3_600_000)
  const verdicts: Verdict[] = []
  for (let i = 0; i < 3; i++) verdicts.push(await admit(limiter, [lease]))
  const calls = store.calls
  for (let i = 0; i < 50; i++) verdicts.push(await admit(limiter, [lease]))
  await limiter.close()
  assert.deepEqual(verdicts.slice(0, 3), [Verdict.Allow, Verdict.Allow, Verdict.Deny])
  assert.ok(verdicts.slice(3).every((v) => v === Verdict.Deny))
  assert.equal(store.calls, calls)
})

test('a slow store costs a request at most the budget; a down one none; recovery resumes leasing', async () => {
  const store = new FlakyStore()
  const limiter = new Limiter(store, { syncMs: 100, faultTolerant: true, localShare: 2, budgetMs: 50 })
  const lease = () => limiter.lease('slow', 'token-bucket', 10, 3_600_000)
  store.delayMs = 400
  const started = Date.now()
  assert.equal(await admit(limiter, [lease()]), Verdict.Allow) // decided by the local share
  assert.ok(Date.now() - started < 200, `waited ${Date.now() - started} ms`)
  store.delayMs = 0
  store.down = true
  const during: Verdict[] = []
  let slowest = 0
  for (let i = 0; i < 10; i++) {
    const t0 = Date.now()
    during.push(await admit(limiter, [lease()]))
    slowest = Math.max(slowest, Date.now() - t0)
  }
  // Each request waits at most the budget (50 ms) for the slow top-up still in flight, then none.
  assert.ok(slowest < 150, `a request waited ${slowest} ms`)
  assert.equal(limiter.degraded, true)
  // The local share: limit 10 / 2 workers on the node, one token of it already used above.
  assert.ok(during.filter((v) => v === Verdict.Allow).length <= 5, during.join(','))
  assert.ok(during.includes(Verdict.Deny))
  store.down = false
  await new Promise((r) => setTimeout(r, 700)) // a sync or a probe succeeds
  await admit(limiter, [lease()])
  assert.equal(limiter.degraded, false)
  await limiter.close()
})

test('not fault tolerant: an undecidable request is Unavailable', async () => {
  const store = new FlakyStore()
  store.down = true
  const limiter = new Limiter(store, { syncMs: 100, faultTolerant: false, localShare: 1 })
  assert.equal(await admit(limiter, [limiter.lease('x', 'token-bucket', 10, 1000)]), Verdict.Unavailable)
  await limiter.close()
})

test('close gives held tokens back to the shared bucket', async () => {
  const inner = new MemoryBucketStore()
  const limiter = new Limiter(inner, { syncMs: 1000, faultTolerant: true, localShare: 1 })
  const lease = limiter.lease('g', 'token-bucket', 40, 3_600_000)
  for (let i = 0; i < 3; i++) await admit(limiter, [lease])
  assert.ok(lease.held >= 1)
  await limiter.close()
  // 3 spent: the other 37 are back in the bucket.
  assert.equal(inner.leaseNow([{ key: 'g', algorithm: 'token-bucket', limit: 40, periodMs: 3_600_000, want: 40, giveBack: 0 }])[0].granted, 37)
})
