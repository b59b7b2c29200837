import type { RequestContext } from '../../pipeline/context.js'
import type { Plugin } from '../../pipeline/plugin.js'
import { respond } from '../../pipeline/respond.js'
import { requestTerminationSchema, type RequestTerminationConfig } from './schema.js'

// Kong's default messages for the statuses it names (kong/plugins/request-termination/handler.lua);
// other statuses get the HTTP reason phrase.
const DEFAULT_MESSAGE: Record<number, string> = {
  401: 'Unauthorized',
  404: 'Not found',
  405: 'Method not allowed',
  500: 'An unexpected error occurred',
  502: 'Bad Gateway',
  503: 'Service unavailable',
}

interface State {
  readonly status: number
  /** The whole answer, built once per config snapshot. */
  readonly body: string
  readonly contentType: string
  /** `trigger` as a header name (lower-case) and as a query parameter name (as written). */
  readonly triggerHeader: string | null
  readonly triggerQuery: string | null
}

function triggered(ctx: RequestContext, state: State): boolean {
  if (ctx.header(state.triggerHeader!) !== undefined) return true
  if (ctx.query.length === 0) return false
  return new URLSearchParams(ctx.query).has(state.triggerQuery!)
}

export const requestTermination: Plugin<RequestTerminationConfig, State> = {
  name: 'request-termination',
  priority: 2,
  schema: requestTerminationSchema,
  compile(config) {
    const body =
      config.body ?? JSON.stringify({ message: config.message ?? DEFAULT_MESSAGE[config.status_code] ?? 'Request terminated' })
    return {
      status: config.status_code,
      body,
      contentType: config.body !== null ? (config.content_type ?? 'application/json; charset=utf-8') : 'application/json; charset=utf-8',
      triggerHeader: config.trigger === null ? null : config.trigger.toLowerCase(),
      triggerQuery: config.trigger,
    }
  },
  access(ctx, state) {
    if (state.triggerHeader !== null && !triggered(ctx, state)) return true
    respond(ctx, state.status, state.body, state.contentType)
    return false
  },
}
