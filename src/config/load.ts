// Loading a configuration: text -> document (YAML 1.2 or JSON) -> shape check (schema.ts) ->
// references and normalisation (normalize.ts) -> settings merged with env and flags (settings.ts).
// Every problem found on the way is reported at once in one ConfigError; nothing half-valid escapes.

import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import YAML from 'yaml'
import { ConfigError } from '../errors.js'
import { toConfigIssues, type ConfigIssue } from './issues.js'
import { canonicalJson, deepFreeze, normalizeConfig } from './normalize.js'
import { configSchema, type Settings, type SluiceConfig } from './schema.js'
import { collectSettings, type SettingsSources } from './settings.js'

export { resolveSettings } from './settings.js'
export type { SettingsSources } from './settings.js'

/** A validated configuration, as the primary holds it and sends it to workers. */
export interface LoadedConfig {
  readonly config: SluiceConfig
  readonly settings: Settings
  /** Where it came from: the file path, or a label such as 'embedded demo'. */
  readonly source: string
  /**
   * sha256 (hex) of the canonical JSON of `config`: the config version identity. Equal files give
   * equal hashes on every node; node settings (ports, workers, ...) are not part of it.
   */
  readonly hash: string
}

export interface LoadOptions {
  /** Config file (YAML or JSON). Defaults to `SLUICE_CONFIG` from `env`; none means no entities. */
  readonly file?: string
  /** Environment for `SLUICE_*` settings; defaults to process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Command-line flags by setting name; see settings.ts. */
  readonly flags?: Readonly<Record<string, unknown>>
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset)
  const line = before.split('\n').length
  return { line, column: offset - before.lastIndexOf('\n') }
}

/**
 * Parses configuration text: JSON when the file name ends in `.json`, YAML 1.2 otherwise (JSON is
 * valid YAML too). Syntax errors become a ConfigError whose issues carry line and column.
 */
export function parseConfigText(text: string, filename: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  if (/\.json$/i.test(filename)) {
    try {
      return JSON.parse(body)
    } catch (err) {
      const message = (err as Error).message
      // V8 gives a position for some errors only; the scanner finds it for the others.
      const position = /at position (\d+)/.exec(message)
      const where = lineColumn(body, position ? Number(position[1]) : jsonErrorOffset(body))
      const reason = message
        .replace(/ (in JSON )?at position \d+.*$/s, '')
        .replace(/, (".*"|\.\.\.".*"|".*"\.\.\.|\.\.\.".*"\.\.\.) is not valid JSON$/s, '')
      throw new ConfigError(
        [{ path: `line ${where.line}, column ${where.column}`, message: `JSON syntax error: ${reason}`, ...where } satisfies ConfigIssue],
        filename,
      )
    }
  }
  // Duplicate keys are an error (a silently ignored duplicate route is worse than a refusal); the
  // alias limit stops "billion laughs" documents from expanding without bound.
  const doc = YAML.parseDocument(body, { version: '1.2', uniqueKeys: true, prettyErrors: true })
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e): ConfigIssue => {
        const pos = e.linePos?.[0] ?? lineColumnOf(body, e.pos[0])
        const line = 'line' in pos ? pos.line : 1
        const column = 'col' in pos ? pos.col : 1
        return { path: `line ${line}, column ${column}`, message: `YAML syntax error: ${e.message.replace(/ at line \d+, column \d+:?[\s\S]*$/, '')}`, line, column }
      }),
      filename,
    )
  }
  try {
    return doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    throw new ConfigError([{ path: '', message: `YAML error: ${(err as Error).message}` }], filename)
  }
}

/**
 * Offset of the first syntax error in JSON text (V8's messages do not always carry one). Walks the
 * JSON grammar without building values; only called after JSON.parse has failed.
 */
function jsonErrorOffset(text: string): number {
  let i = 0
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++
  }
  const fail = (): never => {
    throw i
  }
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length
    else fail()
  }
  const string = () => {
    if (text[i] !== '"') fail()
    i++
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) fail()
      if (text[i] === '\\') {
        i++
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail()
          i += 4
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) fail()
      }
      i++
    }
    if (i >= text.length) fail()
    i++
  }
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i))
    if (m === null) fail()
    else i += m[0].length
  }
  const value = (): void => {
    ws()
    const c = text[i]
    if (c === '{') {
      i++
      ws()
      if (text[i] === '}') return void i++
      for (;;) {
        ws()
        string()
        ws()
        if (text[i] !== ':') fail()
        i++
        value()
        ws()
        if (text[i] === ',') i++
        else if (text[i] === '}') return void i++
        else fail()
      }
    } else if (c === '[') {
      i++
      ws()
      if (text[i] === ']') return void i++
      for (;;) {
        value()
        ws()
        if (text[i] === ',') i++
        else if (text[i] === ']') return void i++
        else fail()
      }
    } else if (c === '"') string()
    else if (c === 't') literal('true')
    else if (c === 'f') literal('false')
    else if (c === 'n') literal('null')
    else number()
  }
  try {
    value()
    ws()
    return i
  } catch (offset) {
    return offset as number
  }
}

function lineColumnOf(text: string, offset: number): { line: number; col: number } {
  const { line, column } = lineColumn(text, offset)
  return { line, col: column }
}

interface Checked {
  readonly config: SluiceConfig | null
  /** The file's `settings` block after its shape check (null when absent or invalid). */
  readonly fileSettings: unknown
}

/** Shape, then references: the second stage runs only when the first passed. */
function checkDocument(raw: unknown, issues: ConfigIssue[]): Checked {
  if (raw === null || raw === undefined) {
    issues.push({ path: '', message: 'the configuration is empty: it needs at least _format_version: "3.0"' })
    return { config: null, fileSettings: null }
  }
  const shape = configSchema.safeParse(raw, { reportInput: true })
  if (!shape.success) {
    issues.push(...toConfigIssues(shape.error.issues, configSchema))
    return { config: null, fileSettings: null }
  }
  const { config, issues: crossIssues } = normalizeConfig(shape.data)
  if (crossIssues.length > 0) {
    issues.push(...crossIssues)
    return { config: null, fileSettings: shape.data.settings }
  }
  return { config: deepFreeze(config), fileSettings: shape.data.settings }
}

/**
 * Validates a parsed configuration document (entities and the shape of its settings block) and
 * returns the normalised, frozen config. Throws a ConfigError listing every problem.
 */
export function validateConfig(raw: unknown, source?: string): SluiceConfig {
  const issues: ConfigIssue[] = []
  const { config } = checkDocument(raw, issues)
  if (config === null) throw new ConfigError(issues, source)
  return config
}

export function configHash(config: SluiceConfig): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex')
}

function build(raw: unknown, source: string, env: LoadOptions['env'], flags: LoadOptions['flags']): LoadedConfig {
  const issues: ConfigIssue[] = []
  const { config, fileSettings } = checkDocument(raw, issues)
  // The file's settings block was checked with the document; env and flags are checked here, so
  // one run reports every problem from every source.
  const sources: SettingsSources = { fileSettings, env: env ?? process.env, flags: flags ?? {} }
  const settings = collectSettings(sources, issues, true)
  if (config === null || settings === null || issues.length > 0) throw new ConfigError(issues, source)
  return { config, settings, source, hash: configHash(config) }
}

function unreadable(file: string, err: unknown): ConfigError {
  return new ConfigError([{ path: '', message: `cannot read the config file: ${(err as Error).message}` }], file)
}

/** Loads, validates and normalises a configuration file plus env/flag settings. */
export async function loadConfig(options: LoadOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env
  const file = options.file ?? env.SLUICE_CONFIG
  if (file === undefined || file === '') return build({ _format_version: '3.0' }, '(no config file)', env, options.flags)
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw unreadable(file, err)
  })
  return build(parseConfigText(text, file), file, env, options.flags)
}

/** The same as loadConfig, synchronously (for `sluice check`). */
export function loadConfigSync(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env
  const file = options.file ?? env.SLUICE_CONFIG
  if (file === undefined || file === '') return build({ _format_version: '3.0' }, '(no config file)', env, options.flags)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw unreadable(file, err)
  }
  return build(parseConfigText(text, file), file, env, options.flags)
}

/**
 * Validates a configuration given as an object (the embedded demo, tests) exactly as a file would
 * be. The object is not modified; the result is a new, frozen config.
 */
export async function loadConfigObject(
  raw: unknown,
  options: { readonly env?: LoadOptions['env']; readonly flags?: LoadOptions['flags']; readonly source?: string } = {},
): Promise<LoadedConfig> {
  return build(raw, options.source ?? '(object)', options.env, options.flags)
}
