// JWT micro-benchmark: `node --import tsx bench/micro/jwt.ts`
//
// What the jwt plugin (src/plugins/jwt/) costs a request, in three parts:
//   cold    a token seen for the first time: jose's compactVerify alone with an imported KeyObject, and
//           the plugin's whole access() with its verified-token cache off (retrieve, decode, key pick,
//           signature, claims, identity headers), for RS256 (2048-bit), ES256 (P-256) and HS256.
//   warm    a repeated token: access() with the cache on (what the `jwt` bench scenario measures end to
//           end), and its pieces: retrieveToken, the LRU lookup, the identity headers.
//   decode  retrieveToken + decodeToken: what a cache miss pays before any crypto.
// Each row: warm-up, then 5 timed rounds; the median is printed with the GCs seen in that round (GCs in
// a synchronous row mean the path allocates). The box is shared: compare rows of one run, not runs.

import { createHmac, generateKeyPairSync, sign as cryptoSign, timingSafeEqual, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import os from 'node:os'
import { PerformanceObserver } from 'node:perf_hooks'
import { compactVerify } from 'jose'
import { LRUCache } from 'lru-cache'
import { ConsumerIndex } from '../../src/auth/consumers.js'
import { authenticate } from '../../src/auth/identity.js'
import { JwksKeys } from '../../src/auth/jwks/keys.js'
import { loadConfigObject } from '../../src/config/load.js'
import { RequestContext } from '../../src/pipeline/context.js'
import '../../src/plugins/index.js'
import { jwt, jwtCounters } from '../../src/plugins/jwt/index.js'
import { jwtSchema } from '../../src/plugins/jwt/schema.js'
import { decodeToken, retrieveToken } from '../../src/plugins/jwt/token.js'
import type { Snapshot } from '../../src/worker/compile.js'
import type { HttpResponse } from 'uWebSockets.js'

let gcs = 0
new PerformanceObserver((list) => {
  gcs += list.getEntries().length
}).observe({ entryTypes: ['gc'] })

// --- keys, consumers, tokens ---------------------------------------------------------------------

const HS_SECRET = 'sluice-micro-hs256-secret-of-forty-eight-bytes!!'
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString()

const loaded = await loadConfigObject({
  _format_version: '3.0',
  consumers: [
    { username: 'hs', jwt_secrets: [{ key: 'hs-key', algorithm: 'HS256', secret: HS_SECRET }] },
    { username: 'rs', jwt_secrets: [{ key: 'rs-key', algorithm: 'RS256', rsa_public_key: pem(rsa.publicKey) }] },
    { username: 'es', jwt_secrets: [{ key: 'es-key', algorithm: 'ES256', rsa_public_key: pem(ec.publicKey) }] },
  ],
})
const env = { consumers: new ConsumerIndex(loaded.config.consumers), jwks: new JwksKeys(), workers: 1, pluginId: 'bench-jwt' }
const warmState = jwt.compile(jwtSchema.parse({}), env)
const coldState = jwt.compile(jwtSchema.parse({ token_cache_size: 0 }), env)

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
const exp = Math.floor(Date.now() / 1000) + 365 * 86400
function token(alg: 'HS256' | 'RS256' | 'ES256', iss: string): string {
  const input = `${b64({ alg, typ: 'JWT' })}.${b64({ iss, sub: 'micro-user', exp })}`
  let sig: Buffer
  if (alg === 'HS256') sig = createHmac('sha256', HS_SECRET).update(input).digest()
  else if (alg === 'RS256') sig = cryptoSign('sha256', Buffer.from(input), rsa.privateKey)
  else sig = cryptoSign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' })
  return `${input}.${sig.toString('base64url')}`
}
const tokens = { RS256: token('RS256', 'rs-key'), ES256: token('ES256', 'es-key'), HS256: token('HS256', 'hs-key') }
const keyOf = (iss: string) => warmState.secrets.get(iss)!.key

// --- request contexts ----------------------------------------------------------------------------

/** Typical inbound headers (as in the headers bench scenario, minus its Authorization) before the token. */
const BASE_HEADERS = [
  'host', 'api.example.com',
  'user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'accept', 'application/json, text/plain, */*',
  'accept-language', 'en-GB,en;q=0.9,de;q=0.8',
  'x-request-id', '5b7e2d1c-9a4f-4c3e-8b2a-1d0e9f8c7b6a',
]
/** Header values as uWS hands them over: a fresh flat string per request, so copies, not one shared string. */
const fresh = (s: string) => Buffer.from(s).toString()

/** A pool of contexts carrying `tok`; each use resets what access() writes (credential, upstream headers). */
function contexts(tok: string, n = 64): RequestContext[] {
  const out: RequestContext[] = []
  for (let i = 0; i < n; i++) {
    const headers = [...BASE_HEADERS.map(fresh), 'authorization', fresh(`Bearer ${tok}`)]
    const ctx = new RequestContext(null as unknown as Snapshot, null as unknown as HttpResponse, 'GET', '/api/v2/orders-613/items/42', '', 'api.example.com', 'api.example.com', '127.0.0.1', 'r', headers, 0)
    ctx.upstreamHeaders = headers.slice()
    out.push(ctx)
  }
  return out
}
function reset(ctx: RequestContext): void {
  ctx.credential = null
  ctx.consumer = null
  ctx.upstreamHeaders!.length = BASE_HEADERS.length + 2
}

// --- timing --------------------------------------------------------------------------------------

interface Sample {
  readonly nsPerOp: number
  readonly gcs: number
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
function median(samples: Sample[]): Sample {
  return samples.sort((a, b) => a.nsPerOp - b.nsPerOp)[samples.length >> 1]
}

/** A synchronous loop: `iterations` calls of fn(i). */
async function timeSync(fn: (i: number) => unknown, iterations: number): Promise<Sample> {
  for (let i = 0; i < Math.min(iterations, 200_000); i++) fn(i)
  const samples: Sample[] = []
  for (let round = 0; round < 5; round++) {
    await sleep(5)
    const gc0 = gcs
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < iterations; i++) fn(i)
    samples.push({ nsPerOp: Number(process.hrtime.bigint() - t0) / iterations, gcs: gcs - gc0 })
  }
  return median(samples)
}

/** An async operation run back to back (one at a time, as one request's verification is). */
async function timeAsync(fn: (i: number) => Promise<unknown>, roundMs: number): Promise<Sample> {
  const warmUntil = Date.now() + roundMs
  for (let i = 0; Date.now() < warmUntil; i++) await fn(i)
  const samples: Sample[] = []
  for (let round = 0; round < 5; round++) {
    const gc0 = gcs
    const t0 = process.hrtime.bigint()
    const until = Date.now() + roundMs
    let n = 0
    while (Date.now() < until) await fn(n++)
    samples.push({ nsPerOp: Number(process.hrtime.bigint() - t0) / n, gcs: gcs - gc0 })
  }
  return median(samples)
}

const rows: string[][] = []
const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
function row(part: string, what: string, s: Sample): void {
  rows.push([part, what, fmt(1e9 / s.nsPerOp), s.nsPerOp < 10_000 ? s.nsPerOp.toFixed(0) : fmt(s.nsPerOp), String(s.gcs)])
}

// --- cold: signature verification per second -----------------------------------------------------

let sink = 0
for (const alg of ['RS256', 'ES256', 'HS256'] as const) {
  const tok = tokens[alg]
  const key = keyOf(`${alg.slice(0, 2).toLowerCase()}-key`)
  const algorithms = [alg]
  row('cold', `${alg} jose compactVerify (KeyObject)`, await timeAsync(async () => {
    const r = await compactVerify(tok, key, { algorithms })
    sink += r.payload.length
  }, 400))
  const pool = contexts(tok)
  const before = jwtCounters.verifications
  row('cold', `${alg} plugin access(), cache off`, await timeAsync(async (i) => {
    const ctx = pool[i & 63]
    reset(ctx)
    if ((await jwt.access!(ctx, coldState)) !== true || ctx.consumer === null) throw new Error(`${alg} token refused`)
  }, 400))
  if (jwtCounters.verifications === before) throw new Error('the cold rows did not verify')
}

// jose 6 verifies through WebCrypto: every verification is a thread-pool job and a promise. Beside it,
// node:crypto's synchronous verify of the same RS256 signature (the crypto alone), and RS256 through
// jose with 16 verifications in flight (what a burst of new tokens gets from the thread pool).
{
  const [input, sig] = [tokens.RS256.slice(0, tokens.RS256.lastIndexOf('.')), tokens.RS256.slice(tokens.RS256.lastIndexOf('.') + 1)]
  const signature = Buffer.from(sig, 'base64url')
  const key = keyOf('rs-key')
  row('cold', 'RS256 node:crypto verify, synchronous (for scale)', await timeSync(() => {
    if (cryptoVerify('sha256', Buffer.from(input), key, signature)) sink++
  }, 2_000))
  const hsKey = keyOf('hs-key')
  const hsInput = tokens.HS256.slice(0, tokens.HS256.lastIndexOf('.'))
  const hsSig = Buffer.from(tokens.HS256.slice(tokens.HS256.lastIndexOf('.') + 1), 'base64url')
  row('cold', 'HS256 node:crypto createHmac + timingSafeEqual (for scale)', await timeSync(() => {
    if (timingSafeEqual(createHmac('sha256', hsKey).update(hsInput).digest(), hsSig)) sink++
  }, 50_000))
  const algorithms = ['RS256']
  const inFlight = (n: number) => Promise.all(Array.from({ length: n }, () => compactVerify(tokens.RS256, key, { algorithms })))
  const batch = await timeAsync(() => inFlight(16), 400)
  row('cold', 'RS256 jose compactVerify, 16 in flight', { nsPerOp: batch.nsPerOp / 16, gcs: batch.gcs })
}

// --- warm: a repeated token ----------------------------------------------------------------------

{
  const pool = contexts(tokens.RS256)
  await jwt.access!(pool[0], warmState) // fills the cache
  const hits0 = jwtCounters.cacheHits
  const verifications0 = jwtCounters.verifications
  row('warm', `RS256 plugin access(), cache hit, ${tokens.RS256.length}-char token`, await timeSync((i) => {
    const ctx = pool[i & 63]
    reset(ctx)
    if (jwt.access!(ctx, warmState) !== true) throw new Error('cache hit expected to be synchronous')
  }, 1_000_000))
  if (jwtCounters.verifications !== verifications0 || jwtCounters.cacheHits === hits0) throw new Error('the warm row missed the cache')

  // The same with a short HS256 token (the bench scenario's size): the hit cost grows with token length.
  const short = contexts(tokens.HS256)
  await jwt.access!(short[0], warmState)
  row('warm', `HS256 plugin access(), cache hit, ${tokens.HS256.length}-char token`, await timeSync((i) => {
    const ctx = short[i & 63]
    reset(ctx)
    if (jwt.access!(ctx, warmState) !== true) throw new Error('cache hit expected to be synchronous')
  }, 1_000_000))

  // Its pieces, to see which one to shave.
  row('warm', '  retrieveToken (Bearer by char codes + slice)', await timeSync((i) => {
    const t = retrieveToken(pool[i & 63], warmState.places)
    if (typeof t === 'string') sink += t.length
  }, 1_000_000))
  const cache = warmState.cache!
  const bearers = pool.map((ctx) => ctx.header('authorization')!)
  row('warm', '  LRU get by the token tail + full compare (the plugin)', await timeSync((i) => {
    // A new (sliced) string each call, as retrieveToken returns one: only its 24-char tail is hashed.
    const t = bearers[i & 63].substring(7)
    const e = cache.get(t.slice(-24))
    if (e !== undefined && e.token === t) sink++
  }, 1_000_000))
  const plain = new Map<string, unknown>([[tokens.RS256, cache.get(tokens.RS256.slice(-24))]])
  row('warm', '  (for scale) Map.get by a fresh token string', await timeSync((i) => {
    if (plain.get(bearers[i & 63].substring(7)) !== undefined) sink++
  }, 1_000_000))
  const hit = cache.get(tokens.RS256.slice(-24))!
  row('warm', '  authenticate (identity headers)', await timeSync((i) => {
    const ctx = pool[i & 63]
    reset(ctx)
    authenticate(ctx, hit.consumer, hit.credential)
  }, 1_000_000))
  row('warm', '  Date.now()', await timeSync(() => (sink += Date.now() & 1), 1_000_000))

  // The same LRU probed by a token string it has hashed before (what a cache keyed on something cheaper buys).
  const small = new LRUCache<string, number>({ max: 10_000 })
  small.set(tokens.RS256, 1)
  const sameString = tokens.RS256
  row('warm', '  (for scale) LRU get by an already-hashed string', await timeSync(() => (sink += small.get(sameString)!), 1_000_000))
}

// --- the hit path before 2026-11-25's change, for comparison (now the plugin does both) -------------

{
  const pool = contexts(tokens.RS256)
  const bearers = pool.map((ctx) => ctx.header('authorization')!)
  // 1. (Adopted in src/plugins/jwt/token.ts.) The Bearer prefix by character codes instead of /^\s*[Bb]earer\s+(\S.*)$/ (which walks the whole
  //    token for `.*$`, then trimEnd walks it again): skip leading spaces, compare six letters, skip
  //    whitespace, trim trailing whitespace from the end only.
  const isSpace = (c: number) => c === 32 || c === 9
  function bearerToken(v: string): string | undefined {
    let i = 0
    while (i < v.length && isSpace(v.charCodeAt(i))) i++
    const b = v.charCodeAt(i)
    if ((b !== 66 && b !== 98) || v.charCodeAt(i + 1) !== 101 || v.charCodeAt(i + 2) !== 97 || v.charCodeAt(i + 3) !== 114 || v.charCodeAt(i + 4) !== 101 || v.charCodeAt(i + 5) !== 114) return undefined
    i += 6
    const start0 = i
    while (i < v.length && isSpace(v.charCodeAt(i))) i++
    if (i === start0 || i === v.length) return undefined
    let end = v.length
    while (end > i && isSpace(v.charCodeAt(end - 1))) end--
    return v.slice(i, end)
  }
  for (const v of bearers) if (bearerToken(v) !== retrieveToken(pool[0], warmState.places)) throw new Error('bearerToken disagrees')
  row('proposal', 'Bearer prefix by char codes (vs retrieveToken above)', await timeSync((i) => {
    const t = bearerToken(bearers[i & 63])
    if (t !== undefined) sink += t.length
  }, 1_000_000))
  // 2. (Adopted in src/plugins/jwt/index.ts.) The verified-token map keyed by the token's last 24 characters (signature bytes: an attacker cannot
  //    choose them for a token that verifies), the entry holding the full token, a hit only on `===` of
  //    the full token: V8 then hashes 24 characters instead of the whole token on every request.
  const byTail = new Map<string, { token: string }>([[tokens.RS256.slice(-24), { token: tokens.RS256 }]])
  row('proposal', 'Map keyed by the last 24 chars + full === (vs LRU get)', await timeSync((i) => {
    const t = bearers[i & 63].substring(7)
    const e = byTail.get(t.slice(-24))
    if (e !== undefined && e.token === t) sink++
  }, 1_000_000))
}

// --- decode: what a miss pays before crypto ------------------------------------------------------

{
  const pool = contexts(tokens.RS256)
  row('decode', 'retrieveToken + decodeToken (RS256 token)', await timeSync((i) => {
    const t = retrieveToken(pool[i & 63], warmState.places) as string
    const d = decodeToken(t)
    if (typeof d !== 'string') sink += d.alg.length
  }, 300_000))
  row('decode', 'decodeToken alone', await timeSync(() => {
    const d = decodeToken(tokens.RS256)
    if (typeof d !== 'string') sink += d.alg.length
  }, 300_000))
}

if (sink === -1) console.log('')

const header = ['part', 'operation', 'ops/s', 'ns/op', 'GCs (median round)']
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
const line = (cells: string[]) => '| ' + cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ') + ' |'
console.log(`jwt micro-benchmark: node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cpus, token ${tokens.RS256.length} chars (RS256)`)
console.log(line(header))
console.log('|' + widths.map((w, i) => (i >= 2 ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|')
for (const r of rows) console.log(line(r))
