import { randomUUID } from 'node:crypto'
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { Dispatcher } from 'undici'
import { errorBody, statusLine, ERRORS, type ErrorCode } from '../errors.js'
import { findHeader, RequestContext } from '../pipeline/context.js'
import { runAccess, runLog, type Step } from '../pipeline/compile.js'
import { logger } from '../observability/logger.js'
import { Exchange, sendError, type ExchangeHooks, type ForwardOptions } from '../proxy/forward.js'
import { canonicalIp, connectionTokens, isValidHeaderValue, isHopByHop, isOwnedOnForward, resolveClientIp, writeForwardedHeaders, type TrustedIps } from '../proxy/headers.js'
import { BUFFER_BODY_MAX, ClientBodyStream } from './body.js'
import type { Snapshot } from './compile.js'
import { normalizePath } from './normalize.js'

/**
 * The request road inside a worker:
 *   accept (uWS) -> limits + framing checks -> normalise -> route -> [access plugins] -> balance + forward
 *   -> [response plugins] -> respond -> log
 *
 * Hot path, all of it. Everything uWS gives us through `req` is read synchronously in `handle` (the
 * object is only valid until it returns); inbound headers are walked once, by `collect`, a module-level
 * function writing module-level scratch state, so no closure is created per request.
 */

export interface Limits {
  readonly maxHeaderCount: number
  readonly maxHeaderBytes: number
  readonly maxUriLength: number
  /** 0 = unlimited */
  readonly maxBodyBytes: number
}

export interface AccessLogSink {
  write(ctx: RequestContext): void
}

// ---- scratch state for one synchronous header walk (never read across an await) ------------------------
let sHeaders: string[] = []
let sBytes = 0
let sHost: string | undefined
let sHostCount = 0
let sContentLength: string | undefined
let sContentLengthConflict = false
let sTransferEncoding: string | undefined
let sTransferEncodingCount = 0
let sConnection: string | undefined
let sXff: string | undefined
let sCorrelationName: string | null = null
let sCorrelation: string | undefined

// A function of its own so TypeScript does not narrow these to their reset values inside `handle`.
function resetScratch(correlationName: string | null): void {
  sHeaders = []
  sBytes = 0
  sHost = undefined
  sHostCount = 0
  sContentLength = undefined
  sContentLengthConflict = false
  sTransferEncoding = undefined
  sTransferEncodingCount = 0
  sConnection = undefined
  sXff = undefined
  sCorrelationName = correlationName
  sCorrelation = undefined
}

function collect(name: string, value: string): void {
  sHeaders.push(name, value)
  sBytes += name.length + value.length + 4
  // Switch on length first: most headers are rejected by one integer compare.
  switch (name.length) {
    case 4:
      if (name === 'host') {
        sHost = value
        sHostCount++
      }
      break
    case 10:
      if (name === 'connection') sConnection = value
      break
    case 14:
      if (name === 'content-length') {
        if (sContentLength !== undefined && sContentLength !== value) sContentLengthConflict = true
        sContentLength = value
      }
      break
    case 15:
      if (name === 'x-forwarded-for') sXff = sXff === undefined ? value : `${sXff}, ${value}`
      break
    case 17:
      if (name === 'transfer-encoding') {
        sTransferEncoding = value
        sTransferEncodingCount++
      }
      break
  }
  if (name === sCorrelationName) sCorrelation = value
}

/** Router header lookup over the scratch list: valid only during the synchronous part of `handle`. */
function lookupHeader(lowerName: string): string | undefined {
  return findHeader(sHeaders, lowerName)
}

const METHODS_WITHOUT_BODY = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'DELETE'])

export class ProxyServer implements ExchangeHooks {
  snapshot: Snapshot
  inflight = 0
  requests = 0
  draining = false
  private drained: (() => void) | null = null

  private limits: Limits
  private trusted: TrustedIps

  constructor(
    snapshot: Snapshot,
    limits: Limits,
    trusted: TrustedIps,
    private readonly log: AccessLogSink | null,
  ) {
    this.snapshot = snapshot
    this.limits = limits
    this.trusted = trusted
  }

  /** Limits and trusted proxies from a reloaded config (the listeners themselves stay as they are). */
  configure(limits: Limits, trusted: TrustedIps): void {
    this.limits = limits
    this.trusted = trusted
  }

  /** Swaps in a new config snapshot; requests already running keep theirs. */
  swap(next: Snapshot): void {
    const prev = this.snapshot
    this.snapshot = next
    void prev.retire()
  }

  /** Resolves when no request is in flight (or at once if none is). */
  whenIdle(): Promise<void> {
    this.draining = true
    if (this.inflight === 0) return Promise.resolve()
    return new Promise((resolve) => {
      this.drained = resolve
    })
  }

  /** Builds the uWS handler for one listener (plain or TLS). */
  handler(proto: 'http' | 'https', port: number): (res: HttpResponse, req: HttpRequest) => void {
    const portText = String(port)
    return (res, req) => this.handle(res, req, proto, portText)
  }

  private handle(res: HttpResponse, req: HttpRequest, proto: string, port: string): void {
    const startedAt = performance.now()
    const snapshot = this.snapshot
    const limits = this.limits

    // 1. Read the request head (synchronously: `req` dies when this function returns).
    resetScratch(snapshot.correlationHeader)
    req.forEach(collect)
    const headers = sHeaders
    const method = req.getCaseSensitiveMethod()
    const rawPath = req.getUrl()
    const query = req.getQuery() ?? ''
    const peerText = Buffer.from(res.getRemoteAddressAsText()).toString('latin1')
    // uWS spells IPv6 peers (and IPv4 peers of a dual-stack listener) in full: 0000:...:ffff:7f00:0001.
    const peerIp = peerText.includes(':') ? (canonicalIp(peerText) ?? peerText) : peerText

    // An inbound correlation id is kept only if it is safe to echo in a response header.
    const requestId =
      sCorrelation !== undefined && sCorrelation.length > 0 && sCorrelation.length <= 200 && isValidHeaderValue(sCorrelation)
        ? sCorrelation
        : randomUUID()

    // 2. Limits and framing, before anything else looks at the request.
    let reject: ErrorCode | null = null
    if (headers.length / 2 > limits.maxHeaderCount || sBytes > limits.maxHeaderBytes) {
      reject = 'SLUICE_ERR_HEADERS_TOO_LARGE'
    } else if (rawPath.length + query.length + 1 > limits.maxUriLength) {
      reject = 'SLUICE_ERR_URI_TOO_LONG'
    } else if (sHostCount !== 1) {
      reject = 'SLUICE_ERR_BAD_HOST'
    } else if (
      sContentLengthConflict ||
      (sTransferEncoding !== undefined &&
        (sTransferEncodingCount > 1 || sContentLength !== undefined || sTransferEncoding.toLowerCase() !== 'chunked')) ||
      (sContentLength !== undefined && !isDigits(sContentLength))
    ) {
      reject = 'SLUICE_ERR_SMUGGLING'
    }
    const contentLength = sContentLength === undefined ? -1 : Number(sContentLength)
    if (reject === null && limits.maxBodyBytes > 0 && contentLength > limits.maxBodyBytes) {
      reject = 'SLUICE_ERR_BODY_TOO_LARGE'
    }
    const normalized = reject === null ? normalizePath(rawPath) : rawPath
    if (normalized === null) reject = 'SLUICE_ERR_BAD_PATH'
    const rawHost = sHost ?? ''
    const colon = rawHost.lastIndexOf(':')
    const host = (colon > 0 && rawHost.charCodeAt(rawHost.length - 1) !== 93 /* ] */ ? rawHost.slice(0, colon) : rawHost).toLowerCase()
    const clientIp = this.trusted.empty ? peerIp : resolveClientIp(peerIp, sXff, this.trusted)
    this.requests++
    const ctx = new RequestContext(snapshot, res, method, normalized ?? rawPath, query, host, rawHost, clientIp, requestId, headers, startedAt)
    if (reject !== null) {
      respondEarly(ctx, reject)
      this.logEarly(ctx)
      return
    }

    // 3. Route.
    const match = snapshot.router.find(method, host, ctx.path, lookupHeader)
    if (match === null) {
      sendError(ctx, 'SLUICE_ERR_NO_ROUTE')
      this.logEarly(ctx)
      return
    }
    const route = match.target
    const service = route.service
    ctx.route = route
    ctx.pipeline = route.pipeline
    ctx.params = match.params
    ctx.matchedLength = match.matchedLength

    // 4. The upstream request head: inbound headers minus hop-by-hop and the ones Sluice owns.
    const connectionNamed = sConnection === undefined ? null : connectionTokens(sConnection)
    const trustedPeer = !this.trusted.empty && this.trusted.trusts(peerIp)
    const out: string[] = []
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]
      if (isHopByHop(name) || isOwnedOnForward(name) || name === snapshot.correlationHeader) continue
      if (connectionNamed !== null && connectionNamed.includes(name)) continue
      out.push(name, headers[i + 1])
    }
    out.push('host', route.preserveHost ? rawHost : service.hostHeader)
    writeForwardedHeaders(
      out,
      trustedPeer,
      peerIp,
      clientIp,
      sXff,
      trustedPeer ? ctx.header('x-forwarded-proto') : undefined,
      trustedPeer ? ctx.header('x-forwarded-host') : undefined,
      trustedPeer ? ctx.header('x-forwarded-port') : undefined,
      proto,
      host,
      port,
    )
    if (snapshot.correlationHeader !== null) out.push(snapshot.correlationHeader, requestId)

    const rest = route.stripPath ? ctx.path.slice(match.matchedLength) : ctx.path
    let upstreamPath = rest.length === 0 ? service.basePath || '/' : rest.charCodeAt(0) === 47 ? service.basePath + rest : `${service.basePath}/${rest}`
    if (query.length > 0) upstreamPath = `${upstreamPath}?${query}`

    // 5. Forward.
    this.inflight++
    snapshot.inflight++
    const hasBody = sTransferEncoding !== undefined || contentLength > 0
    const opts: ForwardOptions = {
      origin: undefined,
      path: upstreamPath,
      method: method as Dispatcher.HttpMethod,
      headers: out,
      body: null,
      headersTimeout: service.readTimeout,
      bodyTimeout: service.readTimeout,
    }
    ctx.upstreamPath = upstreamPath
    ctx.upstreamHeaders = out
    const access = route.pipeline.access
    if (!hasBody) {
      if (contentLength === 0 && !METHODS_WITHOUT_BODY.has(method)) out.push('content-length', '0')
      const exchange = new Exchange(ctx, service, this, opts, null)
      res.onAborted(() => exchange.clientAborted())
      if (access === null) exchange.start(null)
      else this.access(exchange, access)
      return
    }

    const maxBody = limits.maxBodyBytes
    if (contentLength >= 0 && contentLength <= BUFFER_BODY_MAX) {
      // Small declared body: buffer it whole (retryable), then dispatch.
      const body = Buffer.allocUnsafe(contentLength)
      let received = 0
      out.push('content-length', sContentLength!)
      opts.body = body
      ctx.body = body
      const exchange = new Exchange(ctx, service, this, opts, null)
      res.onAborted(() => exchange.clientAborted())
      res.onData((chunk, isLast) => {
        const n = Math.min(chunk.byteLength, contentLength - received)
        body.set(new Uint8Array(chunk, 0, n), received)
        received += n
        if (isLast && !ctx.aborted) {
          ctx.bytesIn = received
          if (access === null) exchange.start(null)
          else this.access(exchange, access)
        }
      })
      return
    }

    // Large or chunked body: stream it, counting bytes against the limit.
    if (contentLength >= 0) out.push('content-length', sContentLength!)
    const stream = new ClientBodyStream(res, service.writeTimeout)
    opts.body = stream
    const exchange = new Exchange(ctx, service, this, opts, stream)
    stream.onWriteTimeout = () => exchange.refuse('SLUICE_ERR_UPSTREAM_TIMEOUT')
    res.onAborted(() => exchange.clientAborted())
    res.onData((chunk, isLast) => {
      if (ctx.aborted) return
      ctx.bytesIn += chunk.byteLength
      if (maxBody > 0 && ctx.bytesIn > maxBody) {
        exchange.refuse('SLUICE_ERR_BODY_TOO_LARGE')
        return
      }
      stream.feed(chunk, isLast)
      if (isLast) ctx.bodyPending = false
    })
    ctx.bodyPending = true
    if (access === null) exchange.start(null)
    else this.access(exchange, access)
  }

  /** Runs the route's access plugins, then forwards unless one of them answered. */
  private access(exchange: Exchange, steps: readonly Step[]): void {
    let verdict: boolean | Promise<boolean>
    try {
      verdict = runAccess(exchange.ctx, steps)
    } catch (err) {
      return exchange.pluginFailed(err as Error)
    }
    if (verdict === true) forward(exchange)
    else if (verdict === false) exchange.answered()
    else
      verdict.then(
        (go) => (go && !exchange.ctx.aborted ? forward(exchange) : exchange.answered()),
        (err: Error) => exchange.pluginFailed(err),
      )
  }

  /** A request answered by Sluice itself before anything was forwarded. */
  private logEarly(ctx: RequestContext): void {
    if (this.log === null) return
    ctx.latency = performance.now() - ctx.startedAt
    this.log.write(ctx)
  }

  /** ExchangeHooks: the exchange is over. */
  done(ctx: RequestContext): void {
    ctx.latency = performance.now() - ctx.startedAt
    ctx.snapshot.requestEnded()
    const log = ctx.pipeline.log
    if (log !== null) {
      try {
        runLog(ctx, log)
      } catch (err) {
        logger.error({ err, route: ctx.route!.name, request_id: ctx.requestId }, 'log-phase plugin failed')
      }
    }
    if (this.log !== null) this.log.write(ctx)
    if (--this.inflight === 0 && this.drained !== null) {
      this.drained()
      this.drained = null
    }
  }
}

/** Starts the upstream exchange after the access phase, with the body a plugin may have replaced. */
function forward(exchange: Exchange): void {
  const ctx = exchange.ctx
  const opts = exchange.opts
  if (ctx.body !== null && ctx.body !== opts.body) {
    opts.body = ctx.body
    const h = ctx.upstreamHeaders!
    for (let i = 0; i < h.length; i += 2) if (h[i] === 'content-length') h[i + 1] = String(ctx.body.length)
  }
  exchange.start(null)
}

function isDigits(s: string): boolean {
  if (s.length === 0 || s.length > 15) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}

/** An error before routing: answered synchronously, and the connection closed. */
function respondEarly(ctx: RequestContext, code: ErrorCode): void {
  const res = ctx.res
  const e = ERRORS[code]
  const body = errorBody(code, ctx.requestId)
  ctx.status = e.status
  ctx.errorCode = code
  ctx.responded = true
  ctx.bytesOut = body.length
  res.writeStatus(statusLine(e.status))
  res.writeHeader('content-type', 'application/json; charset=utf-8')
  ctx.snapshot.writeResponseHeaders(ctx, res)
  // A request refused before its body was read leaves the connection in an unknown state (where does the
  // body end?): close it.
  res.end(body, true)
}
