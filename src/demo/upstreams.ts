import http from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * The embedded demo's upstreams: small HTTP services on loopback standing in for the seed's
 * `user-service` (two instances, to show balancing), `order-service` and a fallback. Each answers JSON
 * saying who answered and what arrived, so a `curl` shows routing, balancing and forwarding headers.
 */

export interface DemoUpstream {
  readonly name: string
  readonly port: number
  close(): Promise<void>
}

const SAMPLE: Record<string, unknown> = {
  'user-service': { users: [{ id: 1, first_name: 'Ada', last_name: 'Lovelace' }, { id: 2, first_name: 'Alan', last_name: 'Turing' }] },
  'order-service': { orders: [{ id: 101, user_id: 1, total_cents: 4200, status: 'shipped' }] },
  'fallback-service': { message: 'fallback: no specific service for this path' },
}

export function startDemoUpstream(name: string, instance: string): Promise<DemoUpstream> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = JSON.stringify({
        service: name,
        instance,
        method: req.method,
        path: req.url,
        received: {
          host: req.headers.host,
          'x-forwarded-for': req.headers['x-forwarded-for'],
          'x-forwarded-proto': req.headers['x-forwarded-proto'],
          'x-real-ip': req.headers['x-real-ip'],
          'x-correlation-id': req.headers['x-correlation-id'],
          body_bytes: Buffer.concat(chunks).length,
        },
        data: SAMPLE[name],
      })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
  })
  server.keepAliveTimeout = 65_000
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port
      resolve({
        name,
        port,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r())
            server.closeAllConnections()
          }),
      })
    })
  })
}

/** Starts the demo upstreams and returns them with the declarative config that routes to them. */
export async function startDemo(): Promise<{ upstreams: DemoUpstream[]; config: Record<string, unknown> }> {
  const [users1, users2, orders, fallback] = await Promise.all([
    startDemoUpstream('user-service', 'user-service-1'),
    startDemoUpstream('user-service', 'user-service-2'),
    startDemoUpstream('order-service', 'order-service-1'),
    startDemoUpstream('fallback-service', 'fallback-service-1'),
  ])
  const config = {
    _format_version: '3.0',
    upstreams: [
      {
        name: 'user-service',
        algorithm: 'round-robin',
        targets: [
          { target: `127.0.0.1:${users1.port}`, weight: 100 },
          { target: `127.0.0.1:${users2.port}`, weight: 100 },
        ],
      },
    ],
    services: [
      {
        name: 'user-service',
        host: 'user-service',
        protocol: 'http',
        routes: [{ name: 'users', paths: ['/api/v1/users'], strip_path: false }],
      },
      {
        name: 'order-service',
        url: `http://127.0.0.1:${orders.port}`,
        routes: [{ name: 'orders', paths: ['/api/v1/orders'], strip_path: false }],
      },
      {
        name: 'fallback-service',
        url: `http://127.0.0.1:${fallback.port}`,
        routes: [{ name: 'fallback', paths: ['/'] }],
      },
    ],
  }
  return { upstreams: [users1, users2, orders, fallback], config }
}
