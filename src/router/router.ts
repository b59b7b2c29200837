// The router: compiled once per config version from every route, then `find` per request.
//
// Precedence (Kong 3 `traditional_compatible`, from kong/router/transform.lua `get_priority`, which
// packs these into one 64-bit priority; `split_routes_and_services_by_path` first splits a route into
// one matcher per prefix length plus one for its regexes; we go one step further and rank every
// (route, path) pair on its own, which orders the same way). Among the entries whose constraints all
// pass, the winner is the first by these keys, in this order:
//   1. weight, higher first: how many of methods, hosts, headers, paths the route constrains
//      (null or empty = unconstrained). Kong also counts snis; Sluice routes have none.
//   2. plain hosts only, first: a route whose hosts are all exact beats one with any wildcard host
//      (and beats a route without hosts at equal weight, as Kong's PLAIN_HOST_ONLY bit does; Kong
//      also sets that bit for `hosts: []`, which we treat as "no hosts", like null).
//   3. header count, higher first (number of header names, capped at 255 like Kong).
//   4. regex path before plain path (Kong's REGEX_URL bit sits above the path length).
//   5. among regex paths: regex_priority, higher first.
//   6. among plain paths: path length, longer first. Sluice extension: a `{param}` counts as one
//      character (the fewest it can match), so `/users/me` (9) beats `/users/{id}` (8), which beats
//      `/users/` (7).
//   7. Sluice, where Kong has no rule: fewer `{param}`s first (a static path beats a param path of
//      the same length).
//   8. `order`, lower first (earlier in the config). Kong leaves full ties to atc-router, whose
//      matchers sit in a BTreeMap keyed by (priority, route uuid): an order no config author can see
//      or control; config position is both.
//   9. position of the path within the route's `paths`, earlier first (same route either way; this
//      only decides matchedLength/params when two paths of one route tie).
//
// Matching rules per attribute:
//   - plain path: prefix match on the normalised path, case-sensitive (`/api` matches `/api/x` and
//     `/apix`). `{name}` must be a whole segment and captures one non-empty segment.
//   - regex path (`~` prefix): JS RegExp compiled sticky, so the match is anchored at the start of the
//     path (Kong prepends `^`; unlike Kong we anchor every alternative of `a|b`, not just the first).
//     `(?P<name>` is accepted as `(?<name>`; a leading `(?i)` becomes the `i` flag; other inline
//     flags are compile errors (Node 20 RegExp has none). Kong 3 compiles with Rust's regex crate, so
//     JS accepts a superset (lookaround, backreferences); `\d`/`\w` are ASCII-only here. Named groups
//     that took part in the match become params. matchedLength is the end of the match.
//   - hosts: exact, `*.example.com` (any host ending in `.example.com`, one or more labels, not
//     `example.com` itself) or `example.*` (any host starting with `example.`). One `*`, as the whole
//     leftmost or rightmost label; anything else is a compile error (Kong also accepts `*example.com`;
//     we refuse it as almost always a typo).
//   - methods: exact, upper-case.
//   - headers: every named header must be present and match one of its values. Plain values compare
//     ASCII case-insensitively (Kong lower-cases both sides); `~*` values are case-insensitive regexes,
//     unanchored (a search, as Kong's `~` operator).
//   - no paths: the route matches every path with matchedLength 0.
//
// A 404 is `null`. Compile errors throw RouteCompileError naming the route id.
//
// How a lookup runs: one walk of the radix trie (radix.ts) over the path visits every node whose
// path prefixes the request: plain entries ending there are checked in rank order until one passes
// or can no longer beat the best so far; regex entries sit at the node where their literal prefix
// ends and are collected as candidates, then tried in rank order after the walk, only while they can
// still beat the best plain entry. Measured with bench/micro/router.ts (A/B in one process): trie-
// placed regexes plus the gate take static-hit lookups to 0.47x and misses to 0.35x of the time of
// a loop over all regex routes; a typed-array trie layout measured 1.04x (no gain), so nodes stay
// objects.

import { flatten, PathTrie, parsePlainPath, type ParsedPath, type TrieSink } from './radix.js'
import type { HeaderLookup, RouteMatch, RouteSpec, Router } from './types.js'

export class RouteCompileError extends Error {
  readonly code = 'SLUICE_ERR_CONFIG'
  constructor(
    readonly routeId: string,
    readonly field: string,
    detail: string,
  ) {
    super(`route "${routeId}": ${field}: ${detail}`)
    this.name = 'RouteCompileError'
  }
}

const MAX_HEADER_COUNT = 255
const NO_RANK = 0x7fffffff

/** One header constraint: lower-case name, plain values lower-cased, `~*` values compiled. */
class HeaderRule {
  constructor(
    readonly name: string,
    readonly plain: readonly string[],
    readonly regexes: readonly RegExp[],
  ) {}
}

/** One (route, path) pair with everything the hot path needs precomputed. Fixed shape. */
class RouteEntry<T> {
  /** Position in the global precedence order, 0 = best. Set once after sorting. */
  rank = 0
  /** Regex entry covered by the router's combined gate regex (see CompiledRouter.regexGate). */
  inGate = false
  constructor(
    readonly spec: RouteSpec<T>,
    readonly pathIndex: number,
    readonly methods: readonly string[] | null,
    /** True when the host check is needed per entry (wildcards present, or a regex entry). */
    readonly checkHost: boolean,
    readonly hostExact: readonly string[],
    readonly hostSuffixes: readonly string[],
    readonly hostPrefixes: readonly string[],
    readonly headers: readonly HeaderRule[] | null,
    readonly paramNames: readonly string[] | null,
    readonly regex: RegExp | null,
    readonly regexHasNames: boolean,
    /** Literal text every regex match starts with: where the entry sits in the trie. */
    readonly regexLiteralPrefix: string,
    /** Shared result for entries whose match never varies (plain path without params, or no path). */
    readonly fixedMatch: RouteMatch<T> | null,
    // Precedence keys (see the top of this file).
    readonly weight: number,
    readonly plainHostOnly: boolean,
    readonly headerCount: number,
    readonly isRegex: boolean,
    readonly pathLength: number,
    readonly paramCount: number,
  ) {}
}

function comparePrecedence<T>(a: RouteEntry<T>, b: RouteEntry<T>): number {
  if (a.weight !== b.weight) return b.weight - a.weight
  if (a.plainHostOnly !== b.plainHostOnly) return a.plainHostOnly ? -1 : 1
  if (a.headerCount !== b.headerCount) return b.headerCount - a.headerCount
  if (a.isRegex !== b.isRegex) return a.isRegex ? -1 : 1
  if (a.isRegex) {
    if (a.spec.regexPriority !== b.spec.regexPriority) return b.spec.regexPriority - a.spec.regexPriority
  } else {
    if (a.pathLength !== b.pathLength) return b.pathLength - a.pathLength
    if (a.paramCount !== b.paramCount) return a.paramCount - b.paramCount
  }
  if (a.spec.order !== b.spec.order) return a.spec.order - b.spec.order
  return a.pathIndex - b.pathIndex
}

/**
 * What a trie terminal holds: plain entries whose path ends there, split so exact-host routes are
 * found by Map; and regex entries whose literal prefix ends there (candidates once the walk passes).
 */
class Terminal<T> {
  /** Rank of anyHost[0] (NO_RANK when empty): lets the walk skip a dominated terminal untouched. */
  readonly anyMinRank: number
  /** anyHost[0] has no method, host or header constraint: it wins here without a check. */
  readonly anyFirstFree: boolean
  constructor(
    /** Plain entries without hosts or with a wildcard host, by rank. */
    readonly anyHost: readonly RouteEntry<T>[],
    /** Exact host -> plain entries whose hosts are all exact and include it, by rank. */
    readonly byHost: ReadonlyMap<string, readonly RouteEntry<T>[]> | null,
    /** Regex entries whose literal prefix is this node's path, by rank. */
    readonly regexes: readonly RouteEntry<T>[] | null,
  ) {
    const first = anyHost.length > 0 ? anyHost[0] : null
    this.anyMinRank = first === null ? NO_RANK : first.rank
    this.anyFirstFree = first !== null && first.methods === null && !first.checkHost && first.headers === null
  }
}

function makeTerminal<T>(entries: RouteEntry<T>[]): Terminal<T> {
  entries.sort((a, b) => a.rank - b.rank)
  const anyHost: RouteEntry<T>[] = []
  let byHost: Map<string, RouteEntry<T>[]> | null = null
  let regexes: RouteEntry<T>[] | null = null
  for (const e of entries) {
    if (e.isRegex) {
      regexes ??= []
      regexes.push(e)
      continue
    }
    if (!e.plainHostOnly) {
      anyHost.push(e)
      continue
    }
    byHost ??= new Map()
    for (const h of e.hostExact) {
      let list = byHost.get(h)
      if (list === undefined) byHost.set(h, (list = []))
      if (!list.includes(e)) list.push(e)
    }
  }
  return new Terminal(anyHost, byHost, regexes)
}

const NO_HEADERS: HeaderLookup = () => undefined

class CompiledRouter<T> implements Router<T>, TrieSink<Terminal<T>> {
  private readonly trie: PathTrie<Terminal<T>>
  /**
   * All gate-able regex paths as one sticky alternation: when it fails, no entry with `inGate` can
   * match, so one regex call replaces one per candidate regex route (19 ns vs 223 ns for 10
   * separate tests on the bench's paths).
   */
  private readonly regexGate: RegExp | null

  // Per-lookup scratch state. find() is synchronous and never re-entered (header lookups must not
  // route), so one set of fields per router serves every request without allocating.
  private method = ''
  private host = ''
  private header: HeaderLookup = NO_HEADERS
  private bestRank = NO_RANK
  private bestEntry: RouteEntry<T> | null = null
  private bestEnd = 0
  private readonly bestCaptures: Int32Array
  /**
   * Regex entries whose literal prefix the walk passed and which could beat the best plain entry
   * at that point; slots [0, regexCount). Each trie node is visited at most once per walk, so the
   * array never needs more slots than there are regex entries.
   */
  private readonly regexCandidates: (RouteEntry<T> | null)[]
  private regexCount = 0

  constructor(trie: PathTrie<Terminal<T>>, regexEntryCount: number, regexGate: RegExp | null) {
    this.trie = trie
    this.regexGate = regexGate
    this.bestCaptures = new Int32Array(trie.captures.length)
    this.regexCandidates = new Array<RouteEntry<T> | null>(regexEntryCount).fill(null)
  }

  // Hot path: no allocation unless the winner has params or named regex groups (then one object
  // for params and one for the result). Plain and no-path winners return a shared, precomputed match.
  find(method: string, host: string, path: string, header: HeaderLookup): RouteMatch<T> | null {
    this.method = method
    this.host = host
    this.header = header
    this.bestRank = NO_RANK
    this.bestEntry = null
    this.regexCount = 0
    this.trie.walk(path, this)

    const regexMatch = this.regexCount > 0 ? this.tryRegexes(path) : null
    this.header = NO_HEADERS // don't keep the request's closure alive until the next lookup

    // (a cast: TS keeps the "= null" narrowing from above across the calls that set it)
    const best = this.bestEntry as RouteEntry<T> | null
    if (best === null) return null
    if (best.fixedMatch !== null) return best.fixedMatch
    let params: Record<string, string> | null = null
    if (best.regex !== null) {
      const groups = regexMatch?.groups
      if (groups !== undefined) {
        params = {}
        for (const name in groups) {
          const v = groups[name]
          if (v !== undefined) params[name] = v
        }
      }
    } else {
      const names = best.paramNames!
      const caps = this.bestCaptures
      params = {}
      for (let i = 0; i < names.length; i++) params[names[i]] = path.slice(caps[2 * i], caps[2 * i + 1])
    }
    return { target: best.spec.target, matchedLength: this.bestEnd, params }
  }

  /**
   * Tries the regex candidates the walk collected, best rank first, while they can still beat the
   * best plain entry; takes the first that passes and matches. Returns the match array only for
   * regexes with named groups (the others are tested without one).
   */
  private tryRegexes(path: string): RegExpExecArray | null {
    const candidates = this.regexCandidates
    // Keep only candidates that can still win, noting whether any is covered by the gate.
    let count = 0
    let gated = 0
    for (let i = 0; i < this.regexCount; i++) {
      const c = candidates[i]!
      if (c.rank >= this.bestRank) continue
      candidates[count++] = c
      if (c.inGate) gated++
    }
    // One combined test first: when it fails, every gated candidate is out, in O(candidates)
    // rather than one regex call each (many regex routes may share a literal prefix).
    if (gated > 0) {
      const gate = this.regexGate!
      gate.lastIndex = 0
      if (!gate.test(path)) {
        let kept = 0
        for (let i = 0; i < count; i++) if (!candidates[i]!.inGate) candidates[kept++] = candidates[i]
        count = kept
      }
    }
    // Insertion sort by rank: few candidates survive, and the array is preallocated.
    for (let i = 1; i < count; i++) {
      const c = candidates[i]!
      let j = i - 1
      while (j >= 0 && candidates[j]!.rank > c.rank) {
        candidates[j + 1] = candidates[j]
        j--
      }
      candidates[j + 1] = c
    }
    for (let i = 0; i < count; i++) {
      const e = candidates[i]!
      if (!this.passes(e)) continue
      const re = e.regex!
      re.lastIndex = 0
      let m: RegExpExecArray | null = null
      if (e.regexHasNames) {
        m = re.exec(path)
        if (m === null) continue
      } else if (!re.test(path)) {
        continue
      }
      // Sticky regexes leave lastIndex at the end of the match: the matched length, no match array.
      this.bestEnd = re.lastIndex
      this.bestEntry = e
      this.bestRank = e.rank
      return m
    }
    return null
  }

  /** Called by the trie walk for every node on the request path that ends a plain path or a regex prefix. */
  terminal(t: Terminal<T>, end: number, depth: number): void {
    const regexes = t.regexes
    if (regexes !== null) {
      for (let i = 0; i < regexes.length; i++) {
        if (regexes[i].rank >= this.bestRank) break
        this.regexCandidates[this.regexCount++] = regexes[i]
      }
    }
    // Hot path: the common terminal is decided from its own fields, without loading any entry
    // (the entries are the cache misses here).
    if (t.anyMinRank < this.bestRank) {
      const list = t.anyHost
      if (t.anyFirstFree) {
        this.take(list[0], t.anyMinRank, end, depth)
      } else {
        for (let i = 0; i < list.length; i++) {
          const e = list[i]
          if (e.rank >= this.bestRank) break
          if (this.passes(e)) {
            this.take(e, e.rank, end, depth)
            break
          }
        }
      }
    }
    if (t.byHost === null) return
    const hostList = t.byHost.get(this.host)
    if (hostList === undefined) return
    for (let i = 0; i < hostList.length; i++) {
      const e = hostList[i]
      if (e.rank >= this.bestRank) break
      if (this.passes(e)) {
        this.take(e, e.rank, end, depth)
        break
      }
    }
  }

  private take(e: RouteEntry<T>, rank: number, end: number, depth: number): void {
    this.bestEntry = e
    this.bestRank = rank
    this.bestEnd = end
    if (depth > 0) {
      const from = this.trie.captures
      const to = this.bestCaptures
      for (let i = 0; i < depth * 2; i++) to[i] = from[i]
    }
  }

  /** Methods, hosts (when not already implied by the byHost map) and headers. */
  private passes(e: RouteEntry<T>): boolean {
    const methods = e.methods
    if (methods !== null) {
      let ok = false
      for (let i = 0; i < methods.length; i++) {
        if (methods[i] === this.method) {
          ok = true
          break
        }
      }
      if (!ok) return false
    }
    if (e.checkHost && !hostMatches(e, this.host)) return false
    const headers = e.headers
    if (headers !== null) {
      for (let i = 0; i < headers.length; i++) {
        if (!headerMatches(headers[i], this.header(headers[i].name))) return false
      }
    }
    return true
  }
}

function hostMatches<T>(e: RouteEntry<T>, host: string): boolean {
  for (let i = 0; i < e.hostExact.length; i++) if (e.hostExact[i] === host) return true
  for (let i = 0; i < e.hostSuffixes.length; i++) {
    const s = e.hostSuffixes[i]
    if (host.length > s.length && host.endsWith(s)) return true
  }
  for (let i = 0; i < e.hostPrefixes.length; i++) {
    const p = e.hostPrefixes[i]
    if (host.length > p.length && host.startsWith(p)) return true
  }
  return false
}

function headerMatches(rule: HeaderRule, value: string | undefined): boolean {
  if (value === undefined) return false
  for (let i = 0; i < rule.plain.length; i++) if (equalsLowerAscii(value, rule.plain[i])) return true
  for (let i = 0; i < rule.regexes.length; i++) if (rule.regexes[i].test(value)) return true
  return false
}

/** `value` equals the already lower-case `lower`, folding ASCII A-Z in `value`; no toLowerCase copy. */
function equalsLowerAscii(value: string, lower: string): boolean {
  if (value.length !== lower.length) return false
  for (let i = 0; i < value.length; i++) {
    let c = value.charCodeAt(i)
    if (c >= 65 && c <= 90) c |= 0x20
    if (c !== lower.charCodeAt(i)) return false
  }
  return true
}

// ---- compile time --------------------------------------------------------------------------------

/** A-Z to a-z only, matching the request-side folding in equalsLowerAscii. */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase())
}

function isEmpty(v: readonly unknown[] | Readonly<Record<string, unknown>> | null | undefined): boolean {
  if (v === null || v === undefined) return true
  return Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0
}

interface CompiledRegexPath {
  readonly regex: RegExp
  readonly hasNames: boolean
  readonly literalPrefix: string
  /** Same language, no capture names, safe to OR with others; null when it can't be (flags, backrefs). */
  readonly gateSource: string | null
}

/** Kong 3 regex path (without the `~`) to a sticky JS RegExp. */
function compileRegexPath(id: string, field: string, source: string): CompiledRegexPath {
  let src = source.replace(/\(\?P</g, '(?<')
  let flags = 'y'
  if (src.startsWith('(?i)')) {
    src = src.slice(4)
    flags += 'i'
  }
  let regex: RegExp
  try {
    regex = new RegExp(src, flags)
  } catch (err) {
    throw new RouteCompileError(id, field, `invalid regex "${source}": ${(err as Error).message}`)
  }
  const hasNames = /\(\?<(?![=!])/.test(src)
  if (hasNames && /\(\?<__proto__>/.test(src)) {
    throw new RouteCompileError(id, field, `regex "${source}": group name "__proto__" is not allowed`)
  }
  const caseless = flags.includes('i')
  return {
    regex,
    hasNames,
    literalPrefix: caseless ? '' : literalPrefixOf(src),
    gateSource: caseless ? null : gateSourceOf(src),
  }
}

/**
 * `src` with named groups turned non-capturing, so several sources can share one alternation
 * (duplicate group names are a SyntaxError in Node 20). Null when that could change what it matches:
 * numbered or named backreferences, a trailing backslash.
 */
export function gateSourceOf(src: string): string | null {
  let out = ''
  let inClass = false
  for (let i = 0; i < src.length; i++) {
    const c = src[i]
    if (c === '\\') {
      const n = src[i + 1]
      if (n === undefined) return null
      if (!inClass && ((n >= '1' && n <= '9') || n === 'k')) return null
      out += c + n
      i++
    } else if (inClass) {
      if (c === ']') inClass = false
      out += c
    } else if (c === '[') {
      inClass = true
      out += c
    } else if (c === '(' && src[i + 1] === '?' && src[i + 2] === '<' && src[i + 3] !== '=' && src[i + 3] !== '!') {
      const close = src.indexOf('>', i + 3)
      if (close < 0) return null
      out += '(?:'
      i = close
    } else {
      out += c
    }
  }
  return out
}

/** One sticky alternation of every gate-able regex entry; marks those entries `inGate`. */
function buildRegexGate<T>(regexEntries: readonly RouteEntry<T>[], gateSources: ReadonlyMap<RouteEntry<T>, string>): RegExp | null {
  const gated = regexEntries.filter((e) => gateSources.has(e))
  if (gated.length < 2) return null // one regex is its own gate
  let gate: RegExp
  try {
    gate = new RegExp(gated.map((e) => `(?:${gateSources.get(e)!})`).join('|'), 'y')
  } catch {
    return null // never expected (each part compiled alone); fall back to testing each regex
  }
  for (const e of gated) e.inGate = true
  return gate
}

const REGEX_META = new Set(['.', '^', '$', '|', '?', '*', '+', '(', ')', '[', ']', '{', '}'])
const QUANTIFIER_START = new Set(['?', '*', '{'])

/**
 * The literal text every match of `src` must start with, or '' when unsure. Conservative: any
 * alternation anywhere gives ''; a literal followed by `?`, `*` or `{` is dropped (it may repeat 0
 * times). Only escapes of punctuation count as literals (`\d` etc. stop the scan).
 */
export function literalPrefixOf(src: string): string {
  if (src.includes('|')) return ''
  let out = ''
  let i = src.startsWith('^') ? 1 : 0
  while (i < src.length) {
    let lit: string
    let next: number
    const c = src[i]
    if (c === '\\') {
      const e = src[i + 1]
      if (e === undefined || /[A-Za-z0-9]/.test(e)) break
      lit = e
      next = i + 2
    } else if (REGEX_META.has(c)) {
      break
    } else {
      lit = c
      next = i + 1
    }
    const after = src[next]
    if (after !== undefined && QUANTIFIER_START.has(after)) break
    out += lit
    if (after === '+') break
    i = next
  }
  return out
}

function compileHosts(id: string, hosts: readonly string[]) {
  const exact: string[] = []
  const suffixes: string[] = []
  const prefixes: string[] = []
  for (const raw of hosts) {
    const h = flatten(raw.toLowerCase())
    const stars = h.split('*').length - 1
    if (h.length === 0) throw new RouteCompileError(id, 'hosts', 'empty host')
    if (stars === 0) {
      exact.push(h)
    } else if (stars === 1 && h.startsWith('*.') && h.length > 2) {
      suffixes.push(flatten(h.slice(1))) // '.example.com'
    } else if (stars === 1 && h.endsWith('.*') && h.length > 2) {
      prefixes.push(flatten(h.slice(0, -1))) // 'example.'
    } else {
      throw new RouteCompileError(
        id,
        'hosts',
        `invalid wildcard host "${raw}": use one "*" as the whole leftmost or rightmost label (*.example.com, example.*)`,
      )
    }
  }
  return { exact, suffixes, prefixes }
}

function compileHeaders(id: string, headers: Readonly<Record<string, readonly string[]>>): HeaderRule[] {
  const rules: HeaderRule[] = []
  for (const [rawName, values] of Object.entries(headers)) {
    const name = flatten(rawName.toLowerCase())
    if (!Array.isArray(values) || values.length === 0) {
      throw new RouteCompileError(id, `headers.${rawName}`, 'needs at least one value')
    }
    const plain: string[] = []
    const regexes: RegExp[] = []
    for (const v of values) {
      if (v.startsWith('~*')) {
        try {
          regexes.push(new RegExp(v.slice(2), 'i'))
        } catch (err) {
          throw new RouteCompileError(id, `headers.${rawName}`, `invalid regex "${v}": ${(err as Error).message}`)
        }
      } else {
        plain.push(flatten(asciiLower(v)))
      }
    }
    rules.push(new HeaderRule(name, plain, regexes))
  }
  return rules
}

/** Compiles every route into one router. Throws RouteCompileError (naming the route) on a bad spec. */
export function compileRouter<T>(routes: readonly RouteSpec<T>[]): Router<T> {
  const entries: RouteEntry<T>[] = []
  const gateSources = new Map<RouteEntry<T>, string>()
  const trieItems: { path: ParsedPath; entry: RouteEntry<T> }[] = []
  const ids = new Set<string>()

  for (const spec of routes) {
    const id = spec.id
    if (ids.has(id)) throw new RouteCompileError(id, 'id', 'duplicate route id')
    ids.add(id)
    if (!Number.isFinite(spec.regexPriority)) {
      throw new RouteCompileError(id, 'regexPriority', 'must be a finite number')
    }

    const methods = isEmpty(spec.methods) ? null : spec.methods!.map((m) => flatten(m.toUpperCase()))
    const hasHosts = !isEmpty(spec.hosts)
    const hosts = hasHosts ? compileHosts(id, spec.hosts!) : { exact: [], suffixes: [], prefixes: [] }
    const plainHostOnly = hasHosts && hosts.suffixes.length === 0 && hosts.prefixes.length === 0
    const headers = isEmpty(spec.headers) ? null : compileHeaders(id, spec.headers!)
    const headerCount = headers === null ? 0 : Math.min(headers.length, MAX_HEADER_COUNT)
    const hasPaths = !isEmpty(spec.paths)
    const weight = (methods ? 1 : 0) + (hasHosts ? 1 : 0) + (headers ? 1 : 0) + (hasPaths ? 1 : 0)

    const paths: readonly string[] = hasPaths ? spec.paths! : ['/']
    for (let pathIndex = 0; pathIndex < paths.length; pathIndex++) {
      const p = paths[pathIndex]
      const field = `paths[${pathIndex}]`
      if (typeof p !== 'string') throw new RouteCompileError(id, field, 'must be a string')
      const isRegex = hasPaths && p.startsWith('~')
      let parsed: ParsedPath | null = null
      let rx: CompiledRegexPath | null = null
      if (isRegex) {
        rx = compileRegexPath(id, field, p.slice(1))
      } else if (hasPaths) {
        try {
          parsed = parsePlainPath(p)
        } catch (err) {
          throw new RouteCompileError(id, field, (err as Error).message)
        }
      } else {
        parsed = { statics: [''], params: [], minLength: 0 } // no paths: terminal at the root
      }
      const paramNames = parsed !== null && parsed.params.length > 0 ? parsed.params : null
      const fixed =
        parsed !== null && paramNames === null
          ? Object.freeze({ target: spec.target, matchedLength: parsed.minLength, params: null })
          : null
      const entry = new RouteEntry<T>(
        spec,
        pathIndex,
        methods,
        // Regex entries are not in any byHost map, so they check the host themselves.
        hasHosts && (!plainHostOnly || isRegex),
        hosts.exact,
        hosts.suffixes,
        hosts.prefixes,
        headers,
        paramNames,
        rx?.regex ?? null,
        rx?.hasNames ?? false,
        rx?.literalPrefix ?? '',
        fixed,
        weight,
        plainHostOnly,
        headerCount,
        isRegex,
        parsed?.minLength ?? 0,
        parsed?.params.length ?? 0,
      )
      entries.push(entry)
      if (rx !== null && rx.gateSource !== null) gateSources.set(entry, rx.gateSource)
      if (parsed !== null) trieItems.push({ path: parsed, entry })
      else if (rx !== null) {
        // A regex sits where its literal prefix ends: it is a candidate only when the walk gets there.
        const prefix = rx.literalPrefix
        trieItems.push({ path: { statics: [prefix], params: [], minLength: prefix.length }, entry })
      }
    }
  }

  entries.sort(comparePrecedence)
  for (let i = 0; i < entries.length; i++) entries[i].rank = i

  const trie = PathTrie.build(
    trieItems.map(({ path, entry }) => ({ path, value: entry })),
    (values: RouteEntry<T>[]) => makeTerminal(values),
  )
  const regexEntries = entries.filter((e) => e.isRegex)
  return new CompiledRouter(trie, regexEntries.length, buildRegexGate(regexEntries, gateSources))
}
