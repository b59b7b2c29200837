import type { Readable } from 'node:stream'
import { isValidHeaderName, isValidHeaderValue } from '../headers.js'
import { H1Error, invalidArg } from './errors.js'

/** The legacy undici dispatch handler shape (forward.ts's Exchange), as the client calls it. */
export interface H1Handler {
  onConnect?(abort: (err?: Error) => void): void
  onHeaders?(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean
  onData?(chunk: Buffer): boolean
  onComplete?(trailers: string[] | null): void
  onError?(err: Error): void
}

/** What forward.ts passes to `dispatch` (a subset of undici's `Dispatcher.DispatchOptions`). */
export interface H1DispatchOptions {
  path: string
  method: string
  /** Flat `[name, value, name, value, ...]`, as src/worker/http.ts builds them. */
  headers?: readonly (string | readonly string[])[] | null
  body?: Buffer | Uint8Array | string | Readable | null
  headersTimeout?: number | null
  bodyTimeout?: number | null
}

/** undici's defaults (300 s) when the caller passes none; 0 disables. */
const DEFAULT_TIMEOUT = 300_000

/** Methods that may be sent again after a stale keep-alive socket dropped them (RFC 9110 §9.2.2). */
function isIdempotent(method: string): boolean {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'PUT':
    case 'DELETE':
    case 'OPTIONS':
    case 'TRACE':
      return true
    default:
      return false
  }
}

/** undici adds `content-length: 0` to these when they carry no body. */
function expectsPayload(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'QUERY'
}

/** Request headers whose values the client reads or refuses (see prepare). */
const OWN_NAMES = new Set(['host', 'expect', 'upgrade', 'keep-alive', 'connection', 'content-length', 'transfer-encoding'])

// undici's path rule: printable latin1, no spaces or controls.
const INVALID_PATH = /[^\u0021-\u00ff]/

/**
 * One request. A fixed-shape object allocated per dispatch (it outlives the call when queued or retried),
 * plus the one closure per request the handler's `abort` must be: a per-socket function could, called late
 * (forward.ts's Exchange can call it after `onComplete` while it still drains to a slow client), cancel a
 * later request on the same socket.
 */
export class Req {
  readonly handler: H1Handler
  readonly abort: (err?: Error) => void
  method = ''
  /** The request line and headers, ready to write (latin1). */
  head = ''
  body: Buffer | null = null
  stream: Readable | null = null
  /** Stream body sent with chunked transfer coding (no Content-Length given). */
  chunked = false
  /** Declared Content-Length of the request, or -1. */
  length = -1
  headersTimeout = DEFAULT_TIMEOUT
  bodyTimeout = DEFAULT_TIMEOUT
  isHead = false
  /** The caller sent `connection: close`: the socket is not reused after this request. */
  close = false
  /** May be sent again on a fresh connection if a reused one turns out closed (once). */
  retryable = false
  /** Already sent again once after a stale keep-alive socket. */
  retried = false
  /** onConnect has been called (not again on a retry). */
  connected = false
  /** onComplete or onError has been called, or the request was aborted. */
  done = false
  /** The connection carrying the request, null while queued. Typed loosely to keep this file free of it. */
  conn: { cancel(req: Req, err: Error): void } | null = null

  constructor(handler: H1Handler) {
    this.handler = handler
    this.abort = (err?: Error) => this.cancel(err)
  }

  /**
   * Validates the options and builds the head. Returns null, or the error to report (undici's codes).
   *
   * Hot path: the head is one string built by concatenation and written with one latin1 write; each
   * header is checked with the gateway's own validators (a table loop for the name, one regex for the
   * value), and only names as long as a header the client owns are lower-cased and compared.
   */
  prepare(opts: H1DispatchOptions, hostLine: string): H1Error | null {
    const method = opts.method
    const path = opts.path
    if (typeof method !== 'string' || !isValidHeaderName(method)) return invalidArg('invalid request method')
    if (typeof path !== 'string' || (path.charCodeAt(0) !== 47 && path !== '*') || INVALID_PATH.test(path)) {
      return invalidArg('invalid request path')
    }
    this.method = method
    this.isHead = method === 'HEAD'
    let head = method + ' ' + path + ' HTTP/1.1\r\n'
    let hasHost = false
    let length = -1
    const headers = opts.headers
    if (headers !== null && headers !== undefined) {
      if (!Array.isArray(headers) || (headers.length & 1) !== 0) return invalidArg('headers must be a flat [name, value] array')
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i]
        const value = headers[i + 1]
        if (typeof name !== 'string' || !isValidHeaderName(name)) return invalidArg('invalid header name')
        if (typeof value !== 'string') {
          // Several values: only for names the client does not interpret (framing and connection headers
          // come once, as strings, and are checked below).
          if (!Array.isArray(value) || OWN_NAMES.has(name.toLowerCase())) return invalidArg(`invalid ${name} header`)
          for (let j = 0; j < value.length; j++) {
            const v = value[j]
            if (typeof v !== 'string' || !isValidHeaderValue(v)) return invalidArg(`invalid ${name} header`)
            head += name + ': ' + v + '\r\n'
          }
          continue
        }
        if (!isValidHeaderValue(value)) return invalidArg(`invalid ${name} header`)
        switch (name.length) {
          case 4:
            if (name.toLowerCase() === 'host') {
              if (hasHost) return invalidArg('duplicate host header')
              hasHost = true
            }
            break
          case 6:
            if (name.toLowerCase() === 'expect') return new H1Error('UND_ERR_NOT_SUPPORTED', 'expect header not supported')
            break
          case 7:
            if (name.toLowerCase() === 'upgrade') return invalidArg('invalid upgrade header')
            break
          case 10: {
            const lower = name.toLowerCase()
            if (lower === 'keep-alive') return invalidArg('invalid keep-alive header')
            if (lower === 'connection') {
              const v = value.toLowerCase()
              if (v === 'close') this.close = true
              else if (v !== 'keep-alive') return invalidArg('invalid connection header')
            }
            break
          }
          case 14:
            if (name.toLowerCase() === 'content-length') {
              if (length >= 0) return invalidArg('duplicate content-length header')
              length = decimal(value)
              if (length < 0) return invalidArg('invalid content-length header')
            }
            break
          case 17:
            if (name.toLowerCase() === 'transfer-encoding') return invalidArg('invalid transfer-encoding header')
            break
        }
        head += name + ': ' + value + '\r\n'
      }
    }
    if (!hasHost) head += hostLine

    const body = opts.body
    if (body === null || body === undefined) {
      if (length < 0 && expectsPayload(method)) head += 'content-length: 0\r\n'
      this.retryable = true
    } else if (typeof body === 'string' || body instanceof Uint8Array) {
      const buf = typeof body === 'string' ? Buffer.from(body) : Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength)
      if (length >= 0 && length !== buf.length) return new H1Error('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'Request body length does not match content-length header')
      if (length < 0 && (buf.length > 0 || expectsPayload(method))) head += 'content-length: ' + buf.length + '\r\n'
      this.body = buf.length > 0 ? buf : null
      this.retryable = buf.length === 0 || isIdempotent(method)
    } else if (typeof (body as Readable).on === 'function' && typeof (body as Readable).pause === 'function') {
      this.stream = body as Readable
      if (length < 0) {
        this.chunked = true
        head += 'transfer-encoding: chunked\r\n'
      }
      // A streamed body cannot be sent twice.
      this.retryable = false
    } else {
      return invalidArg('unsupported body type (Buffer, string or Readable)')
    }
    this.length = length
    this.head = head + '\r\n'

    const ht = opts.headersTimeout
    const bt = opts.bodyTimeout
    if (ht !== null && ht !== undefined) {
      if (!(ht >= 0)) return invalidArg('invalid headersTimeout')
      this.headersTimeout = ht
    }
    if (bt !== null && bt !== undefined) {
      if (!(bt >= 0)) return invalidArg('invalid bodyTimeout')
      this.bodyTimeout = bt
    }
    return null
  }

  /** The handler's abort (given to onConnect): fails the request and destroys its socket. */
  cancel(err?: Error): void {
    if (this.done) return
    const reason = err ?? new H1Error('UND_ERR_ABORTED', 'Request aborted')
    if (this.conn !== null) this.conn.cancel(this, reason)
    else this.fail(reason)
  }

  /** Ends the request with an error (exactly once). */
  fail(err: Error): void {
    if (this.done) return
    this.done = true
    this.conn = null
    this.stream = null
    this.handler.onError?.(err)
  }
}

function decimal(s: string): number {
  if (s.length === 0 || s.length > 15) return -1
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const d = s.charCodeAt(i) - 48
    if (d < 0 || d > 9) return -1
    n = n * 10 + d
  }
  return n
}
