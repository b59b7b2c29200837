// Header rules for both directions of the proxy: hop-by-hop stripping (RFC 9110 §7.6.1), name and value
// validation (undici's rule), trusted proxies and the client IP (nginx realip with `real_ip_recursive on`),
// and the X-Forwarded-* / X-Real-IP values sent upstream.
//
// What the forwarder must drop from the inbound request before handing the list to undici, and why:
//  - every name for which `isHopByHop` is true, and every name `connectionTokens(Connection)` returns:
//    RFC 9110 §7.6.1; undici 7.30 also throws InvalidArgumentError on `transfer-encoding`, `keep-alive`
//    and `upgrade` (test/proxy/headers.test.ts checks this against the installed undici);
//  - `expect`: undici throws NotSupportedError on it (a hostile client would turn it into a 500);
//  - `host` and `content-length`: undici throws on duplicates, and both are the forwarder's to set once
//    (Host from the service or the preserved client Host; Content-Length from the validated inbound value);
//  - `x-forwarded-for`, `x-forwarded-proto`, `x-forwarded-host`, `x-forwarded-port`, `x-real-ip`: replaced
//    by `writeForwardedHeaders`, which keeps inbound values only from trusted proxies;
//  - `x-consumer-id`, `x-consumer-custom-id`, `x-consumer-username`, `x-credential-identifier`,
//    `x-anonymous-consumer`: the identity the authentication plugins assert (src/auth/identity.ts), and
//    the other identity headers Kong's plugins send (`x-consumer-groups`, `x-credential-username`,
//    `x-authenticated-userid`, `x-authenticated-scope`). They are dropped on every route, with or without
//    auth, so an upstream can trust them.
// `isOwnedOnForward` answers the last four groups in one call. The forwarder adds its own headers after
// filtering, so a `Connection` naming one of them cannot remove the gateway's copy.
//
// Responses: drop `isHopByHop` names and the upstream's `Connection` tokens too; framing (content-length,
// transfer-encoding) and Date are written by uWS.

// ---- hop-by-hop ------------------------------------------------------------------------------------------

const LOWER_A = 0x61
const DASH = 0x2d

/**
 * True for a lower-case header name that never crosses the proxy: `connection`, `keep-alive`, `te`,
 * `trailer`, `transfer-encoding`, `upgrade`, and `proxy` / every `proxy-*` (`proxy-connection`,
 * `proxy-authorization`, `proxy-authenticate`; plain `Proxy` is the httpoxy vector, CVE-2016-5385).
 *
 * Hot path: called once per inbound header. A switch on length then one string compare; most names fall
 * out on the length alone: 1.3-1.4x faster than Set.has on common names (bench/micro/headers.ts).
 */
export function isHopByHop(lowerName: string): boolean {
  // No hop-by-hop name other than proxy/proxy-* starts with `p`.
  if (lowerName.charCodeAt(0) === 0x70 /* p */) return isProxyName(lowerName)
  switch (lowerName.length) {
    case 2:
      return lowerName === 'te'
    case 7:
      return lowerName === 'trailer' || lowerName === 'upgrade'
    case 10:
      return lowerName === 'connection' || lowerName === 'keep-alive'
    case 17:
      return lowerName === 'transfer-encoding'
    default:
      return false
  }
}

function isProxyName(lowerName: string): boolean {
  return lowerName.startsWith('proxy') && (lowerName.length === 5 || lowerName.charCodeAt(5) === DASH)
}

/** Lower-case names the forwarder sets itself (see the header of this file). */
export function isOwnedOnForward(lowerName: string): boolean {
  switch (lowerName.length) {
    case 4:
      return lowerName === 'host'
    case 6:
      return lowerName === 'expect'
    case 9:
      return lowerName === 'x-real-ip'
    case 13:
      return lowerName === 'x-consumer-id'
    case 14:
      return lowerName === 'content-length'
    case 15:
      return lowerName === 'x-forwarded-for'
    case 16:
      return lowerName === 'x-forwarded-host' || lowerName === 'x-forwarded-port'
    case 17:
      return lowerName === 'x-forwarded-proto' || lowerName === 'x-consumer-groups'
    case 19:
      return lowerName === 'x-consumer-username'
    case 20:
      return lowerName === 'x-consumer-custom-id' || lowerName === 'x-anonymous-consumer'
    case 21:
      return lowerName === 'x-credential-username' || lowerName === 'x-authenticated-scope'
    case 22:
      return lowerName === 'x-authenticated-userid'
    case 23:
      return lowerName === 'x-credential-identifier'
    default:
      return false
  }
}

/** `s[start, end)` equals `lowerName` ignoring ASCII case. */
function regionIs(s: string, start: number, end: number, lowerName: string): boolean {
  if (end - start !== lowerName.length) return false
  for (let i = 0; i < lowerName.length; i++) {
    let c = s.charCodeAt(start + i)
    if (c >= 0x41 && c <= 0x5a) c |= 0x20
    if (c !== lowerName.charCodeAt(i)) return false
  }
  return true
}

/** A Connection option that names nothing extra to drop: `close`, or a header already hop-by-hop. */
function isPlainOption(s: string, start: number, end: number): boolean {
  switch (end - start) {
    case 2:
      return regionIs(s, start, end, 'te')
    case 5:
      return regionIs(s, start, end, 'close')
    case 7:
      return regionIs(s, start, end, 'upgrade') || regionIs(s, start, end, 'trailer')
    case 10:
      return regionIs(s, start, end, 'keep-alive') || regionIs(s, start, end, 'connection')
    case 17:
      return regionIs(s, start, end, 'transfer-encoding')
    default:
      return false
  }
}

/**
 * The extra header names (lower-case) a `Connection` value asks to drop, or null when it names none.
 * Comma list, optional whitespace around items, case-insensitive (RFC 9110 §7.6.1).
 *
 * Hot path: `keep-alive`, `close` and `Upgrade` (the values real clients send) return null without
 * allocating: options are compared in place and a list is only built for a name that needs dropping.
 */
export function connectionTokens(value: string): string[] | null {
  let names: string[] | null = null
  const n = value.length
  let i = 0
  while (i < n) {
    let c = value.charCodeAt(i)
    if (c === 0x2c || c === 0x20 || c === 0x09) {
      i++
      continue
    }
    const start = i
    while (i < n && value.charCodeAt(i) !== 0x2c) i++
    let end = i
    while (end > start && ((c = value.charCodeAt(end - 1)) === 0x20 || c === 0x09)) end--
    if (!isPlainOption(value, start, end)) {
      const name = value.slice(start, end).toLowerCase()
      if (!isHopByHop(name)) (names ??= []).push(name)
    }
  }
  return names
}

// ---- validation -------------------------------------------------------------------------------------------

/** RFC 9110 §5.6.2 tchar: `!#$%&'*+-.^_`|~`, digits, letters. */
const TCHAR = new Uint8Array(128)
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1
for (let c = LOWER_A; c <= 0x7a; c++) TCHAR[c] = 1
for (const ch of "!#$%&'*+-.^_`|~") TCHAR[ch.charCodeAt(0)] = 1

/**
 * A header name is a non-empty token (RFC 9110 §5.1). uWS `writeHeader` writes names verbatim, so every
 * name we did not write ourselves goes through this before reaching a client.
 *
 * Hot path: table lookup per character, 1.0-1.9x faster than the token regex on common names
 * (bench/micro/headers.ts).
 */
export function isValidHeaderName(name: string): boolean {
  const n = name.length
  if (n === 0) return false
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i)
    if (c > 0x7f || TCHAR[c] === 0) return false
  }
  return true
}

const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/

/**
 * undici's rule: a value is invalid if it matches `/[^\t\x20-\x7e\x80-\xff]/`, so CR, LF, NUL, other
 * controls, DEL and anything above U+00FF are rejected. Empty values are valid.
 *
 * Hot path: the regex, not a charCode loop: irregexp's compiled class scan beat the best of three loop
 * shapes by 1.4-1.7x at 20 characters and 2.3-4x at 200 (bench/micro/headers.ts). No `g` flag, so no
 * lastIndex state is shared between calls.
 */
export function isValidHeaderValue(value: string): boolean {
  return !INVALID_VALUE.test(value)
}

// ---- IP addresses -------------------------------------------------------------------------------------------

// Scratch output of parseIp: IPv4 in v4[0], IPv6 in v6[0..3] (big-endian 32-bit words), all as signed
// int32. Module state, only read synchronously right after a parse: keeps trusts() and the XFF walk
// allocation-free. Typed arrays rather than `let` numbers because an address above 2^30 stored in a plain
// variable is boxed as a heap number on every parse (measured: GCs in bench/micro/headers.ts).
const v4 = new Int32Array(1)
const v6 = new Int32Array(4)
const groups = new Uint16Array(8)

const FAMILY_NONE = 0
const FAMILY_V4 = 4
const FAMILY_V6 = 6

/** Dotted quad in s[start, end): four decimal octets, no leading zeros (glibc inet_pton's rule). */
function parseV4(s: string, start: number, end: number): boolean {
  let value = 0
  let octets = 0
  let i = start
  while (i < end) {
    let octet = 0
    let digits = 0
    const first = i
    while (i < end) {
      const c = s.charCodeAt(i)
      if (c < 0x30 || c > 0x39) break
      octet = octet * 10 + (c - 0x30)
      digits++
      i++
    }
    if (digits === 0 || digits > 3 || octet > 255 || (digits > 1 && s.charCodeAt(first) === 0x30)) return false
    value = (value << 8) | octet
    octets++
    if (i === end) break
    if (s.charCodeAt(i) !== 0x2e || octets === 4) return false
    i++
    if (i === end) return false
  }
  if (octets !== 4) return false
  v4[0] = value
  return true
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  const l = c | 0x20
  if (l >= LOWER_A && l <= 0x66) return l - LOWER_A + 10
  return -1
}

/** RFC 4291 §2.2 text in s[start, end): hex groups, at most one `::`, optional dotted-quad tail. */
function parseV6(s: string, start: number, end: number): boolean {
  let count = 0
  let gap = -1 // index in `groups` where `::` stands
  let i = start
  if (end - start < 2) return false
  if (s.charCodeAt(i) === 0x3a) {
    if (s.charCodeAt(i + 1) !== 0x3a) return false
    gap = 0
    i += 2
    if (i === end) {
      groups.fill(0)
      return packV6()
    }
  }
  while (i < end) {
    if (count === 8) return false
    const groupStart = i
    let value = 0
    let digits = 0
    while (i < end) {
      const d = hexDigit(s.charCodeAt(i))
      if (d < 0) break
      value = (value << 4) | d
      digits++
      i++
    }
    if (i < end && s.charCodeAt(i) === 0x2e) {
      // Dotted-quad tail (`::ffff:1.2.3.4`): it takes the last two groups.
      if (count > 6 || !parseV4(s, groupStart, end)) return false
      groups[count++] = v4[0] >>> 16
      groups[count++] = v4[0] & 0xffff
      i = end
      break
    }
    if (digits === 0 || digits > 4) return false
    groups[count++] = value
    if (i === end) break
    if (s.charCodeAt(i) !== 0x3a) return false
    i++
    if (i < end && s.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return false
      gap = count
      i++
      if (i === end) break
    } else if (i === end) {
      return false // trailing single colon
    }
  }
  if (gap < 0) {
    if (count !== 8) return false
  } else {
    if (count > 7) return false
    // Shift the groups after `::` to the end and zero the gap.
    const tail = count - gap
    for (let k = 0; k < tail; k++) groups[7 - k] = groups[count - 1 - k]
    for (let k = gap; k < 8 - tail; k++) groups[k] = 0
  }
  return packV6()
}

function packV6(): boolean {
  for (let w = 0; w < 4; w++) v6[w] = (groups[2 * w] << 16) | groups[2 * w + 1]
  return true
}

/**
 * Parses an address in s[start, end) into the scratch state. An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`,
 * or uWS's `0000:0000:0000:0000:0000:ffff:7f00:0001`) comes back as IPv4, so one IPv4 rule covers both.
 */
function parseIp(s: string, start: number, end: number): number {
  if (end - start < 2) return FAMILY_NONE
  let colon = false
  for (let i = start; i < end; i++) {
    if (s.charCodeAt(i) === 0x3a) {
      colon = true
      break
    }
  }
  if (!colon) return parseV4(s, start, end) ? FAMILY_V4 : FAMILY_NONE
  if (!parseV6(s, start, end)) return FAMILY_NONE
  if (v6[0] === 0 && v6[1] === 0 && v6[2] === 0xffff) {
    v4[0] = v6[3]
    return FAMILY_V4
  }
  return FAMILY_V6
}

/**
 * The canonical text of an address: dotted quad for IPv4 and IPv4-mapped IPv6, RFC 5952 compressed
 * lower-case for IPv6, or null if `ip` is not an address. uWS `getRemoteAddressAsText` gives the peer as
 * eight uncompressed groups (`0000:0000:0000:0000:0000:ffff:7f00:0001` for 127.0.0.1, measured with the
 * installed build): this is what X-Forwarded-For, X-Real-IP, logs and rate-limit keys should carry.
 */
export function canonicalIp(ip: string): string | null {
  const family = parseIp(ip, 0, ip.length)
  if (family === FAMILY_V4) return formatV4(v4[0])
  if (family === FAMILY_V6) return formatV6()
  return null
}

function formatV4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`
}

/** RFC 5952 §4: the longest run (>= 2) of zero groups becomes `::`, first one on a tie. */
function formatV6(): string {
  for (let w = 0; w < 4; w++) {
    groups[2 * w] = v6[w] >>> 16
    groups[2 * w + 1] = v6[w] & 0xffff
  }
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  if (bestLen < 2) bestStart = -1
  let out = ''
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::'
      i += bestLen - 1
      continue
    }
    if (out.length > 0 && !out.endsWith(':')) out += ':'
    out += groups[i].toString(16)
  }
  return out
}

// ---- trusted proxies ----------------------------------------------------------------------------------------

/** The compiled `trusted_ips` list: who may tell us the client's address, protocol and host. */
export interface TrustedIps {
  /** No trusted proxies: every peer is the client and inbound forwarding headers are ignored. */
  readonly empty: boolean
  /** Whether `ip` (any text form `canonicalIp` accepts) is inside one of the ranges. False if not an IP. */
  trusts(ip: string): boolean
}

class CompiledTrustedIps implements TrustedIps {
  readonly empty: boolean
  /** [network, mask] pairs, as int32 like the scratch state. */
  private readonly v4: Int32Array
  /** [network w0..w3, mask w0..w3] per range. */
  private readonly v6: Int32Array

  constructor(v4Ranges: number[], v6Ranges: number[]) {
    this.v4 = Int32Array.from(v4Ranges, (x) => x | 0)
    this.v6 = Int32Array.from(v6Ranges, (x) => x | 0)
    this.empty = v4Ranges.length === 0 && v6Ranges.length === 0
  }

  // Hot path: once per request when the list is not empty (callers check `empty` first). A linear scan:
  // trusted lists are a handful of ranges, and a scan of typed arrays beats any tree at that size.
  trusts(ip: string): boolean {
    if (this.empty) return false
    return this.trustsRange(ip, 0, ip.length)
  }

  /** s[start, end) is an address inside a trusted range. */
  trustsRange(s: string, start: number, end: number): boolean {
    const family = parseIp(s, start, end)
    if (family === FAMILY_V4) return this.matchV4()
    if (family === FAMILY_V6) return this.matchV6()
    return false
  }

  /** Matches the address left in the scratch state by the last parseIp. */
  matchParsed(family: number): boolean {
    return family === FAMILY_V4 ? this.matchV4() : family === FAMILY_V6 ? this.matchV6() : false
  }

  private matchV4(): boolean {
    const r = this.v4
    const addr = v4[0]
    for (let k = 0; k < r.length; k += 2) if ((addr & r[k + 1]) === r[k]) return true
    return false
  }

  private matchV6(): boolean {
    const r = this.v6
    for (let k = 0; k < r.length; k += 8) {
      if (
        (v6[0] & r[k + 4]) === r[k] &&
        (v6[1] & r[k + 5]) === r[k + 1] &&
        (v6[2] & r[k + 6]) === r[k + 2] &&
        (v6[3] & r[k + 7]) === r[k + 3]
      ) {
        return true
      }
    }
    return false
  }
}

function maskWord(prefix: number, word: number): number {
  const bits = Math.max(0, Math.min(32, prefix - 32 * word))
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
}

/**
 * Compiles `trusted_ips`: IPv4 and IPv6 CIDRs or single addresses. An IPv4-mapped range
 * (`::ffff:10.0.0.0/104`) is stored as the IPv4 range it maps; an IPv6 range that contains all of
 * `::ffff:0:0/96` (e.g. `::/0`) also trusts every IPv4 address, since peers arrive in either form.
 * Host bits below the prefix are ignored, as nginx does. Throws on the first invalid entry, naming it.
 */
export function compileTrustedIps(cidrs: readonly string[]): TrustedIps {
  const v4Ranges: number[] = []
  const v6Ranges: number[] = []
  for (const entry of cidrs) {
    const text = entry.trim()
    const slash = text.indexOf('/')
    const addrEnd = slash < 0 ? text.length : slash
    const family = parseIp(text, 0, addrEnd)
    if (family === FAMILY_NONE) throw new Error(`invalid trusted IP or CIDR "${entry}": not an IP address`)
    // parseIp reports mapped addresses as IPv4; the prefix the user wrote still counts 128 bits for them.
    const mapped = family === FAMILY_V4 && text.lastIndexOf(':', addrEnd) >= 0
    const bits = family === FAMILY_V4 && !mapped ? 32 : 128
    let prefix = bits
    if (slash >= 0) {
      const p = text.slice(slash + 1)
      if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > bits) {
        throw new Error(`invalid trusted IP or CIDR "${entry}": prefix must be 0..${bits}`)
      }
      prefix = Number(p)
    }
    if (family === FAMILY_V4) {
      if (mapped && prefix < 96) {
        // Wider than the mapped block: keep it as the IPv6 range it is (it also covers all of IPv4).
        v6[0] = 0
        v6[1] = 0
        v6[2] = 0xffff
        v6[3] = v4[0]
        addV6(v6Ranges, v4Ranges, prefix)
        continue
      }
      const p4 = mapped ? prefix - 96 : prefix
      const mask = maskWord(p4, 0)
      v4Ranges.push((v4[0] & mask) >>> 0, mask)
    } else {
      addV6(v6Ranges, v4Ranges, prefix)
    }
  }
  return new CompiledTrustedIps(v4Ranges, v6Ranges)
}

/** Adds the IPv6 range in the scratch state; if it spans all of ::ffff:0:0/96, adds 0.0.0.0/0 as well. */
function addV6(v6Ranges: number[], v4Ranges: number[], prefix: number): void {
  const net: number[] = []
  const mask: number[] = []
  for (let w = 0; w < 4; w++) {
    mask.push(maskWord(prefix, w))
    net.push((v6[w] & mask[w]) >>> 0)
  }
  v6Ranges.push(...net, ...mask)
  const mappedBase = [0, 0, 0xffff, 0]
  if (prefix <= 96 && mappedBase.every((word, w) => ((word & mask[w]) >>> 0) === net[w])) v4Ranges.push(0, 0)
}

// ---- client IP and forwarding headers ------------------------------------------------------------------------

/**
 * The client's address, nginx realip with `real_ip_recursive on`: if the peer is not trusted it is the
 * client, whatever the request claims. If it is, X-Forwarded-For is walked right to left (the most recent
 * hop first) past trusted addresses; the first untrusted one is the client, and if every entry is trusted
 * the leftmost is. An entry that is not an address stops the walk: the last good address (the peer, or
 * the entry to its right) is the client, so garbage cannot be injected as the client IP. Empty items (`a,,b`)
 * are skipped. `xff` is every X-Forwarded-For line joined with `,` in arrival order. Entries with ports or
 * brackets are treated as malformed.
 *
 * Returns the peer string itself or the entry in canonical form (an IPv4-mapped entry becomes dotted).
 * Hot path when trusted proxies are configured: the walk parses in place; only the result is allocated.
 */
export function resolveClientIp(peerIp: string, xff: string | undefined, trusted: TrustedIps): string {
  if (trusted.empty || xff === undefined || xff.length === 0 || !trusted.trusts(peerIp)) return peerIp
  const list = trusted as CompiledTrustedIps
  // The last good entry so far, as [goodStart, goodEnd) in xff; -1: none yet, the peer stands.
  let goodStart = -1
  let goodEnd = -1
  let end = xff.length
  while (end > 0) {
    let start = end
    while (start > 0 && xff.charCodeAt(start - 1) !== 0x2c) start--
    let s = start
    let e = end
    let c: number
    while (s < e && ((c = xff.charCodeAt(s)) === 0x20 || c === 0x09)) s++
    while (e > s && ((c = xff.charCodeAt(e - 1)) === 0x20 || c === 0x09)) e--
    end = start - 1
    if (s === e) continue
    const family = parseIp(xff, s, e)
    if (family === FAMILY_NONE) break
    goodStart = s
    goodEnd = e
    if (!list.matchParsed(family)) break
  }
  return goodStart < 0 ? peerIp : canonicalRange(xff, goodStart, goodEnd)
}

/** The canonical text of the (already validated) address in s[start, end); the slice itself if it is. */
function canonicalRange(s: string, start: number, end: number): string {
  const family = parseIp(s, start, end)
  if (family === FAMILY_V6) return formatV6()
  for (let i = start; i < end; i++) if (s.charCodeAt(i) === 0x3a) return formatV4(v4[0])
  return s.slice(start, end)
}

/**
 * Appends the forwarding headers for the upstream request to `out`, the flat [name, value, ...] list the
 * forwarder hands to undici:
 *  - `x-forwarded-for`: the inbound chain plus the peer when the peer is a trusted proxy, else the peer;
 *  - `x-forwarded-proto` / `-host` / `-port`: the inbound value from a trusted peer, else ours;
 *  - `x-real-ip`: the resolved client (`resolveClientIp`).
 * An inbound value that undici would reject (control characters) is replaced by ours rather than failing
 * the request. Pass `undefined` for an inbound header that is absent.
 *
 * Hot path: strings only; positional parameters so no options object is built per request.
 */
export function writeForwardedHeaders(
  out: string[],
  peerTrusted: boolean,
  peerIp: string,
  clientIp: string,
  inXff: string | undefined,
  inProto: string | undefined,
  inHost: string | undefined,
  inPort: string | undefined,
  proto: string,
  host: string,
  port: string,
): void {
  out.push(
    'x-forwarded-for',
    peerTrusted && inXff !== undefined && inXff.length > 0 && isValidHeaderValue(inXff) ? `${inXff}, ${peerIp}` : peerIp,
    'x-forwarded-proto',
    peerTrusted && usable(inProto) ? inProto! : proto,
    'x-forwarded-host',
    peerTrusted && usable(inHost) ? inHost! : host,
    'x-forwarded-port',
    peerTrusted && usable(inPort) ? inPort! : port,
    'x-real-ip',
    clientIp,
  )
}

function usable(value: string | undefined): boolean {
  return value !== undefined && value.length > 0 && isValidHeaderValue(value)
}
