import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Limiter, Verdict } from '../../src/ratelimit/limiter.js'
import { MemoryBucketStore } from '../../src/ratelimit/memory-store.js'

// Regression (found by the rate-limiting integration tests): a bucket of 200 tokens, 8 concurrent requests
// on a fresh key in one worker: every one must be admitted. They used to be denied when they had waited on
// a single-flight top-up (want 2, 4, ...) that leased fewer tokens than there were waiters.
test('concurrent requests sharing a top-up are not denied while the shared bucket has tokens', async () => {
  const limiter = new Limiter(new MemoryBucketStore(), { syncMs: 1000, faultTolerant: true, localShare: 1 })
  const lease = limiter.lease('k', 'token-bucket', 200, 60_000)
  const verdicts = await Promise.all(Array.from({ length: 8 }, () => limiter.tryTake([lease]) ?? limiter.decide([lease])))
  await limiter.close()
  assert.deepEqual(verdicts, Array(8).fill(Verdict.Allow))
})
