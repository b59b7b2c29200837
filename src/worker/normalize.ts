// Path normalisation: the one path the gateway authorises, routes and forwards (security-bar.md §1:
// CVE-2019-9901 `/info/../private` bypassed Envoy's RBAC because the checked path and the forwarded path
// differed). Envoy's rules (path_utility_test.cc), RFC 3986 §5.2.4 for dot-segments:
//  - `.` and `..` segments are resolved; `..` above the root stays at the root;
//  - `%2e`/`%2E` is decoded to `.` (so `/%2e%2e/` is a dot-segment); no other escape is decoded, so
//    `%2F`, `%5c`, `%25` and the case of their hex digits reach the upstream as sent;
//  - `\` is a separator (Envoy's `..\\` canonicalisation); runs of separators merge into one `/`;
//  - a path that does not start with `/` gets one (Envoy: `a/b/../c` -> `/a/c`);
//  - NUL (raw or `%00`), raw control characters (< 0x20, 0x7f), malformed escapes (`%zz`, `%4`) and
//    dot-segments carrying `;` parameters (`..;`, the servlet traversal) are rejected: the caller answers
//    400 SLUICE_ERR_BAD_PATH.

const SLASH = 0x2f
const BACKSLASH = 0x5c
const DOT = 0x2e
const PERCENT = 0x25
const SEMICOLON = 0x3b

/**
 * `..;x` or `.;x` (also with `%3b`): servlet containers (Tomcat, Jetty) drop the `;` parameters and then
 * treat the segment as a dot-segment, so `/public/..;/admin` reaches `/admin` behind a gateway that routed
 * and authorised `/public/..;/admin` (Istio #27409, the Tomcat `..;` bypass). No client needs these, so
 * they are rejected rather than guessed at.
 */
function isDotWithParams(seg: string): boolean {
  if (seg.charCodeAt(0) !== DOT) return false
  const j = seg.charCodeAt(1) === DOT ? 2 : 1
  const c = seg.charCodeAt(j)
  if (c === SEMICOLON) return true
  return c === PERCENT && seg.charCodeAt(j + 1) === 0x33 /* 3 */ && (seg.charCodeAt(j + 2) | 0x20) === 0x62 /* b */
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  const l = c | 0x20
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10
  return -1
}

/** True when `s[i]` ends a segment: a separator or the end of the path. */
function segmentEnds(s: string, i: number): boolean {
  if (i >= s.length) return true
  const c = s.charCodeAt(i)
  return c === SLASH || c === BACKSLASH
}

/**
 * Returns the normalised path, or null when the path must be rejected with 400. The input carries no
 * query string.
 *
 * Hot path: one charCode scan with no allocation decides whether the path is already normal (almost every
 * request) and returns the very same string; only paths with a dot-segment, `%2e`, `//` or `\` pay for
 * the rebuild. bench/micro/normalize.ts measures both branches.
 */
export function normalizePath(rawPath: string): string | null {
  const n = rawPath.length
  if (n === 0 || rawPath.charCodeAt(0) !== SLASH) return rebuild(rawPath)
  let work = false
  for (let i = 1; i < n; i++) {
    const c = rawPath.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return null
    if (c === SLASH) {
      if (rawPath.charCodeAt(i - 1) === SLASH) work = true
    } else if (c === DOT) {
      // Only a segment that is `.`/`..`, possibly followed by `;` or an escape, needs a closer look;
      // `/.well-known` or `/a.b` do not.
      if (rawPath.charCodeAt(i - 1) === SLASH) {
        const j = rawPath.charCodeAt(i + 1) === DOT ? i + 2 : i + 1
        if (segmentEnds(rawPath, j)) work = true
        else {
          const next = rawPath.charCodeAt(j)
          if (next === SEMICOLON || next === PERCENT) work = true
        }
      }
    } else if (c === PERCENT) {
      if (i + 2 >= n) return null
      const hi = hexValue(rawPath.charCodeAt(i + 1))
      const lo = hexValue(rawPath.charCodeAt(i + 2))
      if (hi < 0 || lo < 0) return null
      const byte = (hi << 4) | lo
      if (byte === 0) return null
      if (byte === DOT) work = true
      i += 2
    } else if (c === BACKSLASH) {
      work = true
    }
  }
  return work ? rebuild(rawPath) : rawPath
}

/**
 * The slow path: splits on `/` and `\`, decodes `%2e`, drops empty and `.` segments, pops on `..`.
 * Validation is repeated here because a path not starting with `/` skips the scan above.
 */
function rebuild(rawPath: string): string | null {
  const n = rawPath.length
  const segments: string[] = []
  // Whether the result ends in `/`: the last segment was empty, `.` or `..` (RFC 3986: `/a/b/..` -> `/a/`).
  let trailingSlash = false
  let seg = ''
  let segStart = 0
  // i === n acts as a final separator, so the last segment goes through the same rules.
  for (let i = 0; i <= n; i++) {
    const c = i < n ? rawPath.charCodeAt(i) : SLASH
    if (c === SLASH || c === BACKSLASH) {
      seg += rawPath.slice(segStart, i)
      if (isDotWithParams(seg)) return null
      if (seg === '' || seg === '.') {
        trailingSlash = true
      } else if (seg === '..') {
        segments.pop()
        trailingSlash = true
      } else {
        segments.push(seg)
        trailingSlash = false
      }
      seg = ''
      segStart = i + 1
      continue
    }
    if (c < 0x20 || c === 0x7f) return null
    if (c === PERCENT) {
      if (i + 2 >= n) return null
      const hi = hexValue(rawPath.charCodeAt(i + 1))
      const lo = hexValue(rawPath.charCodeAt(i + 2))
      if (hi < 0 || lo < 0) return null
      const byte = (hi << 4) | lo
      if (byte === 0) return null
      if (byte === DOT) {
        seg += rawPath.slice(segStart, i) + '.'
        segStart = i + 3
      }
      i += 2
    }
  }
  if (segments.length === 0) return '/'
  const joined = '/' + segments.join('/')
  return trailingSlash ? joined + '/' : joined
}
