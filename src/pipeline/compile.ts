import type { Plugin as PluginEntry, SluiceConfig } from '../config/schema.js'
import type { RequestContext } from './context.js'
import { getPlugin, type Plugin, type ResponseHeaders } from './plugin.js'

/**
 * Per-route plugin arrays, compiled once per config snapshot. A phase no plugin of the route uses is
 * `null`, not an empty array, so the request path pays one comparison for it (Fastify's route hooks).
 */

export interface Step {
  readonly plugin: Plugin
  readonly state: unknown
}

export interface RoutePipeline {
  readonly access: readonly Step[] | null
  readonly header: readonly Step[] | null
  readonly log: readonly Step[] | null
}

export const EMPTY_PIPELINE: RoutePipeline = Object.freeze({ access: null, header: null, log: null })

/**
 * Which configured instance of each plugin applies to a route: the most specific enabled one, as in
 * Kong — route and service > route > service > global. Consumer-scoped instances apply once a consumer
 * is identified, which the authentication plugins bring; until then they are compiled but not run.
 */
function specificity(p: PluginEntry, routeId: string, serviceId: string): number {
  if (!p.enabled || p.consumer !== null) return -1
  if (p.route !== null && p.route.id !== routeId) return -1
  if (p.service !== null && p.service.id !== serviceId) return -1
  return (p.route !== null ? 2 : 0) + (p.service !== null ? 1 : 0)
}

export function compilePipelines(config: SluiceConfig): Map<string, RoutePipeline> {
  const states = new Map<string, unknown>() // plugin instance id -> compiled state, shared by routes
  const result = new Map<string, RoutePipeline>()
  for (const route of config.routes) {
    const chosen = new Map<string, { entry: PluginEntry; score: number }>()
    for (const entry of config.plugins) {
      const score = specificity(entry, route.id, route.service.id)
      if (score < 0) continue
      const best = chosen.get(entry.name)
      if (best === undefined || score > best.score) chosen.set(entry.name, { entry, score })
    }
    if (chosen.size === 0) {
      result.set(route.id, EMPTY_PIPELINE)
      continue
    }
    const steps: Step[] = []
    for (const { entry } of chosen.values()) {
      const plugin = getPlugin(entry.name)
      if (plugin === undefined) throw new Error(`plugin '${entry.name}' is not available in this worker`)
      if (!states.has(entry.id)) states.set(entry.id, plugin.compile(entry.config))
      steps.push({ plugin, state: states.get(entry.id) })
    }
    steps.sort((a, b) => b.plugin.priority - a.plugin.priority || (a.plugin.name < b.plugin.name ? -1 : 1))
    const phase = (has: (p: Plugin) => boolean): Step[] | null => {
      const list = steps.filter((s) => has(s.plugin))
      return list.length > 0 ? list : null
    }
    result.set(route.id, {
      access: phase((p) => p.access !== undefined),
      header: phase((p) => p.header !== undefined),
      log: phase((p) => p.log !== undefined),
    })
  }
  return result
}

/**
 * Runs the access phase from step `i`. Synchronous plugins run in a plain loop; the first one that
 * returns a promise hands the rest of the loop to its continuation. Resolves (or returns) false when a
 * plugin answered the request.
 */
export function runAccess(ctx: RequestContext, steps: readonly Step[], i = 0): boolean | Promise<boolean> {
  for (; i < steps.length; i++) {
    const step = steps[i]
    const verdict = step.plugin.access!(ctx, step.state)
    if (verdict === true) continue
    if (verdict === false) return false
    const next = i + 1
    return verdict.then((go) => (go && !ctx.aborted ? runAccess(ctx, steps, next) : false))
  }
  return true
}

export function runHeader(ctx: RequestContext, steps: readonly Step[], headers: ResponseHeaders): void {
  for (let i = 0; i < steps.length; i++) steps[i].plugin.header!(ctx, steps[i].state, headers)
}

export function runLog(ctx: RequestContext, steps: readonly Step[]): void {
  for (let i = 0; i < steps.length; i++) steps[i].plugin.log!(ctx, steps[i].state)
}
