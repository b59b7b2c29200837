// The plugin config registry: each plugin registers the zod schema of its `config` once, at module
// load, and the config loader validates every `plugins[].config` against it. The registry lives
// here, not in the pipeline, so `sluice check` can validate a file without building a pipeline.

import type { z } from 'zod'

const registry = new Map<string, z.ZodType>()
/** Plugins that may not be scoped to a consumer (Kong's `no_consumer`: the auth plugins find the consumer). */
const noConsumer = new Set<string>()

export interface PluginScopeRules {
  /** False for plugins that identify the consumer themselves. Default true. */
  readonly consumerScope?: boolean
}

const PLUGIN_NAME = /^[a-z][a-z0-9-]*$/

/**
 * Registers the config schema of plugin `name` (Kong's plugin names: lower-case, dash-separated).
 * The schema sees the plugin's `config` mapping (`{}` when the file omits it) and should be a
 * strict object so unknown config fields are refused like everywhere else. Registering the same
 * schema twice is harmless (modules can be imported from several places); a different schema under
 * a taken name is a programming error.
 */
export function registerPluginSchema(name: string, schema: z.ZodType, rules: PluginScopeRules = {}): void {
  if (!PLUGIN_NAME.test(name)) throw new TypeError(`invalid plugin name '${name}': use lower-case letters, digits and '-'`)
  const existing = registry.get(name)
  if (existing !== undefined && existing !== schema) throw new Error(`plugin '${name}' already has a registered config schema`)
  registry.set(name, schema)
  if (rules.consumerScope === false) noConsumer.add(name)
}

/** Whether plugin `name` may be configured for a consumer. */
export function allowsConsumerScope(name: string): boolean {
  return !noConsumer.has(name)
}

/** The config schema of plugin `name`, or undefined when no such plugin is registered. */
export function getPluginSchema(name: string): z.ZodType | undefined {
  return registry.get(name)
}

/** Names of the registered plugins, sorted (for "unknown plugin" hints and `sluice check`). */
export function registeredPlugins(): string[] {
  return [...registry.keys()].sort()
}

/** Removes a registration; for tests that register throw-away plugins. Returns whether it existed. */
export function unregisterPluginSchema(name: string): boolean {
  noConsumer.delete(name)
  return registry.delete(name)
}
