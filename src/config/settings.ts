// Node settings from four places, by precedence: command-line flags > environment (`SLUICE_*`) >
// the config file's `settings` block > defaults. Env and flag values are strings; they are parsed
// by the type of the setting and then validated by the same schema as the file, so
// `SLUICE_PROXY_PORT=70000` fails exactly like `proxy_port: 70000` would, naming where it came from.

import type { z } from 'zod'
import { ConfigError } from '../errors.js'
import { explainIssues, formatPath, suggest, type ConfigIssue } from './issues.js'
import { deepFreeze } from './normalize.js'
import { fileSettingsSchema, SETTING_NAMES, settingsSchema, type SettingName, type Settings } from './schema.js'

/**
 * `SLUICE_*` variables that are not settings (not refused as typos): the config file (loader), the
 * operational log level (observability/logger.ts), running on uWS's pure-Node fallback on purpose
 * (worker/worker.ts), and the index the primary gives each worker it forks.
 */
export const NON_SETTING_ENV: ReadonlySet<string> = new Set([
  'SLUICE_CONFIG',
  'SLUICE_LOG_LEVEL',
  'SLUICE_ALLOW_FALLBACK',
  'SLUICE_WORKER_INDEX',
])

export const ENV_PREFIX = 'SLUICE_'

export function envName(setting: SettingName): string {
  return ENV_PREFIX + setting.toUpperCase()
}

export function flagName(setting: SettingName): string {
  return `--${setting.replace(/_/g, '-')}`
}

export interface SettingsSources {
  /** The file's `settings` block as written (validated here; absent means none). */
  readonly fileSettings?: unknown
  /** Environment; only `SLUICE_*` variables are read. Defaults to none. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Command-line flags by setting name (`proxy_port` or `proxy-port`); strings are parsed. */
  readonly flags?: Readonly<Record<string, unknown>>
}

type Kind = { readonly type: 'number' | 'boolean' | 'string' | 'array' | 'other'; readonly nullable: boolean }

/** What a setting holds, read off its schema, so that strings from env/flags can be parsed. */
function kindOf(schema: z.core.$ZodType): Kind {
  let node: any = schema
  let nullable = false
  for (;;) {
    const def = node._zod.def
    if (def.type === 'default' || def.type === 'optional' || def.type === 'prefault') node = def.innerType
    else if (def.type === 'nullable') {
      nullable = true
      node = def.innerType
    } else if (def.type === 'pipe') node = def.in
    else {
      const type = def.type === 'number' || def.type === 'boolean' || def.type === 'string' || def.type === 'array' ? def.type : 'other'
      return { type, nullable }
    }
  }
}

const KINDS = new Map<SettingName, Kind>(SETTING_NAMES.map((name) => [name, kindOf(settingsSchema.shape[name])]))

const TRUE = new Set(['true', 'on', 'yes', '1'])
const FALSE = new Set(['false', 'off', 'no', '0'])
const NULL = new Set(['null', 'off', 'none'])

/** Parses a string from env or a flag by the setting's type; returns the string itself when it cannot. */
function parseString(name: SettingName, raw: string): unknown {
  const kind = KINDS.get(name)!
  const text = raw.trim()
  if (kind.nullable && NULL.has(text.toLowerCase())) return null
  switch (kind.type) {
    case 'number':
      return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : raw
    case 'boolean':
      return TRUE.has(text.toLowerCase()) ? true : FALSE.has(text.toLowerCase()) ? false : raw
    case 'array':
      return text === '' ? [] : text.split(',').map((item) => item.trim())
    default:
      return raw
  }
}

interface Contribution {
  readonly values: Partial<Record<SettingName, unknown>>
  /** How each setting is named in errors: `settings.proxy_port`, `SLUICE_PROXY_PORT`, `--proxy-port`. */
  readonly label: (name: SettingName) => string
}

/** Validates one setting's value the way the file would, reporting under `label`. */
function checkValue(name: SettingName, value: unknown, label: string, issues: ConfigIssue[]): boolean {
  const schema = fileSettingsSchema.shape[name] as z.ZodType
  const result = schema.safeParse(value, { reportInput: true })
  if (result.success) return true
  for (const problem of explainIssues(result.error.issues, schema)) {
    // Only list indexes can follow (`SLUICE_TRUSTED_IPS[1]`): settings are scalars or lists.
    issues.push({ path: label + formatPath(problem.path), message: problem.message })
  }
  return false
}

function fromEnv(env: Readonly<Record<string, string | undefined>>, issues: ConfigIssue[]): Contribution {
  const values: Partial<Record<SettingName, unknown>> = {}
  const envNames = SETTING_NAMES.map(envName)
  for (const key of Object.keys(env).sort()) {
    const raw = env[key]
    if (!key.startsWith(ENV_PREFIX) || raw === undefined || NON_SETTING_ENV.has(key)) continue
    const name = key.slice(ENV_PREFIX.length).toLowerCase() as SettingName
    if (!KINDS.has(name)) {
      const hint = suggest(key, envNames)
      issues.push({ path: key, message: `unknown setting in the environment${hint !== null ? ` (did you mean ${hint}?)` : ''}` })
      continue
    }
    // An empty variable is how shells unset things: it leaves the setting to the file or default.
    if (raw.trim() === '') continue
    const value = parseString(name, raw)
    if (checkValue(name, value, key, issues)) values[name] = value
  }
  return { values, label: envName }
}

function fromFlags(flags: Readonly<Record<string, unknown>>, issues: ConfigIssue[]): Contribution {
  const values: Partial<Record<SettingName, unknown>> = {}
  const flagNames = SETTING_NAMES.map(flagName)
  for (const [key, raw] of Object.entries(flags)) {
    if (raw === undefined) continue
    const name = key.replace(/^-+/, '').replace(/-/g, '_') as SettingName
    if (!KINDS.has(name)) {
      const shown = `--${key.replace(/^-+/, '').replace(/_/g, '-')}`
      const hint = suggest(shown, flagNames)
      issues.push({ path: shown, message: `unknown setting${hint !== null ? ` (did you mean ${hint}?)` : ''}` })
      continue
    }
    const value = typeof raw === 'string' ? parseString(name, raw) : raw
    if (checkValue(name, value, flagName(name), issues)) values[name] = value
  }
  return { values, label: flagName }
}

function fromFile(fileSettings: unknown, issues: ConfigIssue[]): Contribution {
  const label = (name: SettingName) => `settings.${name}`
  if (fileSettings === undefined || fileSettings === null) return { values: {}, label }
  const result = fileSettingsSchema.safeParse(fileSettings, { reportInput: true })
  if (!result.success) {
    for (const problem of explainIssues(result.error.issues, fileSettingsSchema)) {
      issues.push({ path: formatPath(['settings', ...problem.path]), message: problem.message })
    }
    return { values: {}, label }
  }
  return { values: result.data as Partial<Record<SettingName, unknown>>, label }
}

/**
 * Merges and validates settings; returns the problems instead of throwing, so the loader can report
 * them together with the file's. `fileChecked` skips re-reporting a settings block the file's own
 * validation has already reported on.
 */
export function collectSettings(
  sources: SettingsSources,
  issues: ConfigIssue[],
  fileChecked = false,
): Settings | null {
  const before = issues.length
  const file = fromFile(sources.fileSettings, fileChecked ? [] : issues)
  const env = fromEnv(sources.env ?? {}, issues)
  const flags = fromFlags(sources.flags ?? {}, issues)
  if (issues.length > before) return null

  const merged: Record<string, unknown> = { ...file.values, ...env.values, ...flags.values }
  const result = settingsSchema.safeParse(merged, { reportInput: true })
  if (!result.success) {
    // Only cross-field rules can fail here (each value passed on its own): name the source of each.
    const labelOf = (name: SettingName) =>
      name in flags.values ? flags.label(name) : name in env.values ? env.label(name) : file.label(name)
    for (const problem of explainIssues(result.error.issues, settingsSchema)) {
      const [first, ...rest] = problem.path
      issues.push({
        path: typeof first === 'string' && KINDS.has(first as SettingName) ? labelOf(first as SettingName) + formatPath(rest) : formatPath(['settings', ...problem.path]),
        message: problem.message,
      })
    }
    return null
  }
  return deepFreeze(result.data)
}

/** Resolves settings from file, env and flags (flags > env > file > defaults); throws ConfigError. */
export function resolveSettings(sources: SettingsSources): Settings {
  const issues: ConfigIssue[] = []
  const settings = collectSettings(sources, issues)
  if (settings === null) throw new ConfigError(issues)
  return settings
}
