// The Redis client factory: a plugin's `redis` block (Kong's field names) -> an ioredis client tuned
// for a gateway. A gateway must never wait on Redis: a down Redis fails commands at once (no offline
// queue), a slow one is cut off by the command timeout, and reconnection happens in the background
// with a capped backoff. Deciding what a failure means (fail open, 503) is the caller's job.

import { createRequire } from 'node:module'
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis'

// ioredis is loaded on first use, not at import: every worker imports this module (through the
// rate-limiting plugin), and keeping ioredis (with jose and lru-cache) resident in a worker that never
// uses them cost ~6 µs/req and doubled p99 on plain routing through a larger heap (bench/RESULTS.md §5).
let ioredis: typeof import('ioredis') | null = null
function loadIoredis(): typeof import('ioredis') {
  ioredis ??= createRequire(import.meta.url)('ioredis') as typeof import('ioredis')
  return ioredis
}
import type { ConnectionOptions } from 'node:tls'
import { z } from 'zod'
import { checkHost, isIP } from '../config/validators.js'

// --- schema ------------------------------------------------------------------------------------

const MAX_TIMEOUT = 2 ** 31 - 2

const host = z.string().superRefine((s, ctx) => {
  const problem = checkHost(s)
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem, input: s })
})
const port = z.int().min(1).max(65535)

/** A sentinel address (Kong Enterprise `sentinel_nodes[]`: `host`, `port`). */
const sentinelNode = z.strictObject({
  host: host.default('127.0.0.1'),
  port: port.default(6379),
})

/**
 * A cluster seed address. Kong Enterprise names the field `ip` (it accepts host names too);
 * `host` is taken as a synonym so either spelling works. Output always uses `ip`.
 */
const clusterNode = z
  .strictObject({
    ip: host.optional(),
    host: host.optional(),
    port: port.default(6379),
  })
  .superRefine((n, ctx) => {
    if (n.ip !== undefined && n.host !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['host'], message: "give the address as 'ip' or 'host', not both" })
    }
  })
  .transform((n) => ({ ip: n.ip ?? n.host ?? '127.0.0.1', port: n.port }))

/**
 * Kong's `redis` record (kong/tools/redis/schema.lua, Kong 3) with Kong Enterprise's sentinel and
 * cluster fields. Every field has Kong's default, so `{}` is valid: a plugin whose `policy` is not
 * `redis` carries an unused block, as in Kong. A plugin that does use Redis must also call
 * `redisTargetProblem` (Kong's conditional "policy = redis => host required").
 *
 * With zod 4, nest it as `redisConfigSchema.prefault({})` so an absent block still gets the defaults.
 */
export const redisConfigSchema = z
  .strictObject({
    host: host.nullable().default(null),
    port: port.default(6379),
    /** Milliseconds: the budget of every command (and of connecting, unless `connect_timeout`). */
    timeout: z.int().min(1).max(MAX_TIMEOUT).default(2000),
    /** Milliseconds to establish a connection; `timeout` when null (Kong Enterprise field). */
    connect_timeout: z.int().min(1).max(MAX_TIMEOUT).nullable().default(null),
    /** ACL user (Redis 6+); no AUTH user when null. */
    username: z.string().min(1).nullable().default(null),
    /** No AUTH when null. */
    password: z.string().nullable().default(null),
    database: z.int().min(0).max(2 ** 31 - 1).default(0),
    ssl: z.boolean().default(false),
    /** Kong's default is false (no certificate check); set true in production. */
    ssl_verify: z.boolean().default(false),
    /** SNI and the name the certificate is checked against. */
    server_name: host.nullable().default(null),
    sentinel_master: z.string().min(1).nullable().default(null),
    /**
     * Kong also accepts `slave` and `any`; Sluice writes counters, which a replica refuses, so only
     * `master` is allowed (null means master).
     */
    sentinel_role: z.enum(['master', 'slave', 'any']).nullable().default(null),
    sentinel_nodes: z.array(sentinelNode).min(1).nullable().default(null),
    sentinel_username: z.string().min(1).nullable().default(null),
    sentinel_password: z.string().nullable().default(null),
    cluster_nodes: z.array(clusterNode).min(1).nullable().default(null),
    cluster_max_redirections: z.int().min(0).max(1000).default(5),
  })
  .superRefine((c, ctx) => {
    const sentinel = c.sentinel_master !== null || c.sentinel_nodes !== null
    const targets = [c.host !== null, sentinel, c.cluster_nodes !== null].filter(Boolean).length
    if (targets > 1) {
      ctx.addIssue({
        code: 'custom',
        path: [c.cluster_nodes !== null ? 'cluster_nodes' : 'sentinel_nodes'],
        message: 'set only one of host, sentinel_master + sentinel_nodes, or cluster_nodes',
      })
    }
    if (c.sentinel_master !== null && c.sentinel_nodes === null) {
      ctx.addIssue({ code: 'custom', path: ['sentinel_nodes'], message: 'required when sentinel_master is set' })
    }
    if (c.sentinel_nodes !== null && c.sentinel_master === null) {
      ctx.addIssue({ code: 'custom', path: ['sentinel_master'], message: 'required when sentinel_nodes is set' })
    }
    if (c.sentinel_role === 'slave' || c.sentinel_role === 'any') {
      ctx.addIssue({
        code: 'custom',
        path: ['sentinel_role'],
        message: `'${c.sentinel_role}' would send counter writes to a read-only replica; use 'master'`,
      })
    }
    if (c.cluster_nodes !== null && c.database !== 0) {
      ctx.addIssue({ code: 'custom', path: ['database'], message: 'a Redis Cluster has only database 0' })
    }
    if (c.ssl_verify && !c.ssl) {
      ctx.addIssue({ code: 'custom', path: ['ssl_verify'], message: 'needs ssl: true' })
    }
    if (c.server_name !== null && !c.ssl) {
      ctx.addIssue({ code: 'custom', path: ['server_name'], message: 'needs ssl: true' })
    }
  })

export type RedisConfig = z.output<typeof redisConfigSchema>
export type RedisConfigInput = z.input<typeof redisConfigSchema>

/**
 * Null when the block names somewhere to connect; otherwise what to fix, for the path
 * `redis.host`. Plugins call it when their policy needs Redis.
 */
export function redisTargetProblem(c: RedisConfig): string | null {
  if (c.host !== null || c.sentinel_master !== null || c.cluster_nodes !== null) return null
  return 'required when the policy is redis: set host, sentinel_master + sentinel_nodes, or cluster_nodes'
}

// --- client ------------------------------------------------------------------------------------

/** Where connection state changes are reported: pino's signature, so the shared logger fits. */
export interface RedisLog {
  warn(obj: object, msg: string): void
  info(obj: object, msg: string): void
}

export interface CreateRedisOptions {
  log?: RedisLog
  /** CLIENT SETNAME, to find the gateway's connections in CLIENT LIST. */
  connectionName?: string
  /** Backoff ceiling between reconnection attempts (ms). */
  maxBackoffMs?: number
}

export type RedisClient = Redis | Cluster

const FIRST_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 2000

/** 100 ms, 200, 400, ... capped: a down Redis costs a handful of connection attempts a second at most. */
export function reconnectDelay(attempt: number, maxMs = MAX_BACKOFF_MS): number {
  return Math.min(FIRST_BACKOFF_MS * 2 ** Math.min(Math.max(attempt - 1, 0), 16), maxMs)
}

function tlsOptions(c: RedisConfig): ConnectionOptions | undefined {
  if (!c.ssl) return undefined
  // SNI carries names only (RFC 6066); Node warns when given an address.
  const name = c.server_name ?? c.host
  const servername = name !== null && !isIP(name) ? name : undefined
  return { rejectUnauthorized: c.ssl_verify, ...(servername !== undefined ? { servername } : {}) }
}

function endpoint(c: RedisConfig): string {
  if (c.cluster_nodes !== null) return `cluster ${c.cluster_nodes.map((n) => `${n.ip}:${n.port}`).join(',')}`
  if (c.sentinel_master !== null) return `sentinel ${c.sentinel_master}`
  return `${c.host ?? '?'}:${c.port}`
}

/**
 * Logs the first error of an outage and the recovery, not every failed reconnection attempt (a
 * down Redis would otherwise log ten lines a second per worker). Also makes sure no 'error' event
 * is ever unhandled: ioredis emits one per failed attempt, and an unhandled one kills the worker.
 */
function watch(client: RedisClient, where: string, log: RedisLog | undefined): void {
  let down = false
  client.on('error', (err: Error) => {
    if (down) return
    down = true
    log?.warn({ redis: where, err: err.message }, 'redis unreachable; retrying in the background')
  })
  client.on('ready', () => {
    if (!down) return
    down = false
    log?.info({ redis: where }, 'redis reachable again')
  })
  client.on('close', () => {
    // A clean close (restart, failover) reports no 'error'; count it as the start of an outage.
    if (!down && client.status !== 'end') {
      down = true
      log?.warn({ redis: where }, 'redis connection closed; reconnecting in the background')
    }
  })
}

/**
 * An ioredis client for a `redis` block: `Cluster` when `cluster_nodes` is set, else `Redis`
 * (standalone or through sentinels). It connects at once; until 'ready', commands fail fast.
 */
export function createRedis(c: RedisConfig, options: CreateRedisOptions = {}): RedisClient {
  const maxBackoff = options.maxBackoffMs ?? MAX_BACKOFF_MS
  const tls = tlsOptions(c)
  // Shared by the standalone, sentinel and cluster-node connections.
  const common = {
    username: c.username ?? undefined,
    password: c.password ?? undefined,
    connectTimeout: c.connect_timeout ?? c.timeout,
    commandTimeout: c.timeout,
    // A command in flight when the connection drops fails instead of being replayed later: the
    // caller may already have decided without it, and replaying a lease would debit twice.
    maxRetriesPerRequest: 0,
    connectionName: options.connectionName,
    ...(tls !== undefined ? { tls } : {}),
  } satisfies RedisOptions

  let client: RedisClient
  if (c.cluster_nodes !== null) {
    const clusterOptions: ClusterOptions = {
      // Fail fast while the cluster is unreachable or its slots are unknown.
      enableOfflineQueue: false,
      clusterRetryStrategy: (attempt) => reconnectDelay(attempt, maxBackoff),
      maxRedirections: c.cluster_max_redirections,
      slotsRefreshTimeout: c.timeout,
      // ioredis connects to each master on first use and retries a command sent while that connection
      // is still opening after `retryDelayOnFailover` (100 ms by default: the whole request budget of the
      // rate limiter). Retry almost at once instead, and open every master's connection as soon as the
      // cluster is ready (below), so the first leases after start do not pay it.
      retryDelayOnFailover: 5,
      redisOptions: common,
      // Managed clusters (ElastiCache) present certificates for the configured names, not the
      // addresses CLUSTER SLOTS returns: keep the names.
      ...(tls !== undefined ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
    }
    const cluster = new (loadIoredis().Cluster)(
      c.cluster_nodes.map((n) => ({ host: n.ip, port: n.port })),
      clusterOptions,
    )
    cluster.on('ready', () => {
      for (const node of cluster.nodes('master')) node.ping().catch(() => undefined)
    })
    client = cluster
  } else {
    const redisOptions: RedisOptions = {
      ...common,
      db: c.database,
      enableOfflineQueue: false,
      retryStrategy: (attempt) => reconnectDelay(attempt, maxBackoff),
    }
    if (c.sentinel_master !== null && c.sentinel_nodes !== null) {
      Object.assign(redisOptions, {
        sentinels: c.sentinel_nodes.map((n) => ({ host: n.host, port: n.port })),
        name: c.sentinel_master,
        role: 'master',
        sentinelUsername: c.sentinel_username ?? undefined,
        sentinelPassword: c.sentinel_password ?? undefined,
        sentinelRetryStrategy: (attempt: number) => reconnectDelay(attempt, maxBackoff),
        sentinelCommandTimeout: c.timeout,
        enableTLSForSentinelMode: c.ssl,
      } satisfies RedisOptions)
    } else {
      redisOptions.host = c.host ?? '127.0.0.1'
      redisOptions.port = c.port
    }
    client = new (loadIoredis().Redis)(redisOptions)
  }
  watch(client, endpoint(c), options.log)
  return client
}

/** Resolves once the client is ready; rejects after `timeoutMs` (start-up and tests). */
export function waitReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady)
      reject(new Error(`redis not ready within ${timeoutMs} ms (status ${client.status})`))
    }, timeoutMs)
    const onReady = (): void => {
      clearTimeout(timer)
      resolve()
    }
    client.once('ready', onReady)
  })
}
