import { Agent, request, type Dispatcher } from 'undici'
import type { GatewayConfig } from '../../config/schema.js'
import { logger } from '../../observability/logger.js'
import { redactUri, type JwksSnapshot } from './keys.js'

/**
 * The fetching side of JWKS. It runs in the cluster primary, so each JWKS URI is fetched once for all
 * workers, whatever their number; the primary broadcasts every snapshot and the workers import the keys
 * (src/auth/jwks/keys.ts). It never sits on a request's path: refreshes run ahead of expiry, and a
 * worker that meets an unknown `kid` asks through `need()`, which the cooldown and the single flight
 * bound to one fetch per URI however many workers and requests ask.
 *
 * Stale-if-error: a failed fetch keeps the last good set, and its `staleUntil` (fetch time + TTL +
 * grace) does not move, so keys keep serving through an outage shorter than the grace. jose's
 * createRemoteJWKSet has no such layer: past its max age it throws on a failed reload
 * (../shared/reference/security-bar.md §2), hence this module.
 */

/** One JWKS URI and its timings, all in ms. */
export interface JwksSource {
  readonly uri: string
  readonly cacheTtlMs: number
  readonly cooldownMs: number
  readonly staleGraceMs: number
  readonly timeoutMs: number
}

export interface JwksStats {
  /** Fetch attempts (successful or not). */
  fetches: number
  failures: number
  /** Failures since the last success (0 when healthy). */
  failuresInRow: number
  /** Why the last failed fetch failed (null once a fetch succeeds). */
  lastError: string | null
}

export interface JwksManagerOptions {
  /** First retry delay after a failed fetch; doubles per failure. Envoy retries every 1 s. */
  retryMinMs?: number
  /** Longest retry delay. */
  retryMaxMs?: number
  /** Largest JWKS document accepted. */
  maxBodyBytes?: number
}

export type JwksListener = (snapshot: JwksSnapshot) => void

const DEFAULT_MAX_BODY = 512 * 1024
/** Envoy refetches 5 s before expiry; the lead is also at least 10% of the TTL (60 s of the default 600 s). */
const REFRESH_LEAD_MS = 5000
/** A TTL this short would refresh in a loop; no refresh is scheduled sooner than this. */
const MIN_REFRESH_MS = 10

/** Why a fetch failed, as logged and kept in `stats().lastError`. */
class JwksFetchError extends Error {}

interface UriState {
  source: JwksSource
  /** The last good key set (null until one arrives). */
  jwks: { keys: unknown[] } | null
  fetchedAt: number
  staleUntil: number
  lastAttemptAt: number
  inflight: Promise<void> | null
  abort: AbortController | null
  timer: NodeJS.Timeout | null
  /** A worker asked (need) while a fetch ran: a failed fetch still owes it an answer. */
  answerOwed: boolean
  failing: boolean
  expiredLogged: boolean
  stopped: boolean
  stats: JwksStats
}

export class JwksManager {
  private readonly states = new Map<string, UriState>()
  private readonly listeners: JwksListener[] = []
  private readonly retryMinMs: number
  private readonly retryMaxMs: number
  private readonly maxBodyBytes: number
  // Its own agent, so close() can drop the keep-alive sockets to JWKS endpoints.
  private readonly agent = new Agent({ keepAliveTimeout: 30_000 })
  private closed = false

  constructor(opts: JwksManagerOptions = {}) {
    this.retryMinMs = opts.retryMinMs ?? 1000
    this.retryMaxMs = opts.retryMaxMs ?? 30_000
    this.maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY
  }

  /** Every snapshot to broadcast: new sets, and "unchanged" answers to `need`. */
  onSnapshot(listener: JwksListener): void {
    this.listeners.push(listener)
  }

  /**
   * The URIs to manage: new ones are fetched at once, removed ones stop (timers cleared, fetch aborted),
   * kept ones take the new timings. One entry per URI (see jwksSourcesFromConfig).
   */
  configure(sources: readonly JwksSource[]): void {
    if (this.closed) return
    const wanted = new Map(sources.map((s) => [s.uri, s]))
    for (const [uri, state] of this.states) {
      if (!wanted.has(uri)) {
        this.stop(state)
        this.states.delete(uri)
      }
    }
    for (const source of wanted.values()) {
      const state = this.states.get(source.uri)
      if (state === undefined) {
        const fresh = newState(source)
        this.states.set(source.uri, fresh)
        this.startFetch(fresh)
      } else {
        this.retime(state, source)
      }
    }
  }

  /**
   * A worker met a `kid` it does not have. A running fetch answers it; within the cooldown of the last
   * attempt it gets an "unchanged" snapshot at once (so its requests stop waiting); else a fetch starts.
   */
  need(uri: string): void {
    const state = this.states.get(uri)
    if (state === undefined) return
    if (state.inflight !== null) {
      state.answerOwed = true
      return
    }
    if (Date.now() - state.lastAttemptAt < state.source.cooldownMs) {
      this.emit(unchanged(state))
      return
    }
    state.answerOwed = true
    this.startFetch(state)
  }

  /** The current set of every URI that has one (for a worker that just started). */
  snapshots(): JwksSnapshot[] {
    const out: JwksSnapshot[] = []
    for (const state of this.states.values()) {
      if (state.jwks !== null) out.push({ uri: state.source.uri, jwks: state.jwks, fetchedAt: state.fetchedAt, staleUntil: state.staleUntil })
    }
    return out
  }

  /** Every URI's health for the admin API (URIs redacted: they can carry credentials). */
  report(): { uri: string; fetches: number; failures: number; failures_in_row: number; fetched_at: string | null; stale_until: string | null }[] {
    return [...this.states.values()].map((state) => ({
      uri: redactUri(state.source.uri),
      fetches: state.stats.fetches,
      failures: state.stats.failures,
      failures_in_row: state.stats.failuresInRow,
      fetched_at: state.jwks === null ? null : new Date(state.fetchedAt).toISOString(),
      stale_until: state.jwks === null ? null : new Date(state.staleUntil).toISOString(),
    }))
  }

  stats(uri: string): JwksStats | undefined {
    const state = this.states.get(uri)
    return state === undefined ? undefined : { ...state.stats }
  }

  /** Stops every timer and fetch and closes the sockets. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const state of this.states.values()) this.stop(state)
    this.states.clear()
    await this.agent.destroy()
  }

  private stop(state: UriState): void {
    state.stopped = true
    if (state.timer !== null) clearTimeout(state.timer)
    state.timer = null
    state.abort?.abort()
  }

  private retime(state: UriState, source: JwksSource): void {
    const old = state.source
    state.source = source
    if (old.cacheTtlMs === source.cacheTtlMs && old.staleGraceMs === source.staleGraceMs) return
    if (state.jwks === null) return
    const staleUntil = state.fetchedAt + source.cacheTtlMs + source.staleGraceMs
    if (staleUntil !== state.staleUntil) {
      state.staleUntil = staleUntil
      // Workers only ever extend staleUntil (keys.ts), so a shorter grace takes effect at the next fetch.
      this.emit(unchanged(state))
    }
    if (!state.failing && state.inflight === null) {
      this.schedule(state, Math.max(MIN_REFRESH_MS, state.fetchedAt + refreshDelay(source.cacheTtlMs) - Date.now()))
    }
  }

  /** Single flight: callers check `inflight` first. Never throws; the outcome is broadcast. */
  private startFetch(state: UriState): void {
    if (state.timer !== null) clearTimeout(state.timer)
    state.timer = null
    state.lastAttemptAt = Date.now()
    state.stats.fetches++
    const abort = new AbortController()
    state.abort = abort
    state.inflight = this.download(state.source, abort)
      .then(
        (jwks) => this.succeeded(state, jwks),
        (err: unknown) => this.failed(state, err),
      )
      .catch((err: unknown) => logger.error({ uri: redactUri(state.source.uri), err }, 'JWKS bookkeeping failed'))
      .finally(() => {
        state.inflight = null
        state.abort = null
      })
  }

  private succeeded(state: UriState, jwks: { keys: unknown[] }): void {
    if (state.stopped) return
    const { source } = state
    // fetchedAt orders snapshots in the workers: never let a clock step make a newer set look older.
    const fetchedAt = Math.max(Date.now(), state.fetchedAt + 1)
    if (state.failing) {
      logger.info({ uri: redactUri(source.uri), failures: state.stats.failuresInRow }, 'JWKS fetch recovered')
    }
    state.jwks = jwks
    state.fetchedAt = fetchedAt
    state.staleUntil = fetchedAt + source.cacheTtlMs + source.staleGraceMs
    state.failing = false
    state.expiredLogged = false
    state.answerOwed = false
    state.stats.failuresInRow = 0
    state.stats.lastError = null
    this.schedule(state, refreshDelay(source.cacheTtlMs))
    this.emit({ uri: source.uri, jwks, fetchedAt, staleUntil: state.staleUntil })
  }

  private failed(state: UriState, err: unknown): void {
    if (state.stopped) return
    const { source } = state
    const reason = err instanceof JwksFetchError ? err.message : describe(err, source.timeoutMs)
    state.stats.failures++
    state.stats.failuresInRow++
    state.stats.lastError = reason
    const now = Date.now()
    if (!state.failing) {
      state.failing = true
      if (state.jwks !== null) {
        logger.warn({ uri: redactUri(source.uri), error: reason, staleUntil: new Date(state.staleUntil).toISOString() }, `JWKS fetch failing, serving cached keys until ${new Date(state.staleUntil).toISOString()}`)
      } else {
        logger.warn({ uri: redactUri(source.uri), error: reason }, 'JWKS fetch failing and no keys fetched yet: tokens of this issuer are refused')
      }
    }
    if (state.jwks !== null && now > state.staleUntil && !state.expiredLogged) {
      state.expiredLogged = true
      logger.error({ uri: redactUri(source.uri), error: reason, failures: state.stats.failuresInRow }, 'JWKS keys expired past their grace period: tokens of this issuer are refused until the endpoint answers')
    }
    const delay = Math.min(this.retryMaxMs, this.retryMinMs * 2 ** Math.min(30, state.stats.failuresInRow - 1))
    this.schedule(state, delay)
    if (state.answerOwed) {
      state.answerOwed = false
      this.emit(unchanged(state))
    }
  }

  private schedule(state: UriState, delayMs: number): void {
    if (state.stopped) return
    if (state.timer !== null) clearTimeout(state.timer)
    state.timer = setTimeout(() => {
      state.timer = null
      if (!state.stopped && state.inflight === null) this.startFetch(state)
    }, delayMs)
  }

  private emit(snapshot: JwksSnapshot): void {
    for (const listener of this.listeners) {
      try {
        listener(snapshot)
      } catch (err) {
        logger.error({ uri: redactUri(snapshot.uri), err }, 'JWKS snapshot listener failed')
      }
    }
  }

  /** GET the JWKS document: 200 only, no redirects followed, body capped, `{keys: [...]}` required. */
  private async download(source: JwksSource, abort: AbortController): Promise<{ keys: unknown[] }> {
    const timer = setTimeout(() => abort.abort(new JwksFetchError(`timed out after ${source.timeoutMs} ms`)), source.timeoutMs)
    try {
      // undici's request() follows no redirects (v7 moved that to an interceptor we do not install), so
      // a 3xx lands below as a failure: a JWKS URI must not be steerable to another host.
      const res = await request(source.uri, {
        method: 'GET',
        headers: { accept: 'application/jwk-set+json, application/json' },
        dispatcher: this.agent,
        signal: abort.signal,
      })
      if (res.statusCode !== 200) {
        discard(res.body)
        throw new JwksFetchError(res.statusCode >= 300 && res.statusCode < 400 ? `redirect refused (status ${res.statusCode})` : `status ${res.statusCode}`)
      }
      const declared = Number(res.headers['content-length'])
      if (declared > this.maxBodyBytes) {
        discard(res.body)
        throw new JwksFetchError(`body of ${declared} bytes exceeds ${this.maxBodyBytes}`)
      }
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length
        if (size > this.maxBodyBytes) {
          discard(res.body)
          throw new JwksFetchError(`body exceeds ${this.maxBodyBytes} bytes`)
        }
        chunks.push(chunk)
      }
      let doc: unknown
      try {
        doc = JSON.parse(Buffer.concat(chunks, size).toString('utf8'))
      } catch {
        throw new JwksFetchError('body is not JSON')
      }
      if (doc === null || typeof doc !== 'object' || Array.isArray(doc) || !Array.isArray((doc as { keys?: unknown }).keys)) {
        throw new JwksFetchError('body is not a JWKS (an object with a "keys" array)')
      }
      return { keys: (doc as { keys: unknown[] }).keys }
    } catch (err) {
      // An abort surfaces as undici's own error; the reason we aborted with says more.
      if (abort.signal.aborted && abort.signal.reason instanceof JwksFetchError) throw abort.signal.reason
      throw err
    } finally {
      clearTimeout(timer)
    }
  }
}

/**
 * Drops a response body we will not read. undici's body emits an AbortError when destroyed unread, and
 * with no listener that is an uncaught exception: in the primary, a crash of the whole gateway.
 */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', ignore)
  body.destroy()
}

function ignore(): void {}

function newState(source: JwksSource): UriState {
  return {
    source,
    jwks: null,
    fetchedAt: 0,
    staleUntil: 0,
    lastAttemptAt: 0,
    inflight: null,
    abort: null,
    timer: null,
    answerOwed: false,
    failing: false,
    expiredLogged: false,
    stopped: false,
    stats: { fetches: 0, failures: 0, failuresInRow: 0, lastError: null },
  }
}

/** "Nothing new, here is the current freshness": ends the wait of workers that asked. */
function unchanged(state: UriState): JwksSnapshot {
  return { uri: state.source.uri, jwks: null, fetchedAt: state.fetchedAt, staleUntil: state.staleUntil }
}

/**
 * When to refresh after a good fetch: ahead of expiry by REFRESH_LEAD_MS (Envoy's 5 s) or 10% of the
 * TTL, whichever is larger, but never more than half the TTL ahead (short TTLs in tests).
 */
export function refreshDelay(ttlMs: number): number {
  const lead = Math.max(ttlMs * 0.1, Math.min(REFRESH_LEAD_MS, ttlMs / 2))
  return Math.max(MIN_REFRESH_MS, Math.round(ttlMs - lead))
}

function describe(err: unknown, timeoutMs: number): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    if (code === 'UND_ERR_ABORTED' || err.name === 'AbortError') return `aborted (timeout ${timeoutMs} ms)`
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message
  }
  return String(err)
}

/**
 * One source per JWKS URI named by the config's jwt plugins (enabled ones). When several issuers or
 * plugin instances name one URI, the strictest timings win: shortest TTL, cooldown and timeout, and
 * the longest stale grace (the most tolerant instance decides how long keys may outlive an outage).
 */
export function jwksSourcesFromConfig(config: GatewayConfig): JwksSource[] {
  const byUri = new Map<string, JwksSource>()
  for (const plugin of config.plugins) {
    if (plugin.name !== 'jwt' || !plugin.enabled) continue
    const issuers = (plugin.config as { issuers?: unknown }).issuers
    if (!Array.isArray(issuers)) continue
    for (const raw of issuers as unknown[]) {
      const issuer = raw as { jwks_uri?: unknown; cache_ttl?: unknown; refetch_cooldown?: unknown; stale_grace?: unknown; timeout?: unknown }
      if (typeof issuer.jwks_uri !== 'string') continue
      // The schema fills these defaults; repeated here so a hand-built config cannot yield NaN timers.
      const source: JwksSource = {
        uri: issuer.jwks_uri,
        cacheTtlMs: num(issuer.cache_ttl, 600) * 1000,
        cooldownMs: num(issuer.refetch_cooldown, 30) * 1000,
        staleGraceMs: num(issuer.stale_grace, 3600) * 1000,
        timeoutMs: num(issuer.timeout, 5000),
      }
      const seen = byUri.get(source.uri)
      byUri.set(
        source.uri,
        seen === undefined
          ? source
          : {
              uri: source.uri,
              cacheTtlMs: Math.min(seen.cacheTtlMs, source.cacheTtlMs),
              cooldownMs: Math.min(seen.cooldownMs, source.cooldownMs),
              staleGraceMs: Math.max(seen.staleGraceMs, source.staleGraceMs),
              timeoutMs: Math.min(seen.timeoutMs, source.timeoutMs),
            },
      )
    }
  }
  return [...byUri.values()]
}

function num(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : fallback
}
