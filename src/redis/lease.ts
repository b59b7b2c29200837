// The authoritative side of rate limiting: one bucket per key in Redis, from which workers lease
// tokens. A worker admits requests only from tokens it already holds (no I/O per request) and, every
// sync, gives back what it did not spend and leases the next batch, for all its keys in one
// pipelined round. Tokens are debited in Redis before any worker spends them, so the workers of all
// nodes together can never admit more than the bucket holds: over-admission is zero by
// construction, as long as Redis keeps what it was told (a restart without persistence, or a
// failover that loses writes, refills the buckets it forgot). What leasing costs instead is
// under-admission: tokens a worker holds sit idle for the others until its next sync.
//
// Invariants the scripts keep:
// - Time is Redis' TIME, read inside the script: every worker of every node sees the same clock.
// - One key per bucket and no other key touched, so each call is atomic on a single slot of a
//   cluster (no hash tag needed; callers may still use one).
// - A missing key means a full bucket (token bucket) or an unused window (fixed window), so keys
//   expire as soon as forgetting them changes nothing.

import { createHash } from 'node:crypto'
import type { Cluster } from 'ioredis'
import { createRedis, waitReady, type CreateRedisOptions, type RedisClient, type RedisConfig } from './client.js'

export interface LeaseRequest {
  /** Full Redis key, built by the caller (it names the limit and the identity it counts). */
  key: string
  algorithm: 'token-bucket' | 'fixed-window'
  /** Capacity (token bucket) or window limit (fixed window). */
  limit: number
  /** Token bucket: `limit` tokens refill evenly over `periodMs`. Fixed window: window length. */
  periodMs: number
  /** Tokens the worker would like to hold until its next sync (>= 0). */
  want: number
  /** Unused tokens from the previous lease, credited before granting (>= 0). */
  giveBack: number
  /** Fixed window: the window `giveBack` was leased in; credited only while that window lasts. */
  windowStart?: number
  /**
   * Fixed window: calendar months or years in UTC, as Kong counts `month` and `year`
   * (kong/tools/timestamp.lua), or ISO weeks (Monday 00:00 UTC, as usage-plan quotas count `week`);
   * `periodMs` is then ignored. Other periods are epoch-aligned.
   */
  calendar?: Calendar
}

/** Calendar-aligned fixed windows, all in UTC. */
export type Calendar = 'week' | 'month' | 'year'

export interface LeaseGrant {
  granted: number
  /** Whole tokens left in the shared bucket after the grant. */
  remaining: number
  /** Ms until the bucket is full again (token bucket) or the window ends (fixed window). */
  resetMs: number
  /** Fixed window: start of the current window (epoch ms). Token bucket: Redis' clock at the grant. */
  windowStart: number
}

export interface BucketStore {
  lease(batch: readonly LeaseRequest[]): Promise<LeaseGrant[]>
  close(): Promise<void>
}

/** Why a lease failed; the limiter decides what that means (fault_tolerant or 503). */
export class LeaseError extends Error {
  readonly code = 'SLUICE_ERR_REDIS'
  /**
   * When only part of a batch failed (one cluster master down): the grants that did go through,
   * by batch position, `undefined` where the entry failed. Those tokens are debited in Redis, so a
   * caller that drops them under-admits until refill; one that uses them loses nothing. Null when
   * nothing is known (the deadline passed, the request was malformed).
   */
  grants: readonly (LeaseGrant | undefined)[] | null = null
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'LeaseError'
  }
}

// --- scripts -----------------------------------------------------------------------------------

const NOW_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

/**
 * Token bucket. KEYS[1]: hash {tokens, ts}. ARGV: limit, period_ms, want, give_back.
 * Returns {granted, remaining, reset_ms, now}.
 */
export const TOKEN_BUCKET_LUA = `${NOW_LUA}
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local give = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = limit
  ts = now
elseif now > ts then
  -- multiply before dividing: whole refills stay exact
  tokens = math.min(limit, tokens + (now - ts) * limit / period)
  ts = now
end
-- a clock behind ts (failover to another node) refills nothing until it catches up
tokens = math.min(limit, tokens + give)
local granted = want
if granted > tokens then granted = math.floor(tokens) end
if granted < 0 then granted = 0 end
tokens = tokens - granted
-- %.17g round-trips the double; the default 14 digits could round a fraction up to a whole token
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.0f', ts))
local reset = math.ceil((limit - tokens) * period / limit)
redis.call('PEXPIRE', KEYS[1], reset + 1000)
return { granted, math.floor(tokens), reset, now }
`

/**
 * Window bounds as Lua functions: epoch-aligned periods, UTC calendar months and years
 * (civil-date arithmetic after Howard Hinnant's days_from_civil / civil_from_days), or ISO weeks.
 */
export const WINDOW_LUA = `
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m > 2) and (m - 3) or (m + 9)
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end
local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = (mp < 10) and (mp + 3) or (mp - 9)
  if m <= 2 then y = y + 1 end
  return y, m
end
local function window_bounds(now, period, calendar)
  if calendar == 'week' then
    -- day 0 (1970-01-01) was a Thursday: (days + 3) % 7 counts days since the last Monday
    local days = math.floor(now / 86400000)
    local monday = days - (days + 3) % 7
    return monday * 86400000, (monday + 7) * 86400000
  end
  if calendar == 'month' or calendar == 'year' then
    local y, m = civil_from_days(math.floor(now / 86400000))
    if calendar == 'year' then m = 1 end
    local ny, nm = y, m + 1
    if calendar == 'year' then ny, nm = y + 1, 1 elseif nm > 12 then ny, nm = y + 1, 1 end
    return days_from_civil(y, m, 1) * 86400000, days_from_civil(ny, nm, 1) * 86400000
  end
  local start = now - (now % period)
  return start, start + period
end
`

/**
 * Fixed window. KEYS[1]: hash {window, count}. ARGV: limit, period_ms, want, give_back,
 * give_back_window (-1: none), calendar ('' | 'week' | 'month' | 'year').
 * Returns {granted, remaining, reset_ms, window_start}.
 */
export const FIXED_WINDOW_LUA = `${NOW_LUA}${WINDOW_LUA}
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local give = tonumber(ARGV[4])
local give_window = tonumber(ARGV[5])
local start, finish = window_bounds(now, period, ARGV[6])
local state = redis.call('HMGET', KEYS[1], 'window', 'count')
local count = 0
if tonumber(state[1]) == start then count = tonumber(state[2]) or 0 end
-- tokens leased in an earlier window died with it: crediting them would inflate this one
if give > 0 and give_window == start then count = math.max(0, count - give) end
local granted = math.min(want, math.floor(limit - count))
if granted < 0 then granted = 0 end
count = count + granted
redis.call('HSET', KEYS[1], 'window', string.format('%.0f', start), 'count', count)
redis.call('PEXPIRE', KEYS[1], finish - now + 1000)
local remaining = math.floor(limit - count)
if remaining < 0 then remaining = 0 end
return { granted, remaining, finish - now, start }
`

interface Script {
  readonly lua: string
  readonly sha: string
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') }
}

const TOKEN_BUCKET = script(TOKEN_BUCKET_LUA)
const FIXED_WINDOW = script(FIXED_WINDOW_LUA)

// --- cluster slots -----------------------------------------------------------------------------

/** CRC16/XMODEM, the hash Redis Cluster maps keys to slots with. */
function crc16(s: Buffer): number {
  let crc = 0
  for (const byte of s) {
    crc ^= byte << 8
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc
}

/** The cluster slot of a key, honouring `{hash tags}` as Redis does. */
export function keySlot(key: string): number {
  const open = key.indexOf('{')
  if (open !== -1) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) key = key.slice(open + 1, close)
  }
  return crc16(Buffer.from(key)) & 16383
}

// --- store -------------------------------------------------------------------------------------

export interface RedisBucketStoreOptions {
  /**
   * Overall budget of one lease() call (ms), on top of the client's per-command timeout: the
   * promise rejects by then whatever the connection does. A lease cut off this way may still be
   * debited in Redis; those tokens are lost until refill (under-admission, never over-admission).
   */
  timeoutMs?: number
  /** close() also disconnects the client (default true: the store owns it). */
  ownsClient?: boolean
  /** Most entries per pipeline; bigger batches go in several, the event loop free in between. */
  chunkSize?: number
}

type Reply = [error: Error | null, result: unknown]

/** Counters for metrics and the bench (Redis work must follow active keys, not request rate). */
export interface LeaseStats {
  /** lease() calls. */
  leases: number
  /** Pipelines sent (one per node per lease, plus NOSCRIPT retries). */
  pipelines: number
  /** Script calls sent (EVALSHA and EVAL). */
  commands: number
  /** Entries resent with EVAL after NOSCRIPT. */
  noscript: number
  /** Entries resent alone after MOVED or ASK (cluster slots changed owner). */
  redirects: number
  /** lease() calls that rejected. */
  failures: number
}

function isNoScript(err: Error | null): boolean {
  return err !== null && err.message.startsWith('NOSCRIPT')
}

function isRedirect(err: Error | null): boolean {
  return err !== null && (err.message.startsWith('MOVED ') || err.message.startsWith('ASK '))
}

/**
 * Leases against buckets in Redis (standalone, sentinel or cluster). Scripts are called by SHA;
 * a server that does not know them (first use, restart, SCRIPT FLUSH, failover) answers NOSCRIPT,
 * which means the script did not run, so those entries are sent again once with EVAL (which also
 * caches the script there for the next sync).
 */
export class RedisBucketStore implements BucketStore {
  private readonly timeoutMs: number
  private readonly ownsClient: boolean
  private readonly chunkSize: number
  readonly stats: LeaseStats = { leases: 0, pipelines: 0, commands: 0, noscript: 0, redirects: 0, failures: 0 }

  constructor(
    readonly client: RedisClient,
    options: RedisBucketStoreOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 2000
    this.ownsClient = options.ownsClient ?? true
    this.chunkSize = Math.max(1, Math.floor(options.chunkSize ?? 256))
  }

  /** A store with its own client for a plugin's `redis` block; `timeout` bounds each lease too. */
  static fromConfig(config: RedisConfig, options: CreateRedisOptions & RedisBucketStoreOptions = {}): RedisBucketStore {
    return new RedisBucketStore(createRedis(config, options), { timeoutMs: config.timeout, ...options, ownsClient: true })
  }

  lease(batch: readonly LeaseRequest[]): Promise<LeaseGrant[]> {
    if (batch.length === 0) return Promise.resolve([])
    for (const request of batch) {
      const problem = requestProblem(request)
      if (problem !== null) return Promise.reject(new TypeError(`lease '${request.key}': ${problem}`))
    }
    this.stats.leases++
    const grants = new Array<LeaseGrant | undefined>(batch.length)
    // Settle every chunk before answering, so a partial failure can hand back what did succeed.
    // A client still making its first connection is waited for (within the deadline below); one that
    // lost its connection fails at once (no offline queue), which the limiter treats as an outage.
    const status = this.client.status
    const starting = status === 'connecting' || status === 'connect' || status === 'wait'
    const sent = starting ? waitReady(this.client, this.timeoutMs).then(() => this.sendChunks(batch, grants)) : this.sendChunks(batch, grants)
    const work = sent.then((outcomes) => {
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') {
          const err = outcome.reason instanceof LeaseError ? outcome.reason : new LeaseError(String(outcome.reason), { cause: outcome.reason })
          err.grants = grants
          throw err
        }
      }
      return grants as LeaseGrant[]
    })
    return withDeadline(work, this.timeoutMs).catch((err: unknown) => {
      this.stats.failures++
      throw err
    })
  }

  /**
   * Starts one pipeline per group and chunk, yielding to the event loop between chunks. Encoding
   * and decoding cost ~9 µs of worker CPU per key: 10,000 keys in one pipeline stalled the
   * worker's timers for 91 ms, in chunks of 256 for 24 ms (median of 15 A/B runs against a local
   * redis-server, timer-gap probe), at the same total lease time; the chunks still travel back to
   * back on the connection. Below ~1,000 keys the two are the same (~5 ms).
   */
  private async sendChunks(batch: readonly LeaseRequest[], grants: (LeaseGrant | undefined)[]): Promise<PromiseSettledResult<void>[]> {
    const started: Promise<void>[] = []
    let sinceYield = 0
    for (const group of this.groups(batch)) {
      for (let from = 0; from < group.length; from += this.chunkSize) {
        if (sinceYield >= this.chunkSize) {
          await new Promise<void>((resolve) => setImmediate(resolve))
          sinceYield = 0
        }
        const chunk = group.length <= this.chunkSize ? group : group.slice(from, from + this.chunkSize)
        started.push(this.leaseGroup(batch, chunk, grants))
        sinceYield += chunk.length
      }
    }
    return Promise.allSettled(started)
  }

  /** Quits politely when connected, and resolves once the connection is gone (at most 1 s). */
  async close(): Promise<void> {
    if (!this.ownsClient || this.client.status === 'end') return
    let timer: NodeJS.Timeout | undefined
    const ended = new Promise<void>((resolve) => {
      this.client.once('end', resolve)
      timer = setTimeout(resolve, 1000)
    })
    if (this.client.status === 'ready') await this.client.quit().catch(() => undefined)
    this.client.disconnect()
    await ended
    clearTimeout(timer)
  }

  /**
   * One pipeline per set of nodes: everything for a standalone Redis; on a cluster, the keys each
   * master serves (ioredis refuses pipelines that span nodes). Keys whose slot owner is not known
   * yet go alone, and the cluster client routes them.
   */
  private groups(batch: readonly LeaseRequest[]): number[][] {
    if (!this.client.isCluster) return [batch.map((_, i) => i)]
    const slots = (this.client as Cluster).slots
    const byNodes = new Map<string, number[]>()
    const alone: number[][] = []
    for (let i = 0; i < batch.length; i++) {
      const owners = slots[keySlot(batch[i].key)]
      if (owners === undefined || owners.length === 0) {
        alone.push([i])
        continue
      }
      const id = owners.join(',')
      const group = byNodes.get(id)
      if (group === undefined) byNodes.set(id, [i])
      else group.push(i)
    }
    return [...byNodes.values(), ...alone]
  }

  /** Fills `grants` for the entries of one group; throws the first failure after trying them all. */
  private async leaseGroup(batch: readonly LeaseRequest[], indices: number[], grants: (LeaseGrant | undefined)[]): Promise<void> {
    let failure: LeaseError | null = null
    const settle = (i: number, err: Error | null, result: unknown): void => {
      try {
        grants[i] = toGrant(batch[i], err, result)
      } catch (problem) {
        failure ??= problem as LeaseError
      }
    }
    const replies = await this.send(batch, indices, false)
    let noscript: number[] | null = null
    let moved: number[] | null = null
    for (let j = 0; j < indices.length; j++) {
      const [err, result] = replies[j]
      if (isNoScript(err)) (noscript ??= []).push(indices[j])
      else if (isRedirect(err)) (moved ??= []).push(indices[j])
      else settle(indices[j], err, result)
    }
    if (noscript !== null) {
      this.stats.noscript += noscript.length
      const again = await this.send(batch, noscript, true)
      for (let j = 0; j < noscript.length; j++) {
        if (isRedirect(again[j][0])) (moved ??= []).push(noscript[j])
        else settle(noscript[j], again[j][0], again[j][1])
      }
    }
    if (moved !== null) {
      // Slots moved (resharding, failover, a node back from an outage): ioredis follows MOVED and
      // ASK for single commands but not for a pipeline whose entries name different slots. A
      // redirected script did not run, so sending it again cannot debit twice.
      this.stats.redirects += moved.length
      await Promise.all(
        moved.map(async (i) => {
          try {
            settle(i, null, await this.callOne(batch[i]))
          } catch (err) {
            failure ??= err as LeaseError
          }
        }),
      )
    }
    if (failure !== null) throw failure
  }

  /** One script call routed by the client itself (redirections followed), EVAL on NOSCRIPT. */
  private async callOne(r: LeaseRequest): Promise<unknown> {
    const script = r.algorithm === 'token-bucket' ? TOKEN_BUCKET : FIXED_WINDOW
    const args = scriptArgs(r)
    this.stats.commands++
    try {
      return await this.client.evalsha(script.sha, 1, ...args)
    } catch (err) {
      if (!isNoScript(err as Error)) throw new LeaseError(`redis lease of '${r.key}' failed: ${(err as Error).message}`, { cause: err })
    }
    this.stats.noscript++
    this.stats.commands++
    try {
      return await this.client.eval(script.lua, 1, ...args)
    } catch (err) {
      throw new LeaseError(`redis lease of '${r.key}' failed: ${(err as Error).message}`, { cause: err })
    }
  }

  private async send(batch: readonly LeaseRequest[], indices: number[], full: boolean): Promise<Reply[]> {
    const pipeline = this.client.pipeline()
    for (const i of indices) {
      const r = batch[i]
      const script = r.algorithm === 'token-bucket' ? TOKEN_BUCKET : FIXED_WINDOW
      if (full) pipeline.eval(script.lua, 1, ...scriptArgs(r))
      else pipeline.evalsha(script.sha, 1, ...scriptArgs(r))
    }
    this.stats.pipelines++
    this.stats.commands += indices.length
    let replies: Reply[] | null
    try {
      replies = (await pipeline.exec()) as Reply[] | null
    } catch (err) {
      throw new LeaseError(`redis lease failed: ${(err as Error).message}`, { cause: err })
    }
    if (replies === null || replies.length !== indices.length) {
      throw new LeaseError('redis lease failed: the pipeline returned no replies')
    }
    return replies
  }
}

/** KEYS[1] then ARGV, in the order the scripts read them. */
function scriptArgs(r: LeaseRequest): (string | number)[] {
  const want = Math.floor(r.want)
  const giveBack = Math.floor(r.giveBack)
  if (r.algorithm === 'token-bucket') return [r.key, r.limit, r.periodMs, want, giveBack]
  return [r.key, r.limit, r.periodMs, want, giveBack, r.windowStart ?? -1, r.calendar ?? '']
}

function requestProblem(r: LeaseRequest): string | null {
  if (!(Number.isFinite(r.limit) && r.limit > 0)) return 'limit must be a positive number'
  if (!(Number.isInteger(r.periodMs) && r.periodMs >= 1)) return 'periodMs must be a positive integer'
  if (!(Number.isFinite(r.want) && r.want >= 0)) return 'want must be a number >= 0'
  if (!(Number.isFinite(r.giveBack) && r.giveBack >= 0)) return 'giveBack must be a number >= 0'
  if (r.windowStart !== undefined && !Number.isInteger(r.windowStart)) return 'windowStart must be an integer'
  return null
}

function toGrant(r: LeaseRequest, err: Error | null, result: unknown): LeaseGrant {
  if (err !== null) throw new LeaseError(`redis lease of '${r.key}' failed: ${err.message}`, { cause: err })
  if (!Array.isArray(result) || result.length !== 4) {
    throw new LeaseError(`redis lease of '${r.key}' returned an unexpected reply`)
  }
  return { granted: Number(result[0]), remaining: Number(result[1]), resetMs: Number(result[2]), windowStart: Number(result[3]) }
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LeaseError(`redis lease timed out after ${ms} ms`)), ms)
  })
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer))
}
