import type { JWK, importJWK } from 'jose'
import { JWT_ALGORITHMS, type JwtAlgorithm } from '../../config/schema.js'
import { logger } from '../../observability/logger.js'

/**
 * The worker's side of JWKS: verification keys by JWKS URI and `kid`, imported once per fetched key set
 * (never per request), fed by whoever fetches them. In the cluster that is the primary, which fetches
 * each URI once for all workers (src/auth/jwks/manager.ts) and broadcasts every new key set; a worker
 * that meets an unknown `kid` asks it for a refetch, which the primary runs at most once per cooldown.
 *
 * A key set is served until `staleUntil`: its TTL plus the stale-if-error grace. The fetcher pushes a
 * fresh set (moving `staleUntil`) on every successful refresh, so only a JWKS endpoint that stays down
 * past the grace period makes its keys expire here.
 */

/** A key jose verifies with (a CryptoKey for the asymmetric algorithms). */
export type VerifyKey = Awaited<ReturnType<typeof importJWK>>

export interface JwksKey {
  readonly kid: string
  /** The one algorithm this key verifies: its JWK `alg`, else the one its type implies (see bindAlgorithm). */
  readonly alg: JwtAlgorithm
  readonly key: VerifyKey
}

/** What a fetcher sends for one URI: the raw JWKS document and its freshness. */
export interface JwksSnapshot {
  readonly uri: string
  readonly jwks: { keys: unknown[] } | null
  /** Epoch ms of the fetch that produced `jwks`. */
  readonly fetchedAt: number
  /** Epoch ms after which the keys must not be used. */
  readonly staleUntil: number
}

interface KeySet {
  keys: Map<string, JwksKey>
  staleUntil: number
  fetchedAt: number
  /** Requests waiting for the answer to a refetch this worker asked for. */
  waiting: { resolve: () => void; timer: NodeJS.Timeout }[]
  /** A key set being imported (jose, async): a request meeting an unknown kid waits for it first. */
  importing: Promise<void> | null
}

/** Asks the fetcher for the set at `uri` (a refetch if the cooldown allows; else the current set). */
export type JwksAsk = (uri: string) => void

export class JwksKeys {
  private readonly sets = new Map<string, KeySet>()
  private ask: JwksAsk | null = null

  /** Where refetch requests go: the primary over IPC in a worker, a local manager in tests. */
  connect(ask: JwksAsk): void {
    this.ask = ask
  }

  /** The key for `kid` at `uri`, or undefined (unknown kid, no set yet, or the set is past its grace). */
  get(uri: string, kid: string): JwksKey | undefined {
    const set = this.sets.get(uri)
    if (set === undefined || Date.now() > set.staleUntil) return undefined
    return set.keys.get(kid)
  }

  /**
   * Asks for a refetch of `uri` and resolves when an answer arrives (or after `waitMs`). One request to
   * the fetcher per answer, however many requests wait: they share it.
   */
  refresh(uri: string, waitMs: number): Promise<void> {
    const set = this.setFor(uri)
    // Keys that arrived and are still being imported may hold the kid: no refetch before they land.
    if (set.importing !== null) return set.importing
    return new Promise((resolve) => {
      const first = set.waiting.length === 0
      const entry = { resolve, timer: setTimeout(() => this.settle(set, entry), waitMs) }
      entry.timer.unref()
      set.waiting.push(entry)
      if (first) this.ask?.(uri)
    })
  }

  /** A key set arrived from the fetcher (or the fetcher answered that nothing changed). */
  async update(snapshot: JwksSnapshot): Promise<void> {
    const set = this.setFor(snapshot.uri)
    if (snapshot.jwks !== null && snapshot.fetchedAt >= set.fetchedAt) {
      const jwks = snapshot.jwks
      // Settles only once the keys are in place, so a request waiting on it finds them.
      const applied = (async () => {
        const keys = await importKeySet(snapshot.uri, jwks)
        if (snapshot.fetchedAt >= set.fetchedAt) {
          set.keys = keys
          set.fetchedAt = snapshot.fetchedAt
          set.staleUntil = snapshot.staleUntil
        }
      })()
      const importing = applied.then(
        () => undefined,
        () => undefined,
      )
      set.importing = importing
      try {
        await applied
      } finally {
        if (set.importing === importing) set.importing = null
      }
    } else if (snapshot.fetchedAt === set.fetchedAt) {
      set.staleUntil = Math.max(set.staleUntil, snapshot.staleUntil)
    }
    for (const w of set.waiting.splice(0)) {
      clearTimeout(w.timer)
      w.resolve()
    }
  }

  private settle(set: KeySet, entry: KeySet['waiting'][number]): void {
    const i = set.waiting.indexOf(entry)
    if (i >= 0) set.waiting.splice(i, 1)
    entry.resolve()
  }

  private setFor(uri: string): KeySet {
    let set = this.sets.get(uri)
    if (set === undefined) {
      set = { keys: new Map(), staleUntil: 0, fetchedAt: 0, waiting: [], importing: null }
      this.sets.set(uri, set)
    }
    return set
  }
}

/** A JWKS URI as logs may show it: without userinfo and query string, which can carry credentials. */
export function redactUri(uri: string): string {
  try {
    const u = new URL(uri)
    return `${u.protocol}//${u.host}${u.pathname}${u.search === '' ? '' : '?…'}`
  } catch {
    return '(invalid URI)'
  }
}

const EC_ALG: Record<string, JwtAlgorithm> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' }

/**
 * The single algorithm a JWK may verify. Its `alg` when present (and a known asymmetric one); else
 * implied by its type: RSA -> RS256, EC -> by curve, OKP -> EdDSA. Symmetric (`oct`) keys are refused:
 * a published HMAC key is a forgery kit, and accepting one is the classic key-confusion hole.
 */
export function bindAlgorithm(jwk: Record<string, unknown>): JwtAlgorithm | null {
  const alg = jwk.alg
  if (alg !== undefined) {
    if (typeof alg !== 'string' || alg.startsWith('HS') || !(JWT_ALGORITHMS as readonly string[]).includes(alg)) return null
    return alg as JwtAlgorithm
  }
  switch (jwk.kty) {
    case 'RSA':
      return 'RS256'
    case 'EC':
      return EC_ALG[String(jwk.crv)] ?? null
    case 'OKP':
      return jwk.crv === 'Ed25519' || jwk.crv === 'Ed448' ? 'EdDSA' : null
    default:
      return null
  }
}

/** Imports every usable signing key of a set; skips (and logs) the rest. Keys without a `kid` are skipped. */
export async function importKeySet(uri: string, jwks: { keys: unknown[] }): Promise<Map<string, JwksKey>> {
  const keys = new Map<string, JwksKey>()
  for (const raw of jwks.keys) {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) continue
    const jwk = raw as Record<string, unknown>
    const kid = jwk.kid
    if (typeof kid !== 'string' || kid.length === 0 || keys.has(kid)) continue
    if (jwk.use !== undefined && jwk.use !== 'sig') continue
    if ('d' in jwk || 'k' in jwk) continue // private or symmetric material has no place in a JWKS
    const alg = bindAlgorithm(jwk)
    if (alg === null) continue
    try {
      // jose is loaded on first use (not at import: see src/redis/client.ts on resident modules).
      const key = await (await import('jose')).importJWK(jwk as JWK, alg)
      keys.set(kid, { kid, alg, key })
    } catch (err) {
      logger.warn({ uri: redactUri(uri), kid, err: (err as Error).message }, 'JWKS key skipped: cannot import it')
    }
  }
  return keys
}
