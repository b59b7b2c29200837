// Turns zod issues into ConfigError issues a human can act on: a Kong-ish path
// (`services[0].routes[1].paths[0]`) and a sentence in the vocabulary of a YAML file ("a list",
// "a mapping"), not zod's internal type names.

import type { z } from 'zod'

/** One problem in a configuration. `line`/`column` (1-based) are set for syntax errors. */
export interface ConfigIssue {
  readonly path: string
  readonly message: string
  readonly line?: number
  readonly column?: number
}

type Key = PropertyKey

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/

/** `['services', 0, 'routes', 1, 'paths', 0]` -> `services[0].routes[1].paths[0]`. */
export function formatPath(path: readonly Key[]): string {
  let out = ''
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else if (typeof key === 'string' && PLAIN_KEY.test(key)) out += out === '' ? key : `.${key}`
    else out += `[${JSON.stringify(String(key))}]`
  }
  return out
}

/** Short human description of a value found in the file, for "got ..." clauses. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (typeof value === 'string') {
    return value.length > 60 ? `'${value.slice(0, 57)}...'` : `'${value}'`
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value)
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return typeof value
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  null: 'null',
}

function kindOf(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  if (typeof value === 'string') return `the string ${describeValue(value)}`
  if (typeof value === 'number') return `the number ${value}`
  return `${typeof value} ${describeValue(value)}`
}

function plural(n: number | bigint, one: string, many: string): string {
  return `${n} ${Number(n) === 1 ? one : many}`
}

/** zod's own English messages start with these; anything else was written by a schema author. */
const ZOD_DEFAULT = /^(Invalid |Too big:|Too small:|Unrecognized key)/

// --- "did you mean" for unknown fields --------------------------------------------------------

/** Walks a zod schema along a data path to the object shape there, to suggest field names. */
function shapeAt(schema: z.core.$ZodType, path: readonly Key[]): string[] | null {
  let node: any = schema
  let i = 0
  for (let guard = 0; guard < 200 && node; guard++) {
    const def = node._zod?.def
    if (!def) return null
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
      case 'catch':
      case 'nonoptional':
        node = def.innerType
        continue
      case 'pipe':
        node = def.in
        continue
      case 'lazy':
        node = def.getter()
        continue
      case 'object':
        if (i === path.length) return Object.keys(def.shape)
        node = def.shape[path[i++] as string]
        continue
      case 'array':
        if (i === path.length) return null
        i++
        node = def.element
        continue
      case 'record':
        if (i === path.length) return null
        i++
        node = def.valueType
        continue
      default:
        return null
    }
  }
  return null
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return row[b.length]
}

/** The closest known name, if it is close enough to be a plausible typo. */
export function suggest(word: string, known: readonly string[]): string | null {
  let best: string | null = null
  let bestDistance = Infinity
  for (const candidate of known) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : null
}

// --- issue -> sentence --------------------------------------------------------------------------

function messageFor(issue: z.core.$ZodIssue): string {
  const input = (issue as { input?: unknown }).input
  if (issue.code !== 'custom' && !ZOD_DEFAULT.test(issue.message)) return issue.message
  switch (issue.code) {
    case 'invalid_type': {
      if (input === undefined) return 'is required'
      const expected = TYPE_WORDS[issue.expected] ?? issue.expected
      return `expected ${expected}, got ${kindOf(input)}`
    }
    case 'invalid_value': {
      const values = issue.values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v)))
      const allowed = values.length === 1 ? `must be ${values[0]}` : `must be one of ${values.join(', ')}`
      return input === undefined ? allowed : `${allowed} (got ${describeValue(input)})`
    }
    case 'too_small': {
      const min = issue.minimum
      switch (issue.origin) {
        case 'array':
        case 'set':
          return `must have at least ${plural(min, 'item', 'items')}`
        case 'string':
          return Number(min) === 1 ? 'must not be empty' : `must be at least ${plural(min, 'character', 'characters')} long`
        default:
          return `must be ${issue.inclusive ? 'at least' : 'greater than'} ${min}${input === undefined ? '' : ` (got ${describeValue(input)})`}`
      }
    }
    case 'too_big': {
      const max = issue.maximum
      switch (issue.origin) {
        case 'array':
        case 'set':
          return `must have at most ${plural(max, 'item', 'items')}`
        case 'string':
          return `must be at most ${plural(max, 'character', 'characters')} long`
        default:
          return `must be ${issue.inclusive ? 'at most' : 'less than'} ${max}${input === undefined ? '' : ` (got ${describeValue(input)})`}`
      }
    }
    case 'invalid_format':
      return issue.format === 'regex' ? `does not match the pattern ${issue.pattern ?? ''}` : `is not a valid ${issue.format}`
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`
    case 'invalid_union':
      return 'does not match any of the accepted forms'
    default:
      return issue.message
  }
}

/** One issue explained: its path (relative to the schema that produced it) and a sentence. */
export interface ExplainedIssue {
  readonly path: Key[]
  readonly message: string
}

/** Explains zod issues; `schema` is the schema that produced them (used to suggest field names). */
export function explainIssues(issues: readonly z.core.$ZodIssue[], schema: z.core.$ZodType): ExplainedIssue[] {
  const out: ExplainedIssue[] = []
  for (const issue of issues) {
    const path = [...issue.path]
    if (issue.code === 'unrecognized_keys') {
      const known = shapeAt(schema, issue.path) ?? []
      for (const key of issue.keys) {
        const hint = suggest(key, known)
        out.push({ path: [...path, key], message: `unknown field${hint !== null ? ` (did you mean '${hint}'?)` : ''}` })
      }
    } else if (issue.code === 'invalid_key') {
      // A bad key of a mapping (e.g. a header name): report the key itself, with the inner reason.
      out.push({ path, message: `invalid name: ${issue.issues.map((i) => messageFor(i)).join('; ')}` })
    } else if (issue.code === 'invalid_element') {
      for (const inner of issue.issues) out.push({ path, message: messageFor(inner) })
    } else {
      out.push({ path, message: messageFor(issue) })
    }
  }
  return out
}

/** Converts zod issues to ConfigIssues; `prefix` is where `schema` sits in the whole document. */
export function toConfigIssues(
  issues: readonly z.core.$ZodIssue[],
  schema: z.core.$ZodType,
  prefix: readonly Key[] = [],
): ConfigIssue[] {
  return explainIssues(issues, schema).map((e) => ({ path: formatPath([...prefix, ...e.path]), message: e.message }))
}
