import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Primary } from './primary.js'

/**
 * The admin port (127.0.0.1:8001 by default), served by the primary with node:http: it is not on the
 * proxy's hot path. `GET /status` reports the workers, their liveness, the config version and connection
 * counts. The Kong-style entity API grows here (issue: admin API).
 */
export class AdminServer {
  private readonly server: http.Server

  constructor(private readonly primary: Primary) {
    this.server = http.createServer((req, res) => void this.route(req, res))
    this.server.keepAliveTimeout = 5000
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => resolve((this.server.address() as AddressInfo).port))
    })
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = (req.url ?? '/').split('?')[0]
    try {
      if (url === '/status' && (req.method === 'GET' || req.method === 'HEAD')) {
        const status = await this.primary.status()
        return json(res, 200, status)
      }
      if (url === '/reload' && req.method === 'POST') {
        const result = await this.primary.reload()
        return json(res, result.ok ? 200 : 400, result)
      }
      return json(res, 404, { message: 'Not found' })
    } catch (err) {
      return json(res, 500, { message: 'An unexpected error occurred', error: (err as Error).message })
    }
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
