import type { BucketStore, Calendar, LeaseGrant, LeaseRequest } from '../redis/lease.js'
import { logger } from '../observability/logger.js'
import { MemoryBucketStore } from './memory-store.js'

// A worker's side of rate limiting: it admits requests from tokens it has leased from the shared
// bucket (Redis, or the primary for `policy: local`), so the hot path does no I/O, and every `syncMs`
// it gives back what it did not spend and leases the next batch for all its keys in ONE round.
//
// Invariants:
// - A token is spent only after the shared bucket debited it (a lease): all workers of all nodes
//   together never admit more than the bucket held. The only exception is the fault-tolerant fallback
//   while the store is down (below).
// - A worker holds at most `maxHeld(limit)` tokens of a key, so tokens parked in one worker starve the
//   others for at most one sync interval.
// - Store operations per second follow the number of active keys and the sync rate, not the request
//   rate: a request touches the store only when its worker's lease of a key is empty and the shared
//   bucket was not known to be empty (a top-up, single-flight per key), or with `syncMs < 0`
//   (Kong's sync_rate -1: every request asks the store).
// - When the store fails and `faultTolerant` is set, the worker decides alone from a local bucket of
//   `limit / localShare` (its share of the node): never a 5xx, never a wait beyond the store's time
//   budget. It logs once per outage, and leasing resumes at the next sync that succeeds.

export type Algorithm = LeaseRequest['algorithm']

/** While the store is down, how often a request may try it again. */
const PROBE_MS = 500

/** One key's lease in this worker. Fixed shape: these live in a map scanned every sync. */
export class Lease {
  /** Tokens leased and not yet spent. */
  held = 0
  /** Tokens spent since the last sync (the demand estimate for the next lease). */
  spent = 0
  /** Size of the last lease asked for (doubles on each top-up, up to maxHeld). */
  want = 1
  /** Whole tokens left in the shared bucket at the last grant. */
  remaining: number
  /** Local epoch ms when the shared bucket is full again (token bucket) or the window ends. */
  resetAt = 0
  /** Local epoch ms before which the shared bucket is known to have no token for us. */
  emptyUntil = 0
  windowStart = -1
  lastUsed = 0
  /** A lease round (top-up or sync) in flight for this key. */
  inflight: Promise<void> | null = null
  /** Fallback bucket used while the store is down. */
  fallbackHeld = -1

  constructor(
    readonly key: string,
    readonly algorithm: Algorithm,
    readonly limit: number,
    readonly periodMs: number,
    readonly calendar: Calendar | undefined,
  ) {
    this.remaining = limit
  }
}

export interface LimiterOptions {
  /** Ms between syncs; negative: every request leases synchronously (Kong's sync_rate -1). */
  readonly syncMs: number
  /** On store failure: decide locally (true) or let the caller answer 503 (false). */
  readonly faultTolerant: boolean
  /** The fallback bucket while the store is down holds limit / localShare (the workers of this node). */
  readonly localShare: number
  /** Longest a request waits for a top-up before it is decided locally (ms, default 100). */
  readonly budgetMs?: number
  /** Keys unused this long are given back and forgotten. */
  readonly idleMs?: number
  readonly clock?: () => number
  /** A name for logs (the policy and its store). */
  readonly label?: string
}

/** The verdict for one request. */
export const enum Verdict {
  Allow = 1,
  Deny = 2,
  /** The store could not be reached and the limiter is not fault tolerant. */
  Unavailable = 3,
}

export class Limiter {
  private readonly leases = new Map<string, Lease>()
  private readonly timer: NodeJS.Timeout | null
  private readonly clock: () => number
  private readonly idleMs: number
  private readonly fallback = new MemoryBucketStore()
  private storeDown = false
  private lastProbe = 0
  private closed = false
  private readonly budgetMs: number
  readonly stats = { syncs: 0, topUps: 0, failures: 0, fallbackDecisions: 0 }

  constructor(
    private readonly store: BucketStore,
    private readonly opts: LimiterOptions,
  ) {
    this.clock = opts.clock ?? Date.now
    this.idleMs = opts.idleMs ?? Math.max(60_000, 4 * opts.syncMs)
    this.budgetMs = opts.budgetMs ?? 100
    this.timer = opts.syncMs > 0 ? setInterval(() => void this.sync(), opts.syncMs) : null
    this.timer?.unref()
  }

  /** The lease of a key, created on first use. */
  lease(key: string, algorithm: Algorithm, limit: number, periodMs: number, calendar?: Calendar): Lease {
    let lease = this.leases.get(key)
    if (lease !== undefined && (lease.limit !== limit || lease.periodMs !== periodMs || lease.algorithm !== algorithm || lease.calendar !== calendar)) {
      // A reload changed the limit (a usage plan's quota raised mid-month): the shared bucket keeps its
      // count, and the new limit applies from this request on instead of once the key idles out.
      this.retire(lease)
      lease = undefined
    }
    if (lease === undefined) {
      lease = new Lease(key, algorithm, limit, periodMs, calendar)
      lease.lastUsed = this.clock()
      this.leases.set(key, lease)
    }
    return lease
  }

  /**
   * Decides from local state only: Allow (a token of every lease taken), Deny (a shared bucket is
   * known to be empty), or null (some lease is empty: call `decide`, which tops up first).
   *
   * Hot path: runs on every request of a rate-limited route; plain loops over 1–6 leases, no allocation.
   */
  tryTake(leases: readonly Lease[]): Verdict | null {
    if (this.opts.syncMs < 0 || this.storeDown) return null
    const now = this.clock()
    for (let i = 0; i < leases.length; i++) {
      const l = leases[i]
      if (l.held >= 1) continue
      if (now < l.emptyUntil) return this.deny(leases, now)
      return null
    }
    for (let i = 0; i < leases.length; i++) {
      const l = leases[i]
      l.held--
      l.spent++
      l.lastUsed = now
    }
    return Verdict.Allow
  }

  /** The slow path of a decision: top up the empty leases (one round, shared by concurrent requests), then decide. */
  async decide(leases: readonly Lease[]): Promise<Verdict> {
    if (this.opts.syncMs < 0) return this.synchronous(leases)
    const now = this.clock()
    // A request waits for top-ups at most `budgetMs` in all: a slow store costs it that much, no more;
    // past it the request is decided locally (a top-up still in flight lands for the next ones).
    const deadline = now + this.budgetMs
    if (this.storeDown) {
      // While the store is down, one request per probe interval tries it, so recovery does not wait
      // for the next sync; the others are decided locally at once.
      if (now - this.lastProbe < PROBE_MS) return this.fallbackDecision(leases)
      this.lastProbe = now
      const probed = await this.topUpWithin(leases, deadline)
      if (probed !== 'done') return this.fallbackDecision(leases)
    }
    // Several requests may wait on one top-up that brings fewer tokens than there are waiters (a lease
    // starts small and doubles): while the shared bucket still has tokens, top up again rather than
    // refuse. A bucket known to be empty ends the loop (tryTake denies).
    for (let round = 0; round < 4; round++) {
      const verdict = this.tryTake(leases)
      if (verdict !== null) return verdict
      const outcome = await this.topUpWithin(leases.filter((l) => l.held < 1), deadline)
      if (outcome !== 'done') return this.fallbackDecision(leases)
    }
    return this.tryTake(leases) ?? this.deny(leases, this.clock())
  }

  private async topUpWithin(leases: readonly Lease[], deadline: number): Promise<'done' | 'failed' | 'late'> {
    const left = deadline - this.clock()
    if (left <= 0) return 'late'
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, left, 'late')))
    const outcome = await Promise.race([this.topUp(leases).then(() => 'done' as const, () => 'failed' as const), late])
    clearTimeout(timer)
    return outcome
  }

  /** Every lease known (for headers): whole tokens this worker may still assume available. */
  estimateRemaining(lease: Lease): number {
    return Math.max(0, Math.floor(lease.remaining + lease.held))
  }

  get size(): number {
    return this.leases.size
  }

  get label(): string {
    return this.opts.label ?? 'store'
  }

  get degraded(): boolean {
    return this.storeDown
  }

  /** Gives back every held token and stops syncing (the store is its owner's to close). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.timer !== null) clearInterval(this.timer)
    const batch: LeaseRequest[] = []
    for (const l of this.leases.values()) if (l.held >= 1) batch.push(this.request(l, 0, Math.floor(l.held)))
    this.leases.clear()
    if (batch.length > 0) await this.store.lease(batch).catch(() => undefined)
  }

  /** One round for all active keys: give back what is held, lease the next batch, forget idle keys. */
  async sync(): Promise<void> {
    if (this.closed) return
    const now = this.clock()
    const batch: LeaseRequest[] = []
    const entries: Lease[] = []
    for (const l of this.leases.values()) {
      if (l.inflight !== null) continue
      const idle = now - l.lastUsed > this.idleMs
      const held = Math.floor(l.held)
      if (idle) {
        this.leases.delete(l.key)
        if (held === 0) continue
      }
      const want = idle ? 0 : this.nextWant(l)
      if (want === 0 && held === 0) continue
      batch.push(this.request(l, want, held))
      entries.push(l)
      l.held -= held
      l.spent = 0
    }
    if (batch.length === 0) return
    this.stats.syncs++
    const round = this.store.lease(batch).then(
      (grants) => this.apply(entries, grants),
      (err: Error) => this.failed(err),
    )
    for (const l of entries) l.inflight = round
    await round
    for (const l of entries) if (l.inflight === round) l.inflight = null
  }

  /** Forgets a lease and gives back the tokens it holds (a top-up still in flight lands on the orphan: under-admission only). */
  private retire(l: Lease): void {
    this.leases.delete(l.key)
    const held = Math.floor(l.held)
    l.held = 0
    if (held >= 1 && !this.storeDown) void this.store.lease([this.request(l, 0, held)]).catch(() => undefined)
  }

  private async topUp(needy: readonly Lease[]): Promise<void> {
    const waits: Promise<void>[] = []
    const batch: LeaseRequest[] = []
    const entries: Lease[] = []
    for (const l of needy) {
      if (l.inflight !== null) {
        waits.push(l.inflight)
        continue
      }
      l.want = Math.min(this.maxHeld(l), Math.max(1, l.want * 2))
      batch.push(this.request(l, l.want, 0))
      entries.push(l)
    }
    if (batch.length > 0) {
      this.stats.topUps++
      const round = this.store.lease(batch).then(
        (grants) => this.apply(entries, grants),
        (err: Error) => {
          this.failed(err)
          throw err
        },
      )
      for (const l of entries) l.inflight = round
      waits.push(
        round.finally(() => {
          for (const l of entries) if (l.inflight === round) l.inflight = null
        }),
      )
    }
    await Promise.all(waits)
  }

  private async synchronous(leases: readonly Lease[]): Promise<Verdict> {
    let grants: LeaseGrant[]
    try {
      grants = await this.store.lease(leases.map((l) => this.request(l, 1, 0)))
    } catch (err) {
      this.failed(err as Error)
      return this.fallbackDecision(leases)
    }
    this.recovered()
    const now = this.clock()
    let ok = true
    grants.forEach((g, i) => {
      const l = leases[i]
      this.record(l, g, now)
      if (g.granted < 1) ok = false
    })
    if (ok) return Verdict.Allow
    // Give back the tokens the other periods granted for this refused request.
    const back = leases.filter((_, i) => grants[i].granted >= 1).map((l) => this.request(l, 0, 1))
    if (back.length > 0) void this.store.lease(back).catch(() => undefined)
    return Verdict.Deny
  }

  private apply(entries: readonly Lease[], grants: readonly LeaseGrant[]): void {
    this.recovered()
    const now = this.clock()
    for (let i = 0; i < entries.length; i++) {
      const l = entries[i]
      const g = grants[i]
      if (g === undefined) continue
      l.held += g.granted
      this.record(l, g, now)
    }
  }

  private record(l: Lease, g: LeaseGrant, now: number): void {
    l.remaining = g.remaining
    l.resetAt = now + g.resetMs
    l.windowStart = g.windowStart
    // An empty shared bucket: no point asking again before a token can exist.
    l.emptyUntil = g.remaining === 0 && l.held < 1 ? now + this.nextTokenMs(l, g) : 0
  }

  /**
   * Ms until the shared bucket can hold a token again. A token bucket with less than one token is
   * `resetMs` from full, and all but its last token take (limit - 1) refill steps: what is left of
   * `resetMs` is the wait for the fraction to become whole. A whole step instead would refuse a
   * token that exists (a sync that found 0.9 of one kept the key refused for a full step more).
   */
  private nextTokenMs(l: Lease, g: LeaseGrant): number {
    if (l.algorithm === 'fixed-window') return g.resetMs
    const step = l.periodMs / l.limit
    return Math.max(1, Math.min(Math.ceil(step), Math.ceil(g.resetMs - (l.limit - 1) * step)))
  }

  private deny(leases: readonly Lease[], now: number): Verdict {
    for (let i = 0; i < leases.length; i++) leases[i].lastUsed = now
    return Verdict.Deny
  }

  private fallbackDecision(leases: readonly Lease[]): Verdict {
    if (!this.opts.faultTolerant) return Verdict.Unavailable
    this.stats.fallbackDecisions++
    const share = Math.max(1, this.opts.localShare)
    const grants = this.fallback.leaseNow(
      leases.map((l) => ({
        key: l.key,
        algorithm: l.algorithm,
        limit: Math.max(1, Math.floor(l.limit / share)),
        periodMs: l.periodMs,
        calendar: l.calendar,
        want: 1,
        giveBack: 0,
      })),
    )
    if (grants.every((g) => g.granted >= 1)) {
      const now = this.clock()
      leases.forEach((l, i) => {
        l.lastUsed = now
        l.remaining = grants[i].remaining
        l.resetAt = now + grants[i].resetMs
      })
      return Verdict.Allow
    }
    const back = leases.filter((_, i) => grants[i].granted >= 1)
    if (back.length > 0) {
      this.fallback.leaseNow(back.map((l) => ({ key: l.key, algorithm: l.algorithm, limit: Math.max(1, Math.floor(l.limit / share)), periodMs: l.periodMs, calendar: l.calendar, want: 0, giveBack: 1 })))
    }
    return Verdict.Deny
  }

  private failed(err: Error): void {
    this.stats.failures++
    if (!this.storeDown) {
      this.storeDown = true
      logger.warn(
        { err: err.message, store: this.opts.label, fault_tolerant: this.opts.faultTolerant },
        this.opts.faultTolerant
          ? 'rate-limit store unreachable: deciding locally from this worker\'s share until it answers'
          : 'rate-limit store unreachable: requests it must decide get 503 until it answers',
      )
    }
  }

  private recovered(): void {
    if (!this.storeDown) return
    this.storeDown = false
    logger.info({ store: this.opts.label, failures: this.stats.failures }, 'rate-limit store reachable again: leasing resumed')
  }

  /** The next lease of a key: about what it spent in the last interval, plus a margin. */
  private nextWant(l: Lease): number {
    const want = Math.min(this.maxHeld(l), Math.ceil(l.spent * 1.25) + 1)
    l.want = want
    return want
  }

  /** The most tokens of a key one worker may hold: a quarter of the limit (at least one). */
  private maxHeld(l: Lease): number {
    return Math.max(1, Math.floor(l.limit / 4))
  }

  private request(l: Lease, want: number, giveBack: number): LeaseRequest {
    return {
      key: l.key,
      algorithm: l.algorithm,
      limit: l.limit,
      periodMs: l.periodMs,
      calendar: l.calendar,
      want,
      giveBack,
      windowStart: l.windowStart >= 0 ? l.windowStart : undefined,
    }
  }
}
