import type { BucketStore, Calendar, LeaseGrant, LeaseRequest } from '../redis/lease.js'

/**
 * The same buckets as src/redis/lease.ts's scripts, in memory: what `policy: local` leases from. In the
 * cluster it lives in the primary, so the node's workers share one bucket per key (Kong's `local` is per
 * node too); workers reach it over IPC (src/ratelimit/ipc-store.ts). Arithmetic mirrors the Lua line for
 * line, so both policies admit the same way; test/ratelimit/memory-store.test.ts runs both side by side.
 */

interface TokenState {
  tokens: number
  ts: number
  expiresAt: number
}
interface WindowState {
  window: number
  count: number
  expiresAt: number
}

export class MemoryBucketStore implements BucketStore {
  private readonly tokenBuckets = new Map<string, TokenState>()
  private readonly windows = new Map<string, WindowState>()
  private sweeps = 0

  constructor(private readonly clock: () => number = Date.now) {}

  lease(batch: readonly LeaseRequest[]): Promise<LeaseGrant[]> {
    return Promise.resolve(this.leaseNow(batch))
  }

  /** Synchronous: the primary answers a worker's batch within one tick. */
  leaseNow(batch: readonly LeaseRequest[]): LeaseGrant[] {
    const now = this.clock()
    if (++this.sweeps % 256 === 0) this.sweep(now)
    return batch.map((r) => (r.algorithm === 'token-bucket' ? this.tokenBucket(r, now) : this.fixedWindow(r, now)))
  }

  get size(): number {
    return this.tokenBuckets.size + this.windows.size
  }

  async close(): Promise<void> {
    this.tokenBuckets.clear()
    this.windows.clear()
  }

  private tokenBucket(r: LeaseRequest, now: number): LeaseGrant {
    const { limit, periodMs: period } = r
    let state = this.tokenBuckets.get(r.key)
    if (state === undefined || state.expiresAt <= now) {
      state = { tokens: limit, ts: now, expiresAt: 0 }
      this.tokenBuckets.set(r.key, state)
    } else if (now > state.ts) {
      state.tokens = Math.min(limit, state.tokens + ((now - state.ts) * limit) / period)
      state.ts = now
    }
    state.tokens = Math.min(limit, state.tokens + r.giveBack)
    let granted = r.want
    if (granted > state.tokens) granted = Math.floor(state.tokens)
    if (granted < 0) granted = 0
    state.tokens -= granted
    const reset = Math.ceil(((limit - state.tokens) * period) / limit)
    state.expiresAt = now + reset + 1000
    return { granted, remaining: Math.floor(state.tokens), resetMs: reset, windowStart: now }
  }

  private fixedWindow(r: LeaseRequest, now: number): LeaseGrant {
    const [start, finish] = windowBounds(now, r.periodMs, r.calendar)
    let state = this.windows.get(r.key)
    if (state === undefined || state.expiresAt <= now) {
      state = { window: start, count: 0, expiresAt: 0 }
      this.windows.set(r.key, state)
    }
    if (state.window !== start) {
      state.window = start
      state.count = 0
    }
    // Tokens leased in an earlier window died with it: crediting them would inflate this one.
    if (r.giveBack > 0 && r.windowStart === start) state.count = Math.max(0, state.count - r.giveBack)
    let granted = Math.min(r.want, Math.floor(r.limit - state.count))
    if (granted < 0) granted = 0
    state.count += granted
    state.expiresAt = finish + 1000
    return { granted, remaining: Math.max(0, Math.floor(r.limit - state.count)), resetMs: finish - now, windowStart: start }
  }

  /** Forgets buckets that would read as full (or unused) anyway. */
  private sweep(now: number): void {
    for (const [key, s] of this.tokenBuckets) if (s.expiresAt <= now) this.tokenBuckets.delete(key)
    for (const [key, s] of this.windows) if (s.expiresAt <= now) this.windows.delete(key)
  }
}

/**
 * A fixed window's [start, end): epoch-aligned, UTC calendar months and years as Kong counts them, or
 * ISO weeks (from Monday 00:00 UTC).
 */
export function windowBounds(now: number, periodMs: number, calendar?: Calendar): [number, number] {
  if (calendar === 'week') {
    // Day 0 (1970-01-01) was a Thursday: (days + 3) % 7 counts the days since the last Monday.
    const days = Math.floor(now / 86_400_000)
    const monday = days - ((days + 3) % 7)
    return [monday * 86_400_000, (monday + 7) * 86_400_000]
  }
  if (calendar === 'month' || calendar === 'year') {
    const d = new Date(now)
    const y = d.getUTCFullYear()
    if (calendar === 'year') return [Date.UTC(y, 0, 1), Date.UTC(y + 1, 0, 1)]
    const m = d.getUTCMonth()
    return [Date.UTC(y, m, 1), Date.UTC(y, m + 1, 1)]
  }
  const start = now - (now % periodMs)
  return [start, start + periodMs]
}
