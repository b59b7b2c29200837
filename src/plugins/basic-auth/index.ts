import { createHmac, randomBytes } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { BasicEntry, CompiledConsumer, ConsumerIndex, Credential } from '../../auth/consumers.js'
import { anonymousConsumer, authenticate, isAuthenticated, removeHeader } from '../../auth/identity.js'
import { DEFAULT_COST, type PasswordHash } from '../../auth/password.js'
import { AUTH_ERRORS, challenge, unauthorized, type AuthErrorCode } from '../../auth/reject.js'
import type { RequestContext } from '../../pipeline/context.js'
import type { Plugin } from '../../pipeline/plugin.js'
import { respond } from '../../pipeline/respond.js'
import { basicAuthSchema, type BasicAuthConfig } from './schema.js'
import { VerifierGate, type CheckOutcome } from './verifier.js'

// Kong's basic-auth (kong/plugins/basic-auth/access.lua, Kong 3): `Authorization: Basic
// base64(username:password)`, or Proxy-Authorization when that names a known user. Passwords are
// stored as scrypt hashes (src/auth/password.ts), which cost ~50 ms of a pool thread to check; so a
// verified header is remembered for VERIFIED_TTL_MS and repeat requests skip scrypt altogether; a
// refused one for REJECTED_TTL_MS, so that repeating a wrong password costs no scrypt either.

/** Verified headers remembered per config snapshot (a reload starts empty: credentials may have changed). */
const VERIFIED_MAX = 10_000
const VERIFIED_TTL_MS = 5 * 60_000
/**
 * Refused headers remembered per config snapshot. Credentials change only with a reload (a new, empty
 * cache), so a refusal stays true for the snapshot's life; the TTL is short only to keep the entries a
 * flood of distinct wrong passwords leaves behind from lingering.
 */
const REJECTED_MAX = 10_000
const REJECTED_TTL_MS = 10_000
/** scrypt checks running at once per worker (see verifier.ts). */
const MAX_CONCURRENT_CHECKS = 2
/**
 * Checks waiting per worker before new ones are refused with 503: 64 × ~54 ms / 2 running ≈ 1.7 s,
 * the longest a new login waits for its turn.
 */
const MAX_WAITING_CHECKS = 64

/**
 * The cache is keyed by an HMAC of the header value under a key that never leaves this process, so the
 * worker's heap holds no password, and no digest that could be brute-forced offline.
 */
const CACHE_KEY_SECRET = randomBytes(32)

/** One gate per worker: the thread pool is per process, whatever the number of plugin instances. */
export const verifier = new VerifierGate(MAX_CONCURRENT_CHECKS, MAX_WAITING_CHECKS)

/** How often the verified-header and refused-header caches answered (tests read them; a metric can later). */
export const basicAuthStats = { cacheHits: 0, rejectedHits: 0 }

const BUSY_BODY_HEAD = '{"message":"Authentication is busy, retry later","code":"SLUICE_ERR_AUTH_BUSY","request_id":'
const BUSY_HEADERS: readonly string[] = ['retry-after', '1']

interface State {
  readonly consumers: ConsumerIndex
  readonly anonymous: CompiledConsumer | null
  readonly hideCredentials: boolean
  readonly runOnPreflight: boolean
  readonly challenge: string
  /** HMAC of a verified header value -> its credential. */
  readonly verified: LRUCache<string, Credential>
  /** HMAC of a header value that failed its scrypt check (wrong password or unknown username). */
  readonly rejected: LRUCache<string, true>
  /**
   * Checked against when the username is unknown, so that a wrong username costs the same scrypt run as
   * a wrong password and response time does not tell which usernames exist. The cost of the most
   * expensive configured credential (see decoyCost), random salt and hash: it never matches.
   */
  readonly decoy: PasswordHash
}

// parseBasic's results: module scratch instead of a returned object (the parse is synchronous).
let parsedUsername = ''
let parsedPassword = ''

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

function isSpace(c: number): boolean {
  return c === 32 || c === 9
}

/**
 * `Basic <base64(username:password)>`, scheme case-insensitive, whitespace around the credentials
 * allowed. False when the scheme differs, the base64 is malformed, or the decoded text has no ':' or an
 * empty username (Kong's `([^:]+):(.*)`); the password may contain ':'.
 */
function parseBasic(value: string): boolean {
  let start = 0
  let end = value.length
  while (start < end && isSpace(value.charCodeAt(start))) start++
  while (end > start && isSpace(value.charCodeAt(end - 1))) end--
  if (end - start < 7 || value.slice(start, start + 5).toLowerCase() !== 'basic' || !isSpace(value.charCodeAt(start + 5))) return false
  start += 6
  while (start < end && isSpace(value.charCodeAt(start))) start++
  const encoded = value.slice(start, end)
  // Buffer.from(…, 'base64') skips characters it does not know: check the alphabet first.
  if (encoded.length % 4 === 1 || !BASE64.test(encoded)) return false
  const decoded = Buffer.from(encoded, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon <= 0) return false
  parsedUsername = decoded.slice(0, colon)
  parsedPassword = decoded.slice(colon + 1)
  return true
}

function cacheKey(headerValue: string): string {
  return createHmac('sha256', CACHE_KEY_SECRET).update(headerValue).digest('base64')
}

/** Refuses with Kong 3's 401, or proceeds as the `anonymous` consumer (Kong's logical OR). */
function fail(ctx: RequestContext, state: State, code: AuthErrorCode): boolean {
  if (state.anonymous !== null) {
    authenticate(ctx, state.anonymous, null)
    return true
  }
  return unauthorized(ctx, code, { message: 'Unauthorized' }, state.challenge)
}

/**
 * The decoy's cost: the costliest configured credential's (scrypt's work grows with N·r·p), so that
 * an unknown username answers no faster than any known one with a wrong password. With the first
 * credential's cost instead, one cheap legacy hash listed first made every unknown username answer
 * fast, and every user with a default-cost hash stand out. (Users whose own hash is cheaper than the
 * others' still answer faster: only rehashing them at the common cost removes that.)
 */
function decoyCost(consumers: ConsumerIndex): { ln: number; r: number; p: number } {
  let cost: { ln: number; r: number; p: number } = DEFAULT_COST
  let work = 0
  for (const entry of consumers.basic.values()) {
    const h = entry.hash
    const w = 2 ** h.ln * h.r * h.p
    if (w > work) {
      work = w
      cost = h
    }
  }
  return cost
}

/**
 * 503 with Retry-After when the worker's check queue is full. Not the anonymous fallback even when one
 * is configured: the credential was not found wrong, only not checked, and a retry will check it.
 */
function busy(ctx: RequestContext): false {
  ctx.errorCode = AUTH_ERRORS.SLUICE_ERR_AUTH_BUSY
  respond(ctx, 503, `${BUSY_BODY_HEAD}${JSON.stringify(ctx.requestId)}}`, 'application/json; charset=utf-8', BUSY_HEADERS)
  return false
}

function verify(ctx: RequestContext, state: State, username: string, password: string, key: string): boolean | Promise<boolean> {
  const entry = state.consumers.basic.get(username)
  const check = verifier.verify(password, entry === undefined ? state.decoy : entry.hash, ctx)
  if (check === null) return busy(ctx)
  return check.then((outcome) => settle(ctx, state, entry, key, outcome))
}

function settle(ctx: RequestContext, state: State, entry: BasicEntry | undefined, key: string, outcome: CheckOutcome): boolean {
  // The client is gone and nothing was checked: nothing to answer, nothing learnt to remember.
  if (outcome === 'abandoned') return false
  if (outcome === 'mismatch' || entry === undefined) {
    state.rejected.set(key, true)
    return fail(ctx, state, 'SLUICE_ERR_AUTH_INVALID')
  }
  state.verified.set(key, entry.credential)
  authenticate(ctx, entry.credential.consumer, entry.credential)
  return true
}

export const basicAuth: Plugin<BasicAuthConfig, State> = {
  name: 'basic-auth',
  priority: 1100,
  schema: basicAuthSchema,
  consumerScope: false,
  compile(config, env) {
    const anonymous = anonymousConsumer('basic-auth', config.anonymous, env.consumers)
    const cost = decoyCost(env.consumers)
    return {
      consumers: env.consumers,
      anonymous,
      hideCredentials: config.hide_credentials,
      runOnPreflight: config.run_on_preflight,
      challenge: challenge('Basic', config.realm),
      verified: new LRUCache<string, Credential>({ max: VERIFIED_MAX, ttl: VERIFIED_TTL_MS }),
      rejected: new LRUCache<string, true>({ max: REJECTED_MAX, ttl: REJECTED_TTL_MS }),
      decoy: { ln: cost.ln, r: cost.r, p: cost.p, salt: randomBytes(16), hash: randomBytes(32) },
    }
  },
  // Hot path (a repeat client): one HMAC and one cache probe, synchronous: 4.5 µs per request
  // measured in process (2.8 µs of it the HMAC). Only a header never seen (or expired from both caches)
  // goes to scrypt, asynchronously (~54 ms of a pool thread).
  access(ctx, state) {
    if (!state.runOnPreflight && ctx.method === 'OPTIONS') return true
    // Already authenticated by an earlier auth plugin, and this one is the other side of an OR.
    if (state.anonymous !== null && isAuthenticated(ctx)) return true

    const authorization = ctx.header('authorization')
    const proxyAuthorization = ctx.header('proxy-authorization')
    if (authorization === undefined && proxyAuthorization === undefined) return fail(ctx, state, 'SLUICE_ERR_AUTH_MISSING')
    // Proxy-Authorization is hop-by-hop and never forwarded (src/proxy/headers.ts).
    if (state.hideCredentials) removeHeader(ctx.upstreamHeaders!, 'authorization')

    // Kong's choice: Proxy-Authorization when it parses and names a known user, else Authorization.
    // An unknown Proxy-Authorization user with no usable Authorization still goes to scrypt (the decoy),
    // so that this path does not answer faster for usernames that do not exist either.
    let value: string
    if (proxyAuthorization !== undefined && parseBasic(proxyAuthorization)) {
      value = proxyAuthorization
      if (!state.consumers.basic.has(parsedUsername) && authorization !== undefined && parseBasic(authorization)) value = authorization
    } else if (authorization !== undefined && parseBasic(authorization)) {
      value = authorization
    } else {
      return fail(ctx, state, 'SLUICE_ERR_AUTH_INVALID')
    }

    const key = cacheKey(value)
    const cached = state.verified.get(key)
    if (cached !== undefined) {
      basicAuthStats.cacheHits++
      authenticate(ctx, cached.consumer, cached)
      return true
    }
    if (state.rejected.has(key)) {
      basicAuthStats.rejectedHits++
      return fail(ctx, state, 'SLUICE_ERR_AUTH_INVALID')
    }
    return verify(ctx, state, parsedUsername, parsedPassword, key)
  },
}
