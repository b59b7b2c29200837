import { z } from 'zod'
import { redisConfigSchema } from '../../redis/client.js'

/**
 * The usage-plans plugin's config: where the plans' buckets live. The plans themselves are top-level
 * (`usage_plans`) and consumers name theirs (`usage_plan`), so one plugin instance serves every plan.
 * Quotas are meant to outlive gateways, hence `policy: redis` by default (with `local`, a node's
 * primary keeps them in memory: a restart of the node forgets them).
 */
export const usagePlansSchema = z
  .strictObject({
    policy: z.enum(['local', 'redis']).default('redis'),
    redis: redisConfigSchema.default(() => redisConfigSchema.parse({})),
    /** Redis down: decide from this worker's share of each plan (true) or answer 503 (false). */
    fault_tolerant: z.boolean().default(true),
    /** Seconds between a worker's syncs with the shared buckets; -1: every request asks the store. */
    sync_rate: z.number().default(1),
    /** Drops X-Quota-* from responses (Retry-After stays on refusals). */
    hide_client_headers: z.boolean().default(false),
  })
  .superRefine((c, ctx) => {
    if (c.policy === 'redis' && c.redis.host === null && c.redis.sentinel_master === null && c.redis.cluster_nodes === null) {
      ctx.addIssue({ code: 'custom', path: ['redis', 'host'], message: "required when policy is 'redis' (or sentinel_master + sentinel_nodes, or cluster_nodes)" })
    }
    if (c.sync_rate !== -1 && c.sync_rate < 0.02) {
      ctx.addIssue({ code: 'custom', path: ['sync_rate'], message: 'must be -1 (synchronous) or at least 0.02 seconds' })
    }
  })

export type UsagePlansConfig = z.output<typeof usagePlansSchema>
