import type { Dispatcher } from 'undici'
import { Connection, type ConnectionOwner } from './connection.js'
import { H1Error } from './errors.js'
import { Req, type H1DispatchOptions, type H1Handler } from './request.js'

export { H1Error, ResponseParseError } from './errors.js'
export type { H1DispatchOptions, H1Handler } from './request.js'

export interface H1PoolOptions {
  /** Most sockets open at once (undici Pool `connections`); requests beyond wait in a FIFO queue. */
  readonly connections?: number | null
  /** How long an idle keep-alive socket is kept (ms); undici's default is 4 s. */
  readonly keepAliveTimeout?: number | null
  readonly connect?: { readonly timeout?: number | null } | null
}

/** Longest tick of the timeout clock (ms); shorter when a timeout asks for it. */
const MAX_TICK_MS = 250
const MIN_TICK_MS = 5

/**
 * Sluice's HTTP/1.1 upstream client for plain `http://` origins: a drop-in for undici's `Pool.dispatch`
 * with the legacy handler shape forward.ts's Exchange implements (onConnect, onHeaders, onData,
 * onComplete, onError), called with undici's ordering guarantees. Why it exists and what it saves:
 * bench/baseline/README.md (undici's Request construction, per-reuse setImmediate and stream machinery
 * cost 19-34 µs/req of user CPU over a minimal client on the same box).
 *
 * Keep-alive sockets, one request per socket at a time, a FIFO queue beyond `connections`, and one
 * coarse timer per pool for every timeout (connect, headers, body, idle): a tick advances `now` and scans
 * the open sockets' deadlines, so a request arms its timeouts with an addition, not a timer. A timeout
 * fires between its due time and two ticks later (a tick is at most 250 ms and at most a quarter of the
 * shortest timeout seen).
 */
export class H1Pool implements ConnectionOwner {
  readonly origin: string
  readonly host: string
  readonly port: number
  readonly connections: number
  readonly keepAliveTimeout: number
  readonly connectTimeout: number
  now = performance.now()
  tickMs = MAX_TICK_MS
  /** `host: ...` line added when the caller sends no Host (undici: the origin's host, port if not 80). */
  private readonly hostLine: string
  private readonly all: Connection[] = []
  /** Idle sockets, most recently used last (reused first: warm, and the rest age out). */
  private readonly idle: Connection[] = []
  private readonly queue: Req[] = []
  private queueHead = 0
  private timer: NodeJS.Timeout | null = null
  private readonly tickBound: () => void
  private closed = false
  private destroyed = false
  private closeWaiters: Array<() => void> = []

  constructor(origin: string, options: H1PoolOptions = {}) {
    const url = new URL(origin)
    if (url.protocol !== 'http:') throw new H1Error('UND_ERR_INVALID_ARG', `H1Pool speaks plain http only, not ${url.protocol}`)
    this.origin = url.origin
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    this.port = url.port === '' ? 80 : Number(url.port)
    this.hostLine = `host: ${url.host}\r\n`
    this.connections = options.connections != null && options.connections > 0 ? options.connections : Infinity
    this.keepAliveTimeout = options.keepAliveTimeout ?? 4000
    this.connectTimeout = options.connect?.timeout ?? 10_000
    this.tickBound = () => this.tick()
    this.shortenTick(this.keepAliveTimeout)
    this.shortenTick(this.connectTimeout)
  }

  /**
   * Starts a request; the handler hears everything (errors included, also synchronously for invalid
   * options). Returns false when the request had to wait in the queue or failed at once, as undici's
   * `dispatch` returns false when the pool is saturated.
   *
   * Typed to accept what undici's `dispatch` accepts, so a `Pool | H1Pool` can be called either way; what
   * H1Pool does not support (header objects, FormData or iterator bodies) is refused with
   * UND_ERR_INVALID_ARG at run time.
   *
   * Hot path: one Req, the head string, an idle socket popped and written to.
   */
  dispatch(opts: H1DispatchOptions | Dispatcher.DispatchOptions, handler: H1Handler | Dispatcher.DispatchHandler): boolean {
    const req = new Req(handler as H1Handler)
    if (this.destroyed || this.closed) {
      req.fail(this.destroyed ? new H1Error('UND_ERR_DESTROYED', 'The client is destroyed') : new H1Error('UND_ERR_CLOSED', 'The client is closed'))
      return false
    }
    const err = req.prepare(opts as H1DispatchOptions, this.hostLine)
    if (err !== null) {
      req.fail(err)
      return false
    }
    if (req.headersTimeout > 0 && req.headersTimeout < this.tickMs * 4) this.shortenTick(req.headersTimeout)
    if (req.bodyTimeout > 0 && req.bodyTimeout < this.tickMs * 4) this.shortenTick(req.bodyTimeout)
    const conn = this.idle.pop()
    if (conn !== undefined) {
      conn.assign(req)
      return true
    }
    if (this.all.length < this.connections) {
      this.open().assign(req)
      return true
    }
    this.queue.push(req)
    return false
  }

  /** Resolves once every in-flight and queued request has ended; then closes the idle sockets. */
  close(): Promise<void> {
    this.closed = true
    return new Promise<void>((resolve) => {
      this.closeWaiters.push(resolve)
      this.maybeClosed()
    })
  }

  /** Fails queued and in-flight requests (UND_ERR_DESTROYED) and destroys every socket. */
  destroy(): Promise<void> {
    this.closed = true
    this.destroyed = true
    const err = new H1Error('UND_ERR_DESTROYED', 'The client is destroyed')
    const queued = this.queue.slice(this.queueHead)
    this.queue.length = 0
    this.queueHead = 0
    for (const req of queued) req.fail(err)
    for (const conn of this.all.slice()) conn.destroy(err, false)
    this.maybeClosed()
    return Promise.resolve()
  }

  /** Sockets open (connecting, busy or idle). */
  get size(): number {
    return this.all.length
  }

  /** Requests waiting for a socket. */
  get pending(): number {
    return this.queue.length - this.queueHead
  }

  // ---- ConnectionOwner ---------------------------------------------------------------------------------

  /** Hot path: a socket finished its response; it takes the oldest queued request or goes idle. */
  reusable(conn: Connection): void {
    const req = this.nextQueued()
    if (req !== null) {
      conn.assign(req)
      return
    }
    if (this.closed) {
      conn.destroy(null, false)
      return
    }
    this.idle.push(conn)
  }

  gone(conn: Connection): void {
    let i = this.all.indexOf(conn)
    if (i >= 0) this.all.splice(i, 1)
    i = this.idle.indexOf(conn)
    if (i >= 0) this.idle.splice(i, 1)
    // A slot freed: the oldest queued request gets a new socket.
    if (!this.destroyed && this.all.length < this.connections) {
      const req = this.nextQueued()
      if (req !== null) this.open().assign(req)
    }
    if (this.all.length === 0 && this.timer !== null) {
      clearInterval(this.timer)
      this.timer = null
    }
    this.maybeClosed()
  }

  retry(req: Req): void {
    if (this.destroyed) {
      req.fail(new H1Error('UND_ERR_DESTROYED', 'The client is destroyed'))
      return
    }
    // The request was admitted before; it does not queue again behind later ones.
    this.open().assign(req)
  }

  // ---- internals ---------------------------------------------------------------------------------------

  private open(): Connection {
    if (this.timer === null) {
      this.now = performance.now()
      this.timer = setInterval(this.tickBound, this.tickMs)
      this.timer.unref()
    }
    const conn = new Connection(this)
    this.all.push(conn)
    return conn
  }

  private nextQueued(): Req | null {
    while (this.queueHead < this.queue.length) {
      const req = this.queue[this.queueHead]
      this.queue[this.queueHead++] = undefined as unknown as Req
      if (this.queueHead === this.queue.length) {
        this.queue.length = 0
        this.queueHead = 0
      }
      if (!req.done) return req
    }
    return null
  }

  private tick(): void {
    const now = performance.now()
    this.now = now
    const all = this.all
    // Backwards: expire() may remove the connection from `all`.
    for (let i = all.length - 1; i >= 0; i--) {
      const conn = all[i]
      if (conn !== undefined) conn.expire(now)
    }
  }

  private shortenTick(timeout: number): void {
    if (!(timeout > 0)) return
    const tick = Math.max(MIN_TICK_MS, Math.min(MAX_TICK_MS, Math.floor(timeout / 4)))
    if (tick >= this.tickMs) return
    this.tickMs = tick
    if (this.timer !== null) {
      clearInterval(this.timer)
      this.timer = setInterval(this.tickBound, tick)
      this.timer.unref()
    }
  }

  private maybeClosed(): void {
    if (!this.closed) return
    // In flight or queued: wait. Idle sockets are closed once nothing is left.
    if (this.pending > 0 || this.all.length > this.idle.length) return
    for (const conn of this.idle.slice()) conn.destroy(null, false)
    if (this.all.length > 0) return
    const waiters = this.closeWaiters
    this.closeWaiters = []
    for (const resolve of waiters) resolve()
  }
}
