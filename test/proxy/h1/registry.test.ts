import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Pool } from 'undici'
import { PoolRegistry, type UpstreamClient } from '../../../src/proxy/pools.js'
import { H1Pool } from '../../../src/proxy/h1/pool.js'
import { run } from './helpers.js'

describe('PoolRegistry client choice', () => {
  test("default and 'undici' lease undici Pools; 'sluice' leases H1Pool for http:// and undici for https://", async () => {
    const plain = new PoolRegistry({ connections: 4, keepAliveTimeout: 1000 })
    const undici = new PoolRegistry({ connections: 4, keepAliveTimeout: 1000, client: 'undici' })
    const sluice = new PoolRegistry<UpstreamClient>({ connections: 4, keepAliveTimeout: 1000, client: 'sluice' })
    try {
      assert.ok(plain.lease('http://127.0.0.1:1', 1000) instanceof Pool)
      assert.ok(undici.lease('http://127.0.0.1:1', 1000) instanceof Pool)
      assert.ok(sluice.lease('http://127.0.0.1:1', 1000) instanceof H1Pool)
      assert.ok(sluice.lease('https://127.0.0.1:1', 1000) instanceof Pool)
      // Same origin and connect timeout: the same pool; another timeout: another pool.
      assert.equal(sluice.lease('http://127.0.0.1:1', 1000), sluice.lease('http://127.0.0.1:1', 1000))
      assert.notEqual(sluice.lease('http://127.0.0.1:1', 1000), sluice.lease('http://127.0.0.1:1', 2000))
    } finally {
      await Promise.all([plain.closeAll(), undici.closeAll(), sluice.closeAll()])
    }
  })

  test('a leased H1Pool carries requests, and releasing the last lease closes it after in-flight requests', async () => {
    const server = http.createServer((req, res) => setTimeout(() => res.end(`ok ${req.url}`), 30))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const registry = new PoolRegistry<UpstreamClient>({ connections: 2, keepAliveTimeout: 1000, client: 'sluice' })
    try {
      const pool = registry.lease(origin, 1000)
      registry.lease(origin, 1000)
      assert.ok(pool instanceof H1Pool)
      const inflight = run(pool, { path: '/a' })
      await registry.release(pool)
      assert.equal(registry.size, 1)
      const released = registry.release(pool)
      assert.equal((await inflight).body.toString(), 'ok /a')
      await released
      assert.equal(registry.size, 0)
      assert.equal(pool.size, 0)
      assert.equal((await run(pool)).error?.code, 'UND_ERR_CLOSED')
    } finally {
      await registry.closeAll()
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    }
  })
})
