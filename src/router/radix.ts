// A radix trie over the characters of plain route paths, built once per config version.
//
// Plain Kong paths are prefix matches, so every node that ends a configured path is a "terminal":
// the walk reports each terminal it passes (shortest first) to a sink, which decides. `{name}`
// pieces are param nodes that consume exactly one non-empty path segment. Because precedence is
// global (see router.ts), the walk explores every branch that matches (static and param), instead
// of stopping at the first: the sink keeps the best candidate.
//
// Invariant: a node is split wherever a configured path ends or a `{param}` starts, so terminals and
// param branches always sit on node boundaries and the walk never looks inside a label for them.

/** A plain path split into static text and `{param}` names: statics.length === params.length + 1. */
export interface ParsedPath {
  readonly statics: readonly string[]
  readonly params: readonly string[]
  /** Static characters plus one per param: the fewest characters the path can match. */
  readonly minLength: number
}

const SLASH = 47 // '/'
const OPEN = 123 // '{'
const CLOSE = 125 // '}'
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * Splits a plain path into static pieces and `{param}` names. A param must be a whole segment
 * (`/users/{id}` or `/users/{id}/posts`, not `/users/id-{id}`) so that "one segment" is unambiguous.
 * Throws a plain Error with a message about the path; the router adds the route id.
 */
export function parsePlainPath(path: string): ParsedPath {
  if (path.length === 0 || path.charCodeAt(0) !== SLASH) {
    throw new Error(`path "${path}" must start with "/" (or "~" for a regex)`)
  }
  const statics: string[] = []
  const params: string[] = []
  let current = ''
  let minLength = 0
  let i = 0
  while (i < path.length) {
    const c = path.charCodeAt(i)
    if (c === CLOSE) throw new Error(`path "${path}" has a "}" without "{"`)
    if (c !== OPEN) {
      current += path[i]
      minLength++
      i++
      continue
    }
    if (path.charCodeAt(i - 1) !== SLASH) {
      throw new Error(`path "${path}": a {param} must start a segment (right after "/")`)
    }
    const close = path.indexOf('}', i)
    if (close < 0) throw new Error(`path "${path}" has a "{" without "}"`)
    const name = path.slice(i + 1, close)
    if (!PARAM_NAME.test(name) || name === '__proto__') {
      throw new Error(`path "${path}": invalid param name "${name}"`)
    }
    if (params.includes(name)) throw new Error(`path "${path}": duplicate param name "${name}"`)
    if (close + 1 < path.length && path.charCodeAt(close + 1) !== SLASH) {
      throw new Error(`path "${path}": a {param} must end its segment (followed by "/" or the end)`)
    }
    statics.push(current)
    params.push(name)
    current = ''
    minLength++
    i = close + 1
  }
  statics.push(current)
  return { statics, params, minLength }
}

/**
 * A sequential (flat) copy of `s`. Strings built by `+=` are V8 cons-strings (ropes) and `slice`
 * makes sliced strings; charCodeAt and startsWith on those go through an indirection on every call.
 * Everything the hot path reads char by char is flattened once at compile time.
 */
export function flatten(s: string): string {
  let out = ''
  for (let i = 0; i < s.length; i += 4096) {
    const codes: number[] = []
    const end = Math.min(s.length, i + 4096)
    for (let j = i; j < end; j++) codes.push(s.charCodeAt(j))
    out = out.length === 0 ? String.fromCharCode(...codes) : out + String.fromCharCode(...codes)
  }
  return out
}

/** Mutable, uncompressed node used only while building. */
class BuildNode<P> {
  readonly kids = new Map<number, BuildNode<P>>()
  param: BuildNode<P> | null = null
  payload: P | null = null
}

/** Children with at most this many entries are found by a linear scan of their first chars. */
const LINEAR_FANOUT = 6
/** Wider first-char spans than this fall back to the linear scan rather than a huge table. */
const MAX_TABLE_SPAN = 256

export class TrieNode<P> {
  /**
   * Static characters consumed on arrival (after the segment, for a param node). For a static child
   * the first character has already been compared by the parent's dispatch.
   */
  readonly label: string
  readonly isParam: boolean
  payload: P | null
  /** Static children; their labels start with distinct characters. */
  readonly children: TrieNode<P>[]
  readonly childCodes: number[]
  /** Dense dispatch by first char (code - tableMin), or null when the linear scan serves. */
  table: (TrieNode<P> | null)[] | null
  tableMin: number
  paramChild: TrieNode<P> | null

  constructor(label: string, isParam: boolean) {
    this.label = label
    this.isParam = isParam
    this.payload = null
    this.children = []
    this.childCodes = []
    this.table = null
    this.tableMin = 0
    this.paramChild = null
  }
}

/** Receives every terminal the walk reaches. Implemented once (by the router), so calls stay monomorphic. */
export interface TrieSink<P> {
  /** `end`: path position where the configured path ended (the prefix length); `depth`: params captured. */
  terminal(payload: P, end: number, depth: number): void
}

export class PathTrie<P> {
  readonly root: TrieNode<P>
  /**
   * Scratch: segment bounds of the params on the branch being walked, [start0, end0, start1, ...].
   * Valid inside TrieSink.terminal for indexes < 2 * depth. Reused by every walk: lookups are
   * synchronous and must not re-enter the same trie from a sink.
   */
  readonly captures: Int32Array
  readonly maxParams: number

  private constructor(root: TrieNode<P>, maxParams: number) {
    this.root = root
    this.maxParams = maxParams
    this.captures = new Int32Array(Math.max(2, maxParams * 2))
  }

  /**
   * Builds the trie. `paths[i]` ends at a terminal whose payload is `makePayload(values)`, where
   * values are all values added for the same path shape (param names do not matter for the shape).
   */
  static build<V, P>(
    items: ReadonlyArray<{ readonly path: ParsedPath; readonly value: V }>,
    makePayload: (values: V[]) => P,
  ): PathTrie<P> {
    const root = new BuildNode<V[]>()
    let maxParams = 0
    for (const item of items) {
      let node = root
      const { statics, params } = item.path
      if (params.length > maxParams) maxParams = params.length
      for (let s = 0; s < statics.length; s++) {
        const text = statics[s]
        for (let i = 0; i < text.length; i++) {
          const code = text.charCodeAt(i)
          let next = node.kids.get(code)
          if (next === undefined) {
            next = new BuildNode<V[]>()
            node.kids.set(code, next)
          }
          node = next
        }
        if (s < params.length) {
          if (node.param === null) node.param = new BuildNode<V[]>()
          node = node.param
        }
      }
      if (node.payload === null) node.payload = []
      node.payload.push(item.value)
    }
    return new PathTrie(compress(root, '', false, makePayload, true), maxParams)
  }

  /**
   * Hot path: walks `path` char by char (charCodeAt, no slicing, no arrays), reporting every terminal
   * on the way to `sink`: depth first, shortest prefix first along each branch, a node's param
   * branch before its static child. Recursion happens only at param branches.
   */
  walk(path: string, sink: TrieSink<P>): void {
    this.walkFrom(this.root, path, 0, 0, sink)
  }

  private walkFrom(start: TrieNode<P>, path: string, from: number, depth: number, sink: TrieSink<P>): void {
    const len = path.length
    let node = start
    let pos = from
    for (;;) {
      if (node.payload !== null) sink.terminal(node.payload, pos, depth)
      if (pos >= len) return
      if (node.paramChild !== null) this.walkParam(node.paramChild, path, pos, depth, sink)
      const code = path.charCodeAt(pos)
      let child: TrieNode<P> | null = null
      const table = node.table
      if (table !== null) {
        const idx = code - node.tableMin
        if (idx >= 0 && idx < table.length) child = table[idx]
      } else {
        const codes = node.childCodes
        for (let i = 0; i < codes.length; i++) {
          if (codes[i] === code) {
            child = node.children[i]
            break
          }
        }
      }
      if (child === null) return
      const label = child.label
      const labelLen = label.length
      if (pos + labelLen > len) return
      for (let i = 1; i < labelLen; i++) {
        if (path.charCodeAt(pos + i) !== label.charCodeAt(i)) return
      }
      pos += labelLen
      node = child
    }
  }

  private walkParam(node: TrieNode<P>, path: string, pos: number, depth: number, sink: TrieSink<P>): void {
    const len = path.length
    let end = pos
    while (end < len && path.charCodeAt(end) !== SLASH) end++
    if (end === pos) return // a param never matches an empty segment
    const label = node.label
    const labelLen = label.length
    if (end + labelLen > len) return
    for (let i = 0; i < labelLen; i++) {
      if (path.charCodeAt(end + i) !== label.charCodeAt(i)) return
    }
    this.captures[depth * 2] = pos
    this.captures[depth * 2 + 1] = end
    this.walkFrom(node, path, end + labelLen, depth + 1, sink)
  }
}

function compress<V, P>(
  start: BuildNode<V[]>,
  firstChar: string,
  isParam: boolean,
  makePayload: (values: V[]) => P,
  isRoot = false,
): TrieNode<P> {
  let label = firstChar
  let b = start
  // Absorb single-child chains into the label; stop at terminals and param branches (see invariant).
  // The root keeps an empty label: the walk starts inside it.
  while (!isRoot && b.payload === null && b.param === null && b.kids.size === 1) {
    const [code, kid] = b.kids.entries().next().value as [number, BuildNode<V[]>]
    label += String.fromCharCode(code)
    b = kid
  }
  const node = new TrieNode<P>(flatten(label), isParam)
  if (b.payload !== null) node.payload = makePayload(b.payload)
  if (b.param !== null) node.paramChild = compress(b.param, '', true, makePayload)
  const codes = [...b.kids.keys()].sort((x, y) => x - y)
  for (const code of codes) {
    node.children.push(compress(b.kids.get(code)!, String.fromCharCode(code), false, makePayload))
    node.childCodes.push(code)
  }
  if (codes.length > LINEAR_FANOUT) {
    const min = codes[0]
    const span = codes[codes.length - 1] - min + 1
    if (span <= MAX_TABLE_SPAN) {
      const table: (TrieNode<P> | null)[] = new Array<TrieNode<P> | null>(span).fill(null)
      for (let i = 0; i < codes.length; i++) table[codes[i] - min] = node.children[i]
      node.table = table
      node.tableMin = min
    }
  }
  return node
}
