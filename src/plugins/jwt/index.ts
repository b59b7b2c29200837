import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { CompiledConsumer, ConsumerIndex, Credential } from '../../auth/consumers.js'
import { anonymousConsumer, authenticate, isAuthenticated } from '../../auth/identity.js'
import type { JwksKeys } from '../../auth/jwks/keys.js'
import { unauthorized, type AuthErrorCode } from '../../auth/reject.js'
import type { JwtAlgorithm } from '../../config/schema.js'
import type { RequestContext } from '../../pipeline/context.js'
import type { Plugin } from '../../pipeline/plugin.js'
import { jwtSchema, type JwtConfig } from './schema.js'
import { bearerToken, decodeToken, MULTIPLE, retrieveToken, type TokenPlaces } from './token.js'

/**
 * Kong's jwt plugin (kong/plugins/jwt/handler.lua) with what Kong lacks: JWKS issuers, audience and
 * required-claim checks, an explicit leeway, and a cache of verified tokens.
 *
 * The road of a token: retrieve it (query, cookie, header) -> verified-token cache (hit: done, no
 * crypto) -> decode -> pick the ONE key it must verify against (a consumer's jwt_secret by the key claim,
 * or an issuer's JWKS key by `kid`) and require the token's `alg` to be exactly that key's algorithm ->
 * jose verifies the signature with that algorithm alone -> claims -> consumer -> cache.
 *
 * Every key is bound to one algorithm, so `alg: none` (any spelling), HS256 signed with an RSA public key
 * and the like fail on the algorithm check before any crypto runs; jose's `algorithms` allowlist repeats
 * the check where the signature is verified.
 */

interface SecretKey {
  readonly credential: Credential
  readonly alg: JwtAlgorithm
  readonly key: KeyObject
}

interface Issuer {
  readonly issuer: string
  readonly uri: string
  readonly algorithms: ReadonlySet<string>
  readonly audiences: readonly string[] | null
  /** Fixed consumer (and the credential naming it), or null. */
  readonly credential: Credential | null
  readonly consumerClaim: string | null
  /** How long a request may wait for a refetch triggered by an unknown `kid`. */
  readonly waitMs: number
}

/** A verified token, remembered until its `exp`. */
interface Verified {
  /** The whole token: a cache hit needs it equal to the presented one (the cache is keyed by its tail). */
  readonly token: string
  readonly consumer: CompiledConsumer | null
  readonly credential: Credential
  /** Epoch seconds; Infinity when the token has no `exp` (then the entry lives at most NO_EXP_TTL_MS). */
  readonly exp: number
  readonly cachedAt: number
  /** For JWKS tokens: the key that verified it, which must still be the issuer's key for `kid`. */
  readonly uri: string | null
  readonly kid: string | null
  readonly key: unknown
}

let jose: typeof import('jose') | null = null

/** Signature verifications run by this worker (the verified-token cache saves the rest); for metrics and tests. */
export const jwtCounters = { verifications: 0, cacheHits: 0 }

/** Average budget per cached token (typical JWTs are 300–1,000 characters), and the largest cached at all. */
const CACHE_BYTES_PER_ENTRY = 2048
const MAX_CACHED_TOKEN = 8192
const CACHE_KEY_CHARS = 24

/** A token without `exp` is re-verified at least this often (a rotated-out JWKS key then stops it). */
const NO_EXP_TTL_MS = 5 * 60_000

interface State {
  readonly places: TokenPlaces
  readonly keyClaim: string
  readonly verifyExp: boolean
  readonly verifyNbf: boolean
  readonly maximumExpiration: number
  readonly anonymous: CompiledConsumer | null
  readonly runOnPreflight: boolean
  /** `WWW-Authenticate` without and with `error="invalid_token"`. */
  readonly challenge: string
  readonly challengeInvalid: string
  readonly secrets: ReadonlyMap<string, SecretKey>
  readonly issuers: ReadonlyMap<string, Issuer>
  readonly audiences: readonly string[] | null
  readonly requiredClaims: readonly string[]
  readonly leeway: number
  readonly cache: LRUCache<string, Verified> | null
  readonly jwks: JwksKeys
  readonly consumers: ConsumerIndex
}

/** Why authentication failed: the code, Kong's body fields, and whether the challenge names the error. */
class Failure {
  constructor(
    readonly code: AuthErrorCode,
    readonly fields: Readonly<Record<string, string>>,
    readonly tokenError = true,
  ) {}
}

const fail = (message: string, code: AuthErrorCode = 'SLUICE_ERR_AUTH_INVALID') => new Failure(code, { message })

export const jwt: Plugin<JwtConfig, State> = {
  name: 'jwt',
  // Kong 3's priority: after correlation-id, before key-auth and rate limiting.
  priority: 1450,
  consumerScope: false,
  schema: jwtSchema,

  compile(config, env) {
    const secrets = new Map<string, SecretKey>()
    for (const [key, entry] of env.consumers.jwtSecrets) {
      secrets.set(key, { credential: entry.credential, alg: entry.algorithm, key: keyObject(entry.algorithm, entry.secret, entry.publicKeyPem, config.secret_is_base64) })
    }
    const issuers = new Map<string, Issuer>()
    for (const i of config.issuers) {
      const consumer = i.consumer === null ? null : env.consumers.find(i.consumer)
      if (consumer === undefined) throw new Error(`jwt issuer '${i.issuer}': no consumer '${i.consumer}'`)
      issuers.set(i.issuer, {
        issuer: i.issuer,
        uri: i.jwks_uri,
        algorithms: new Set(i.algorithms),
        audiences: i.audiences,
        credential: consumer === null ? null : jwksCredential(i.issuer, consumer),
        consumerClaim: i.consumer_claim,
        waitMs: i.timeout + 1000,
      })
    }
    const anonymous = anonymousConsumer('jwt', config.anonymous, env.consumers)
    const base = config.realm === null ? 'Bearer' : `Bearer realm="${config.realm}"`
    return {
      places: { uriParamNames: config.uri_param_names, cookieNames: config.cookie_names, headerNames: config.header_names },
      keyClaim: config.key_claim_name,
      verifyExp: config.claims_to_verify.includes('exp'),
      verifyNbf: config.claims_to_verify.includes('nbf'),
      maximumExpiration: config.maximum_expiration,
      anonymous,
      runOnPreflight: config.run_on_preflight,
      challenge: base,
      challengeInvalid: config.realm === null ? 'Bearer error="invalid_token"' : `${base}, error="invalid_token"`,
      secrets,
      issuers,
      audiences: config.audiences.length > 0 ? config.audiences : null,
      requiredClaims: config.required_claims,
      leeway: config.leeway,
      cache:
        config.token_cache_size > 0
          ? new LRUCache<string, Verified>({
              max: config.token_cache_size,
              // Bounded by bytes too: a consumer able to mint huge tokens cannot fill memory with them.
              maxSize: config.token_cache_size * CACHE_BYTES_PER_ENTRY,
              sizeCalculation: (v) => v.token.length + 256,
            })
          : null,
      jwks: env.jwks,
      consumers: env.consumers,
    }
  },

  access(ctx, s) {
    if (!s.runOnPreflight && ctx.method === 'OPTIONS') return true
    // With `anonymous`, auth plugins are a logical OR: one that already succeeded is enough.
    if (s.anonymous !== null && isAuthenticated(ctx)) return true
    const token = retrieveToken(ctx, s.places)
    if (token === undefined) return refuse(ctx, s, new Failure('SLUICE_ERR_AUTH_MISSING', { message: 'Unauthorized' }, false))
    if (token === MULTIPLE) return refuse(ctx, s, fail('Multiple tokens provided', 'SLUICE_ERR_AUTH_DUPLICATE'))

    // Hot path: a token verified before skips decoding and signature checks: one LRU lookup, one clock
    // read. Its expiry is checked here on every hit, so an entry never outlives the token's `exp`.
    //
    // The cache is keyed by the token's last CACHE_KEY_CHARS characters (signature bytes) and a hit needs
    // the stored token `===` the presented one: V8 hashes 24 characters instead of the whole token on
    // every lookup (144–200 ns against 690–790 ns for a 450-character token, bench/micro/jwt.ts). A token
    // sharing a verified one's tail but differing anywhere else simply misses and is verified.
    if (s.cache !== null) {
      const tail = token.length > CACHE_KEY_CHARS ? token.slice(-CACHE_KEY_CHARS) : token
      const hit = s.cache.get(tail)
      if (hit !== undefined && hit.token === token) {
        if (stillValid(s, hit)) {
          jwtCounters.cacheHits++
          authenticate(ctx, hit.consumer, hit.credential)
          return true
        }
        s.cache.delete(tail)
      }
    }
    return verify(ctx, s, token).then(
      (result) => {
        if (result instanceof Failure) return refuse(ctx, s, result)
        if (s.cache !== null && token.length <= MAX_CACHED_TOKEN) {
          s.cache.set(token.length > CACHE_KEY_CHARS ? token.slice(-CACHE_KEY_CHARS) : token, result)
        }
        authenticate(ctx, result.consumer, result.credential)
        return true
      },
      // jose or a key import threw something unforeseen: still a 401, never a 500.
      () => refuse(ctx, s, fail('Invalid signature')),
    )
  },
}

function stillValid(s: State, v: Verified): boolean {
  const now = Date.now()
  if (v.exp !== Infinity ? now >= (v.exp + s.leeway) * 1000 : now - v.cachedAt > NO_EXP_TTL_MS) return false
  return v.uri === null || s.jwks.get(v.uri, v.kid!)?.key === v.key
}

/** 401, or proceed as the anonymous consumer when one is configured. */
function refuse(ctx: RequestContext, s: State, f: Failure): boolean {
  if (s.anonymous !== null) {
    // The refused bearer token does not travel on beside X-Anonymous-Consumer: an upstream decoding it
    // without verifying would read forged claims.
    if (f.tokenError) dropBearerHeaders(ctx, s.places.headerNames)
    authenticate(ctx, s.anonymous, null)
    return true
  }
  return unauthorized(ctx, f.code, f.fields, f.tokenError ? s.challengeInvalid : s.challenge)
}

async function verify(ctx: RequestContext, s: State, token: string): Promise<Verified | Failure> {
  const decoded = decodeToken(token)
  if (typeof decoded === 'string') return fail(`Bad token; ${decoded}`)
  const { claims, header, alg } = decoded

  // Which key: an issuer with a JWKS (by exact `iss`), else a consumer's jwt_secret by the key claim.
  const iss = claims.iss
  const issuer = typeof iss === 'string' ? s.issuers.get(iss) : undefined
  let key: unknown
  let credential: Credential | null
  let kid: string | null = null
  if (issuer !== undefined) {
    kid = typeof header.kid === 'string' && header.kid.length > 0 ? header.kid : null
    if (kid === null) return fail("No mandatory 'kid' in header")
    if (!issuer.algorithms.has(alg)) return fail('Invalid algorithm')
    let found = s.jwks.get(issuer.uri, kid)
    if (found === undefined) {
      // A kid we do not know: maybe a rotation. The primary refetches at most once per cooldown for all
      // workers; this request waits for that answer only (cached keys never wait).
      await s.jwks.refresh(issuer.uri, issuer.waitMs)
      if (ctx.aborted) return fail('Unauthorized')
      found = s.jwks.get(issuer.uri, kid)
    }
    if (found === undefined) return fail("No credentials found for given 'kid'")
    // An identity provider's tokens must expire: without `exp` a leaked one would be good forever.
    if (claims.exp === undefined) return new Failure('SLUICE_ERR_AUTH_CLAIMS', { exp: 'must be a number' })
    if (found.alg !== alg) return fail('Invalid algorithm')
    key = found.key
    credential = issuer.credential
  } else {
    const value = claims[s.keyClaim] ?? header[s.keyClaim]
    if (value === undefined || value === null) return fail(`No mandatory '${s.keyClaim}' in claims`)
    if (typeof value !== 'string' || value === '') return fail(`Invalid '${s.keyClaim}' in claims`)
    const secret = s.secrets.get(value)
    if (secret === undefined) return fail(`No credentials found for given '${s.keyClaim}'`)
    if (secret.alg !== alg) return fail('Invalid algorithm')
    key = secret.key
    credential = secret.credential
  }

  jwtCounters.verifications++
  try {
    // jose is loaded on the first verification, not at import (see src/redis/client.ts on resident modules).
    jose ??= await import('jose')
    await jose.compactVerify(token, key as KeyObject, { algorithms: [alg] })
  } catch {
    return fail('Invalid signature')
  }

  const problems = checkClaims(s, claims, issuer)
  if (problems !== null) return new Failure('SLUICE_ERR_AUTH_CLAIMS', problems)

  let consumer: CompiledConsumer | null = credential?.consumer ?? null
  if (issuer !== undefined && issuer.consumerClaim !== null) {
    const named = claims[issuer.consumerClaim]
    const found = typeof named === 'string' ? s.consumers.findByName(named) : undefined
    if (found === undefined) return fail(`No consumer found for given '${issuer.consumerClaim}'`)
    consumer = found
    credential = jwksCredential(issuer.issuer, found)
  }
  credential ??= jwksCredential(issuer!.issuer, null)
  const exp = typeof claims.exp === 'number' ? claims.exp : Infinity
  return { token, consumer, credential, exp, cachedAt: Date.now(), uri: issuer?.uri ?? null, kid, key }
}

/**
 * Registered-claim checks with Kong's messages (jwt_parser.lua), collected into one body. Unlike Kong,
 * `exp` and `nbf` are checked whenever present; `claims_to_verify` makes them mandatory.
 */
function checkClaims(s: State, claims: Readonly<Record<string, unknown>>, issuer: Issuer | undefined): Record<string, string> | null {
  let errors: Record<string, string> | null = null
  const add = (claim: string, message: string) => ((errors ??= {})[claim] = message)
  const now = Date.now() / 1000
  const { exp, nbf } = claims
  if (exp !== undefined || s.verifyExp) {
    if (typeof exp !== 'number' || !Number.isFinite(exp)) add('exp', 'must be a number')
    else if (exp <= now - s.leeway) add('exp', 'token expired')
    else if (s.maximumExpiration > 0 && exp - now > s.maximumExpiration) add('exp', 'exceeds maximum allowed expiration')
  }
  if (nbf !== undefined || s.verifyNbf) {
    if (typeof nbf !== 'number' || !Number.isFinite(nbf)) add('nbf', 'must be a number')
    else if (nbf > now + s.leeway) add('nbf', 'token not valid yet')
  }
  const audiences = issuer?.audiences ?? s.audiences
  if (audiences !== null && !audienceMatches(claims.aud, audiences)) add('aud', 'audience not allowed')
  for (const claim of s.requiredClaims) if (!(claim in claims)) add(claim, 'required claim missing')
  return errors
}

function audienceMatches(aud: unknown, allowed: readonly string[]): boolean {
  if (typeof aud === 'string') return allowed.includes(aud)
  return Array.isArray(aud) && aud.some((a) => typeof a === 'string' && allowed.includes(a))
}

function dropBearerHeaders(ctx: RequestContext, names: readonly string[]): void {
  const h = ctx.upstreamHeaders!
  for (let i = h.length - 2; i >= 0; i -= 2) if (names.includes(h[i]) && bearerToken(h[i + 1]) !== undefined) h.splice(i, 2)
}

function jwksCredential(issuer: string, consumer: CompiledConsumer | null): Credential {
  return { kind: 'jwks', id: issuer, identifier: issuer, consumer }
}

/**
 * A credential's key as a KeyObject, imported once per config snapshot (never per request). HMAC
 * secrets become secret keys (base64-decoded first with `secret_is_base64`); PEM public keys public ones.
 */
function keyObject(alg: JwtAlgorithm, secret: string | null, pem: string | null, secretIsBase64: boolean): KeyObject {
  if (alg.startsWith('HS')) return createSecretKey(secretIsBase64 ? Buffer.from(secret!, 'base64') : Buffer.from(secret!, 'utf8'))
  return createPublicKey(pem!)
}
