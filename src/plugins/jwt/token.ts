// Reading a JWT before anything trusts it: where it is in the request (Kong's retrieve_token), and its
// decoding into header and claims. Nothing here verifies a signature; src/plugins/jwt/index.ts does, with
// jose, once it knows which single key and algorithm the token must match.

import { JWT_ALGORITHMS } from '../../config/schema.js'
import type { RequestContext } from '../../pipeline/context.js'

/** More than one token where one is expected (Kong: "Multiple tokens provided"). */
export const MULTIPLE = Symbol('multiple tokens')

export interface TokenPlaces {
  readonly uriParamNames: readonly string[]
  readonly cookieNames: readonly string[]
  readonly headerNames: readonly string[]
}

/**
 * The token of a `Bearer <token>` value, else undefined. Kong matches `\s*[Bb]earer\s+(.+)` unanchored;
 * Sluice anchors it, so `Basic x, Bearer y` is no bearer token.
 *
 * Hot path: character codes instead of a regex: 27–44 ns against 330–480 ns for the regex and
 * trimEnd, which walk the whole token twice (bench/micro/jwt.ts, "proposal" rows).
 */
export function bearerToken(v: string): string | undefined {
  let i = 0
  while (i < v.length && isSpace(v.charCodeAt(i))) i++
  const b = v.charCodeAt(i)
  if (
    (b !== 66 && b !== 98) /* B b */ ||
    v.charCodeAt(i + 1) !== 101 /* e */ ||
    v.charCodeAt(i + 2) !== 97 /* a */ ||
    v.charCodeAt(i + 3) !== 114 /* r */ ||
    v.charCodeAt(i + 4) !== 101 /* e */ ||
    v.charCodeAt(i + 5) !== 114 /* r */
  ) {
    return undefined
  }
  i += 6
  const afterScheme = i
  while (i < v.length && isSpace(v.charCodeAt(i))) i++
  if (i === afterScheme || i === v.length) return undefined
  let end = v.length
  while (end > i && isSpace(v.charCodeAt(end - 1))) end--
  return v.slice(i, end)
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9
}

/**
 * The request's token, gathered as Kong 3 does (retrieve_tokens): every value of every configured URI
 * parameter, cookie and header (`Bearer <token>`) is collected, and more than one DISTINCT token is
 * MULTIPLE. Taking the first one found instead would let a request carry a valid token beside a forged
 * one, and an upstream that decodes without verifying would read the forged claims. Undefined: none.
 *
 * Hot path: runs on every request of a jwt route, cache hit or not. The query string is only parsed when
 * it contains a parameter name followed by '='; cookies only when cookie names are configured.
 */
export function retrieveToken(ctx: RequestContext, places: TokenPlaces): string | typeof MULTIPLE | undefined {
  let found: string | undefined
  const query = ctx.query
  if (query.length > 0) {
    for (let i = 0; i < places.uriParamNames.length; i++) {
      const name = places.uriParamNames[i]
      if (!query.includes(`${name}=`)) continue
      for (const value of new URLSearchParams(query).getAll(name)) {
        if (value === '') continue
        if (found !== undefined && found !== value) return MULTIPLE
        found = value
      }
    }
  }
  if (places.cookieNames.length > 0) {
    for (let i = 0; i < places.cookieNames.length; i++) {
      const value = cookie(ctx.headers, places.cookieNames[i])
      if (value === MULTIPLE) return MULTIPLE
      if (value === undefined || value === '') continue
      if (found !== undefined && found !== value) return MULTIPLE
      found = value
    }
  }
  const headers = ctx.headers
  for (let n = 0; n < places.headerNames.length; n++) {
    const name = places.headerNames[n]
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] !== name) continue
      const value = bearerToken(headers[i + 1])
      if (value === undefined) continue
      if (found !== undefined && found !== value) return MULTIPLE
      found = value
    }
  }
  return found
}

/** A cookie's value from every Cookie header (RFC 6265 §5.4: `a=b; c=d`); MULTIPLE when it is set twice differently. */
function cookie(headers: readonly string[], name: string): string | typeof MULTIPLE | undefined {
  let found: string | undefined
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'cookie') continue
    for (const pair of headers[i + 1].split(';')) {
      const eq = pair.indexOf('=')
      if (eq < 0 || pair.slice(0, eq).trim() !== name) continue
      let value = pair.slice(eq + 1).trim()
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
      if (found !== undefined && found !== value) return MULTIPLE
      found = value
    }
  }
  return found
}

export interface DecodedToken {
  readonly header: Readonly<Record<string, unknown>>
  readonly claims: Readonly<Record<string, unknown>>
  readonly alg: string
}

const SUPPORTED_ALGS = new Set<string>(JWT_ALGORITHMS)
const B64URL = /^[A-Za-z0-9_-]*$/
/**
 * Header parameters that point at keys elsewhere (RFC 7515 §4.1.2–4.1.6). Honouring them is how
 * `jku`/`x5u` SSRF and embedded-key forgeries work; Sluice uses only configured keys, and refuses a token
 * that asks otherwise rather than silently ignoring the request.
 */
const FORBIDDEN_HEADER_PARAMS = ['jku', 'x5u', 'jwk', 'x5c'] as const

/** Decodes a compact JWS; a string is Kong's "Bad token; <reason>" reason. Never throws. */
export function decodeToken(token: string): DecodedToken | string {
  const first = token.indexOf('.')
  const second = first < 0 ? -1 : token.indexOf('.', first + 1)
  if (second < 0) return 'not a compact JWS (three dot-separated parts expected)'
  if (token.indexOf('.', second + 1) >= 0) return 'not a compact JWS (encrypted tokens are not accepted)'
  const h = token.slice(0, first)
  const p = token.slice(first + 1, second)
  const s = token.slice(second + 1)
  if (!isBase64Url(h) || !isBase64Url(p) || !isBase64Url(s) || s.length === 0) return 'invalid base64url'
  const header = parseObject(h)
  const claims = parseObject(p)
  if (header === null || claims === null) return 'invalid JSON'
  const alg = header.alg
  if (typeof alg !== 'string' || !SUPPORTED_ALGS.has(alg)) return 'invalid alg'
  for (const param of FORBIDDEN_HEADER_PARAMS) {
    if (param in header) return `header parameter '${param}' is not accepted`
  }
  return { header, claims, alg }
}

function isBase64Url(s: string): boolean {
  return s.length % 4 !== 1 && B64URL.test(s)
}

/** A JSON object (not an array, not a primitive), or null. */
function parseObject(b64: string): Record<string, unknown> | null {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(b64, 'base64url').toString('utf8'))
  } catch {
    return null
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null
}
