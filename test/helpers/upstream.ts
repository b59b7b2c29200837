import http from 'node:http'
import type { AddressInfo } from 'node:net'

/** A real upstream on 127.0.0.1 whose behaviour each test sets; it records what it received. */
export interface Upstream {
  readonly port: number
  readonly target: string
  readonly url: string
  readonly requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }>
  /** Requests that arrived and whose response has not finished (or that were aborted). */
  open: number
  aborted: number
  close(): Promise<void>
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void

/** Default: JSON echo of what arrived, plus `name`. */
export function echo(name: string): Handler {
  return (req, res, body) => {
    const text = JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers, body: body.toString() })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    res.end(text)
  }
}

export function startUpstream(handler: Handler = echo('upstream'), opts: { stream?: boolean } = {}): Promise<Upstream> {
  const requests: Upstream['requests'] = []
  const up = { requests, open: 0, aborted: 0 } as unknown as Upstream & { open: number; aborted: number }
  const server = http.createServer((req, res) => {
    up.open++
    let ended = false
    res.on('finish', () => {
      ended = true
      up.open--
    })
    res.on('close', () => {
      if (!ended) {
        up.aborted++
        up.open--
      }
    })
    if (opts.stream) {
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.alloc(0) })
      return handler(req, res, Buffer.alloc(0))
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body })
      handler(req, res, body)
    })
  })
  server.keepAliveTimeout = 60_000
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port
      Object.assign(up, {
        port,
        target: `127.0.0.1:${port}`,
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r())
            server.closeAllConnections()
          }),
      })
      resolve(up)
    })
  })
}
