import type { z } from 'zod'
import { registerPluginSchema } from '../config/plugins.js'
import type { RequestContext } from './context.js'
import type { ConsumerIndex } from '../auth/consumers.js'
import type { JwksKeys } from '../auth/jwks/keys.js'

/**
 * The one interface every plugin implements: Kong's phases and priorities, Envoy's "continue or
 * respond", Fastify's per-route arrays compiled once (src/pipeline/compile.ts).
 *
 *   access   before forwarding: authenticate, limit, rewrite the upstream request head, or answer
 *            (return false after `respond()`); may be async (a key fetch, a synchronous Redis call)
 *   header   the upstream's response head, before it is written: edit the header list
 *   log      after the response has been sent (or the client went away)
 *
 * Order within a phase: higher `priority` first, ties by name (Kong's sort_by_handler_priority).
 * Kong's priorities give the pipeline: correlation-id 100001 > jwt 1450 > key-auth 1250 >
 * rate-limiting 910 > request-transformer 801 > response-transformer 800 > logging plugins ~12.
 */
export interface Plugin<C = any, S = any> {
  readonly name: string
  readonly priority: number
  /** The `config` schema (strict), validated at config load and never on the request path. */
  readonly schema: z.ZodType<C>
  /** False for plugins that identify the consumer (jwt, key-auth, basic-auth): no consumer scope. */
  readonly consumerScope?: boolean
  /** Builds one configured instance's state, once per worker per config snapshot (off the hot path). */
  compile(config: C, env: CompileEnv): S
  access?(ctx: RequestContext, state: S): boolean | Promise<boolean>
  header?(ctx: RequestContext, state: S, headers: ResponseHeaders): void
  log?(ctx: RequestContext, state: S): void
}

/**
 * What a plugin's `compile` may use besides its own config: the snapshot's consumers and credentials,
 * and the worker's long-lived services (which outlive snapshots, e.g. the JWKS key store).
 */
export interface CompileEnv {
  readonly consumers: ConsumerIndex
  readonly jwks: JwksKeys
  /** Worker processes on this node (a node-local share of a limit is limit / workers). */
  readonly workers: number
  /** The id of the plugin instance being compiled (stable across workers, nodes and reloads). */
  readonly pluginId: string
}

/**
 * The upstream's response headers as a header-phase plugin sees them: a flat [name, value, ...] list,
 * names as the upstream sent them. Only built for routes that have header-phase plugins.
 */
export type ResponseHeaders = string[]

const plugins = new Map<string, Plugin>()

/** Makes a plugin available to configs: its schema to the loader, its phases to the pipeline. */
export function registerPlugin(plugin: Plugin): void {
  const existing = plugins.get(plugin.name)
  if (existing !== undefined && existing !== plugin) throw new Error(`plugin '${plugin.name}' is registered twice`)
  registerPluginSchema(plugin.name, plugin.schema, { consumerScope: plugin.consumerScope !== false })
  plugins.set(plugin.name, plugin)
}

export function getPlugin(name: string): Plugin | undefined {
  return plugins.get(name)
}
