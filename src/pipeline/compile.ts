import type { Plugin as PluginEntry, SluiceConfig } from '../config/schema.js'
import type { RequestContext } from './context.js'
import { getPlugin, type CompileEnv, type Plugin, type ResponseHeaders } from './plugin.js'

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
  /**
   * The route's pipeline for each consumer that has consumer-scoped plugins applying here; null when no
   * consumer has any. An authentication plugin that identifies such a consumer switches the request
   * onto its variant for the rest of the access phase and for the header and log phases (Kong 3 looks
   * plugin configs up again with the consumer once one is authenticated).
   */
  readonly forConsumer: ReadonlyMap<string, RoutePipeline> | null
}

export const EMPTY_PIPELINE: RoutePipeline = Object.freeze({ access: null, header: null, log: null, forConsumer: null })

/**
 * How specific a plugin instance is for a route (and consumer), as Kong orders them: consumer + route +
 * service > consumer + route > consumer + service > route + service > consumer > route > service >
 * global. -1 when it does not apply.
 */
const PRECEDENCE = [0, 1, 2, 4, 3, 5, 6, 7] // indexed by consumer·4 + route·2 + service
function specificity(p: PluginEntry, routeId: string, serviceId: string, consumerId: string | null): number {
  if (!p.enabled) return -1
  if (p.consumer !== null && p.consumer.id !== consumerId) return -1
  if (p.route !== null && p.route.id !== routeId) return -1
  if (p.service !== null && p.service.id !== serviceId) return -1
  return PRECEDENCE[(p.consumer !== null ? 4 : 0) + (p.route !== null ? 2 : 0) + (p.service !== null ? 1 : 0)]
}

/** Kong's phase order: higher priority first, ties by name. */
function compareSteps(a: Step, b: Step): number {
  return b.plugin.priority - a.plugin.priority || (a.plugin.name < b.plugin.name ? -1 : a.plugin.name > b.plugin.name ? 1 : 0)
}

export function compilePipelines(config: SluiceConfig, env: Omit<CompileEnv, 'pluginId'>): Map<string, RoutePipeline> {
  const states = new Map<string, unknown>() // plugin instance id -> compiled state, shared by routes
  const consumerScoped = config.plugins.filter((p) => p.enabled && p.consumer !== null)
  const consumersWithPlugins = [...new Set(consumerScoped.map((p) => p.consumer!.id))]

  const build = (routeId: string, serviceId: string, consumerId: string | null): RoutePipeline | null => {
    const chosen = new Map<string, { entry: PluginEntry; score: number }>()
    for (const entry of config.plugins) {
      const score = specificity(entry, routeId, serviceId, consumerId)
      if (score < 0) continue
      const best = chosen.get(entry.name)
      if (best === undefined || score > best.score) chosen.set(entry.name, { entry, score })
    }
    if (chosen.size === 0) return null
    const steps: Step[] = []
    for (const { entry } of chosen.values()) {
      const plugin = getPlugin(entry.name)
      if (plugin === undefined) throw new Error(`plugin '${entry.name}' is not available in this worker`)
      if (!states.has(entry.id)) states.set(entry.id, plugin.compile(entry.config, { ...env, pluginId: entry.id }))
      steps.push({ plugin, state: states.get(entry.id) })
    }
    steps.sort(compareSteps)
    const phase = (has: (p: Plugin) => boolean): Step[] | null => {
      const list = steps.filter((s) => has(s.plugin))
      return list.length > 0 ? list : null
    }
    return {
      access: phase((p) => p.access !== undefined),
      header: phase((p) => p.header !== undefined),
      log: phase((p) => p.log !== undefined),
      forConsumer: null,
    }
  }

  const result = new Map<string, RoutePipeline>()
  for (const route of config.routes) {
    const base = build(route.id, route.service.id, null) ?? EMPTY_PIPELINE
    let forConsumer: Map<string, RoutePipeline> | null = null
    for (const consumerId of consumersWithPlugins) {
      // Only consumers with a plugin that applies to this route get a variant of it.
      if (!consumerScoped.some((p) => p.consumer!.id === consumerId && specificity(p, route.id, route.service.id, consumerId) >= 0)) continue
      forConsumer ??= new Map()
      forConsumer.set(consumerId, build(route.id, route.service.id, consumerId) ?? EMPTY_PIPELINE)
    }
    result.set(route.id, forConsumer === null ? base : { ...base, forConsumer })
  }
  return result
}

/**
 * Runs the access phase from step `i`. Synchronous plugins run in a plain loop; the first one that
 * returns a promise hands the rest of the loop to its continuation. Resolves (or returns) false when a
 * plugin answered the request. When a plugin identifies a consumer with its own plugin configs, the rest
 * of the phase continues on that consumer's variant, after the step that identified it.
 */
export function runAccess(ctx: RequestContext, steps: readonly Step[], i = 0): boolean | Promise<boolean> {
  for (; i < steps.length; i++) {
    const step = steps[i]
    const consumer = ctx.consumer
    const verdict = step.plugin.access!(ctx, step.state)
    if (verdict === true) {
      if (ctx.consumer !== consumer && switchToConsumer(ctx, step)) {
        steps = ctx.pipeline.access!
        i = nextAfter(steps, step) - 1
      }
      continue
    }
    if (verdict === false) return false
    const next = i + 1
    return verdict.then((go) => {
      if (!go || ctx.aborted) return false
      if (ctx.consumer !== consumer && switchToConsumer(ctx, step)) return runAccess(ctx, ctx.pipeline.access!, nextAfter(ctx.pipeline.access!, step))
      return runAccess(ctx, steps, next)
    })
  }
  return true
}

/** Moves the request onto its consumer's pipeline variant; false when that changes nothing. */
function switchToConsumer(ctx: RequestContext, after: Step): boolean {
  const variants = ctx.route!.pipeline.forConsumer
  if (variants === null) return false
  const target = (ctx.consumer !== null ? variants.get(ctx.consumer.id) : undefined) ?? ctx.route!.pipeline
  if (target === ctx.pipeline) return false
  ctx.pipeline = target
  if (target.access === null) {
    // Cannot happen while `after` (an access plugin) applies to the route, but stay total.
    ctx.pipeline = { ...target, access: [after] }
  }
  return true
}

/** Index of the first step that runs after `step` in phase order. */
function nextAfter(steps: readonly Step[], step: Step): number {
  let j = 0
  while (j < steps.length && compareSteps(steps[j], step) <= 0) j++
  return j
}

export function runHeader(ctx: RequestContext, steps: readonly Step[], headers: ResponseHeaders): void {
  for (let i = 0; i < steps.length; i++) steps[i].plugin.header!(ctx, steps[i].state, headers)
}

export function runLog(ctx: RequestContext, steps: readonly Step[]): void {
  for (let i = 0; i < steps.length; i++) steps[i].plugin.log!(ctx, steps[i].state)
}
