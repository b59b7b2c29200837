// The floor of the design with Sluice's own HTTP/1.1 upstream client (src/proxy/h1/H1Pool): uWebSockets.js in
// front, `H1Pool.dispatch()` behind with a legacy handler, nothing else. `--client undici` runs the same
// handler over undici's Pool, so the two clients are compared with everything else equal (bare-forwarder.ts
// is the older undici floor with a less careful handler).
//   node --import tsx bench/baseline/h1-forwarder.ts --port P --upstream 127.0.0.1:UP [--client sluice|undici]
//
// Measured 2026-11-25 (2 shared cores, Node 20.20.2, load average 2.6-4.4 from other work), compare.ts with
// two extra FORWARDERS entries (h1: [], h1-undici: ['--client', 'undici']), 3 rounds, 8 s at 3,000 req/s:
//   node --import tsx bench/baseline/compare.ts --rounds 3 --duration 8 --sat-duration 5 \
//     --targets nginx,bare,raw,h1,h1-undici
// | target    | user µs/req | sys µs/req | total µs/req | total / nginx |
// | nginx     | 12.1-14.2   | 25.4-30.0  | 39.6-42.9    | 1.00          |
// | bare      | 43.7-56.2   | 29.2-37.1  | 72.9-88.7    | 1.84-2.17     |
// | raw       | 19.2-21.7   | 26.7-33.7  | 45.8-53.3    | 1.16-1.24     |
// | h1        | 23.8-28.8   | 30.0-32.1  | 54.2-60.8    | 1.29-1.49     |
// | h1-undici | 43.8-55.0   | 32.9-37.1  | 77.1-92.1    | 1.83-2.26     |
// Per round, H1Pool used 18-26 µs/req less user CPU than undici under the same handler, and 4.6-7.1 µs
// more than raw-forwarder (timeouts, retry, validation, queue, rawHeaders views, the Req and its abort).
import uWS from 'uWebSockets.js'
import { Pool } from 'undici'
import { H1Pool, type H1DispatchOptions, type H1Handler } from '../../src/proxy/h1/pool.js'

const arg = (name: string, fallback?: string): string => {
  const i = process.argv.indexOf(name)
  if (i < 0) {
    if (fallback !== undefined) return fallback
    throw new Error(`${name} is required`)
  }
  return process.argv[i + 1]
}
const port = Number(arg('--port'))
const origin = `http://${arg('--upstream')}`
const client = arg('--client', 'sluice')
const pool: { dispatch(opts: H1DispatchOptions, handler: H1Handler): boolean } =
  client === 'undici'
    ? (new Pool(origin, { connections: 128, pipelining: 1 }) as unknown as { dispatch(opts: H1DispatchOptions, handler: H1Handler): boolean })
    : new H1Pool(origin, { connections: 128 })

/** Response headers not relayed: hop-by-hop, and what uWS writes itself. */
function skipped(name: Buffer): boolean {
  switch (name.length) {
    case 4:
    case 10:
    case 14:
    case 17: {
      const n = name.toString('latin1').toLowerCase()
      return n === 'date' || n === 'connection' || n === 'keep-alive' || n === 'content-length' || n === 'transfer-encoding'
    }
    default:
      return false
  }
}

class Handler implements H1Handler {
  readonly res: uWS.HttpResponse
  aborted = false
  total = -1
  status = 200
  raw: Buffer[] = []
  chunk: Buffer | null = null
  abortUpstream: ((err?: Error) => void) | null = null
  readonly writeBound: () => void
  readonly endBound: () => void
  readonly abortedBound: () => void

  constructor(res: uWS.HttpResponse) {
    this.res = res
    this.writeBound = () => this.write()
    this.endBound = () => this.end()
    // The client went away: cancel the upstream request (a handler that only paused it would leak the
    // upstream socket, paused for good).
    this.abortedBound = () => {
      this.aborted = true
      this.abortUpstream?.(new Error('client aborted'))
    }
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.aborted) abort(new Error('client aborted'))
    else this.abortUpstream = abort
  }

  onHeaders(status: number, raw: Buffer[]): boolean {
    if (this.aborted) return true
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]
      if (name.length === 14 && name.toString('latin1').toLowerCase() === 'content-length') this.total = Number(raw[i + 1].toString('latin1'))
    }
    this.status = status
    this.raw = raw
    return true
  }

  private head(): void {
    const res = this.res
    const raw = this.raw
    res.writeStatus(String(this.status))
    for (let i = 0; i < raw.length; i += 2) if (!skipped(raw[i])) res.writeHeader(raw[i], raw[i + 1])
  }

  private write(): void {
    this.head()
    this.res.tryEnd(this.chunk!, this.total)
  }

  private end(): void {
    this.head()
    this.res.end()
  }

  onData(chunk: Buffer): boolean {
    if (this.aborted) return true
    this.chunk = chunk
    this.res.cork(this.writeBound)
    this.chunk = null
    return true
  }

  onComplete(): void {
    if (!this.aborted && this.total === 0) this.res.cork(this.endBound)
  }

  onError(): void {
    if (!this.aborted) this.res.cork(() => this.res.writeStatus('502').end())
  }
}

// The request headers forwarded, collected by a function defined once (no closure per request).
let headers: string[] = []
function addHeader(name: string, value: string): void {
  if (name !== 'connection' && name !== 'host') headers.push(name, value)
}

uWS
  .App()
  .any('/*', (res, req) => {
    headers = []
    req.forEach(addHeader)
    const h = new Handler(res)
    res.onAborted(h.abortedBound)
    const query = req.getQuery()
    pool.dispatch({ path: query ? `${req.getUrl()}?${query}` : req.getUrl(), method: 'GET', headers }, h)
  })
  .listen('127.0.0.1', port, (s) => {
    if (!s) throw new Error(`cannot listen on ${port}`)
    process.stdout.write(`READY ${port}\n`)
  })

process.on('SIGTERM', () => process.exit(0))
process.on('SIGINT', () => process.exit(0))
