import cluster from 'node:cluster'
import { createRedis, type RedisConfig } from '../redis/client.js'
import { RedisBucketStore, type BucketStore } from '../redis/lease.js'
import { IpcBucketStore } from './ipc-store.js'
import { Limiter } from './limiter.js'
import { MemoryBucketStore } from './memory-store.js'

// Limiters outlive config snapshots: a reload must not drop the tokens a worker holds or reconnect to
// Redis. One limiter per distinct (policy, store, sync, fault tolerance), created on first use.

export interface LimiterSpec {
  readonly policy: 'local' | 'redis'
  readonly redis: RedisConfig
  readonly syncMs: number
  readonly faultTolerant: boolean
  readonly localShare: number
}

const limiters = new Map<string, Limiter>()
/** Stores this registry created for one limiter each (Redis connections), closed after their limiter. */
const owned = new Map<Limiter, BucketStore>()
let ipcStore: IpcBucketStore | null = null
let memoryStore: MemoryBucketStore | null = null

export function limiterFor(spec: LimiterSpec): Limiter {
  const id = JSON.stringify(spec)
  let limiter = limiters.get(id)
  if (limiter === undefined) {
    const store = storeFor(spec)
    limiter = new Limiter(store, {
      syncMs: spec.syncMs,
      faultTolerant: spec.faultTolerant,
      localShare: spec.localShare,
      budgetMs: spec.policy === 'redis' ? Math.min(100, spec.redis.timeout) : 100,
      label: spec.policy === 'redis' ? `redis ${spec.redis.host ?? 'sentinel/cluster'}:${spec.redis.port}` : 'local',
    })
    limiters.set(id, limiter)
    if (store instanceof RedisBucketStore) owned.set(limiter, store)
  }
  return limiter
}

function storeFor(spec: LimiterSpec): BucketStore {
  if (spec.policy === 'redis') {
    return new RedisBucketStore(createRedis(spec.redis), { timeoutMs: spec.redis.timeout })
  }
  // A cluster worker leases from the primary (one bucket per key for the node); anywhere else (tests,
  // an in-process worker) from a bucket in this process.
  if (cluster.isWorker && process.send !== undefined) {
    ipcStore ??= new IpcBucketStore((msg) => process.send!(msg))
    return ipcStore
  }
  memoryStore ??= new MemoryBucketStore()
  return memoryStore
}

/** The worker's IPC store, for the primary's answers (src/worker/worker.ts). */
export function ipcBucketStore(): IpcBucketStore | null {
  return ipcStore
}

/** Gives back held tokens and closes stores (worker drain). */
export async function closeLimiters(): Promise<void> {
  const closing = [...limiters.values()]
  limiters.clear()
  ipcStore = null
  memoryStore = null
  await Promise.all(
    closing.map(async (l) => {
      await l.close()
      await owned.get(l)?.close()
      owned.delete(l)
    }),
  )
}

/** This worker's rate-limit stores and their health, for the admin API. */
export function limiterReport(): { store: string; degraded: boolean; keys: number; syncs: number; top_ups: number; failures: number; local_decisions: number }[] {
  return [...limiters.values()].map((l) => ({
    store: l.label,
    degraded: l.degraded,
    keys: l.size,
    syncs: l.stats.syncs,
    top_ups: l.stats.topUps,
    failures: l.stats.failures,
    local_decisions: l.stats.fallbackDecisions,
  }))
}
