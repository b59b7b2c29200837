import { hash } from 'node:crypto'
import type { RequestContext } from '../../pipeline/context.js'
import type { Plugin } from '../../pipeline/plugin.js'
import { respond } from '../../pipeline/respond.js'
import { Verdict, type Lease, type Limiter } from '../../ratelimit/limiter.js'
import { limiterFor } from '../../ratelimit/registry.js'
import { PERIODS, rateLimitingSchema, type Period, type RateLimitingConfig } from './schema.js'

/**
 * Kong's rate-limiting: per-period limits keyed by consumer, credential, IP, service, route, header or
 * path, Kong's headers and 429, on Sluice's leased buckets (src/ratelimit/limiter.ts) so that a limit
 * holds across all workers of all nodes without Redis on the request path.
 */

/** Token-bucket periods in ms; `month` and `year` as Kong's expirations count them (30 and 365 days). */
const PERIOD_MS: Record<Period, number> = {
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  month: 2_592_000_000,
  year: 31_536_000_000,
}

const TITLE: Record<Period, string> = { second: 'Second', minute: 'Minute', hour: 'Hour', day: 'Day', month: 'Month', year: 'Year' }

interface Limit {
  readonly period: Period
  readonly limit: number
  readonly periodMs: number
  readonly calendar: 'month' | 'year' | undefined
  readonly limitHeader: string
  readonly remainingHeader: string
}

interface State {
  readonly config: RateLimitingConfig
  readonly limits: readonly Limit[]
  readonly limiter: Limiter
  readonly prefix: string
  readonly errorBody: (requestId: string) => string
}

/** Answers the limiter could not decide (fault_tolerant false and the store down). */
export const RATE_LIMIT_UNAVAILABLE = 'SLUICE_ERR_RATELIMIT_UNAVAILABLE'

export const rateLimiting: Plugin<RateLimitingConfig, State> = {
  name: 'rate-limiting',
  // Kong's priority: after the authentication plugins (the consumer is known), before transforms.
  priority: 910,
  schema: rateLimitingSchema,

  compile(config, env) {
    const limits: Limit[] = []
    for (const period of PERIODS) {
      const limit = config[period]
      if (limit === null) continue
      limits.push({
        period,
        limit,
        periodMs: PERIOD_MS[period],
        calendar: config.algorithm === 'fixed-window' && (period === 'month' || period === 'year') ? period : undefined,
        limitHeader: `X-RateLimit-Limit-${TITLE[period]}`,
        remainingHeader: `X-RateLimit-Remaining-${TITLE[period]}`,
      })
    }
    const limiter = limiterFor({
      policy: config.policy === 'redis' ? 'redis' : 'local',
      redis: config.redis,
      syncMs: config.sync_rate < 0 ? -1 : Math.round(config.sync_rate * 1000),
      faultTolerant: config.fault_tolerant,
      localShare: env.workers,
    })
    const message = JSON.stringify(config.error_message)
    return {
      config,
      limits,
      limiter,
      // One key space per plugin instance and algorithm (switching algorithms must not read the other's state).
      prefix: `sluice:rl:${env.pluginId}:${config.algorithm === 'token-bucket' ? 'tb' : 'fw'}:`,
      errorBody: (requestId) => `{"message":${message},"code":"SLUICE_ERR_RATE_LIMITED","request_id":${JSON.stringify(requestId)}}`,
    }
  },

  access(ctx, s) {
    const leases = leasesFor(ctx, s)
    const verdict = s.limiter.tryTake(leases)
    if (verdict !== null) return conclude(ctx, s, leases, verdict)
    return s.limiter.decide(leases).then((v) => conclude(ctx, s, leases, v))
  },
}

/**
 * The leases this request draws from: one per configured period, keyed as Kong keys its counters
 * (route, service, identity), so a global instance limits each route separately, as in Kong.
 */
function leasesFor(ctx: RequestContext, s: State): Lease[] {
  const route = ctx.route!
  const identity = identify(ctx, s.config)
  const scope =
    s.config.limit_by === 'service' ? `s:${route.service.id}` : s.config.limit_by === 'route' ? `r:${route.id}` : `${route.id}:${route.service.id}`
  const base = `${s.prefix}${scope}:${identity}:`
  const leases: Lease[] = []
  for (const l of s.limits) {
    const algorithm = s.config.algorithm
    leases.push(s.limiter.lease(base + l.period, algorithm, l.limit, l.periodMs, l.calendar))
  }
  return leases
}

/** Kong's identifiers: a missing consumer, credential, header or non-matching path falls back to the client IP. */
function identify(ctx: RequestContext, c: RateLimitingConfig): string {
  let id: string | null = null
  switch (c.limit_by) {
    case 'consumer':
      id = ctx.consumer === null ? null : `c:${ctx.consumer.id}`
      break
    case 'credential':
      id = ctx.credential === null ? null : `k:${ctx.credential.id}`
      break
    case 'service':
    case 'route':
      return '-'
    case 'header': {
      const v = ctx.header(c.header_name!)
      // Header values are the client's: hashed, so a long or odd one cannot bloat or bend the key.
      id = v === undefined ? null : `h:${hash('sha1', v, 'base64url')}`
      break
    }
    case 'path':
      id = ctx.path === c.path ? `p:${c.path}` : null
      break
    default:
      break
  }
  return id ?? `ip:${ctx.clientIp}`
}

function conclude(ctx: RequestContext, s: State, leases: readonly Lease[], verdict: Verdict): boolean {
  if (verdict === Verdict.Unavailable) {
    ctx.errorCode = RATE_LIMIT_UNAVAILABLE
    const body = `{"message":"The rate limiter cannot decide right now","code":"${RATE_LIMIT_UNAVAILABLE}","request_id":${JSON.stringify(ctx.requestId)}}`
    respond(ctx, 503, body, 'application/json; charset=utf-8', ['retry-after', '1'])
    return false
  }
  const denied = verdict === Verdict.Deny
  if (!s.config.hide_client_headers || denied) {
    const headers = rateLimitHeaders(s, leases, denied)
    if (denied) {
      ctx.errorCode = 'SLUICE_ERR_RATE_LIMITED'
      respond(ctx, s.config.error_code, s.errorBody(ctx.requestId), 'application/json; charset=utf-8', s.config.hide_client_headers ? headers.slice(-2) : headers)
      return false
    }
    ctx.responseHeaders = ctx.responseHeaders === null ? headers : ctx.responseHeaders.concat(headers)
  }
  return true
}

/**
 * Kong's headers: limit and remaining per period, and `RateLimit-*` for the period with the fewest
 * remaining (ties: the longer period), `Retry-After` on a refusal. The last two entries are always
 * Retry-After when denied (hide_client_headers keeps only that one).
 */
function rateLimitHeaders(s: State, leases: readonly Lease[], denied: boolean): string[] {
  const headers: string[] = []
  const now = Date.now()
  let best = -1
  let bestRemaining = Infinity
  for (let i = 0; i < leases.length; i++) {
    const remaining = s.limiter.estimateRemaining(leases[i])
    headers.push(s.limits[i].limitHeader, String(s.limits[i].limit), s.limits[i].remainingHeader, String(remaining))
    if (remaining <= bestRemaining) {
      best = i
      bestRemaining = remaining
    }
  }
  const lease = leases[best]
  const resetS = Math.max(1, Math.ceil((lease.resetAt - now) / 1000))
  headers.push('RateLimit-Limit', String(s.limits[best].limit), 'RateLimit-Remaining', String(bestRemaining), 'RateLimit-Reset', String(resetS))
  if (denied) {
    // When a token (or the next window) can exist again anywhere: for a token bucket one refill step.
    const retryMs = lease.algorithm === 'fixed-window' ? lease.resetAt - now : Math.max(lease.emptyUntil - now, lease.periodMs / lease.limit)
    headers.push('Retry-After', String(Math.max(1, Math.ceil(retryMs / 1000))))
  }
  return headers
}
