import type { Dispatcher } from 'undici'
import type { Readable } from 'node:stream'
import { ERRORS, errorBody, statusLine, type ErrorCode } from '../errors.js'
import { logger } from '../observability/logger.js'
import { runHeader } from '../pipeline/compile.js'
import { isValidHeaderName, isValidHeaderValue } from './headers.js'
import type { RequestContext } from '../pipeline/context.js'
import type { CompiledService } from '../worker/compile.js'
import type { Target } from './types.js'

/**
 * Forwarding: one Exchange per proxied request, handed to the upstream pool's `dispatch()` as its
 * handler: Sluice's HTTP/1.1 client (src/proxy/h1, plain-HTTP upstreams by default) or undici's Pool
 * (HTTPS upstreams, or `upstream_client: undici`). Both call the same handler contract.
 *
 * Hot path. The handler uses undici's legacy callback shape (onConnect/onHeaders/onData/onComplete/
 * onError) on purpose: undici's Client calls exactly these, so a plain object is passed through with no
 * wrapper, while the newer onRequestStart/onResponse* shape is adapted by an UnwrapHandler that also parses
 * every response header into an object (lib/handler/unwrap-handler.js); H1Pool implements the same shape.
 *
 * Backpressure both ways: the response body is written with uWS `tryEnd` (known length) or `write`
 * (chunked); when uWS reports backpressure `onData` returns false, which pauses the upstream socket, and
 * uWS `onWritable` resumes it. Request bodies are streamed by src/worker/body.ts, which pauses the
 * client's uWS socket while the upstream side of the request stream is full.
 */

/** Response headers never copied from the upstream: hop-by-hop, and framing that uWS writes itself. */
const SKIP_RESPONSE_HEADER = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  // uWS writes its own Date header on every response; a second one from the upstream would duplicate it.
  'date',
])

/** Errors that prove the request never reached the upstream: safe to retry on another target. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT'])

// Hot path: cork() runs its callback synchronously, so one module-level callback per kind reads the
// exchange from `corked` instead of every exchange allocating its own closures (four per request before).
let corked: Exchange | null = null
function corkFor(exchange: Exchange, fn: () => void): void {
  corked = exchange
  exchange.ctx.res.cork(fn)
}
function corkedWriteChunk(): void {
  corked!.writeChunkCorked()
}
function corkedEndWithoutBody(): void {
  corked!.endWithoutBodyCorked()
}
function corkedEndEmpty(): void {
  corked!.endEmptyCorked()
}

/** 1 at the index of each length a skipped name has: most names are passed on after one array read. */
const SKIP_LENGTHS = new Uint8Array(64)
for (const name of SKIP_RESPONSE_HEADER) SKIP_LENGTHS[name.length] = 1

/** Content-Length of a raw upstream head (digits parsed from the bytes), or -1 when absent. */
function contentLength(raw: Buffer[]): number {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    if (name.length !== 14) continue
    if ((name[0] | 32) !== 99 /* c */ || (name[8] | 32) !== 108 /* l */ || name.toString('latin1').toLowerCase() !== 'content-length') continue
    const v = raw[i + 1]
    let n = 0
    for (let j = 0; j < v.length; j++) n = n * 10 + (v[j] - 48)
    return n
  }
  return -1
}

// Status lines by code for the reason phrase most upstreams send; anything else is built per response.
const STATUS_LINES = new Map<number, { text: string; line: string }>()
function statusLineFor(code: number, text: string): string {
  const cached = STATUS_LINES.get(code)
  if (cached !== undefined && cached.text === text) return cached.line
  const line = text ? `${code} ${text}` : String(code)
  if (cached === undefined && STATUS_LINES.size < 64) STATUS_LINES.set(code, { text, line })
  return line
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE'])

/** What the forwarder hands either client: undici's dispatch options with the head as a flat list. */
export type ForwardOptions = Dispatcher.DispatchOptions & { headers: string[]; body: Buffer | Readable | null }

export interface ExchangeHooks {
  /** Called exactly once when the exchange is over (response ended, failed or client aborted). */
  done(ctx: RequestContext): void
}

export class Exchange implements Dispatcher.DispatchHandler {
  readonly ctx: RequestContext
  readonly service: CompiledService
  readonly hooks: ExchangeHooks
  /** undici dispatch options; `origin`/`path`/`headers` are reused on a retry. */
  readonly opts: ForwardOptions
  attempts: number
  private abortUpstream: ((err?: Error) => void) | null
  private resumeUpstream: (() => void) | null
  /** Declared response length, or -1 for chunked. */
  private total: number
  /** A chunk uWS could not take yet (tryEnd backpressure), and the write offset it started at. */
  private pending: Buffer | null
  private pendingOffset: number
  private headSent: boolean
  /** The client's response has ended (or was cut). */
  private finished: boolean
  /** hooks.done has been called. */
  private over: boolean
  private readonly noBody: boolean
  /** uWS onWritable callback, made on the first backpressure (most responses never need one). */
  private onWritable: ((offset: number) => boolean) | null
  private readonly bodyStream: Readable | null
  /** The upstream's response head, written with the first body bytes. */
  private rawHeaders: Buffer[] | null
  private statusText: string
  /** The chunk being written inside the current cork, and what uWS answered. */
  private chunk: Buffer | null
  private ok: boolean
  private done: boolean

  constructor(
    ctx: RequestContext,
    service: CompiledService,
    hooks: ExchangeHooks,
    opts: ForwardOptions,
    bodyStream: Readable | null,
  ) {
    this.ctx = ctx
    this.service = service
    this.hooks = hooks
    this.opts = opts
    this.attempts = 0
    this.abortUpstream = null
    this.resumeUpstream = null
    this.total = -1
    this.pending = null
    this.pendingOffset = 0
    this.headSent = false
    this.finished = false
    this.over = false
    this.noBody = ctx.method === 'HEAD'
    this.onWritable = null
    this.bodyStream = bodyStream
    this.rawHeaders = null
    this.statusText = ''
    this.chunk = null
    this.ok = true
    this.done = false
  }

  /** Picks a target and dispatches; on a connect failure of an idempotent request, the next target. */
  start(exclude: Target | null): void {
    const ctx = this.ctx
    // Access plugins may have rewritten the path; the header list is the same array, edited in place.
    this.opts.path = ctx.upstreamPath
    const target = this.service.balancer.pick(this.service.hashKey(ctx), exclude)
    if (target === null) return this.fail('SLUICE_ERR_NO_HEALTHY_TARGET')
    this.attempts++
    ctx.target = target
    target.active++
    ctx.upstreamStartedAt = performance.now()
    this.service.pools.get(target.key)!.dispatch(this.opts, this)
  }

  /** The client went away: cancel the upstream request (undici closes or recycles the socket). */
  clientAborted(): void {
    this.ctx.aborted = true
    if (this.abortUpstream !== null) this.abortUpstream(new Error('client aborted'))
    this.bodyStream?.destroy()
    this.finish()
  }

  /**
   * Sluice refuses the request midway (a streamed body over the limit): cancel the upstream request and
   * answer with `code` if nothing was sent yet, otherwise cut the connection.
   */
  refuse(code: ErrorCode): void {
    if (this.over) return
    const ctx = this.ctx
    if (!ctx.aborted && !ctx.responded) sendError(ctx, code)
    else if (!ctx.aborted && !this.finished) ctx.res.close()
    ctx.errorCode = code
    this.finished = true
    this.finish()
    // After finish(): the error undici reports for this abort finds the exchange over and is ignored.
    this.bodyStream?.destroy()
    if (this.abortUpstream !== null) this.abortUpstream(new Error(code))
  }

  /** An access plugin answered the request itself (pipeline/respond.ts): nothing goes upstream. */
  answered(): void {
    this.bodyStream?.destroy()
    this.finished = true
    this.finish()
  }

  /** An access plugin threw: a 500 with the stable code, logged; never a crash. */
  pluginFailed(err: Error): void {
    logger.error({ err, route: this.ctx.route?.name, request_id: this.ctx.requestId }, 'plugin failed')
    this.bodyStream?.destroy()
    if (!this.ctx.aborted && !this.ctx.responded) sendError(this.ctx, 'SLUICE_ERR_INTERNAL')
    this.finished = true
    this.finish()
  }

  // ---- undici handler ----------------------------------------------------------------------------

  onConnect(abort: (err?: Error) => void): void {
    if (this.ctx.aborted) return abort(new Error('client aborted'))
    this.abortUpstream = abort
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    const ctx = this.ctx
    if (statusCode < 200) return true // 1xx interim responses are not relayed (uWS cannot write them)
    this.resumeUpstream = resume
    ctx.upstreamLatency = performance.now() - ctx.upstreamStartedAt
    ctx.status = statusCode
    if (ctx.aborted) {
      // Never return false here: that pauses the upstream socket until resume(), and nobody would call
      // it. Cancel instead (undici destroys the socket rather than reuse it mid-response).
      this.abortUpstream?.(new Error('client aborted'))
      return true
    }
    // The head is kept and written together with the first body bytes (or the end): one cork, one
    // send() for a small response instead of two.
    this.rawHeaders = rawHeaders
    this.statusText = statusText
    this.total = contentLength(rawHeaders)
    this.headSent = true
    if (this.noBody || statusCode === 204 || statusCode === 304) {
      corkFor(this, corkedEndWithoutBody)
      this.finished = true
    }
    return true
  }

  onData(chunk: Buffer): boolean {
    const ctx = this.ctx
    if (ctx.aborted || this.finished) return true
    ctx.bytesOut += chunk.length
    const res = ctx.res
    const start = res.getWriteOffset()
    this.chunk = chunk
    corkFor(this, corkedWriteChunk)
    this.chunk = null
    if (this.total >= 0) {
      if (this.done) this.finished = true
      else if (!this.ok) {
        // Backpressure: keep the chunk, pause undici, resume from onWritable (uWS video-streaming pattern).
        this.pending = chunk
        this.pendingOffset = start
        res.onWritable(this.writableCallback())
        return false
      }
      return true
    }
    if (!this.ok) {
      res.onWritable(this.writableCallback())
      return false
    }
    return true
  }

  onComplete(): void {
    this.release()
    const ctx = this.ctx
    if (!ctx.aborted && !this.finished && this.pending === null) {
      const res = ctx.res
      // Chunked: the terminating chunk. Known length: the upstream sent fewer bytes than declared, so the
      // client connection is closed rather than left waiting (undici reports a length mismatch as an error
      // first, so this is the empty-body case).
      if (this.total > 0) res.close()
      else corkFor(this, corkedEndEmpty)
      this.finished = true
    }
    if (this.pending === null) this.finish()
  }

  onError(err: Error): void {
    const ctx = this.ctx
    this.release()
    if (this.over) return
    if (ctx.aborted) return this.finish()
    const code = (err as { code?: string }).code ?? ''
    if (!ctx.responded) {
      if (
        !this.headSent &&
        NEVER_SENT.has(code) &&
        this.attempts <= this.service.retries &&
        IDEMPOTENT.has(ctx.method) &&
        this.bodyStream === null &&
        this.service.balancer.targets.length > 1
      ) {
        this.abortUpstream = null
        return this.start(ctx.target)
      }
      return this.fail(errorCodeFor(code))
    }
    // Status already sent: the response cannot be changed; cut the connection so the client sees a
    // truncated message instead of a silently short one (and nothing downstream caches it).
    ctx.errorCode = 'SLUICE_ERR_UPSTREAM_RESPONSE'
    if (!this.finished) {
      this.finished = true
      ctx.res.close()
    }
    this.finish()
  }

  // ---- uWS side -----------------------------------------------------------------------------------

  private writableCallback(): (offset: number) => boolean {
    this.onWritable ??= (offset) => this.writable(offset)
    return this.onWritable
  }

  /** Inside a cork: the head if not written yet, then the current chunk (tryEnd or chunked write). */
  writeChunkCorked(): void {
    const res = this.ctx.res
    if (!this.ctx.responded) this.writeHead()
    if (this.total >= 0) {
      const r = res.tryEnd(this.chunk!, this.total)
      this.ok = r[0]
      this.done = r[1]
    } else this.ok = res.write(this.chunk!)
  }

  /** Inside a cork: a response without a body; reports the upstream's length for HEAD (RFC 9110 §9.3.2). */
  endWithoutBodyCorked(): void {
    this.writeHead()
    this.ctx.res.endWithoutBody(this.noBody && this.total >= 0 ? this.total : undefined)
  }

  /** Inside a cork: the end of a response whose body was empty or chunked. */
  endEmptyCorked(): void {
    if (!this.ctx.responded) this.writeHead()
    this.ctx.res.end()
  }

  /** Writes the status line and the upstream's headers (inside a cork). */
  private writeHead(): void {
    const ctx = this.ctx
    const res = ctx.res
    const raw = this.rawHeaders!
    res.writeStatus(statusLineFor(ctx.status, this.statusText))
    const header = ctx.pipeline.header
    if (header === null) {
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]
        // Hot path: only names as long as a skipped one are decoded and compared; the rest go to uWS as
        // the Buffers undici parsed, with no string made. llhttp has already refused CR, LF and NUL.
        if (SKIP_LENGTHS[name.length] === 1 && SKIP_RESPONSE_HEADER.has(name.toString('latin1').toLowerCase())) continue
        res.writeHeader(name, raw[i + 1])
      }
    } else {
      // Header-phase plugins edit a string list; what they wrote is validated before it reaches uWS,
      // which writes header bytes verbatim.
      const list: string[] = []
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i].toString('latin1')
        if (!SKIP_RESPONSE_HEADER.has(name.toLowerCase())) list.push(name, raw[i + 1].toString('latin1'))
      }
      try {
        runHeader(ctx, header, list)
      } catch (err) {
        // The status is decided; a failing header plugin must not break the response or the worker.
        logger.error({ err, route: ctx.route!.name, request_id: ctx.requestId }, 'header-phase plugin failed')
      }
      for (let i = 0; i < list.length; i += 2) {
        if (isValidHeaderName(list[i]) && isValidHeaderValue(list[i + 1]) && !SKIP_RESPONSE_HEADER.has(list[i].toLowerCase())) {
          res.writeHeader(list[i], list[i + 1])
        }
      }
    }
    ctx.snapshot.writeResponseHeaders(ctx, res)
    ctx.responded = true
  }

  private writable(offset: number): boolean {
    const ctx = this.ctx
    if (ctx.aborted) return true
    const pending = this.pending
    if (pending === null) {
      // chunked write drained
      this.resumeUpstream?.()
      return true
    }
    const res = ctx.res
    const rest = pending.subarray(offset - this.pendingOffset)
    let ok = false
    let done = false
    res.cork(() => {
      ;[ok, done] = res.tryEnd(rest, this.total)
    })
    if (done) {
      this.pending = null
      this.finished = true
      this.finish()
      return true
    }
    if (ok) {
      this.pending = null
      this.resumeUpstream?.()
    }
    return ok
  }

  /** Answers with an error of our own, when nothing has been written to the client yet. */
  fail(code: ErrorCode): void {
    const ctx = this.ctx
    ctx.errorCode = code
    if (!ctx.aborted && !ctx.responded) {
      sendError(ctx, code)
    }
    this.finish()
  }

  /** The target no longer carries this request (least-connections reads `active`). */
  private release(): void {
    const target = this.ctx.target
    if (target !== null) target.active--
  }

  private finish(): void {
    if (this.over) return
    this.over = true
    this.hooks.done(this.ctx)
  }
}

function errorCodeFor(code: string): ErrorCode {
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'SLUICE_ERR_UPSTREAM_TIMEOUT'
    case 'UND_ERR_INVALID_ARG':
      // undici refused a header value we were about to forward (control characters): the client's fault.
      return 'SLUICE_ERR_BAD_HEADER'
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
      return 'SLUICE_ERR_UPSTREAM_CONNECT'
    default:
      return 'SLUICE_ERR_UPSTREAM_RESPONSE'
  }
}

/** Writes a JSON error response (must be called while `ctx.res` is still valid). */
export function sendError(ctx: RequestContext, code: ErrorCode): void {
  const res = ctx.res
  const e = ERRORS[code]
  ctx.status = e.status
  ctx.errorCode = code
  ctx.responded = true
  const body = errorBody(code, ctx.requestId)
  ctx.bytesOut += body.length
  res.cork(() => {
    res.writeStatus(statusLine(e.status))
    res.writeHeader('content-type', 'application/json; charset=utf-8')
    ctx.snapshot.writeResponseHeaders(ctx, res)
    res.end(body, ctx.bodyPending)
  })
}
