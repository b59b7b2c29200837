// Experiment: how low can per-request CPU go in Node with an HTTP/1.1 upstream client written for this
// one job? uWebSockets.js in front (as in bare-forwarder.ts); behind it a keep-alive pool of net.Sockets,
// one request per socket at a time, read through Node's static-buffer `onread` path (no stream 'data'
// machinery), the request head written as one latin1 string, and a small response parser in JS.
//   node --import tsx bench/baseline/raw-forwarder.ts --port P --upstream 127.0.0.1:UP
//
// Correct for bench/upstream.ts and ordinary HTTP/1.1 upstreams. Handles: status line and headers split
// across reads, Content-Length bodies (whole in one read, or gathered up to MAX_GATHER, or streamed),
// chunked bodies (decoded, re-chunked by uWS), read-until-close bodies, 1xx interim responses (skipped),
// HEAD/204/304 (no body), `Connection: close` and HTTP/1.0 upstreams, upstream errors (502 before the
// head was sent, connection close after).
// Deliberately skipped (what a production client needs, see README.md): client request bodies (501),
// timeouts, a retry when a reused keep-alive socket turns out closed, downstream backpressure (uWS buffers
// everything written), a wait queue when all MAX_SOCKETS are busy (503), trailers (dropped), 101 upgrades
// (502), header validation of either side.
import net from 'node:net'
import uWS from 'uWebSockets.js'

const arg = (name: string): string => {
  const i = process.argv.indexOf(name)
  if (i < 0) throw new Error(`${name} is required`)
  return process.argv[i + 1]
}
const port = Number(arg('--port'))
const upstream = arg('--upstream')
const upstreamHost = upstream.slice(0, upstream.lastIndexOf(':'))
const upstreamPort = Number(upstream.slice(upstream.lastIndexOf(':') + 1))

// `--write handle`: write the head straight to the libuv handle through Node's internal WriteWrap
// (process.binding, deprecated) instead of Writable.write → writeGeneric; a measurement of what the
// stream layer costs on the write side, not something to ship.
const writeDirect = process.argv.includes('--write') && arg('--write') === 'handle'
interface StreamHandle {
  writeLatin1String(req: object, data: string): number
}
interface WriteReq {
  handle: StreamHandle | null
  oncomplete: (status: number) => void
  async: boolean
  bytes: number
  buffer: null
}
const { WriteWrap } = (process as unknown as { binding(name: string): { WriteWrap: new () => WriteReq } }).binding(
  'stream_wrap',
)
function onDirectWriteDone(this: WriteReq, status: number): void {
  this.handle = null
  if (status < 0) process.stderr.write(`upstream write failed: ${status}\n`)
}

const MAX_SOCKETS = 256
/** Content-Length bodies up to this size that span reads are gathered and sent with one end(). */
const MAX_GATHER = 4 * 1024 * 1024

// Hot path: one read buffer shared by every upstream socket. libuv reads into it and the callback runs
// before the next read on any socket, and everything kept past the callback is copied out.
const readBuffer = Buffer.allocUnsafe(64 * 1024)
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1')

const enum State {
  Idle,
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
}

const idle: Conn[] = []
let open = 0

class Conn {
  readonly socket: net.Socket
  state: State = State.Idle
  res: uWS.HttpResponse | null = null
  aborted = false
  isHead = false
  keepAlive = true
  headSent = false
  statusText = ''
  status = 0
  names: string[] = []
  values: string[] = []
  nHeaders = 0
  /** Bytes of body (Length) or of the current chunk (ChunkData) still to come. */
  remaining = 0
  /** Content-Length bodies gathered across reads. */
  gather: Buffer | null = null
  gatherAt = 0
  /** Head (or chunk-size line) bytes carried over from an earlier read. */
  carry: Buffer | null = null
  /** The body bytes handed to the cork callbacks below. */
  part: Buffer | null = null
  readonly onAbortedBound: () => void
  readonly sendWholeBound: () => void
  readonly sendHeadAndPartBound: () => void
  readonly sendPartBound: () => void
  readonly sendEndBound: () => void

  constructor() {
    this.onAbortedBound = () => {
      this.aborted = true
    }
    this.sendWholeBound = () => this.sendWhole()
    this.sendHeadAndPartBound = () => {
      this.writeHead()
      if (this.part !== null) this.res!.write(this.part)
    }
    this.sendPartBound = () => {
      this.res!.write(this.part!)
    }
    this.sendEndBound = () => {
      this.res!.end()
    }
    this.socket = net.connect({
      host: upstreamHost,
      port: upstreamPort,
      onread: { buffer: readBuffer, callback: (n: number, buf: Uint8Array) => this.consume(buf as Buffer, 0, n) },
    })
    this.socket.setNoDelay(true)
    this.socket.on('error', () => {})
    this.socket.on('end', () => this.onUpstreamEnd())
    this.socket.on('close', () => this.onUpstreamClose())
    open++
  }

  // Hot path: a whole response in one read is the common case on loopback; everything else falls out
  // of the same loop through the states.
  consume(buf: Buffer, pos: number, end: number): boolean {
    while (pos < end) {
      switch (this.state) {
        case State.Head: {
          if (this.carry !== null) return this.consumeCarried(buf, pos, end)
          const at = buf.indexOf(CRLFCRLF, pos)
          if (at < 0 || at + 4 > end) {
            this.carry = Buffer.from(buf.subarray(pos, end))
            return true
          }
          pos = this.parseHead(buf.toString('latin1', pos, at), at + 4)
          if (pos < 0) return false
          const next = this.state as State
          if (next === State.Length && end - pos >= this.remaining) {
            // Hot path: the whole body is here; one cork, one end().
            this.part = buf.subarray(pos, pos + this.remaining)
            pos += this.remaining
            this.finish(true)
          } else if (next === State.Idle) {
            this.part = null
            this.finish(true)
          }
          break
        }
        case State.Length: {
          const n = Math.min(this.remaining, end - pos)
          this.body(buf, pos, pos + n)
          pos += n
          this.remaining -= n
          if (this.remaining === 0) this.finish(false)
          break
        }
        case State.ChunkSize:
        case State.ChunkDataEnd:
        case State.Trailers: {
          if (this.carry !== null) return this.consumeCarried(buf, pos, end)
          const lf = buf.indexOf(10, pos)
          if (lf < 0 || lf >= end) {
            this.carry = Buffer.from(buf.subarray(pos, end))
            return true
          }
          const line = buf.toString('latin1', pos, lf).trim()
          pos = lf + 1
          if (!this.chunkLine(line)) return false
          break
        }
        case State.ChunkData: {
          const n = Math.min(this.remaining, end - pos)
          this.body(buf, pos, pos + n)
          pos += n
          this.remaining -= n
          if (this.remaining === 0) this.state = State.ChunkDataEnd
          break
        }
        case State.UntilClose:
          this.body(buf, pos, end)
          pos = end
          break
        case State.Idle:
          // Bytes from the upstream with no request outstanding: the connection is not usable.
          this.socket.destroy()
          return false
      }
    }
    return true
  }

  /** Rare path: a head or chunk line split across reads is joined with what came before. */
  consumeCarried(buf: Buffer, pos: number, end: number): boolean {
    const joined = Buffer.concat([this.carry!, buf.subarray(pos, end)])
    this.carry = null
    return this.consume(joined, 0, joined.length)
  }

  /** Returns the offset after the head, or -1 (the response was failed). Sets the body state. */
  parseHead(head: string, after: number): number {
    if (!head.startsWith('HTTP/1.')) return this.fail()
    const lineEnd = head.indexOf('\r\n')
    const firstLine = lineEnd < 0 ? head : head.slice(0, lineEnd)
    const status = Number(firstLine.slice(9, 12))
    if (!(status >= 100 && status <= 999)) return this.fail()
    if (status < 200) {
      // 1xx interim responses are dropped; the final response follows on the same connection.
      if (status === 101) return this.fail()
      return after
    }
    this.status = status
    this.statusText = firstLine.slice(9)
    this.keepAlive = head.charCodeAt(7) === 49 // HTTP/1.1 keeps alive unless told otherwise
    let length = -1
    let chunked = false
    let n = 0
    let i = lineEnd < 0 ? head.length : lineEnd + 2
    while (i < head.length) {
      let e = head.indexOf('\r\n', i)
      if (e < 0) e = head.length
      const colon = head.indexOf(':', i)
      if (colon < 0 || colon > e) return this.fail()
      const name = head.slice(i, colon)
      const value = head.slice(colon + 1, e).trim()
      i = e + 2
      // Hop-by-hop and framing headers, matched by length first so most names cost one compare.
      switch (name.length) {
        case 14:
          if (name.toLowerCase() === 'content-length') {
            length = Number(value)
            if (!Number.isInteger(length) || length < 0) return this.fail()
            continue
          }
          break
        case 10: {
          const lower = name.toLowerCase()
          if (lower === 'connection') {
            const v = value.toLowerCase()
            if (v.includes('close')) this.keepAlive = false
            else if (v.includes('keep-alive')) this.keepAlive = true
            continue
          }
          if (lower === 'keep-alive') continue
          break
        }
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') {
            chunked = value.toLowerCase().endsWith('chunked')
            continue
          }
          break
        case 4:
          // uWS writes its own Date.
          if (name.toLowerCase() === 'date') continue
          break
        case 2:
          if (name.toLowerCase() === 'te') continue
          break
        case 7: {
          const lower = name.toLowerCase()
          if (lower === 'trailer' || lower === 'upgrade') continue
          break
        }
        case 16:
          if (name.toLowerCase() === 'proxy-connection') continue
          break
      }
      this.names[n] = name
      this.values[n] = value
      n++
    }
    this.nHeaders = n
    if (this.isHead || status === 204 || status === 304) {
      this.remaining = length < 0 ? 0 : length
      this.state = State.Idle
    } else if (chunked) {
      this.state = State.ChunkSize
    } else if (length >= 0) {
      this.remaining = length
      this.state = length === 0 ? State.Idle : State.Length
    } else {
      this.keepAlive = false
      this.state = State.UntilClose
    }
    return after
  }

  chunkLine(line: string): boolean {
    if (this.state === State.ChunkDataEnd) {
      if (line !== '') return this.fail() >= 0
      this.state = State.ChunkSize
      return true
    }
    if (this.state === State.Trailers) {
      // Trailers are read and dropped; an empty line ends the message.
      if (line === '') this.finish(false)
      return true
    }
    const semi = line.indexOf(';')
    const size = parseInt(semi < 0 ? line : line.slice(0, semi), 16)
    if (!(size >= 0)) return this.fail() >= 0
    if (size === 0) {
      this.state = State.Trailers
    } else {
      this.remaining = size
      this.state = State.ChunkData
    }
    return true
  }

  /** Body bytes of a response that did not arrive whole in its first read. */
  body(buf: Buffer, from: number, to: number): void {
    if (this.aborted) return
    if (this.state === State.Length && (this.gather !== null || this.remaining <= MAX_GATHER)) {
      if (this.gather === null) {
        this.gather = Buffer.allocUnsafe(this.remaining)
        this.gatherAt = 0
      }
      this.gatherAt += buf.copy(this.gather, this.gatherAt, from, to)
      return
    }
    // Streamed: uWS chunk-encodes toward the client. The bytes are copied by uWS inside write().
    this.part = buf.subarray(from, to)
    this.res!.cork(this.headSent ? this.sendPartBound : this.sendHeadAndPartBound)
    this.headSent = true
  }

  writeHead(): void {
    const res = this.res!
    res.writeStatus(this.statusText)
    for (let i = 0; i < this.nHeaders; i++) res.writeHeader(this.names[i], this.values[i])
  }

  sendWhole(): void {
    this.writeHead()
    if (this.isHead || this.status === 204 || this.status === 304) this.res!.endWithoutBody(this.remaining)
    else if (this.part === null) this.res!.end()
    else this.res!.end(this.part)
  }

  /** The response is complete: deliver what is still held, then free or drop the connection. */
  finish(whole: boolean): void {
    if (!this.aborted) {
      if (whole) {
        this.res!.cork(this.sendWholeBound)
      } else if (this.gather !== null) {
        this.part = this.gather
        this.res!.cork(this.sendWholeBound)
      } else if (this.headSent) {
        this.res!.cork(this.sendEndBound)
      } else {
        this.part = null
        this.res!.cork(this.sendWholeBound)
      }
    }
    this.release()
  }

  release(): void {
    this.res = null
    this.part = null
    this.gather = null
    this.state = State.Idle
    if (this.keepAlive) idle.push(this)
    else this.socket.destroy()
  }

  /** 502 before the head went out, a dropped client connection after. Returns -1 for parseHead. */
  fail(): number {
    const res = this.res
    this.res = null
    this.part = null
    this.gather = null
    this.carry = null
    this.state = State.Idle
    this.keepAlive = false
    this.socket.destroy()
    if (res !== null && !this.aborted) {
      if (this.headSent) res.close()
      else res.cork(() => res.writeStatus('502 Bad Gateway').end())
    }
    return -1
  }

  onUpstreamEnd(): void {
    if (this.state === State.UntilClose) {
      this.finish(false)
      this.socket.destroy()
    }
  }

  onUpstreamClose(): void {
    open--
    const at = idle.indexOf(this)
    if (at >= 0) idle.splice(at, 1)
    if (this.res !== null) this.fail()
  }

  send(res: uWS.HttpResponse, head: string, isHead: boolean): void {
    this.res = res
    this.aborted = false
    this.isHead = isHead
    this.headSent = false
    this.keepAlive = true
    this.state = State.Head
    res.onAborted(this.onAbortedBound)
    const handle = (this.socket as unknown as { _handle: StreamHandle | null })._handle
    if (writeDirect && !this.socket.connecting && handle !== null) {
      const req = new WriteWrap()
      req.handle = handle
      req.oncomplete = onDirectWriteDone
      req.async = false
      req.bytes = 0
      req.buffer = null
      if (handle.writeLatin1String(req, head) !== 0) this.fail()
    } else {
      this.socket.write(head, 'latin1')
    }
  }
}

// Hot path: the request head is built into one module-level string by a function defined once, so
// req.forEach needs no closure per request.
let head = ''
let hasBody = false
function addHeader(name: string, value: string): void {
  switch (name) {
    case 'host':
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'te':
    case 'upgrade':
    case 'trailer':
      return
    case 'content-length':
      if (value !== '0') hasBody = true
      return
    case 'transfer-encoding':
      hasBody = true
      return
  }
  head += name + ': ' + value + '\r\n'
}

const hostLine = `host: ${upstream}\r\n`

function sendStatus(res: uWS.HttpResponse, status: string): void {
  res.cork(() => res.writeStatus(status).end())
}

uWS
  .App()
  .any('/*', (res, req) => {
    const method = req.getCaseSensitiveMethod()
    const query = req.getQuery()
    head = method + ' ' + req.getUrl() + (query ? '?' + query : '') + ' HTTP/1.1\r\n' + hostLine
    hasBody = false
    req.forEach(addHeader)
    if (hasBody) {
      sendStatus(res, '501 Not Implemented')
      return
    }
    let conn = idle.pop()
    if (conn === undefined) {
      if (open >= MAX_SOCKETS) {
        sendStatus(res, '503 Service Unavailable')
        return
      }
      conn = new Conn()
    }
    conn.send(res, head + '\r\n', method === 'HEAD')
  })
  .listen('127.0.0.1', port, (s) => {
    if (!s) throw new Error(`cannot listen on ${port}`)
    process.stdout.write(`READY ${port}\n`)
  })

// A clean exit on signals, so `node --cpu-prof` writes its profile.
process.on('SIGTERM', () => process.exit(0))
process.on('SIGINT', () => process.exit(0))
