import { z } from 'zod'
import { redisConfigSchema } from '../../redis/client.js'

export const PERIODS = ['second', 'minute', 'hour', 'day', 'month', 'year'] as const
export type Period = (typeof PERIODS)[number]

const limit = z.number().positive().nullable().default(null)

/**
 * Kong's rate-limiting (kong/plugins/rate-limiting/schema.lua) with Kong's defaults, except `sync_rate`
 * (below), plus `algorithm`. `policy: cluster` (Kong's database counters) has no database to live in
 * here: `redis` shares limits between nodes, `local` within one node.
 */
export const rateLimitingSchema = z
  .strictObject({
    second: limit,
    minute: limit,
    hour: limit,
    day: limit,
    month: limit,
    year: limit,
    limit_by: z.enum(['consumer', 'credential', 'ip', 'service', 'route', 'header', 'path']).default('consumer'),
    header_name: z
      .string()
      .regex(/^[!#$%&'*+.^`|~0-9A-Za-z-]+$/, 'must be a valid header name (uWS drops names with "_")')
      .transform((s) => s.toLowerCase())
      .nullable()
      .default(null),
    path: z
      .string()
      .regex(/^\/(?:[^/]+\/?)*$/, "must start with '/' and have no empty segments")
      .nullable()
      .default(null),
    policy: z.enum(['local', 'redis', 'cluster']).default('local'),
    /** Token buckets (capacity = the limit, refilled evenly over the period) or Kong's fixed windows. */
    algorithm: z.enum(['token-bucket', 'fixed-window']).default('token-bucket'),
    fault_tolerant: z.boolean().default(true),
    redis: redisConfigSchema.default(() => redisConfigSchema.parse({})),
    hide_client_headers: z.boolean().default(false),
    error_code: z.int().min(400).max(599).default(429),
    error_message: z.string().min(1).max(1024).default('API rate limit exceeded'),
    /**
     * Seconds between a worker's syncs with the shared buckets; -1: every request asks the store
     * synchronously. Kong's default is -1; Sluice's is 1, the lease design that keeps Redis off the
     * request path while still never admitting more than the limit.
     */
    sync_rate: z.number().default(1),
  })
  .superRefine((c, ctx) => {
    if (PERIODS.every((p) => c[p] === null)) {
      ctx.addIssue({ code: 'custom', path: ['second'], message: 'set at least one limit: second, minute, hour, day, month or year' })
    }
    // Kong's ordering check: a longer period may not allow less than a shorter one.
    let shorter: Period | null = null
    for (const p of PERIODS) {
      const v = c[p]
      if (v === null) continue
      if (shorter !== null && v < c[shorter]!) {
        ctx.addIssue({ code: 'custom', path: [p], message: `the limit for ${p} (${v}) must not be less than the limit for ${shorter} (${c[shorter]})` })
      }
      shorter = p
    }
    if (c.limit_by === 'header' && c.header_name === null) ctx.addIssue({ code: 'custom', path: ['header_name'], message: "required when limit_by is 'header'" })
    if (c.limit_by === 'path' && c.path === null) ctx.addIssue({ code: 'custom', path: ['path'], message: "required when limit_by is 'path'" })
    if (c.policy === 'cluster') {
      ctx.addIssue({ code: 'custom', path: ['policy'], message: "'cluster' keeps counters in Kong's database, which Sluice has none of: use 'redis' (shared by all nodes) or 'local' (per node)" })
    }
    if (c.policy === 'redis' && c.redis.host === null && c.redis.sentinel_master === null && c.redis.cluster_nodes === null) {
      ctx.addIssue({ code: 'custom', path: ['redis', 'host'], message: "required when policy is 'redis' (or sentinel_master + sentinel_nodes, or cluster_nodes)" })
    }
    if (c.sync_rate !== -1 && c.sync_rate < 0.02) {
      ctx.addIssue({ code: 'custom', path: ['sync_rate'], message: 'must be -1 (synchronous) or at least 0.02 seconds' })
    }
    if (/[\r\n\0]/.test(c.error_message)) ctx.addIssue({ code: 'custom', path: ['error_message'], message: 'must not contain CR, LF or NUL' })
  })

export type RateLimitingConfig = z.output<typeof rateLimitingSchema>
