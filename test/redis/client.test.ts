import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import {
  createRedis,
  reconnectDelay,
  redisConfigSchema,
  redisTargetProblem,
  waitReady,
  type RedisLog,
} from '../../src/redis/client.js'
import { freePort } from '../helpers/ports.js'
import { startRedis, startRedisSentinel, type RedisServer } from '../helpers/redis.js'

// The `redis` block (Kong's fields and defaults) and the client it builds: fail fast while Redis is
// down, one log line per outage, reconnection in the background.

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function issues(input: unknown): { path: string; message: string }[] {
  const result = redisConfigSchema.safeParse(input)
  assert.equal(result.success, false, `expected ${JSON.stringify(input)} to be refused`)
  return result.error!.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))
}

function refusedAt(input: unknown, path: string, message?: RegExp): void {
  const found = issues(input)
  const hit = found.find((i) => i.path === path)
  assert.ok(hit, `no issue at '${path}' in ${JSON.stringify(found)}`)
  if (message) assert.match(hit.message, message)
}

class Collect implements RedisLog {
  readonly lines: { level: string; msg: string; err?: string }[] = []
  warn(obj: { err?: string }, msg: string): void {
    this.lines.push({ level: 'warn', msg, err: obj.err })
  }
  info(_obj: object, msg: string): void {
    this.lines.push({ level: 'info', msg })
  }
}

describe('redis block schema', () => {
  test("an empty block gets Kong's defaults", () => {
    assert.deepEqual(redisConfigSchema.parse({}), {
      host: null,
      port: 6379,
      timeout: 2000,
      connect_timeout: null,
      username: null,
      password: null,
      database: 0,
      ssl: false,
      ssl_verify: false,
      server_name: null,
      sentinel_master: null,
      sentinel_role: null,
      sentinel_nodes: null,
      sentinel_username: null,
      sentinel_password: null,
      cluster_nodes: null,
      cluster_max_redirections: 5,
    })
  })

  test('a policy that needs Redis needs somewhere to connect', () => {
    assert.match(redisTargetProblem(redisConfigSchema.parse({}))!, /set host, sentinel_master \+ sentinel_nodes, or cluster_nodes/)
    assert.equal(redisTargetProblem(redisConfigSchema.parse({ host: 'redis.internal' })), null)
    assert.equal(redisTargetProblem(redisConfigSchema.parse({ cluster_nodes: [{ ip: '10.0.0.1' }] })), null)
    assert.equal(redisTargetProblem(redisConfigSchema.parse({ sentinel_master: 'm', sentinel_nodes: [{ host: 's1' }] })), null)
  })

  test('cluster and sentinel nodes: defaults, and host accepted for ip', () => {
    const c = redisConfigSchema.parse({ cluster_nodes: [{ ip: '10.0.0.1', port: 7000 }, { host: 'node-2.redis' }, {}] })
    assert.deepEqual(c.cluster_nodes, [
      { ip: '10.0.0.1', port: 7000 },
      { ip: 'node-2.redis', port: 6379 },
      { ip: '127.0.0.1', port: 6379 },
    ])
    const s = redisConfigSchema.parse({ sentinel_master: 'mymaster', sentinel_nodes: [{ host: '::1', port: 26379 }, {}], sentinel_role: 'master' })
    assert.deepEqual(s.sentinel_nodes, [
      { host: '::1', port: 26379 },
      { host: '127.0.0.1', port: 6379 },
    ])
  })

  test('refusals name the field', () => {
    refusedAt({ hostname: 'x' }, '', /hostname/)
    refusedAt({ host: 'redis:6379' }, 'host', /port/)
    refusedAt({ host: 'bad host' }, 'host')
    refusedAt({ port: 0 }, 'port')
    refusedAt({ port: 65536 }, 'port')
    refusedAt({ timeout: 0 }, 'timeout')
    refusedAt({ timeout: 1.5 }, 'timeout')
    refusedAt({ database: -1 }, 'database')
    refusedAt({ username: '' }, 'username')
    refusedAt({ ssl: 'yes' }, 'ssl')
    refusedAt({ sentinel_master: 'm' }, 'sentinel_nodes', /required when sentinel_master/)
    refusedAt({ sentinel_nodes: [{ host: 's' }] }, 'sentinel_master', /required when sentinel_nodes/)
    refusedAt({ sentinel_master: 'm', sentinel_nodes: [] }, 'sentinel_nodes')
    refusedAt({ sentinel_master: 'm', sentinel_nodes: [{ host: 's' }], sentinel_role: 'slave' }, 'sentinel_role', /read-only replica/)
    refusedAt({ sentinel_master: 'm', sentinel_nodes: [{ host: 's' }], sentinel_role: 'any' }, 'sentinel_role')
    refusedAt({ sentinel_master: 'm', sentinel_nodes: [{ host: 's', extra: 1 }] }, 'sentinel_nodes.0')
    refusedAt({ host: 'a', cluster_nodes: [{ ip: 'b' }] }, 'cluster_nodes', /only one of/)
    refusedAt({ host: 'a', sentinel_master: 'm', sentinel_nodes: [{ host: 's' }] }, 'sentinel_nodes', /only one of/)
    refusedAt({ cluster_nodes: [{ ip: 'a', host: 'b' }] }, 'cluster_nodes.0.host', /not both/)
    refusedAt({ cluster_nodes: [{ ip: 'a', port: 70000 }] }, 'cluster_nodes.0.port')
    refusedAt({ cluster_nodes: [{ ip: 'a' }], database: 2 }, 'database', /only database 0/)
    refusedAt({ host: 'a', ssl_verify: true }, 'ssl_verify', /ssl/)
    refusedAt({ host: 'a', server_name: 'redis.example' }, 'server_name', /ssl/)
  })

  test('reconnection backs off from 100 ms, doubling, capped at 2 s', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 100, 10_000].map((n) => reconnectDelay(n)), [100, 200, 400, 800, 1600, 2000, 2000, 2000, 2000])
    assert.equal(reconnectDelay(3, 300), 300)
  })
})

describe('client against a real redis-server', () => {
  let server: RedisServer

  before(async () => {
    server = await startRedis()
  })

  after(async () => {
    await server?.close()
  })

  test('connects to host, port and database, with a connection name', async () => {
    const client = createRedis(redisConfigSchema.parse({ host: '127.0.0.1', port: server.port, database: 3 }), { connectionName: 'sluice-test' })
    try {
      await waitReady(client, 5000)
      await client.set('db3-key', 'v')
      const raw = new Redis({ port: server.port, host: '127.0.0.1', db: 3, lazyConnect: true })
      await raw.connect()
      assert.equal(await raw.get('db3-key'), 'v')
      assert.match(String(await raw.client('LIST')), /name=sluice-test/)
      raw.disconnect()
    } finally {
      client.disconnect()
    }
  })

  test('authenticates with username and password (ACL)', async () => {
    const admin = new Redis({ port: server.port, host: '127.0.0.1' })
    try {
      await admin.call('ACL', 'SETUSER', 'gateway', 'on', '>s3cret', '~*', '+@all')
      const good = createRedis(redisConfigSchema.parse({ host: '127.0.0.1', port: server.port, username: 'gateway', password: 's3cret' }))
      await waitReady(good, 5000)
      assert.equal(await good.call('ACL', 'WHOAMI'), 'gateway')
      good.disconnect()
      const log = new Collect()
      const bad = createRedis(redisConfigSchema.parse({ host: '127.0.0.1', port: server.port, username: 'gateway', password: 'wrong' }), { log })
      await assert.rejects(waitReady(bad, 500))
      assert.ok(log.lines.some((l) => l.level === 'warn'), 'the refusal is logged, not thrown as an unhandled error event')
      bad.disconnect()
    } finally {
      await admin.call('ACL', 'DELUSER', 'gateway')
      admin.disconnect()
    }
  })

  test('a Redis that was never up: commands fail at once, one log line, and it connects when Redis appears', async () => {
    const port = await freePort()
    const log = new Collect()
    const client = createRedis(redisConfigSchema.parse({ host: '127.0.0.1', port, timeout: 5000 }), { log })
    try {
      const started = Date.now()
      await assert.rejects(client.get('k'), /enableOfflineQueue/)
      assert.ok(Date.now() - started < 50, 'no offline queue: the command does not wait for a connection')
      // Several reconnection attempts (100, 200, 400 ms) fail meanwhile; none crashes the process.
      await sleep(800)
      assert.deepEqual(log.lines.map((l) => l.level), ['warn'], JSON.stringify(log.lines))
      const late = await startRedis({ port })
      try {
        await waitReady(client, 5000)
        assert.equal(await client.ping(), 'PONG')
        assert.deepEqual(log.lines.map((l) => l.level), ['warn', 'info'])
      } finally {
        await late.close()
      }
    } finally {
      client.disconnect()
    }
  })

  test('a cluster whose seeds are all down: commands fail at once, nothing crashes, one log line', async () => {
    const ports = [await freePort(), await freePort()]
    const log = new Collect()
    const client = createRedis(redisConfigSchema.parse({ cluster_nodes: ports.map((port) => ({ ip: '127.0.0.1', port })), timeout: 300 }), { log })
    try {
      const started = Date.now()
      await assert.rejects(client.get('k'), /enableOfflineQueue|ready/i)
      assert.ok(Date.now() - started < 50)
      await sleep(600)
      assert.equal(log.lines.length, 1, JSON.stringify(log.lines))
    } finally {
      client.disconnect()
    }
  })

  test('a command in flight when Redis dies fails then and there, not at the timeout', async () => {
    const own = await startRedis()
    const client = createRedis(redisConfigSchema.parse({ host: '127.0.0.1', port: own.port, timeout: 5000 }))
    try {
      await waitReady(client, 5000)
      own.pause()
      const started = Date.now()
      const pending = client.get('k')
      await sleep(50)
      own.kill()
      await assert.rejects(pending)
      assert.ok(Date.now() - started < 1000, `rejected after ${Date.now() - started} ms, timeout 5000`)
    } finally {
      client.disconnect()
      await own.close()
    }
  })

  test('a hung Redis: commands fail after the timeout', async () => {
    const client = createRedis(redisConfigSchema.parse({ host: '127.0.0.1', port: server.port, timeout: 200 }))
    try {
      await waitReady(client, 5000)
      server.pause()
      const started = Date.now()
      await assert.rejects(client.get('k'), /timed out/)
      const took = Date.now() - started
      assert.ok(took >= 180 && took < 600, `${took} ms`)
    } finally {
      server.resume()
      client.disconnect()
    }
  })

  test('through a sentinel: the master it names is the one used', async () => {
    const sentinel = await startRedisSentinel(server, 'sluice-master')
    const client = createRedis(
      redisConfigSchema.parse({ sentinel_master: 'sluice-master', sentinel_nodes: [{ host: '127.0.0.1', port: sentinel.port }], timeout: 1000 }),
    )
    try {
      await waitReady(client, 5000)
      await client.set('via-sentinel', 'yes')
      const direct = new Redis({ port: server.port, host: '127.0.0.1' })
      assert.equal(await direct.get('via-sentinel'), 'yes')
      direct.disconnect()
    } finally {
      client.disconnect()
      await sentinel.close()
    }
  })
})

describe('client over TLS', () => {
  let server: RedisServer
  let tlsPort: number
  let dir: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-redis-tls-'))
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=redis.test',
      '-addext', 'subjectAltName=DNS:redis.test',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' })
    tlsPort = await freePort()
    // The plain port stays open for the harness' readiness check; the client uses the TLS one.
    server = await startRedis({
      args: ['--tls-port', String(tlsPort), '--tls-cert-file', join(dir, 'cert.pem'), '--tls-key-file', join(dir, 'key.pem'), '--tls-auth-clients', 'no'],
    })
  })

  after(async () => {
    await server?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test("ssl without ssl_verify (Kong's default) connects to a self-signed server", async () => {
    const client = createRedis(redisConfigSchema.parse({ host: '127.0.0.1', port: tlsPort, ssl: true, server_name: 'redis.test' }))
    try {
      await waitReady(client, 5000)
      assert.equal(await client.ping(), 'PONG')
    } finally {
      client.disconnect()
    }
  })

  test('ssl_verify refuses a certificate no trusted CA signed, and says why in the log', async () => {
    const log = new Collect()
    const client = createRedis(redisConfigSchema.parse({ host: '127.0.0.1', port: tlsPort, ssl: true, ssl_verify: true, server_name: 'redis.test' }), { log })
    try {
      await assert.rejects(waitReady(client, 700))
      await assert.rejects(client.ping())
      assert.equal(log.lines.length, 1, JSON.stringify(log.lines))
      assert.match(log.lines[0].err ?? '', /self.signed|certificate/i)
    } finally {
      client.disconnect()
    }
  })

  test('without ssl the TLS port is not spoken to in plain text', async () => {
    const client = createRedis(redisConfigSchema.parse({ host: '127.0.0.1', port: tlsPort, timeout: 300 }))
    try {
      await assert.rejects(waitReady(client, 700))
    } finally {
      client.disconnect()
    }
  })
})
