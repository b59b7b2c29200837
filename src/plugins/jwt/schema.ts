import { z } from 'zod'
import { JWT_ALGORITHMS } from '../../config/schema.js'

/** A claim or header parameter name, a query parameter or a cookie name. */
const token = z.string().min(1).max(256)
const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a valid header name')
  .transform((s) => s.toLowerCase())

/** Seconds, whole. */
const seconds = (min: number, max: number, def: number) => z.int().min(min).max(max).default(def)

/**
 * An issuer whose tokens are verified against its published JWKS (Sluice's addition: Kong's jwt plugin
 * has none). A token is matched to an issuer by exact string comparison of its `iss` claim.
 */
export const jwksIssuerSchema = z.strictObject({
  issuer: z.string().min(1),
  jwks_uri: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  /** Algorithms accepted from this issuer. Each key is still bound to one (its JWK `alg` or its type's). */
  algorithms: z
    .array(z.enum(JWT_ALGORITHMS.filter((a) => !a.startsWith('HS')) as [string, ...string[]]))
    .min(1)
    .default(() => ['RS256']),
  /**
   * The token's `aud` must contain one of these (overrides the plugin-wide `audiences`; one of the two is
   * required). Tokens from an issuer must also carry `exp`.
   */
  audiences: z.array(z.string().min(1)).nullable().default(null),
  /**
   * Who the request is on behalf of: `consumer` names one consumer for every token of this issuer;
   * `consumer_claim` names a claim (e.g. `sub`) whose value is a consumer's username or custom_id (a token
   * naming no known consumer is refused). With neither, requests are authenticated without a consumer.
   */
  consumer: z.string().min(1).nullable().default(null),
  consumer_claim: z.string().min(1).nullable().default(null),
  /** Keys are refreshed in the background before this age (Envoy's and jose's default: 10 minutes). */
  cache_ttl: seconds(10, 86400, 600),
  /** An unknown `kid` triggers a refetch at most once per cooldown, across all workers (jose: 30 s). */
  refetch_cooldown: seconds(1, 3600, 30),
  /** While the JWKS endpoint fails, cached keys keep serving this long past their TTL (stale-if-error). */
  stale_grace: seconds(0, 7 * 86400, 3600),
  /** Time budget of one fetch, in ms. */
  timeout: z.int().min(100).max(60000).default(5000),
})

/**
 * Kong's jwt plugin fields (kong/plugins/jwt/schema.lua) with Kong's defaults, plus Sluice's:
 * `issuers` (JWKS), `audiences`, `required_claims`, `leeway`, `token_cache_size`.
 */
export const jwtSchema = z
  .strictObject({
    uri_param_names: z.array(token).default(() => ['jwt']),
    cookie_names: z.array(token).default(() => []),
    header_names: z.array(headerName).default(() => ['authorization']),
    key_claim_name: token.default('iss'),
    secret_is_base64: z.boolean().default(false),
    /** These claims must be present and valid. Sluice checks `exp` and `nbf` whenever present anyway. */
    claims_to_verify: z.array(z.enum(['exp', 'nbf'])).default(() => []),
    /** Longest lifetime a token may have left, in seconds (0: no limit). Needs `exp` verified. */
    maximum_expiration: z.number().min(0).max(31536000).default(0),
    /** Consumer (id or username) to proceed as when authentication fails. */
    anonymous: z.string().min(1).nullable().default(null),
    run_on_preflight: z.boolean().default(true),
    realm: z.string().min(1).max(256).regex(/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/, 'must be printable ASCII without quotes or backslashes').nullable().default(null),
    // --- Sluice additions ---
    issuers: z.array(jwksIssuerSchema).default(() => []),
    /** When non-empty, a token's `aud` must contain one of these. */
    audiences: z.array(z.string().min(1)).default(() => []),
    /** Claims every token must carry (any value). */
    required_claims: z.array(token).default(() => []),
    /** Clock skew allowed on `exp` and `nbf`, in seconds (RFC 7519: "a few minutes" at most). */
    leeway: seconds(0, 300, 0),
    /** Verified tokens remembered (until their `exp`), so a repeated token skips signature checks. 0 disables. */
    token_cache_size: z.int().min(0).max(1_000_000).default(10_000),
  })
  .superRefine((c, ctx) => {
    if (c.maximum_expiration > 0 && !c.claims_to_verify.includes('exp')) {
      ctx.addIssue({ code: 'custom', path: ['claims_to_verify'], message: "must contain 'exp' when maximum_expiration is set" })
    }
    const seen = new Set<string>()
    c.issuers.forEach((issuer, i) => {
      if (seen.has(issuer.issuer)) ctx.addIssue({ code: 'custom', path: ['issuers', i, 'issuer'], message: `issuer '${issuer.issuer}' is listed twice` })
      seen.add(issuer.issuer)
      // An identity provider signs tokens for many applications: without an audience check, any of
      // them would be accepted here.
      if ((issuer.audiences ?? c.audiences).length === 0) {
        ctx.addIssue({ code: 'custom', path: ['issuers', i, 'audiences'], message: "is required (here or in the plugin's 'audiences'): without it, tokens the issuer made for any other application are accepted" })
      }
      if (issuer.consumer !== null && issuer.consumer_claim !== null) {
        ctx.addIssue({ code: 'custom', path: ['issuers', i, 'consumer_claim'], message: "set either 'consumer' or 'consumer_claim', not both" })
      }
    })
    if (c.uri_param_names.length + c.cookie_names.length + c.header_names.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['header_names'], message: 'the token must be looked for somewhere: give at least one header, query parameter or cookie name' })
    }
  })

export type JwtConfig = z.output<typeof jwtSchema>
export type JwksIssuerConfig = z.output<typeof jwksIssuerSchema>
