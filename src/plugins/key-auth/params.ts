import { unescape } from 'node:querystring'

// Finding one parameter in a raw `a=1&b=2` string (the query string, a form-urlencoded body) without
// building a map of all of them, as Kong's `ngx.decode_args` would read it: '&' separates, '+' is a
// space, a name without '=' has no value (Kong's `true`, never a key), a name given twice is a list.

/** The parameter was given more than once (Kong: a table, "Duplicate API key found"). */
export const DUPLICATE: unique symbol = Symbol('duplicate parameter')

/** A parameter's single value, `DUPLICATE`, or undefined when absent (or given without a value). */
export type ParamValue = string | typeof DUPLICATE | undefined

/** Percent-decoding as browsers encode forms; malformed escapes stay as written (never throws). */
export function decodeComponent(s: string): string {
  if (s.indexOf('%') === -1 && s.indexOf('+') === -1) return s
  return unescape(s.replaceAll('+', ' '))
}

/** End of the name in the segment [start, end): the first '=' or `end`. Bounded by the segment. */
function nameEnd(raw: string, start: number, end: number): number {
  for (let i = start; i < end; i++) if (raw.charCodeAt(i) === 61 /* = */) return i
  return end
}

/** Whether raw[start, end) names `name`, decoding only a segment that has an escape in it. */
function named(raw: string, start: number, end: number, name: string): boolean {
  if (end - start === name.length && raw.startsWith(name, start)) return true
  for (let i = start; i < end; i++) {
    const c = raw.charCodeAt(i)
    if (c === 37 /* % */ || c === 43 /* + */) return decodeComponent(raw.slice(start, end)) === name
  }
  return false
}

/**
 * Hot path (key_in_query): one pass over the raw string, no split, no allocation unless the name
 * matches or is percent-encoded.
 */
export function findParam(raw: string, name: string): ParamValue {
  let value: ParamValue = undefined
  let seen = false
  let start = 0
  const length = raw.length
  while (start < length) {
    let end = raw.indexOf('&', start)
    if (end === -1) end = length
    const eq = nameEnd(raw, start, end)
    if (end > start && named(raw, start, eq, name)) {
      if (seen) return DUPLICATE
      seen = true
      value = eq === end ? undefined : decodeComponent(raw.slice(eq + 1, end))
    }
    start = end + 1
  }
  return value
}

/** `raw` without every parameter called `name`; the others keep their exact spelling and order. */
export function withoutParam(raw: string, name: string): string {
  let kept = ''
  let removed = false
  let start = 0
  const length = raw.length
  while (start < length) {
    let end = raw.indexOf('&', start)
    if (end === -1) end = length
    if (end > start) {
      if (named(raw, start, nameEnd(raw, start, end), name)) removed = true
      else kept = kept.length === 0 ? raw.slice(start, end) : `${kept}&${raw.slice(start, end)}`
    }
    start = end + 1
  }
  return removed ? kept : raw
}
