// `sluice check --config FILE`, in the manner of `nginx -t`: one line when the configuration is
// good, every problem with its path when it is not. The check is the loader itself, so a file that
// passes here is a file `sluice start` accepts (with the same environment).

import { ConfigError } from '../errors.js'
import { loadConfigSync, type LoadOptions } from './load.js'
import type { SluiceConfig } from './schema.js'

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`
}

export function summarize(config: SluiceConfig): string {
  const targets = config.upstreams.reduce((sum, u) => sum + u.targets.length, 0)
  return [
    count(config.services.length, 'service', 'services'),
    count(config.routes.length, 'route', 'routes'),
    count(config.upstreams.length, 'upstream', 'upstreams'),
    count(targets, 'target', 'targets'),
    count(config.consumers.length, 'consumer', 'consumers'),
    count(config.plugins.length, 'plugin', 'plugins'),
  ].join(', ')
}

/**
 * Checks a configuration file (and the `SLUICE_*` environment, as `start` would read it).
 * `ok` is false on any problem; `output` is the text to print.
 */
export function checkConfig(
  file: string,
  options: { readonly env?: LoadOptions['env']; readonly flags?: LoadOptions['flags'] } = {},
): { ok: boolean; output: string } {
  try {
    const { config, hash } = loadConfigSync({ file, env: options.env, flags: options.flags })
    return { ok: true, output: `sluice: configuration ${file} is valid: ${summarize(config)} (version ${hash.slice(0, 12)})` }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    const n = err.issues.length
    const lines = err.issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`)
    return { ok: false, output: [`sluice: configuration ${file} is invalid (${count(n, 'error', 'errors')}):`, ...lines].join('\n') }
  }
}
