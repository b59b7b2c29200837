import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { startGateway, type Gateway } from '../helpers/gateway.js'
import { get } from '../helpers/http.js'
import { freePort } from '../helpers/ports.js'
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js'

// TLS on the SSL port (uWS SSLApp) when a certificate and key are configured, and the access log:
// one JSON line per request, written asynchronously to the configured file.

let up: Upstream
let gw: Gateway
let sslPort: number
let logFile: string

before(async () => {
  up = await startUpstream(echo('up'))
  const dir = mkdtempSync(join(tmpdir(), 'sluice-tls-'))
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' })
  sslPort = await freePort()
  logFile = join(dir, 'logs', 'access.log')
  gw = await startGateway(
    {
      _format_version: '3.0',
      settings: { ssl_cert: join(dir, 'cert.pem'), ssl_key: join(dir, 'key.pem'), proxy_ssl_port: sslPort },
      services: [{ name: 'up', url: up.url, routes: [{ name: 'everything', paths: ['/'] }] }],
    },
    { env: { SLUICE_ACCESS_LOG: logFile } },
  )
})

after(async () => {
  await gw.stop()
  await up.close()
})

test('TLS listener: HTTPS requests are proxied and marked X-Forwarded-Proto: https', async () => {
  const agent = new Agent({ connect: { rejectUnauthorized: false } })
  const res = await request(`https://127.0.0.1:${sslPort}/hello`, { dispatcher: agent })
  const body = (await res.body.json()) as any
  assert.equal(res.statusCode, 200)
  assert.equal(body.url, '/hello')
  assert.equal(body.headers['x-forwarded-proto'], 'https')
  assert.equal(body.headers['x-forwarded-port'], String(sslPort))
  await agent.close()
  // The plain listener keeps working beside it.
  assert.equal((await get(`${gw.url}/plain`)).json.headers['x-forwarded-proto'], 'http')
})

test('access log: one JSON line per request with route, status, latencies, bytes and correlation id', async () => {
  const r = await get(`${gw.url}/logged?x=1`, { 'x-correlation-id': 'log-me-1' })
  assert.equal(r.status, 200)
  await get(`${gw.url}/logged-too`)
  // Lines are flushed asynchronously, at least every second.
  const deadline = Date.now() + 5000
  let lines: any[] = []
  while (Date.now() < deadline) {
    if (existsSync(logFile)) {
      lines = readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
      if (lines.some((l) => l.request_id === 'log-me-1')) break
    }
    await new Promise((res) => setTimeout(res, 100))
  }
  const line = lines.find((l) => l.request_id === 'log-me-1')
  assert.ok(line, `no line for the request in ${JSON.stringify(lines)}`)
  assert.equal(line.method, 'GET')
  assert.equal(line.path, '/logged')
  assert.equal(line.route, 'everything')
  assert.equal(line.service, 'up')
  assert.equal(line.status, 200)
  assert.equal(line.target, up.target)
  assert.equal(line.bytes_out, r.body.length)
  assert.ok(line.latency_ms >= line.upstream_latency_ms && line.upstream_latency_ms >= 0)
  assert.equal(line.error, null)
})

test('access log: requests Sluice answers itself are logged too, with their error code', async () => {
  const bad = await get(`${gw.url}/a/%00/b`, { 'x-correlation-id': 'log-me-400' })
  assert.equal(bad.status, 400)
  const deadline = Date.now() + 5000
  let line: any
  while (Date.now() < deadline && line === undefined) {
    await new Promise((res) => setTimeout(res, 100))
    if (!existsSync(logFile)) continue
    line = readFileSync(logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((l) => l.request_id === 'log-me-400')
  }
  assert.ok(line, 'no access log line for the refused request')
  assert.equal(line.status, 400)
  assert.equal(line.error, 'SLUICE_ERR_BAD_PATH')
  assert.equal(line.route, null)
  assert.equal(line.upstream_latency_ms, null)
})
