// Load generator: fixed-rate open-loop runs (latency and CPU per request) and saturation runs
// (throughput). Meant to run in its own process so its CPU is not charged to the target:
//
//   node --import tsx src/bench/loadgen.ts fixed --url http://127.0.0.1:P/json --rate 3000 --duration 10
//        [--connections 16] [--client net|undici] [--cpu-pid PID] [--request-json '{"method":..}']
//   node --import tsx src/bench/loadgen.ts saturation --url http://127.0.0.1:P/json --duration 10
//        [--connections 64] [--latency] [--cpu-pid PID] [--request-json '{"method":..}']
//
// Each prints one JSON object (FixedRateResult | SaturationResult) on stdout.
// `spawnLoadgen()` does the spawning and parsing for an orchestrator.
import { spawn } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { performance } from 'node:perf_hooks'
import type autocannon from 'autocannon'
import * as hdr from 'hdr-histogram-js'
import type { Dispatcher, Pool } from 'undici'
import { cpuPreciseOf } from './cpu.js'

export type ClientKind = 'net' | 'undici'

export interface LatencySummary {
  /** Number of values recorded. */
  readonly count: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly p999: number
  readonly max: number
  readonly mean: number
}

/** What every request of a run carries besides its URL (a bench scenario's request). */
export interface RequestShape {
  /** GET when absent. */
  readonly method?: string
  /** Sent as given, in this order; `host` is always the URL's. */
  readonly headers?: Readonly<Record<string, string>>
  /** Request body (sent with content-length), or none. */
  readonly body?: string | null
}

export interface FixedRateOptions {
  /** Full URL of one resource, e.g. http://127.0.0.1:8000/json. */
  readonly url: string
  readonly request?: RequestShape
  /** Requests per second, spread evenly. */
  readonly rate: number
  readonly durationSec: number
  /** Keep-alive connections; a request waits for a free one (its wait counts in its latency). */
  readonly connections: number
  readonly client: ClientKind
  /** How long to wait for stragglers after the last scheduled send. */
  readonly graceMs?: number
  /** Called synchronously right before the first scheduled send (after connections are open). */
  readonly onWindowStart?: () => void
  /** Called synchronously as soon as the last response arrived (or the grace ran out). */
  readonly onWindowEnd?: () => void
}

export interface FixedRateResult {
  readonly mode: 'fixed'
  readonly client: ClientKind
  readonly url: string
  readonly rate: number
  readonly durationSec: number
  readonly connections: number
  /** Requests the schedule called for (rate x duration). */
  readonly scheduled: number
  /** Requests written to a socket. */
  readonly sent: number
  /** Responses with a 2xx status. */
  readonly ok: number
  readonly non2xx: number
  /** Requests lost to a socket error or a close before the response ended. */
  readonly errors: number
  /** Requests still unsent or unanswered when the grace ran out. */
  readonly timeouts: number
  /** Wall time from the first scheduled send to the last response, seconds. */
  readonly windowSec: number
  /** Latency from each request's scheduled send time (corrects coordinated omission), µs. */
  readonly latencyUs: LatencySummary
  /** Latency from the actual write to the socket (service time, no queueing), µs. */
  readonly serviceUs: LatencySummary
  /** The load generator's own CPU during the window. */
  readonly loadgenCpuSec: number
  readonly loadgenCpuUsPerReq: number
  /** CPU of the process tree given by --cpu-pid during the window (null when not asked). */
  readonly targetCpuSec: number | null
  readonly targetCpuUsPerReq: number | null
  /** The corrected-latency histogram, hdr compressed base64, for merging across runs. */
  readonly histogram: string
}

export interface SaturationOptions {
  readonly url: string
  readonly request?: RequestShape
  readonly connections: number
  readonly durationSec: number
  /** Record per-request latency (µs) through autocannon's `response` event: costs load generator CPU. */
  readonly latency?: boolean
  readonly onWindowStart?: () => void
  readonly onWindowEnd?: () => void
}

export interface SaturationResult {
  readonly mode: 'saturation'
  readonly url: string
  readonly connections: number
  readonly durationSec: number
  /** Completed requests divided by autocannon's measured duration. */
  readonly rps: number
  /** autocannon's mean of per-second samples. */
  readonly rpsAverage: number
  readonly total: number
  readonly ok: number
  readonly non2xx: number
  readonly errors: number
  readonly timeouts: number
  /** autocannon's own latency (whole milliseconds). */
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number }
  /** Microsecond latency from the `response` event, when asked for. */
  readonly latencyUs: LatencySummary | null
  readonly loadgenCpuSec: number
  readonly targetCpuSec: number | null
  readonly targetCpuUsPerReq: number | null
}

export type LoadgenResult = FixedRateResult | SaturationResult

/** The histogram shape the project uses everywhere: 1 µs .. 60 s at 3 significant digits. */
export function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60e6, numberOfSignificantValueDigits: 3 })
}

export function summarize(h: hdr.Histogram): LatencySummary {
  // Percentiles come back as the top of their bucket (3 digits), which can overshoot the exact max
  // by a microsecond; no percentile may exceed the max.
  const max = h.maxValue
  return {
    count: h.totalCount,
    p50: Math.min(h.getValueAtPercentile(50), max),
    p90: Math.min(h.getValueAtPercentile(90), max),
    p99: Math.min(h.getValueAtPercentile(99), max),
    p999: Math.min(h.getValueAtPercentile(99.9), max),
    max,
    mean: Math.round(h.mean * 10) / 10,
  }
}

function clampUs(us: number): number {
  if (us < 1) return 1
  if (us > 60e6) return 60e6
  return Math.round(us)
}

function cpuSecondsOfSelf(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

// ---------------------------------------------------------------------------------------------
// Fixed-rate, open-loop
// ---------------------------------------------------------------------------------------------

/**
 * One keep-alive connection's worth of capacity. A slot carries at most one request at a time
 * (no pipelining), so it doubles as the undici dispatch handler: no allocation per request.
 */
interface Slot {
  readonly id: number
  /** performance.now() of the request's place in the schedule. */
  scheduledAt: number
  /** performance.now() of the write to the socket. */
  sentAt: number
  busy: boolean
  /** Sitting in the idle stack, ready to send. */
  parked: boolean
}

interface Transport {
  /** Opens every slot's connection; resolves once all can send. */
  open(slots: Slot[]): Promise<void>
  send(slot: Slot): void
  close(): Promise<void>
}

class FixedRateRun {
  readonly latency = newHistogram()
  readonly service = newHistogram()
  readonly slots: Slot[] = []
  readonly idle: Slot[] = []
  readonly total: number
  readonly intervalMs: number
  startAt = 0
  /** Requests whose scheduled time has come. */
  due = 0
  /** Next schedule index to send. */
  next = 0
  sent = 0
  ok = 0
  non2xx = 0
  errors = 0
  finished = false
  endAt = 0
  private ticker: NodeJS.Timeout | null = null
  private deadline: NodeJS.Timeout | null = null
  private resolveDone: (() => void) | null = null

  constructor(
    readonly opts: FixedRateOptions,
    readonly transport: Transport,
    makeSlot: (id: number, run: FixedRateRun) => Slot,
  ) {
    this.total = Math.round(opts.rate * opts.durationSec)
    this.intervalMs = 1000 / opts.rate
    for (let i = 0; i < opts.connections; i++) this.slots.push(makeSlot(i, this))
  }

  async run(): Promise<FixedRateResult> {
    await this.transport.open(this.slots)
    for (const s of this.slots) {
      s.parked = true
      this.idle.push(s)
    }
    const done = new Promise<void>((resolve) => {
      this.resolveDone = resolve
    })
    this.opts.onWindowStart?.()
    const cpu0 = cpuSecondsOfSelf()
    this.startAt = performance.now()
    // Node timers fire at 1 ms granularity at best: each tick sends every request that came due since
    // the last one, and latency counts from the schedule, so a late tick shows in the numbers.
    this.ticker = setInterval(() => this.tick(), 1)
    this.deadline = setTimeout(
      () => this.finish(),
      this.opts.durationSec * 1000 + (this.opts.graceMs ?? 2000),
    )
    this.tick()
    await done
    const cpu1 = cpuSecondsOfSelf()
    await this.transport.close()
    const completed = this.ok + this.non2xx + this.errors
    const loadgenCpuSec = cpu1 - cpu0
    return {
      mode: 'fixed',
      client: this.opts.client,
      url: this.opts.url,
      rate: this.opts.rate,
      durationSec: this.opts.durationSec,
      connections: this.opts.connections,
      scheduled: this.total,
      sent: this.sent,
      ok: this.ok,
      non2xx: this.non2xx,
      errors: this.errors,
      timeouts: this.total - completed,
      windowSec: (this.endAt - this.startAt) / 1000,
      latencyUs: summarize(this.latency),
      serviceUs: summarize(this.service),
      loadgenCpuSec,
      loadgenCpuUsPerReq: this.sent > 0 ? (loadgenCpuSec * 1e6) / this.sent : 0,
      targetCpuSec: null,
      targetCpuUsPerReq: null,
      histogram: hdr.encodeIntoCompressedBase64(this.latency),
    }
  }

  private tick(): void {
    if (this.finished) return
    this.refreshDue()
    this.drain()
  }

  private refreshDue(): void {
    if (this.due === this.total) return
    let due = Math.floor((performance.now() - this.startAt) / this.intervalMs) + 1
    if (due >= this.total) {
      due = this.total
      if (this.ticker !== null) clearInterval(this.ticker)
      this.ticker = null
    }
    this.due = due
  }

  private drain(): void {
    while (this.next < this.due && this.idle.length > 0) {
      const slot = this.idle.pop() as Slot
      slot.parked = false
      slot.scheduledAt = this.startAt + this.next * this.intervalMs
      this.next++
      slot.busy = true
      slot.sentAt = performance.now()
      this.sent++
      this.transport.send(slot)
    }
  }

  /** A response ended on this slot; `reusable` false when its connection is going away. */
  complete(slot: Slot, status: number, reusable: boolean): void {
    if (!slot.busy || this.finished) return
    const now = performance.now()
    slot.busy = false
    this.latency.recordValue(clampUs((now - slot.scheduledAt) * 1000))
    this.service.recordValue(clampUs((now - slot.sentAt) * 1000))
    if (status >= 200 && status < 300) this.ok++
    else this.non2xx++
    // Every response wakes the event loop: use the wake-up to send what came due since the last
    // timer tick, which brings sends much closer to their schedule than 1 ms ticks alone.
    this.refreshDue()
    if (reusable) this.park(slot)
    this.checkDone()
  }

  /** The in-flight request on this slot failed; the transport calls ready() when it can send again. */
  fail(slot: Slot): void {
    if (!slot.busy || this.finished) return
    slot.busy = false
    this.errors++
    this.checkDone()
  }

  /** The slot's connection is (again) open and free. */
  ready(slot: Slot): void {
    if (this.finished || slot.busy) return
    this.park(slot)
  }

  /** The slot's idle connection closed: take it out of the idle stack until ready() again. */
  retire(slot: Slot): void {
    if (!slot.parked) return
    slot.parked = false
    this.idle.splice(this.idle.indexOf(slot), 1)
  }

  private park(slot: Slot): void {
    if (!slot.parked) {
      slot.parked = true
      this.idle.push(slot)
    }
    this.drain()
  }

  private checkDone(): void {
    if (this.next === this.total && this.ok + this.non2xx + this.errors === this.sent) this.finish()
  }

  finish(): void {
    if (this.finished) return
    this.endAt = performance.now()
    this.opts.onWindowEnd?.()
    // Requests that never completed still waited at least this long: record the lower bound so a
    // stall shows in the tail instead of vanishing from it.
    for (const s of this.slots) {
      if (s.busy) this.latency.recordValue(clampUs((this.endAt - s.scheduledAt) * 1000))
    }
    for (let i = this.next; i < this.total; i++) {
      const scheduledAt = this.startAt + i * this.intervalMs
      if (scheduledAt < this.endAt) this.latency.recordValue(clampUs((this.endAt - scheduledAt) * 1000))
    }
    this.finished = true
    if (this.ticker !== null) clearInterval(this.ticker)
    if (this.deadline !== null) clearTimeout(this.deadline)
    this.resolveDone?.()
  }
}

// --- raw `net` transport: one pre-serialised request, a minimal streaming response parser ---------

const enum ParseState {
  Head,
  Body,
  ChunkSize,
  ChunkData,
  ChunkCrlf,
  Trailers,
  UntilClose,
}

const CRLFCRLF = Buffer.from('\r\n\r\n')

interface NetTarget {
  readonly host: string
  readonly port: number
  readonly request: Buffer
}

class NetSlot implements Slot {
  scheduledAt = 0
  sentAt = 0
  busy = false
  parked = false
  socket: net.Socket | null = null
  state = ParseState.Head
  head: Buffer | null = null
  remaining = 0
  line = ''
  status = 0
  closeAfter = false

  constructor(
    readonly id: number,
    readonly run: FixedRateRun,
    readonly target: NetTarget,
  ) {}

  // Hot path: runs per received chunk. Responses are parsed without copying bodies; only the
  // header block is turned into a string.
  onData(chunk: Buffer): void {
    let off = 0
    while (off < chunk.length) {
      switch (this.state) {
        case ParseState.Head: {
          let buf = chunk
          let base = off
          if (this.head !== null) {
            buf = Buffer.concat([this.head, chunk.subarray(off)])
            base = 0
          }
          const idx = buf.indexOf(CRLFCRLF, base)
          if (idx < 0) {
            this.head = Buffer.from(buf.subarray(base))
            return
          }
          const consumedFromChunk = this.head === null ? idx + 4 - off : idx + 4 - this.head.length
          this.head = null
          this.parseHead(buf.toString('latin1', base, idx))
          off += consumedFromChunk
          if (this.state === ParseState.Head && this.status >= 200) this.done()
          break
        }
        case ParseState.Body: {
          const take = Math.min(this.remaining, chunk.length - off)
          this.remaining -= take
          off += take
          if (this.remaining === 0) this.done()
          break
        }
        case ParseState.ChunkSize:
        case ParseState.Trailers: {
          const nl = chunk.indexOf(10, off)
          const end = nl < 0 ? chunk.length : nl
          this.line += chunk.toString('latin1', off, end)
          off = nl < 0 ? chunk.length : nl + 1
          if (nl < 0) break
          const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line
          this.line = ''
          if (this.state === ParseState.ChunkSize) {
            const size = parseInt(line, 16)
            if (Number.isNaN(size)) {
              this.protocolError()
              return
            }
            if (size === 0) this.state = ParseState.Trailers
            else {
              this.remaining = size
              this.state = ParseState.ChunkData
            }
          } else if (line === '') this.done()
          break
        }
        case ParseState.ChunkData: {
          const take = Math.min(this.remaining, chunk.length - off)
          this.remaining -= take
          off += take
          if (this.remaining === 0) {
            this.remaining = 2
            this.state = ParseState.ChunkCrlf
          }
          break
        }
        case ParseState.ChunkCrlf: {
          const take = Math.min(this.remaining, chunk.length - off)
          this.remaining -= take
          off += take
          if (this.remaining === 0) this.state = ParseState.ChunkSize
          break
        }
        case ParseState.UntilClose:
          return
      }
    }
  }

  private parseHead(head: string): void {
    // "HTTP/1.1 200 OK"
    this.status = Number(head.slice(9, 12))
    if (this.status >= 100 && this.status < 200) {
      // Informational: the real head follows.
      this.state = ParseState.Head
      return
    }
    const lower = head.toLowerCase()
    this.closeAfter = /\r\nconnection:[ \t]*close/.test(lower)
    if (this.status === 204 || this.status === 304) {
      this.state = ParseState.Head
      return
    }
    if (/\r\ntransfer-encoding:[^\r]*chunked/.test(lower)) {
      this.state = ParseState.ChunkSize
      this.line = ''
      return
    }
    const cl = /\r\ncontent-length:[ \t]*(\d+)/.exec(lower)
    if (cl !== null) {
      this.remaining = Number(cl[1])
      this.state = ParseState.Body
      if (this.remaining === 0) {
        this.state = ParseState.Head
      }
      return
    }
    this.state = ParseState.UntilClose
  }

  private done(): void {
    this.state = ParseState.Head
    const status = this.status
    if (this.closeAfter) {
      // The server will close: finish this request, then open a fresh connection for the next.
      this.run.complete(this, status, false)
      this.reconnect()
      return
    }
    this.run.complete(this, status, true)
  }

  private protocolError(): void {
    this.run.fail(this)
    this.reconnect()
  }

  onClose(): void {
    if (this.state === ParseState.UntilClose && this.busy) {
      this.state = ParseState.Head
      this.run.complete(this, this.status, false)
    } else if (this.busy) this.run.fail(this)
    else this.run.retire(this)
    this.state = ParseState.Head
    this.head = null
  }

  reconnect(): void {
    const old = this.socket
    this.socket = null
    if (old !== null) {
      old.removeAllListeners()
      old.on('error', () => {})
      old.destroy()
    }
    // Small back-off: a target that refuses connections must not turn this into a spin loop.
    if (!this.run.finished) setTimeout(() => transportConnect(this), 10)
  }
}

function transportConnect(slot: NetSlot, onFirstConnect?: (err?: Error) => void): void {
  if (slot.run.finished) return
  const socket = net.connect({ host: slot.target.host, port: slot.target.port })
  slot.socket = socket
  socket.setNoDelay(true)
  let connected = false
  socket.on('connect', () => {
    connected = true
    if (onFirstConnect !== undefined) onFirstConnect()
    else slot.run.ready(slot)
  })
  socket.on('data', (chunk: Buffer) => slot.onData(chunk))
  socket.on('error', (err) => {
    if (!connected && onFirstConnect !== undefined) onFirstConnect(err)
  })
  socket.on('close', () => {
    if (slot.socket !== socket) return
    slot.onClose()
    if (connected) slot.reconnect()
  })
}

/** The request's bytes, serialised once for the whole run. */
export function serializeRequest(url: URL, request: RequestShape = {}): Buffer {
  const path = url.pathname + url.search
  const method = request.method ?? 'GET'
  let head = `${method} ${path} HTTP/1.1\r\nHost: ${url.host}\r\n`
  const headers = request.headers ?? { accept: '*/*' }
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() === 'host' || name.toLowerCase() === 'content-length') continue
    head += `${name}: ${value}\r\n`
  }
  const body = request.body ?? null
  if (body !== null) head += `Content-Length: ${Buffer.byteLength(body)}\r\n`
  head += '\r\n'
  return body === null ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)])
}

function netTargetOf(url: URL, request?: RequestShape): NetTarget {
  return { host: url.hostname, port: Number(url.port || 80), request: serializeRequest(url, request) }
}

function netTransport(): Transport {
  let slots: NetSlot[] = []
  return {
    open(all: Slot[]): Promise<void> {
      slots = all as NetSlot[]
      return Promise.all(
        slots.map(
          (slot) =>
            new Promise<void>((resolve, reject) => {
              transportConnect(slot, (err) => (err === undefined ? resolve() : reject(err)))
            }),
        ),
      ).then(() => undefined)
    },
    // Hot path: one write of a pre-built buffer; measured cheaper than undici Pool.dispatch (see
    // bench/README.md, "Which client").
    send(slot: Slot): void {
      const s = slot as NetSlot
      if (s.socket === null) {
        s.run.fail(s)
        return
      }
      s.socket.write(s.target.request)
    },
    async close(): Promise<void> {
      for (const s of slots) {
        if (s.socket !== null) {
          s.socket.removeAllListeners()
          s.socket.on('error', () => {})
          s.socket.destroy()
          s.socket = null
        }
      }
    },
  }
}

// --- undici Pool transport ----------------------------------------------------------------------

class UndiciSlot implements Slot, Dispatcher.DispatchHandler {
  scheduledAt = 0
  sentAt = 0
  busy = false
  parked = false
  status = 0

  constructor(
    readonly id: number,
    readonly run: FixedRateRun,
  ) {}

  // undici's legacy handler shape: a handler with onRequestStart gets wrapped in an UnwrapHandler
  // per dispatch, which is an allocation per request we would be charging to undici.
  onConnect(): void {}

  onHeaders(statusCode: number): boolean {
    this.status = statusCode
    return true
  }

  onData(): boolean {
    return true
  }

  onComplete(): void {
    this.run.complete(this, this.status, true)
  }

  onError(): void {
    this.run.fail(this)
    this.run.ready(this)
  }
}

// autocannon and undici load on demand: a fixed-rate run on the raw client starts faster without them,
// which matters to tests that spawn this file.
async function undiciTransport(url: URL, connections: number, request: RequestShape = {}): Promise<Transport> {
  const { Pool } = await import('undici')
  const pool: Pool = new Pool(url.origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 })
  const dispatchOpts: Dispatcher.DispatchOptions = {
    method: (request.method ?? 'GET') as Dispatcher.HttpMethod,
    path: url.pathname + url.search,
    headers: request.headers ?? {},
    body: request.body ?? null,
  }
  return {
    async open(): Promise<void> {
      // undici connects lazily: one request per connection before the window opens them all.
      await Promise.all(
        Array.from({ length: connections }, () =>
          pool.request(dispatchOpts).then((r) => r.body.dump()),
        ),
      )
    },
    send(slot: Slot): void {
      pool.dispatch(dispatchOpts, slot as UndiciSlot)
    },
    async close(): Promise<void> {
      await pool.destroy()
    },
  }
}

/** Open-loop run at a fixed rate; see FixedRateOptions. */
export async function runFixedRate(opts: FixedRateOptions): Promise<FixedRateResult> {
  if (!(opts.rate > 0) || !(opts.durationSec > 0) || !(opts.connections >= 1)) {
    throw new Error('fixed-rate run needs rate > 0, duration > 0 and connections >= 1')
  }
  const url = new URL(opts.url)
  if (opts.client === 'undici') {
    const run = new FixedRateRun(opts, await undiciTransport(url, opts.connections, opts.request), (id, r) => new UndiciSlot(id, r))
    return run.run()
  }
  const target = netTargetOf(url, opts.request)
  const run = new FixedRateRun(opts, netTransport(), (id, r) => new NetSlot(id, r, target))
  return run.run()
}

// ---------------------------------------------------------------------------------------------
// Saturation (autocannon)
// ---------------------------------------------------------------------------------------------

export async function runSaturation(opts: SaturationOptions): Promise<SaturationResult> {
  const { default: autocannonRun } = await import('autocannon')
  const hist = opts.latency === true ? newHistogram() : null
  opts.onWindowStart?.()
  const cpu0 = cpuSecondsOfSelf()
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannonRun(
      {
        url: opts.url,
        connections: opts.connections,
        pipelining: 1,
        duration: opts.durationSec,
        method: (opts.request?.method ?? 'GET') as autocannon.Request['method'],
        headers: { ...(opts.request?.headers ?? {}) },
        body: opts.request?.body ?? undefined,
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    )
    if (hist !== null) {
      instance.on('response', (_client, _status, _bytes, responseTimeMs) => {
        hist.recordValue(clampUs(responseTimeMs * 1000))
      })
    }
  })
  opts.onWindowEnd?.()
  const loadgenCpuSec = cpuSecondsOfSelf() - cpu0
  const total = result.requests.total
  return {
    mode: 'saturation',
    url: opts.url,
    connections: opts.connections,
    durationSec: opts.durationSec,
    rps: Math.round(total / result.duration),
    rpsAverage: Math.round(result.requests.average),
    total,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    latencyUs: hist === null ? null : summarize(hist),
    loadgenCpuSec,
    targetCpuSec: null,
    targetCpuUsPerReq: null,
  }
}

// ---------------------------------------------------------------------------------------------
// As a separate process
// ---------------------------------------------------------------------------------------------

export interface LoadgenProcessOptions {
  readonly mode: 'fixed' | 'saturation'
  readonly url: string
  readonly durationSec: number
  readonly connections: number
  /** fixed only */
  readonly rate?: number
  readonly client?: ClientKind
  /** saturation only */
  readonly latency?: boolean
  readonly request?: RequestShape
  /** Measure this process tree's CPU across the window. */
  readonly cpuPid?: number
  /** Aborting kills the load generator process (an interrupted orchestrator). */
  readonly signal?: AbortSignal
}

const SELF = fileURLToPath(import.meta.url)

/** Node arguments that run a sibling module: through tsx from the sources, plainly once compiled to dist/. */
export function nodeArgsFor(file: string): string[] {
  return file.endsWith('.ts') ? ['--import', 'tsx', file] : [file]
}

/** Runs the load generator in a child process (so its CPU is its own) and returns its result. */
export function spawnLoadgen(opts: LoadgenProcessOptions): Promise<LoadgenResult> {
  const args = [...nodeArgsFor(SELF), opts.mode, '--url', opts.url, '--duration', String(opts.durationSec)]
  args.push('--connections', String(opts.connections))
  if (opts.rate !== undefined) args.push('--rate', String(opts.rate))
  if (opts.client !== undefined) args.push('--client', opts.client)
  if (opts.latency === true) args.push('--latency')
  if (opts.cpuPid !== undefined) args.push('--cpu-pid', String(opts.cpuPid))
  if (opts.request !== undefined) args.push('--request-json', JSON.stringify(opts.request))
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`loadgen exited with ${code}: ${err.trim() || out.trim()}`))
        return
      }
      try {
        resolve(JSON.parse(out) as LoadgenResult)
      } catch {
        reject(new Error(`loadgen printed no JSON: ${out.slice(0, 200)} ${err.slice(0, 200)}`))
      }
    })
  })
}

function flag(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1] : undefined
}

function numberFlag(argv: readonly string[], name: string, fallback: number): number {
  const raw = flag(argv, name)
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n)) throw new Error(`bad ${name}: ${raw}`)
  return n
}

async function main(argv: readonly string[]): Promise<LoadgenResult> {
  const mode = argv[0]
  const url = flag(argv, '--url')
  if (url === undefined) throw new Error('--url is required')
  const durationSec = numberFlag(argv, '--duration', 10)
  const cpuPidRaw = flag(argv, '--cpu-pid')
  const cpuPid = cpuPidRaw === undefined ? null : Number(cpuPidRaw)
  const requestRaw = flag(argv, '--request-json')
  const request = requestRaw === undefined ? undefined : (JSON.parse(requestRaw) as RequestShape)
  let cpu0 = 0
  let cpu1 = 0
  const onWindowStart = cpuPid === null ? undefined : () => void (cpu0 = cpuPreciseOf(cpuPid))
  const onWindowEnd = cpuPid === null ? undefined : () => void (cpu1 = cpuPreciseOf(cpuPid))
  if (mode === 'fixed') {
    const client = (flag(argv, '--client') ?? 'net') as ClientKind
    if (client !== 'net' && client !== 'undici') throw new Error(`bad --client: ${client}`)
    const r = await runFixedRate({
      url,
      rate: numberFlag(argv, '--rate', 3000),
      durationSec,
      connections: numberFlag(argv, '--connections', 16),
      client,
      request,
      onWindowStart,
      onWindowEnd,
    })
    if (cpuPid === null) return r
    const targetCpuSec = cpu1 - cpu0
    return { ...r, targetCpuSec, targetCpuUsPerReq: r.sent > 0 ? (targetCpuSec * 1e6) / r.sent : null }
  }
  if (mode === 'saturation') {
    const r = await runSaturation({
      url,
      connections: numberFlag(argv, '--connections', 64),
      durationSec,
      latency: argv.includes('--latency'),
      request,
      onWindowStart,
      onWindowEnd,
    })
    if (cpuPid === null) return r
    const targetCpuSec = cpu1 - cpu0
    return { ...r, targetCpuSec, targetCpuUsPerReq: r.total > 0 ? (targetCpuSec * 1e6) / r.total : null }
  }
  throw new Error(`usage: loadgen.ts fixed|saturation --url URL [...]; got mode ${JSON.stringify(mode)}`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (r) => {
      process.stdout.write(JSON.stringify(r) + '\n')
      process.exit(0)
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
      process.exit(1)
    },
  )
}
