import type { CompiledPlan } from '../../auth/consumers.js'
import type { RequestContext } from '../../pipeline/context.js'
import type { Plugin } from '../../pipeline/plugin.js'
import { respond } from '../../pipeline/respond.js'
import { Verdict, type Lease, type Limiter } from '../../ratelimit/limiter.js'
import { limiterFor } from '../../ratelimit/registry.js'
import type { Calendar } from '../../redis/lease.js'
import { RATE_LIMIT_UNAVAILABLE } from '../rate-limiting/index.js'
import { usagePlansSchema, type UsagePlansConfig } from './schema.js'

/**
 * AWS API Gateway's usage plans on Sluice's leased buckets (src/ratelimit/limiter.ts): a consumer's plan
 * throttles it (a token bucket of `burst` tokens refilled at `rate` per second) and caps it (a quota per
 * UTC day, ISO week or calendar month). With `policy: redis` the buckets live in Redis, so a quota holds
 * across every worker of every node and outlives gateway restarts: a draining worker gives back the
 * tokens it leased but did not spend (Limiter.close), so a restart neither loses nor repeats requests.
 * Requests without a consumer, or whose consumer has no plan, pass untouched.
 */

export const THROTTLED = 'SLUICE_ERR_THROTTLED'
export const QUOTA_EXCEEDED = 'SLUICE_ERR_QUOTA_EXCEEDED'

const DAY_MS = 86_400_000
/** Quota windows: a UTC day is epoch-aligned already; weeks and months follow the calendar. */
const QUOTA_WINDOW: Record<'day' | 'week' | 'month', { periodMs: number; calendar: Calendar | undefined }> = {
  day: { periodMs: DAY_MS, calendar: undefined },
  week: { periodMs: 7 * DAY_MS, calendar: 'week' },
  month: { periodMs: 30 * DAY_MS, calendar: 'month' },
}

/** One consumer's buckets, keyed once at compile so a request builds no strings. */
interface Subscription {
  readonly plan: CompiledPlan
  readonly throttleKey: string | null
  readonly throttlePeriodMs: number
  readonly quotaKey: string | null
  readonly quotaPeriodMs: number
  readonly quotaCalendar: Calendar | undefined
  readonly quotaLimit: string
}

interface State {
  readonly config: UsagePlansConfig
  readonly limiter: Limiter
  /** Consumer id -> its plan's buckets; consumers without a plan are absent. */
  readonly subscriptions: ReadonlyMap<string, Subscription>
}

export const usagePlans: Plugin<UsagePlansConfig, State> = {
  name: 'usage-plans',
  // Just after rate-limiting (910): the consumer is known, and a route's own limits refuse first.
  priority: 905,
  schema: usagePlansSchema,

  compile(config, env) {
    const subscriptions = new Map<string, Subscription>()
    for (const consumer of env.consumers.byId.values()) {
      const plan = consumer.plan
      if (plan === null) continue
      // Keys name the plan and the consumer, not the plugin instance: a quota is the consumer's under
      // its plan wherever the plugin is configured, and survives config reloads that keep both.
      const base = `sluice:plan:${plan.name}:${consumer.id}:`
      const window = plan.quota === null ? null : QUOTA_WINDOW[plan.quota.period]
      subscriptions.set(consumer.id, {
        plan,
        throttleKey: plan.throttle === null ? null : `${base}throttle`,
        // `burst` tokens refill over burst / rate seconds: `rate` per second.
        throttlePeriodMs: plan.throttle === null ? 0 : Math.max(1, Math.round((plan.throttle.burst / plan.throttle.rate) * 1000)),
        quotaKey: plan.quota === null ? null : `${base}quota`,
        quotaPeriodMs: window?.periodMs ?? 0,
        quotaCalendar: window?.calendar,
        quotaLimit: plan.quota === null ? '' : String(plan.quota.limit),
      })
    }
    const limiter = limiterFor({
      policy: config.policy,
      redis: config.redis,
      syncMs: config.sync_rate < 0 ? -1 : Math.round(config.sync_rate * 1000),
      faultTolerant: config.fault_tolerant,
      localShare: env.workers,
    })
    return { config, limiter, subscriptions }
  },

  access(ctx, s) {
    // Hot path: nothing but two field reads for a consumer without a plan (~10 ns a call); with one, a
    // lease lookup per bucket and a local decision, no I/O while this worker holds tokens: ~250 ns, and
    // ~500 ns with the three X-Quota-* headers (1M calls in a loop, policy local, this box).
    const consumer = ctx.consumer
    if (consumer === null || consumer.plan === null) return true
    const sub = s.subscriptions.get(consumer.id)
    if (sub === undefined) return true
    const leases: Lease[] = []
    if (sub.throttleKey !== null) leases.push(s.limiter.lease(sub.throttleKey, 'token-bucket', sub.plan.throttle!.burst, sub.throttlePeriodMs))
    const quota = sub.quotaKey === null ? null : s.limiter.lease(sub.quotaKey, 'fixed-window', sub.plan.quota!.limit, sub.quotaPeriodMs, sub.quotaCalendar)
    if (quota !== null) leases.push(quota)
    const verdict = s.limiter.tryTake(leases)
    if (verdict !== null) return conclude(ctx, s, sub, leases, quota, verdict)
    return s.limiter.decide(leases).then((v) => conclude(ctx, s, sub, leases, quota, v))
  },
}

function conclude(ctx: RequestContext, s: State, sub: Subscription, leases: readonly Lease[], quota: Lease | null, verdict: Verdict): boolean {
  if (verdict === Verdict.Unavailable) {
    ctx.errorCode = RATE_LIMIT_UNAVAILABLE
    const body = `{"message":"The rate limiter cannot decide right now","code":"${RATE_LIMIT_UNAVAILABLE}","request_id":${JSON.stringify(ctx.requestId)}}`
    respond(ctx, 503, body, 'application/json; charset=utf-8', ['retry-after', '1'])
    return false
  }
  const now = Date.now()
  const headers: string[] | null = quota === null || s.config.hide_client_headers ? null : quotaHeaders(s, sub, quota, now)
  if (verdict === Verdict.Allow) {
    if (headers !== null) ctx.responseHeaders = ctx.responseHeaders === null ? headers : ctx.responseHeaders.concat(headers)
    return true
  }
  // Refused: by the quota when it is known to be spent (the more lasting reason), else by the throttle.
  const overQuota = quota !== null && quota.held < 1 && quota.remaining === 0
  const out = headers ?? []
  let retryMs: number
  let body: string
  if (overQuota) {
    ctx.errorCode = QUOTA_EXCEEDED
    retryMs = quota.resetAt - now
    body = `{"message":"Limit Exceeded","code":"${QUOTA_EXCEEDED}","request_id":${JSON.stringify(ctx.requestId)}}`
  } else {
    ctx.errorCode = THROTTLED
    const throttle = leases[0]
    // When a token can exist again anywhere: one refill step, or later if the bucket is known empty longer.
    retryMs = Math.max(throttle.emptyUntil - now, throttle.periodMs / throttle.limit)
    body = `{"message":"Too Many Requests","code":"${THROTTLED}","request_id":${JSON.stringify(ctx.requestId)}}`
  }
  out.push('Retry-After', String(Math.max(1, Math.ceil(retryMs / 1000))))
  respond(ctx, 429, body, 'application/json; charset=utf-8', out)
  return false
}

/** X-Quota-Limit, X-Quota-Remaining (as this worker knows it) and X-Quota-Reset (seconds to the next window). */
function quotaHeaders(s: State, sub: Subscription, quota: Lease, now: number): string[] {
  const resetS = Math.max(1, Math.ceil((quota.resetAt - now) / 1000))
  return ['X-Quota-Limit', sub.quotaLimit, 'X-Quota-Remaining', String(s.limiter.estimateRemaining(quota)), 'X-Quota-Reset', String(resetS)]
}
