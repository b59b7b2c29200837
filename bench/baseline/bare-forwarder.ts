// The floor of this design: uWebSockets.js in front, undici Pool.dispatch() behind, and nothing else
// (no routing, no header rules, no limits, no logging). bench/e2e.ts runs it beside the gateway so the
// gateway's own cost (gateway minus this) is separated from what uWS + undici cost on their own.
//   node --import tsx bench/baseline/bare-forwarder.ts --port P --upstream 127.0.0.1:UP
import uWS from 'uWebSockets.js'
import { Pool, type Dispatcher } from 'undici'

const arg = (name: string): string => {
  const i = process.argv.indexOf(name)
  if (i < 0) throw new Error(`${name} is required`)
  return process.argv[i + 1]
}
const port = Number(arg('--port'))
const pool = new Pool(`http://${arg('--upstream')}`, { connections: 128, pipelining: 1 })

class Handler implements Dispatcher.DispatchHandler {
  aborted = false
  total = -1
  constructor(readonly res: uWS.HttpResponse) {}
  onConnect(): void {}
  onHeaders(status: number, raw: Buffer[]): boolean {
    // A client that went away still gets its response read and dropped: returning false here would
    // pause the upstream socket for good (nothing calls resume), and enough of those (autocannon drops
    // 64 in-flight requests at the end of every saturation run) left the pool with no usable socket.
    if (this.aborted) return true
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i].length === 14 && raw[i].toString('latin1').toLowerCase() === 'content-length') this.total = Number(raw[i + 1].toString('latin1'))
    }
    this.status = status
    this.raw = raw
    return true
  }
  status = 200
  raw: Buffer[] = []
  onData(chunk: Buffer): boolean {
    if (this.aborted) return true
    this.res.cork(() => {
      this.res.writeStatus(String(this.status))
      for (let i = 0; i < this.raw.length; i += 2) {
        const n = this.raw[i].toString('latin1').toLowerCase()
        if (n !== 'content-length' && n !== 'connection' && n !== 'keep-alive' && n !== 'date') this.res.writeHeader(this.raw[i], this.raw[i + 1])
      }
      this.res.tryEnd(chunk, this.total)
    })
    return true
  }
  onComplete(): void {}
  onError(): void {
    if (!this.aborted) this.res.cork(() => this.res.writeStatus('502').end())
  }
}

uWS
  .App()
  .any('/*', (res, req) => {
    const headers: string[] = []
    req.forEach((k, v) => {
      if (k !== 'connection' && k !== 'host') headers.push(k, v)
    })
    const h = new Handler(res)
    res.onAborted(() => (h.aborted = true))
    pool.dispatch({ path: req.getUrl(), method: 'GET', headers }, h)
  })
  .listen('127.0.0.1', port, (s) => {
    if (!s) throw new Error(`cannot listen on ${port}`)
    process.stdout.write(`READY ${port}\n`)
  })
