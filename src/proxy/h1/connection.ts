import net from 'node:net'
import type { Readable } from 'node:stream'
import { H1Error, ResponseParseError } from './errors.js'
import { Head, MAX_HEAD_BYTES, parseHead } from './parser.js'
import type { Req } from './request.js'

/** What a connection needs from its pool (pool.ts). */
export interface ConnectionOwner {
  readonly host: string
  readonly port: number
  readonly connectTimeout: number
  readonly keepAliveTimeout: number
  /** Coarse clock (ms), advanced by the pool's tick; deadlines are compared against it. */
  readonly now: number
  /** Tick period (ms): deadlines are set one tick late so a stale `now` never fires a timeout early. */
  readonly tickMs: number
  /** The connection finished a response and can carry another request. */
  reusable(conn: Connection): void
  /** The connection is gone (closed, failed, destroyed). */
  gone(conn: Connection): void
  /** Send `req` again on a fresh connection (stale keep-alive socket). */
  retry(req: Req): void
}

// Hot path: one read buffer shared by every upstream socket of the process. libuv reads into it and the
// callback runs before the next read on any socket; each read is copied out once (exactly its length) and
// everything handed to a handler is a view of that copy. Measured in bench/baseline/README.md: the static
// buffer path (raw-forwarder) costs 19-34 µs/req less user CPU than undici's stream path.
const readBuffer = Buffer.allocUnsafe(64 * 1024)
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1')
const EMPTY = Buffer.alloc(0)

const enum State {
  /** Waiting for 'connect'. */
  Connecting,
  /** Connected, no request. */
  Idle,
  /** Request written (or being written), waiting for the (final) response head. */
  Head,
  /** Content-Length body; `remaining` bytes to come. */
  Length,
  /** Chunked body: the size line. */
  ChunkSize,
  /** Chunked body: `remaining` data bytes of the current chunk. */
  ChunkData,
  /** Chunked body: the CRLF after chunk data. */
  ChunkDataEnd,
  /** Chunked body: trailer lines up to the empty line. */
  Trailers,
  /** Body delimited by the connection closing. */
  UntilClose,
  /** Socket destroyed. */
  Dead,
}

const CR = 13
const LF = 10
/** Hex digits of a chunk size beyond which it could exceed 2^52: refused (RFC 9112 §7.1 overflow). */
const MAX_CHUNK_SIZE_DIGITS = 13
const MAX_CHUNK_EXTENSION_BYTES = 4096
/** Margin kept below the upstream's `Keep-Alive: timeout` (undici's keepAliveTimeoutThreshold default). */
const KEEP_ALIVE_THRESHOLD_MS = 2000

const HEX = new Int8Array(256).fill(-1)
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = 10 + c
  HEX[0x61 + c] = 10 + c
}

function socketClosed(): H1Error {
  return new H1Error('UND_ERR_SOCKET', 'other side closed')
}

/**
 * One upstream socket: writes one request at a time (no pipelining) and decodes its response for the
 * request's handler. Created by H1Pool; every per-socket callback is bound once here, so a request costs
 * no closures beyond Req's abort.
 */
export class Connection {
  readonly owner: ConnectionOwner
  readonly socket: net.Socket
  state: State = State.Connecting
  req: Req | null = null
  /** Responses completed on this socket: a request on a socket that has served one may meet a stale close. */
  served = 0
  /** Any byte of the current response has arrived (no retry after that). */
  responseStarted = false
  /** The handler returned false from onHeaders/onData: reading is stopped until resume(). */
  paused = false
  /** Inside consume(): resume() called from a handler only clears `paused`. */
  consuming = false
  /** Bytes of the current read not consumed when the handler paused, and where they start. */
  held: Buffer | null = null
  heldAt = 0
  /** Head bytes carried across reads (grown by doubling), and how many are used. */
  carry: Buffer | null = null
  carryLen = 0
  /** The response must not be followed by another on this socket. */
  noReuse = false
  readonly head = new Head()
  remaining = 0
  /** Chunk size line / trailer line scanner state. */
  lineState = 0
  lineBytes = 0
  chunkDigits = 0
  trailerBytes = 0
  /** Timeout deadline (owner.now ms) for the current phase (connect, head, body, idle); 0 = none. */
  deadline = 0
  /** A request body stream is being written. */
  writingBody = false
  bodySent = 0
  /** How long this socket may stay idle (ms; the pool's keepAliveTimeout, lowered by the upstream's hint). */
  idleTimeout: number
  /** The upstream's end arrived while the handler had paused an until-close body. */
  endedWhilePaused = false
  /** An error raised by us (timeout, parse) or by the socket, reported when the socket closes. */
  error: Error | null = null

  readonly resume: () => void
  private readonly onReadBound: (n: number, buf: Uint8Array) => boolean
  private readonly onBodyDataBound: (chunk: Buffer | string) => void
  private readonly onBodyEndBound: () => void
  private readonly onBodyErrorBound: (err: Error) => void
  private readonly onBodyCloseBound: () => void

  constructor(owner: ConnectionOwner) {
    this.owner = owner
    this.idleTimeout = owner.keepAliveTimeout > 0 ? owner.keepAliveTimeout : Infinity
    this.resume = () => this.resumeReading()
    this.onReadBound = (n, buf) => this.onRead(n, buf)
    this.onBodyDataBound = (chunk) => this.onBodyData(chunk)
    this.onBodyEndBound = () => this.onBodyEnd()
    this.onBodyErrorBound = (err) => this.onBodyError(err)
    this.onBodyCloseBound = () => this.onBodyClose()
    this.socket = net.connect({
      host: owner.host,
      port: owner.port,
      noDelay: true,
      onread: { buffer: readBuffer, callback: this.onReadBound },
    })
    if (owner.connectTimeout > 0) this.deadline = owner.now + owner.connectTimeout + owner.tickMs
    this.socket.on('connect', () => this.onConnected())
    this.socket.on('error', (err: Error) => this.onSocketError(err))
    this.socket.on('end', () => this.onEnd())
    this.socket.on('close', () => this.onClose())
    this.socket.on('drain', () => this.onDrain())
  }

  // ---- requests ----------------------------------------------------------------------------------------

  /** Carries `req` on this connection: now if connected, else once connected. */
  assign(req: Req): void {
    this.req = req
    req.conn = this
    if (this.state !== State.Connecting) this.start(req)
  }

  /**
   * Hot path: called per request on a warm socket. onConnect, then the head with one latin1 write (one
   * writev with a Buffer body, through cork/uncork).
   */
  private start(req: Req): void {
    const owner = this.owner
    this.state = State.Head
    this.responseStarted = false
    this.endedWhilePaused = false
    this.noReuse = req.close
    this.error = null
    this.deadline = req.headersTimeout > 0 ? owner.now + req.headersTimeout + owner.tickMs : 0
    if (!req.connected) {
      req.connected = true
      req.handler.onConnect?.(req.abort)
      // Aborted inside onConnect: the socket is already destroyed and the handler told.
      if (req.done || this.req !== req) return
    }
    const socket = this.socket
    const body = req.body
    if (body !== null) {
      socket.cork()
      socket.write(req.head, 'latin1')
      socket.write(body)
      socket.uncork()
    } else {
      socket.write(req.head, 'latin1')
    }
    const stream = req.stream
    if (stream !== null) {
      this.writingBody = true
      this.bodySent = 0
      stream.on('data', this.onBodyDataBound)
      stream.on('end', this.onBodyEndBound)
      stream.on('error', this.onBodyErrorBound)
      stream.on('close', this.onBodyCloseBound)
      stream.resume()
    }
  }

  /** The handler aborted `req` (Req.cancel): the socket is destroyed, never reused. */
  cancel(req: Req, err: Error): void {
    if (this.req !== req) {
      req.fail(err)
      return
    }
    this.destroy(err, false)
  }

  // ---- request body ------------------------------------------------------------------------------------

  private onBodyData(chunk: Buffer | string): void {
    const req = this.req
    if (req === null || !this.writingBody) return
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    if (buf.length === 0) return
    this.bodySent += buf.length
    if (req.length >= 0 && this.bodySent > req.length) {
      this.destroy(new H1Error('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'Request body longer than content-length'), false)
      return
    }
    const socket = this.socket
    let ok: boolean
    if (req.chunked) {
      socket.cork()
      socket.write(buf.length.toString(16) + '\r\n', 'latin1')
      socket.write(buf)
      ok = socket.write('\r\n', 'latin1')
      socket.uncork()
    } else {
      ok = socket.write(buf)
    }
    // Backpressure: the upstream is not reading; the stream waits for 'drain'.
    if (!ok) req.stream?.pause()
  }

  private onDrain(): void {
    if (this.writingBody) this.req?.stream?.resume()
  }

  private onBodyEnd(): void {
    const req = this.req
    if (req === null || !this.writingBody) return
    if (req.length >= 0 && this.bodySent !== req.length) {
      this.destroy(new H1Error('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'Request body shorter than content-length'), false)
      return
    }
    this.detachBody()
    if (req.chunked) this.socket.write('0\r\n\r\n', 'latin1')
  }

  private onBodyError(err: Error): void {
    if (this.writingBody) this.destroy(err, false)
  }

  private onBodyClose(): void {
    // Destroyed before its end: the upstream would wait forever for the rest.
    if (this.writingBody) this.destroy(new H1Error('UND_ERR_ABORTED', 'Request body stream closed before its end'), false)
  }

  private detachBody(): void {
    if (!this.writingBody) return
    this.writingBody = false
    const stream = this.req?.stream
    if (stream === null || stream === undefined) return
    stream.off('data', this.onBodyDataBound)
    stream.off('end', this.onBodyEndBound)
    stream.off('error', this.onBodyErrorBound)
    stream.off('close', this.onBodyCloseBound)
  }

  // ---- response ----------------------------------------------------------------------------------------

  /** Hot path: the onread callback. One copy of the bytes read; false stops reading (handler backpressure). */
  private onRead(n: number, _buf: Uint8Array): boolean {
    if (this.req === null) {
      // Bytes with no request outstanding: the connection is out of step with the upstream.
      if (this.state !== State.Dead) this.destroy(null, false)
      return false
    }
    // Hot path: allocUnsafe (a slice of Node's shared pool below 4 KiB) + copy measured 0.2 µs for 300
    // bytes against 1.5-1.9 µs for Buffer.copyBytesFrom, which makes a new ArrayBuffer per call.
    const data = Buffer.allocUnsafe(n)
    readBuffer.copy(data, 0, 0, n)
    this.responseStarted = true
    try {
      return this.consume(data, 0, n)
    } catch (err) {
      // A handler threw: the request ends with that error, as undici reports it.
      this.destroy(err instanceof Error ? err : new Error(String(err)), false)
      return false
    }
  }

  /**
   * Hot path: the response state machine over `data[pos, end)`. A response that arrives whole in one read
   * (the common case on a LAN) goes Head -> onHeaders -> one onData -> onComplete in a single pass. Returns
   * false when reading must stop (paused by the handler, or the connection failed).
   */
  private consume(data: Buffer, pos: number, end: number): boolean {
    const req = this.req!
    this.consuming = true
    for (;;) {
      if (this.req !== req) {
        // The response completed (or failed) within this read.
        this.consuming = false
        if (this.state === State.Dead) return false
        if (pos < end) {
          // Bytes beyond the response: the upstream is out of step; never reuse.
          this.destroy(null, false)
          return false
        }
        this.released()
        return (this.state as State) !== State.Dead
      }
      if (this.paused) {
        this.held = pos < end ? data : null
        this.heldAt = pos
        this.consuming = false
        return false
      }
      if (this.state === State.Length && this.remaining === 0) {
        this.complete()
        continue
      }
      if (pos >= end) break
      switch (this.state) {
        case State.Head:
          pos = this.readHead(data, pos, end)
          break
        case State.Length: {
          const n = Math.min(this.remaining, end - pos)
          this.remaining -= n
          this.bodyData(data, pos, pos + n)
          pos += n
          break
        }
        case State.ChunkData: {
          const n = Math.min(this.remaining, end - pos)
          this.remaining -= n
          if (this.remaining === 0) {
            this.state = State.ChunkDataEnd
            this.lineState = 0
          }
          this.bodyData(data, pos, pos + n)
          pos += n
          break
        }
        case State.ChunkSize:
          pos = this.readChunkSize(data, pos, end)
          break
        case State.ChunkDataEnd:
          pos = this.readChunkDataEnd(data, pos, end)
          break
        case State.Trailers:
          pos = this.readTrailers(data, pos, end)
          break
        case State.UntilClose:
          this.bodyData(data, pos, end)
          pos = end
          break
        default:
          // Idle/Dead/Connecting with a request: cannot happen; treat as out of step.
          this.destroy(null, false)
          return false
      }
    }
    this.consuming = false
    return true
  }

  /** Body bytes for the handler: a view of this read's copy; false from onData pauses reading. */
  private bodyData(data: Buffer, from: number, to: number): void {
    const req = this.req!
    if (req.bodyTimeout > 0) this.deadline = this.owner.now + req.bodyTimeout + this.owner.tickMs
    const onData = req.handler.onData
    if (onData !== undefined && onData.call(req.handler, data.subarray(from, to)) === false) this.paused = true
  }

  /** Head bytes: returns the offset after the head (or `end` while it is incomplete). */
  private readHead(data: Buffer, pos: number, end: number): number {
    if (this.carry !== null) return this.readCarriedHead(data, pos, end)
    const at = data.indexOf(CRLFCRLF, pos)
    if (at < 0 || at + 4 > end) {
      if (end - pos > MAX_HEAD_BYTES) {
        this.destroy(new ResponseParseError('HPE_HEADER_OVERFLOW', 'response header section over 64 KiB'), false)
        return end
      }
      this.carryBytes(data, pos, end)
      return end
    }
    if (at + 4 - pos > MAX_HEAD_BYTES) {
      this.destroy(new ResponseParseError('HPE_HEADER_OVERFLOW', 'response header section over 64 KiB'), false)
      return end
    }
    this.onHead(data, pos, at + 2)
    return at + 4
  }

  /** Rare path: a head split across reads is gathered (search resumes where the last one stopped). */
  private readCarriedHead(data: Buffer, pos: number, end: number): number {
    const before = this.carryLen
    this.carryBytes(data, pos, end)
    const carry = this.carry!
    const at = carry.indexOf(CRLFCRLF, Math.max(0, before - 3))
    if (at < 0 || at + 4 > this.carryLen) {
      if (this.carryLen > MAX_HEAD_BYTES) {
        this.destroy(new ResponseParseError('HPE_HEADER_OVERFLOW', 'response header section over 64 KiB'), false)
      }
      return end
    }
    if (at + 4 > MAX_HEAD_BYTES) {
      this.destroy(new ResponseParseError('HPE_HEADER_OVERFLOW', 'response header section over 64 KiB'), false)
      return end
    }
    // The head gets its own buffer (the handler keeps views of it); the carry is dropped.
    const head = Buffer.allocUnsafe(at + 4)
    carry.copy(head, 0, 0, at + 4)
    this.carry = null
    this.carryLen = 0
    this.onHead(head, 0, at + 2)
    // Bytes of this read after the head.
    return pos + (at + 4 - before)
  }

  private carryBytes(data: Buffer, pos: number, end: number): void {
    const n = end - pos
    let carry = this.carry
    if (carry === null) {
      carry = Buffer.allocUnsafe(Math.max(1024, n))
      this.carry = carry
      this.carryLen = 0
    } else if (this.carryLen + n > carry.length) {
      const grown = Buffer.allocUnsafe(Math.max(carry.length * 2, this.carryLen + n))
      carry.copy(grown, 0, 0, this.carryLen)
      carry = grown
      this.carry = grown
    }
    data.copy(carry, this.carryLen, pos, end)
    this.carryLen += n
  }

  /** A complete head in `buf[start, end)`: 1xx skipped, framing chosen, onHeaders called. */
  private onHead(buf: Buffer, start: number, end: number): void {
    const req = this.req!
    const head = this.head
    const err = parseHead(buf, start, end, head)
    if (err !== null) {
      this.destroy(err, false)
      return
    }
    const status = head.status
    if (status < 200) {
      if (status === 101) this.destroy(new ResponseParseError('SLUICE_H1_UPGRADE', 'upstream answered 101 Switching Protocols'), false)
      // Other 1xx: interim, the final response follows on the same connection.
      return
    }
    if (head.minor === 0 || head.close) this.noReuse = true
    // The upstream says how long it keeps an idle socket: as undici, stop reusing it 2 s before that (a
    // socket it closes as a request arrives costs a retry, or a 502 for a request that cannot be retried).
    const hint = head.keepAliveHint
    if (hint >= 0) {
      this.idleTimeout = Math.min(this.owner.keepAliveTimeout > 0 ? this.owner.keepAliveTimeout : Infinity, hint - KEEP_ALIVE_THRESHOLD_MS)
      if (this.idleTimeout <= 0) this.noReuse = true
    }
    if (req.isHead || status === 204 || status === 304) {
      this.state = State.Length
      this.remaining = 0
    } else if (head.chunked) {
      this.state = State.ChunkSize
      this.lineState = 0
      this.chunkDigits = 0
      this.remaining = 0
    } else if (head.hasTransferEncoding || head.contentLength < 0) {
      this.state = State.UntilClose
      this.noReuse = true
    } else {
      this.state = State.Length
      this.remaining = head.contentLength
    }
    this.deadline = req.bodyTimeout > 0 ? this.owner.now + req.bodyTimeout + this.owner.tickMs : 0
    const onHeaders = req.handler.onHeaders
    if (onHeaders !== undefined && onHeaders.call(req.handler, status, head.rawHeaders, this.resume, head.statusText) === false) {
      this.paused = true
    }
  }

  /**
   * Chunk size line: 1*HEXDIG [BWS ; ext] CRLF, scanned byte by byte so a split anywhere needs no carry.
   * lineState: 0 digits, 1 whitespace/extension, 2 LF expected.
   */
  private readChunkSize(data: Buffer, pos: number, end: number): number {
    while (pos < end) {
      const c = data[pos++]
      if (this.lineState === 0) {
        const h = HEX[c]
        if (h >= 0) {
          if (++this.chunkDigits > MAX_CHUNK_SIZE_DIGITS) return this.chunkError('chunk size overflow', end)
          this.remaining = this.remaining * 16 + h
          continue
        }
        if (this.chunkDigits === 0) return this.chunkError('invalid chunk size', end)
        this.lineState = 1
        this.lineBytes = 0
      }
      if (this.lineState === 1) {
        if (c === CR) {
          this.lineState = 2
          continue
        }
        if (c === LF || c === 0) return this.chunkError('invalid chunk size line', end)
        if (++this.lineBytes > MAX_CHUNK_EXTENSION_BYTES) {
          this.destroy(new ResponseParseError('HPE_CHUNK_EXTENSIONS_OVERFLOW', 'chunk extensions too long'), false)
          return end
        }
        continue
      }
      // lineState 2
      if (c !== LF) {
        this.destroy(new ResponseParseError('HPE_LF_EXPECTED', 'expected LF after the chunk size'), false)
        return end
      }
      if (this.remaining === 0) {
        this.state = State.Trailers
        this.lineState = 0
        this.lineBytes = 0
        this.trailerBytes = 0
      } else {
        this.state = State.ChunkData
      }
      return pos
    }
    return pos
  }

  private chunkError(message: string, end: number): number {
    this.destroy(new ResponseParseError('HPE_INVALID_CHUNK_SIZE', message), false)
    return end
  }

  /** The CRLF after a chunk's data. lineState: 0 CR expected, 1 LF expected. */
  private readChunkDataEnd(data: Buffer, pos: number, end: number): number {
    while (pos < end) {
      const c = data[pos++]
      if (this.lineState === 0) {
        if (c !== CR) {
          this.destroy(new ResponseParseError('HPE_CR_EXPECTED', 'expected CRLF after chunk data'), false)
          return end
        }
        this.lineState = 1
        continue
      }
      if (c !== LF) {
        this.destroy(new ResponseParseError('HPE_LF_EXPECTED', 'expected CRLF after chunk data'), false)
        return end
      }
      this.state = State.ChunkSize
      this.lineState = 0
      this.chunkDigits = 0
      this.remaining = 0
      return pos
    }
    return pos
  }

  /** Trailer lines, read and dropped; the empty line ends the message. lineState: 0 in a line, 1 LF expected. */
  private readTrailers(data: Buffer, pos: number, end: number): number {
    while (pos < end) {
      const c = data[pos++]
      if (++this.trailerBytes > MAX_HEAD_BYTES) {
        this.destroy(new ResponseParseError('HPE_HEADER_OVERFLOW', 'trailers over 64 KiB'), false)
        return end
      }
      if (this.lineState === 0) {
        if (c === CR) this.lineState = 1
        else if (c === LF || c === 0) {
          this.destroy(new ResponseParseError('HPE_CR_EXPECTED', 'bare LF in trailers'), false)
          return end
        } else this.lineBytes++
        continue
      }
      if (c !== LF) {
        this.destroy(new ResponseParseError('HPE_LF_EXPECTED', 'bare CR in trailers'), false)
        return end
      }
      if (this.lineBytes === 0) {
        this.complete()
        return pos
      }
      this.lineState = 0
      this.lineBytes = 0
    }
    return pos
  }

  /** The response is complete: onComplete; the socket's fate is decided by the caller (consume). */
  private complete(): void {
    const req = this.req!
    this.req = null
    this.state = State.Idle
    this.served++
    this.deadline = 0
    if (this.writingBody) {
      // The upstream answered before the request body was sent (undici does the same): the rest of the
      // body cannot be skipped on this socket.
      this.detachBody()
      this.noReuse = true
      req.stream?.destroy()
    }
    req.done = true
    req.conn = null
    req.stream = null
    req.handler.onComplete?.([])
  }

  /** After a complete response: back to the pool, or closed. */
  private released(): void {
    if (this.noReuse) {
      this.destroy(null, false)
      return
    }
    const idle = this.idleTimeout
    if (idle > 0 && idle !== Infinity) this.deadline = this.owner.now + idle + this.owner.tickMs
    this.owner.reusable(this)
  }

  /** The handler's resume: reads again, first whatever was held when it paused. */
  private resumeReading(): void {
    if (!this.paused || this.state === State.Dead) return
    this.paused = false
    const req = this.req
    if (req !== null && req.bodyTimeout > 0 && this.state !== State.Head) {
      this.deadline = this.owner.now + req.bodyTimeout + this.owner.tickMs
    }
    if (this.consuming || req === null) return
    const held = this.held
    this.held = null
    let reading: boolean
    try {
      reading = held !== null ? this.consume(held, this.heldAt, held.length) : this.consume(EMPTY, 0, 0)
    } catch (err) {
      this.destroy(err instanceof Error ? err : new Error(String(err)), false)
      return
    }
    if (this.endedWhilePaused && !this.paused && this.state === State.UntilClose) {
      this.onEnd()
      return
    }
    if (reading && (this.state as State) !== State.Dead) this.socket.resume()
  }

  // ---- socket events -----------------------------------------------------------------------------------

  private onConnected(): void {
    if (this.state !== State.Connecting) return
    this.state = State.Idle
    this.deadline = 0
    const req = this.req
    if (req !== null) this.start(req)
    else this.released()
  }

  private onSocketError(err: Error): void {
    // As undici: a reset ends a body that runs until close (the reset is how some servers close).
    if (this.state === State.UntilClose && this.req !== null && !this.paused && (err as { code?: string }).code === 'ECONNRESET') {
      this.complete()
      this.noReuse = true
      this.released()
      return
    }
    this.destroy(err, true)
  }

  private onEnd(): void {
    if (this.state === State.UntilClose && this.req !== null) {
      // The body ran until close, and this is the close. Reads stop while the handler is paused, so the
      // end cannot normally arrive then; if it does, completion waits for resume().
      if (this.paused) {
        this.endedWhilePaused = true
        return
      }
      this.complete()
      this.noReuse = true
      this.released()
      return
    }
    // As undici: a Content-Length body cut short on a connection announced as closing is a length
    // mismatch; on a keep-alive connection it is a closed socket.
    if (this.state === State.Length && this.req !== null && this.noReuse) {
      this.destroy(new H1Error('UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'Response body object length does not match content-length header'), true)
      return
    }
    this.destroy(socketClosed(), true)
  }

  private onClose(): void {
    if (this.state !== State.Dead) this.destroy(socketClosed(), true)
  }

  /** Timeouts, run by the pool's tick. */
  expire(now: number): void {
    const deadline = this.deadline
    if (deadline === 0 || now < deadline || this.state === State.Dead) return
    switch (this.state) {
      case State.Connecting:
        this.destroy(new H1Error('UND_ERR_CONNECT_TIMEOUT', 'Connect Timeout Error'), false)
        return
      case State.Idle:
        this.destroy(null, false)
        return
      case State.Head:
        // As undici: no headers timeout while the request body is still flowing to the upstream.
        if (this.writingBody && !this.socket.writableNeedDrain) return
        this.destroy(new H1Error('UND_ERR_HEADERS_TIMEOUT', 'Headers Timeout Error'), false)
        return
      default:
        // The handler's pause stops the body clock (the downstream is slow, not the upstream).
        if (this.paused) return
        this.destroy(new H1Error('UND_ERR_BODY_TIMEOUT', 'Body Timeout Error'), false)
    }
  }

  /**
   * Ends the connection: the socket is destroyed, the pool forgets it, and the request in flight (if any)
   * gets `err` (a stale-socket failure may be retried instead). `fromSocket`: raised by the socket itself
   * (error/end/close) rather than decided here.
   */
  destroy(err: Error | null, fromSocket: boolean): void {
    if (this.state === State.Dead) return
    const wasConnecting = this.state === State.Connecting
    const wasHead = this.state === State.Head
    this.state = State.Dead
    this.deadline = 0
    this.paused = false
    this.held = null
    this.carry = null
    const req = this.req
    this.req = null
    const stream = req?.stream ?? null
    this.detachBody()
    this.socket.destroy()
    this.owner.gone(this)
    if (req === null || req.done) return
    req.conn = null
    if (
      fromSocket &&
      !wasConnecting &&
      wasHead &&
      !this.responseStarted &&
      this.served > 0 &&
      req.retryable &&
      !req.retried &&
      isStaleClose(err)
    ) {
      req.retried = true
      this.owner.retry(req)
      return
    }
    if (stream !== null && !stream.destroyed) destroyStream(stream)
    req.fail(err ?? socketClosed())
  }
}

function destroyStream(stream: Readable): void {
  stream.destroy()
}

/** The ways a keep-alive socket the upstream already closed fails a request sent on it. */
function isStaleClose(err: Error | null): boolean {
  if (err === null) return true
  const code = (err as { code?: string }).code
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET'
}
