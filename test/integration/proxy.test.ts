import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { Readable } from 'node:stream'
import { spawn, type ChildProcess } from 'node:child_process'
import { Agent, request } from 'undici'
import { startGateway, type Gateway } from '../helpers/gateway.js'
import { get, raw, statusOf } from '../helpers/http.js'
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js'

const BLACKHOLE = `
import socket, time
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen(0)
print(s.getsockname()[1], flush=True)
time.sleep(120)
`

// A real gateway (primary + one worker) in front of real upstreams on loopback: routing, forwarding
// headers, every error status, timeouts, aborts and streaming.

let gw: Gateway
let users: Upstream
let orders: Upstream
let slow: Upstream
let partial: Upstream
let hang: Upstream
let refusedPort: number
let blackhole: ChildProcess
const blackholeFillers: net.Socket[] = []

before(async () => {
  users = await startUpstream(echo('users'))
  orders = await startUpstream(echo('orders'))
  slow = await startUpstream((_req, res) => {
    const t = setTimeout(() => res.end('late'), 5000)
    res.on('close', () => clearTimeout(t))
  })
  // Sends its head and half the declared body, then resets the connection.
  partial = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-length': '1000' })
    res.write('x'.repeat(500))
    setTimeout(() => res.socket?.destroy(), 50)
  })
  // Accepts the request and never answers.
  hang = await startUpstream(() => {})
  // A port with nothing listening: connect is refused.
  const tmp = net.createServer()
  await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', () => r()))
  refusedPort = (tmp.address() as net.AddressInfo).port
  await new Promise<void>((r) => tmp.close(() => r()))
  // A listener that never accepts and whose accept queue is full: new SYNs are dropped, so a connect
  // times out. Node always accepts, so a tiny python3 process holds the socket.
  blackhole = spawn('python3', ['-c', BLACKHOLE], { stdio: ['ignore', 'pipe', 'inherit'] })
  const bhPort = Number(await new Promise<string>((r) => blackhole.stdout!.once('data', (d) => r(String(d).trim()))))
  for (let i = 0; i < 8; i++) blackholeFillers.push(net.connect(bhPort, '127.0.0.1').on('error', () => {}))
  await new Promise((r) => setTimeout(r, 300))

  gw = await startGateway({
    _format_version: '3.0',
    services: [
      { name: 'users', url: `${users.url}/v2`, routes: [{ name: 'users', paths: ['/api/v1/users'] }] },
      { name: 'users-keep', url: users.url, routes: [{ name: 'users-keep', paths: ['/keep'], strip_path: false, preserve_host: true }] },
      { name: 'orders', url: orders.url, routes: [{ name: 'orders-post', paths: ['/api/v1/orders'], methods: ['POST'] }, { name: 'orders', paths: ['/api/v1/orders/{id}'], strip_path: false }] },
      { name: 'slow', url: slow.url, read_timeout: 300, routes: [{ name: 'slow', paths: ['/slow'] }] },
      { name: 'partial', url: partial.url, routes: [{ name: 'partial', paths: ['/partial'] }] },
      { name: 'hang', url: hang.url, read_timeout: 400, routes: [{ name: 'hang', paths: ['/hang'] }] },
      { name: 'refused', url: `http://127.0.0.1:${refusedPort}`, routes: [{ name: 'refused', paths: ['/refused'] }] },
      { name: 'blackhole', url: `http://127.0.0.1:${bhPort}`, connect_timeout: 300, retries: 0, routes: [{ name: 'blackhole', paths: ['/blackhole'] }] },
    ],
  })
})

after(async () => {
  await gw?.stop()
  for (const s of blackholeFillers) s.destroy()
  blackhole?.kill()
  await Promise.all([users, orders, slow, partial, hang].map((u) => u?.close()))
})

describe('routing and forwarding', () => {
  test('strips the matched prefix and prepends the service path, keeping the query', async () => {
    const r = await get(`${gw.url}/api/v1/users/42?expand=orders&x=1`)
    assert.equal(r.status, 200)
    assert.equal(r.json.name, 'users')
    assert.equal(r.json.url, '/v2/42?expand=orders&x=1')
  })

  test('route with only a prefix and nothing after it goes to the service path', async () => {
    const r = await get(`${gw.url}/api/v1/users`)
    assert.equal(r.json.url, '/v2')
  })

  test('methods select among routes; {param} routes match one segment', async () => {
    const post = await request(`${gw.url}/api/v1/orders`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } })
    const postBody = (await post.body.json()) as any
    assert.equal(post.statusCode, 200)
    assert.equal(postBody.method, 'POST')
    assert.equal(postBody.url, '/')
    assert.equal(postBody.body, '{"a":1}')
    const one = await get(`${gw.url}/api/v1/orders/7`)
    assert.equal(one.json.url, '/api/v1/orders/7')
  })

  test('unmatched request: 404 with Kong\'s message and a stable code', async () => {
    const r = await get(`${gw.url}/nothing/here`)
    assert.equal(r.status, 404)
    assert.equal(r.json.message, 'no Route matched with those values')
    assert.equal(r.json.code, 'SLUICE_ERR_NO_ROUTE')
    assert.ok(r.json.request_id)
  })

  test('the path is normalised once and the same path is routed and forwarded', async () => {
    const r = await raw(gw.proxyPort, 'GET /x/../api/v1/users//%2e/7 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
    assert.equal(statusOf(r.data), 200)
    assert.match(r.data, /"url":"\/v2\/7"/)
  })

  test('Host: the service host by default, the client\'s with preserve_host', async () => {
    const r = await get(`${gw.url}/api/v1/users`, { host: 'public.example.com' })
    assert.equal(r.json.headers.host, `127.0.0.1:${users.port}`)
    const k = await get(`${gw.url}/keep`, { host: 'public.example.com:8080' })
    assert.equal(k.json.headers.host, 'public.example.com:8080')
  })

  test('forwarding headers are set, and an untrusted client cannot forge them', async () => {
    const r = await get(`${gw.url}/api/v1/users`, {
      host: 'api.example.com',
      'x-forwarded-for': '6.6.6.6',
      'x-real-ip': '6.6.6.6',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.example.com',
    })
    const h = r.json.headers
    assert.equal(h['x-forwarded-for'], '127.0.0.1')
    assert.equal(h['x-real-ip'], '127.0.0.1')
    assert.equal(h['x-forwarded-proto'], 'http')
    assert.equal(h['x-forwarded-host'], 'api.example.com')
    assert.equal(h['x-forwarded-port'], String(gw.proxyPort))
  })

  test('hop-by-hop headers and the headers Connection names are not forwarded', async () => {
    const r = await raw(
      gw.proxyPort,
      'GET /api/v1/users HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret-Hop\r\nX-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\n' +
        'TE: trailers\r\nUpgrade: h2c\r\nProxy-Authorization: Basic eA==\r\nX-Kept: yes\r\n\r\n',
    )
    assert.equal(statusOf(r.data), 200)
    const body = JSON.parse(r.data.slice(r.data.indexOf('\r\n\r\n') + 4))
    for (const h of ['x-secret-hop', 'keep-alive', 'te', 'upgrade', 'proxy-authorization']) {
      assert.equal(body.headers[h], undefined, `${h} must not reach the upstream`)
    }
    assert.equal(body.headers['x-kept'], 'yes')
  })

  test('correlation id: generated when absent, kept when present, echoed to the client', async () => {
    const a = await get(`${gw.url}/api/v1/users`)
    const id = a.headers['x-correlation-id'] as string
    assert.match(id, /^[0-9a-f-]{36}$/)
    assert.equal(a.json.headers['x-correlation-id'], id)
    const b = await get(`${gw.url}/api/v1/users`, { 'x-correlation-id': 'abc-123' })
    assert.equal(b.headers['x-correlation-id'], 'abc-123')
    assert.equal(b.json.headers['x-correlation-id'], 'abc-123')
  })

  test('keep-alive: many requests on one client connection', async () => {
    const agent = new Agent({ connections: 1 })
    for (let i = 0; i < 50; i++) {
      const res = await request(`${gw.url}/api/v1/users/${i}`, { dispatcher: agent })
      const body = (await res.body.json()) as any
      assert.equal(body.url, `/v2/${i}`)
    }
    await agent.close()
  })
})

describe('upstream failures', () => {
  test('connect refused: 502 with a JSON body', async () => {
    const r = await get(`${gw.url}/refused`)
    assert.equal(r.status, 502)
    assert.equal(r.json.code, 'SLUICE_ERR_UPSTREAM_CONNECT')
  })

  test('connect timeout: 504', async () => {
    const started = Date.now()
    const r = await get(`${gw.url}/blackhole`)
    assert.equal(r.status, 504)
    assert.equal(r.json.code, 'SLUICE_ERR_UPSTREAM_TIMEOUT')
    assert.ok(Date.now() - started < 3000, 'answered near the 300 ms connect timeout')
  })

  test('read timeout (upstream never answers): 504 near read_timeout', async () => {
    const started = Date.now()
    const r = await get(`${gw.url}/hang`)
    assert.equal(r.status, 504)
    assert.equal(r.json.code, 'SLUICE_ERR_UPSTREAM_TIMEOUT')
    assert.ok(Date.now() - started < 3000)
  })

  test('slow upstream beyond read_timeout: 504, and the upstream request is cancelled', async () => {
    const abortedBefore = slow.aborted
    const r = await get(`${gw.url}/slow`)
    assert.equal(r.status, 504)
    await waitFor(() => slow.aborted > abortedBefore)
  })

  test('reset mid-body: the client connection is cut, never a complete-looking response', async () => {
    const r = await raw(gw.proxyPort, 'GET /partial HTTP/1.1\r\nHost: a\r\n\r\n', 3000)
    assert.equal(statusOf(r.data), 200)
    assert.ok(r.closed, 'connection closed by the gateway')
    const body = r.data.slice(r.data.indexOf('\r\n\r\n') + 4)
    assert.ok(body.length < 1000, `got ${body.length} of 1000 bytes`)
  })

  test('client abort cancels the upstream request', async () => {
    const abortedBefore = slow.aborted
    const sock = net.connect(gw.proxyPort, '127.0.0.1')
    await new Promise((r) => sock.once('connect', r))
    sock.write('GET /slow HTTP/1.1\r\nHost: a\r\n\r\n')
    await waitFor(() => slow.open > 0)
    sock.destroy()
    await waitFor(() => slow.aborted > abortedBefore)
  })
})

describe('streaming', () => {
  test('a 64 MiB upload and download stream through without being buffered', async () => {
    const big = await startUpstream(
      (req, res) => {
        let n = 0
        req.on('data', (c: Buffer) => (n += c.length))
        req.on('end', () => {
          // Answer with as many bytes as arrived, in 64 KiB chunks, honouring backpressure.
          res.writeHead(200, { 'content-length': String(n) })
          const chunk = Buffer.alloc(65536, 120)
          let left = n
          const pump = () => {
            while (left > 0) {
              const c = left >= chunk.length ? chunk : chunk.subarray(0, left)
              left -= c.length
              if (!res.write(c)) return res.once('drain', pump)
            }
            res.end()
          }
          pump()
        })
      },
      { stream: true },
    )
    const g = await startGateway({
      _format_version: '3.0',
      settings: { max_body_bytes: 0 },
      services: [{ name: 'big', url: big.url, routes: [{ name: 'big', paths: ['/big'] }] }],
    })
    try {
      const size = 64 * 1024 * 1024
      async function* upload() {
        const chunk = Buffer.alloc(1024 * 1024, 97)
        for (let i = 0; i < size / chunk.length; i++) yield chunk
      }
      const res = await request(`${g.url}/big`, { method: "PUT", body: Readable.from(upload()), headers: { 'content-type': 'application/octet-stream' } })
      assert.equal(res.statusCode, 200)
      let received = 0
      for await (const c of res.body) received += (c as Buffer).length
      assert.equal(received, size)
      const status = await g.status()
      // A gateway that buffered both directions would hold 128 MiB; streaming stays far below.
      assert.ok(status.workers[0].rss < 200 * 1024 * 1024, `worker RSS ${status.workers[0].rss}`)
    } finally {
      await g.stop()
      await big.close()
    }
  })

  test('write_timeout: an upstream that stops reading the request body gets 504, not a hang', async () => {
    const stuck = await startUpstream((req) => req.pause(), { stream: true })
    const g = await startGateway({
      _format_version: '3.0',
      settings: { max_body_bytes: 0 },
      services: [{ name: 'stuck', url: stuck.url, write_timeout: 500, routes: [{ name: 'stuck', paths: ['/stuck'] }] }],
    })
    try {
      async function* upload() {
        const chunk = Buffer.alloc(1024 * 1024, 97)
        for (let i = 0; i < 256; i++) yield chunk
      }
      const started = Date.now()
      const res = await request(`${g.url}/stuck`, { method: 'POST', body: Readable.from(upload()) }).catch((e: Error) => e)
      assert.ok(!(res instanceof Error), `request failed: ${String(res)}`)
      assert.equal(res.statusCode, 504)
      const body = (await res.body.json()) as { code: string }
      assert.equal(body.code, 'SLUICE_ERR_UPSTREAM_TIMEOUT')
      assert.ok(Date.now() - started < 10_000)
    } finally {
      await g.stop()
      await stuck.close()
    }
  })

  test('body over max_body_bytes: 413 (declared length, and chunked)', async () => {
    const g = await startGateway({
      _format_version: '3.0',
      settings: { max_body_bytes: 1000 },
      services: [{ name: 'u', url: users.url, routes: [{ name: 'u', paths: ['/'] }] }],
    })
    try {
      const declared = await raw(g.proxyPort, `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n${'a'.repeat(5000)}`)
      assert.equal(statusOf(declared.data), 413)
      assert.match(declared.data, /SLUICE_ERR_BODY_TOO_LARGE/)
      const chunk = 'a'.repeat(600)
      const chunked = await raw(g.proxyPort, `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`)
      assert.equal(statusOf(chunked.data), 413)
      const ok = await raw(g.proxyPort, `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789`)
      assert.equal(statusOf(ok.data), 200)
    } finally {
      await g.stop()
    }
  })
})

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}
