// String validators shared by the schema: each returns null when the value is fine, else a
// sentence saying what is wrong. Rules follow Kong's typedefs (kong/db/schema/typedefs.lua) where
// Kong has one, so a file Kong accepts is accepted here and refused for the same reasons.

import { createPublicKey, type KeyObject } from 'node:crypto'
import { isIPv4, isIPv6 } from 'node:net'

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/

/** A DNS name (underscores allowed, as Kong's normalize_ip allows them). */
export function checkHostname(s: string): string | null {
  if (s.length === 0) return 'must not be empty'
  if (s.length > 253) return 'is too long for a host name (253 characters at most)'
  for (const label of s.split('.')) {
    if (!LABEL.test(label)) return `'${s}' is not a valid host name`
  }
  return null
}

/** `[::1]` -> `::1`; anything else unchanged. */
export function unbracket(s: string): string {
  return s.length > 2 && s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s
}

export function isIP(s: string): boolean {
  return isIPv4(s) || isIPv6(unbracket(s))
}

/** Kong `typedefs.host`: a host name or IP address, without a port. */
export function checkHost(s: string): string | null {
  if (isIP(s)) return null
  if (/^[^:[\]]+:\d*$/.test(s) || /^\[.*\]:\d*$/.test(s)) return 'must not have a port (use the port field)'
  return checkHostname(s)
}

/** Splits `host:port`, `[v6]:port`, `host`, `v6`. Port is null when absent; NaN when malformed. */
export function splitHostPort(s: string): { host: string; port: number | null } {
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(s)
  if (bracketed) return { host: bracketed[1], port: bracketed[2] === undefined ? null : toPort(bracketed[2]) }
  if (isIPv6(s)) return { host: s, port: null }
  const colon = s.lastIndexOf(':')
  if (colon === -1) return { host: s, port: null }
  return { host: s.slice(0, colon), port: toPort(s.slice(colon + 1)) }
}

function toPort(s: string): number {
  return /^\d{1,5}$/.test(s) ? Number(s) : NaN
}

/** Kong's upstream name rule: a host name, not an IP, no port. */
export function checkUpstreamName(s: string): string | null {
  if (isIP(s)) return `invalid name '${s}': an upstream name must be a host name, not an IP address`
  if (s.includes(':')) return `invalid name '${s}': an upstream name must not have a port`
  const problem = checkHostname(s)
  return problem === null ? null : `invalid name '${s}': an upstream name must be a valid host name`
}

// Kong `validate_utf8_name`: alphanumerics, '.', '-', '_', '~', and any non-ASCII character.
const NAME = /^[A-Za-z0-9._~\-\u0080-\u{10FFFF}]+$/u

export function checkName(s: string): string | null {
  return NAME.test(s)
    ? null
    : `invalid name '${s}': the only accepted ASCII characters are letters, digits, '.', '-', '_' and '~'`
}

// Kong `validate_tag`: printable ASCII except ',' and '/', or non-ASCII.
const TAG = /^[ !-+\-.0-~\u0080-\u{10FFFF}]+$/u

export function checkTag(s: string): string | null {
  return TAG.test(s) ? null : `invalid tag '${s}': use printable characters other than ',' and '/'`
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function checkUuid(s: string): string | null {
  return UUID.test(s) ? null : `'${s}' is not a UUID (ids look like 0e2b7d19-ef2c-4283-8f4b-064de04433fe)`
}

export const UUID_PATTERN = UUID

// RFC 9110 token: what a header name may contain.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

export function checkHeaderName(s: string): string | null {
  return TOKEN.test(s) ? null : `'${s}' is not a valid header name`
}

export function checkMethod(s: string): string | null {
  return /^[A-Z]+$/.test(s) ? null : `'${s}' is not an HTTP method: use upper-case letters, e.g. GET`
}

// Kong `validate_path`: RFC 3986 unreserved, sub-delims, ':', '@', '/', and percent-encodings.
const PATH_CHARS = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/

function checkPercentEncoding(s: string): string | null {
  const bad = /%(?![0-9A-Fa-f]{2})/.exec(s)
  return bad ? `invalid percent-encoding '${s.slice(bad.index, bad.index + 3)}' in '${s}'` : null
}

/** Kong `typedefs.path` (a service's path). */
export function checkPath(s: string): string | null {
  if (!s.startsWith('/')) return `'${s}' must start with '/'`
  if (s.includes('//')) return `'${s}' must not have empty segments ('//')`
  if (!PATH_CHARS.test(s)) return `invalid path '${s}': characters outside RFC 3986 found`
  return checkPercentEncoding(s)
}

const UNRESERVED = /[A-Za-z0-9._~-]/
const CAPTURE_SEGMENT = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/

/**
 * Kong `typedefs.router_path`: `/plain/prefix` or `~/regex`. Plain paths must be normalised, as
 * Kong requires, because the router compares them to normalised request paths. Sluice adds
 * `{name}` segments that capture one path segment (see src/router/types.ts).
 */
export function checkRoutePath(s: string): string | null {
  if (s.startsWith('~')) {
    if (!s.startsWith('~/')) return `regex path '${s}' must start with '~/'`
    try {
      new RegExp(s.slice(1))
    } catch (err) {
      return `invalid regex '${s.slice(1)}': ${regexProblem(err)}`
    }
    return null
  }
  if (!s.startsWith('/')) return `'${s}' must start with '/' (a plain path) or '~/' (a regex path)`
  if (s.includes('//')) return `'${s}' must not have empty segments ('//')`
  const names = new Set<string>()
  const segments = s.split('/')
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]
    if (segment.includes('{') || segment.includes('}')) {
      const capture = CAPTURE_SEGMENT.exec(segment)
      if (!capture) return `invalid capture '${segment}' in '${s}': write a whole segment as {name}`
      if (names.has(capture[1])) return `capture {${capture[1]}} appears twice in '${s}'`
      names.add(capture[1])
      continue
    }
    if (segment === '.' || segment === '..') {
      return `non-normalised path '${s}': '.' and '..' segments are not allowed`
    }
    if (!PATH_CHARS.test(`/${segment}`)) return `invalid path '${s}': characters outside RFC 3986 found`
  }
  const encoding = checkPercentEncoding(s)
  if (encoding !== null) return encoding
  // Kong refuses a percent-encoded unreserved character: the normalised request path decodes it.
  const normalised = s.replace(/%([0-9A-Fa-f]{2})/g, (all, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16))
    return UNRESERVED.test(ch) ? ch : all
  })
  if (normalised !== s) return `non-normalised path '${s}': use '${normalised}' instead`
  return null
}

/**
 * Kong `typedefs.hosts` element: exact, or one wildcard as the leftmost or rightmost label. The
 * router takes hosts without a port (src/router/types.ts), so a port is refused here.
 */
export function checkRouteHost(s: string): string | null {
  const stars = s.split('*').length - 1
  if (stars > 1) return `invalid host '${s}': at most one wildcard is allowed`
  if (stars === 1 && !s.startsWith('*.') && !s.endsWith('.*')) {
    return `invalid host '${s}': the wildcard must be the leftmost or rightmost label ('*.example.com' or 'example.*')`
  }
  if (isIP(s)) return null
  if (s.includes(':')) return `invalid host '${s}': ports in route hosts are not supported`
  const problem = checkHostname(s.replace('*', 'wildcard'))
  return problem === null ? null : `invalid host '${s}'`
}

/** V8's "Invalid regular expression: /x/: Unterminated group" -> "Unterminated group". */
function regexProblem(err: unknown): string {
  return (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')
}

/** A header value to match: plain, or `~*regex` (case-insensitive), which must compile. */
export function checkHeaderValue(s: string): string | null {
  if (!s.startsWith('~*')) return null
  try {
    new RegExp(s.slice(2), 'i')
  } catch (err) {
    return `invalid regex '${s.slice(2)}': ${regexProblem(err)}`
  }
  return null
}

/** An IP address or CIDR range (IPv4 or IPv6). */
export function checkCidr(s: string): string | null {
  const slash = s.indexOf('/')
  const ip = slash === -1 ? s : s.slice(0, slash)
  const bits = slash === -1 ? null : s.slice(slash + 1)
  const max = isIPv4(ip) ? 32 : isIPv6(ip) ? 128 : 0
  if (max === 0) return `'${s}' is not an IP address or CIDR range`
  if (bits !== null && (!/^\d{1,3}$/.test(bits) || Number(bits) > max)) {
    return `'${s}' has an invalid prefix length (0..${max})`
  }
  return null
}

/** An address to listen on: an IP address or a host name such as `localhost`. */
export function checkListenAddress(s: string): string | null {
  if (isIP(s)) return null
  return checkHostname(s) === null ? null : `'${s}' is not an IP address or host name`
}

// The value is not echoed: a Redis URL may carry a password, and errors end up in logs.
export function checkRedisUrl(s: string): string | null {
  let url: URL
  try {
    url = new URL(s)
  } catch {
    return 'is not a URL (expected redis://host:port or rediss://host:port)'
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return 'must start with redis:// or rediss://'
  if (url.hostname === '') return 'has no host'
  return null
}

export { checkPasswordHash } from '../auth/password.js'

/** The hash size of an HS algorithm in bytes: RFC 7518 §3.2 wants a key at least that long. */
const HMAC_MIN_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 }

/**
 * A JWT credential's key material, checked for the one algorithm it is bound to: HS keys are secrets of
 * at least the hash size; the others a PEM public key of the matching type (RSA ≥ 2048 bits for RS/PS,
 * the algorithm's curve for ES, Ed25519/Ed448 for EdDSA). A secret on an asymmetric credential, or a
 * public key on an HMAC one, is refused: that pairing is what algorithm-confusion attacks feed on.
 */
export function checkJwtKeyMaterial(
  algorithm: string,
  secret: string | undefined,
  pem: string | undefined,
): { field: 'secret' | 'rsa_public_key'; message: string } | null {
  if (algorithm.startsWith('HS')) {
    if (pem !== undefined) return { field: 'rsa_public_key', message: `must not be set for ${algorithm} (an HMAC credential uses 'secret')` }
    if (secret === undefined) return { field: 'secret', message: `is required for ${algorithm}` }
    const min = HMAC_MIN_BYTES[algorithm]
    if (Buffer.byteLength(secret) < min) return { field: 'secret', message: `must be at least ${min} bytes for ${algorithm} (RFC 7518 §3.2)` }
    return null
  }
  if (secret !== undefined) return { field: 'secret', message: `must not be set for ${algorithm} (use 'rsa_public_key' with a PEM public key)` }
  if (pem === undefined) return { field: 'rsa_public_key', message: `is required for ${algorithm} (a PEM public key)` }
  if (pem.includes('PRIVATE KEY')) return { field: 'rsa_public_key', message: 'holds a private key: give the public key only' }
  let key: KeyObject
  try {
    key = createPublicKey(pem)
  } catch {
    return { field: 'rsa_public_key', message: 'is not a PEM public key' }
  }
  const problem = checkKeyForAlgorithm(key, algorithm)
  return problem === null ? null : { field: 'rsa_public_key', message: problem }
}

const EC_CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' }

/** Whether a public key object can verify `algorithm`; a sentence when not. Used for JWKS keys too. */
export function checkKeyForAlgorithm(key: KeyObject, algorithm: string): string | null {
  const type = key.asymmetricKeyType
  const details = key.asymmetricKeyDetails ?? {}
  if (algorithm.startsWith('RS') || algorithm.startsWith('PS')) {
    if (type !== 'rsa' && !(type === 'rsa-pss' && algorithm.startsWith('PS'))) return `is a ${type} key, not an RSA key as ${algorithm} needs`
    if ((details.modulusLength ?? 0) < 2048) return `is a ${details.modulusLength}-bit RSA key: ${algorithm} needs at least 2048 bits`
    return null
  }
  if (algorithm.startsWith('ES')) {
    if (type !== 'ec' || details.namedCurve !== EC_CURVES[algorithm]) return `is not an EC key on the curve ${algorithm} needs (${EC_CURVES[algorithm]})`
    return null
  }
  if (algorithm === 'EdDSA') return type === 'ed25519' || type === 'ed448' ? null : `is a ${type} key, not Ed25519/Ed448 as EdDSA needs`
  return `algorithm ${algorithm} takes no public key`
}
