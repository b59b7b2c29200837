import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startGateway, type Gateway } from '../helpers/gateway.js'
import { get } from '../helpers/http.js'
import { runLoad } from '../helpers/load.js'
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js'

// The cluster: workers listening on one port, respawn after SIGKILL, SIGHUP reloads under load with
// zero failed requests, a bad config refused on reload, SIGTERM draining in-flight requests.

let up: Upstream
let slow: Upstream

const config = (extra: object[] = []) => ({
  _format_version: '3.0',
  services: [
    { name: 'echo', url: up.url, routes: [{ name: 'echo', paths: ['/echo'] }] },
    { name: 'slow', url: slow.url, routes: [{ name: 'slow', paths: ['/slow'] }] },
    ...extra,
  ],
})

before(async () => {
  up = await startUpstream(echo('echo'))
  slow = await startUpstream((_req, res) => {
    setTimeout(() => res.end('done'), 1500)
  })
})
after(async () => {
  await up.close()
  await slow.close()
})

describe('cluster', () => {
  let gw: Gateway
  before(async () => {
    gw = await startGateway(config(), { workers: 2 })
  })
  after(async () => {
    await gw.stop()
  })

  test('/status lists every worker, its liveness and the config version', async () => {
    const s = await gw.status()
    assert.equal(s.workers.length, 2)
    for (const w of s.workers) {
      assert.equal(w.alive, true)
      assert.equal(w.ready, true)
      assert.equal(w.config_version, 1)
      assert.ok(w.pid > 0)
      assert.equal(w.native_uws, true, 'workers run the native uWebSockets.js build')
    }
    assert.equal(s.config.version, 1)
    assert.match(s.config.hash, /^[0-9a-f]{16,}$/)
    assert.equal(typeof s.connections.proxy, 'number')
  })

  test('both workers take connections (SO_REUSEPORT)', async () => {
    for (let i = 0; i < 40; i++) await get(`${gw.url}/echo`, { connection: 'close' })
    const s = await gw.status()
    const counts = s.workers.map((w: any) => w.requests)
    assert.ok(counts.every((n: number) => n > 0), `requests per worker: ${counts}`)
  })

  test('a worker killed with SIGKILL under load is respawned; service continues', async () => {
    const before = await gw.status()
    const victim = before.workers[0].pid
    const load = runLoad(`${gw.url}/echo`, { concurrency: 6, ms: 6000 })
    await new Promise((r) => setTimeout(r, 500))
    process.kill(victim, 'SIGKILL')
    // Wait for the respawn.
    const deadline = Date.now() + 8000
    let s = await gw.status()
    while (!(s.workers[0].pid !== victim && s.workers[0].ready) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100))
      s = await gw.status()
    }
    assert.notEqual(s.workers[0].pid, victim)
    assert.equal(s.workers[0].ready, true)
    assert.equal(s.workers[0].restarts, 1)
    const r = await load.stop()
    assert.ok(r.ok > 100, `requests served during the kill: ${JSON.stringify(r)}`)
    // Only requests in flight on the killed worker's connections may fail; nothing else.
    const failed = r.sent - r.ok
    assert.ok(failed <= 6, `failed ${failed}: ${JSON.stringify(r)}`)
    assert.deepEqual(r.statuses, {})
    // Afterwards everything succeeds again.
    const after = runLoad(`${gw.url}/echo`, { concurrency: 4, ms: 1000 })
    const r2 = await after.done
    assert.equal(r2.ok, r2.sent, JSON.stringify(r2))
  })

  test('SIGHUP reload under load: zero failed requests, the new route serves', async () => {
    const load = runLoad(`${gw.url}/echo`, { concurrency: 8, ms: 4000 })
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 500))
      gw.writeConfig(config([{ name: `extra${i}`, url: up.url, routes: [{ name: `extra${i}`, paths: [`/extra${i}`] }] }]))
      gw.proc.kill('SIGHUP')
    }
    const r = await load.done
    assert.ok(r.sent > 200, JSON.stringify(r))
    assert.equal(r.ok, r.sent, `failures during reloads: ${JSON.stringify(r)}`)
    const s = await gw.status()
    assert.equal(s.config.version, 6)
    for (const w of s.workers) assert.equal(w.config_version, 6)
    const extra = await get(`${gw.url}/extra4`)
    assert.equal(extra.status, 200)
  })

  test('a reload with a bad config is refused and the old config keeps serving', async () => {
    const before = await gw.status()
    gw.writeConfig({ _format_version: '3.0', services: [{ name: 'bad', url: 'ftp://nope', routes: [{ name: 'x', paths: ['nope'] }] }] })
    gw.proc.kill('SIGHUP')
    await new Promise((r) => setTimeout(r, 800))
    const s = await gw.status()
    assert.equal(s.config.version, before.config.version)
    assert.equal((await get(`${gw.url}/echo`)).status, 200)
    assert.match(gw.output(), /reload refused/)
  })

  test('a request in flight during a reload finishes on the snapshot it started with', async () => {
    gw.writeConfig(config())
    const inflight = get(`${gw.url}/slow`)
    await new Promise((r) => setTimeout(r, 300))
    // The new config removes /slow entirely.
    gw.writeConfig({ _format_version: '3.0', services: [{ name: 'echo', url: up.url, routes: [{ name: 'echo', paths: ['/echo'] }] }] })
    gw.proc.kill('SIGHUP')
    const r = await inflight
    assert.equal(r.status, 200)
    assert.equal(r.body, 'done')
    await new Promise((r) => setTimeout(r, 300))
    assert.equal((await get(`${gw.url}/slow`)).status, 404)
  })
})

describe('respawn backoff', () => {
  test('a worker that keeps crashing is respawned with a doubling delay', async () => {
    const gw = await startGateway(config(), { workers: 1 })
    try {
      for (let i = 0; i < 3; i++) {
        const s = await gw.status()
        const pid = s.workers[0].pid
        process.kill(pid, 'SIGKILL')
        const deadline = Date.now() + 10_000
        for (;;) {
          const t = await gw.status()
          if (t.workers[0].pid !== pid && t.workers[0].ready) break
          if (Date.now() > deadline) throw new Error('no respawn')
          await new Promise((r) => setTimeout(r, 50))
        }
      }
      const delays = [...gw.output().matchAll(/"respawnInMs":(\d+)/g)].map((m) => Number(m[1]))
      assert.deepEqual(delays, [100, 200, 400])
      assert.equal((await gw.status()).workers[0].restarts, 3)
      assert.equal((await get(`${gw.url}/echo`)).status, 200)
    } finally {
      await gw.stop()
    }
  })
})

describe('drain', () => {
  test('SIGTERM: stops accepting, finishes in-flight requests, exits 0', async () => {
    const gw = await startGateway(config(), { workers: 1 })
    const inflight = get(`${gw.url}/slow`)
    await new Promise((r) => setTimeout(r, 300))
    const exit = gw.stop('SIGTERM')
    const r = await inflight
    assert.equal(r.status, 200)
    assert.equal(r.body, 'done')
    assert.equal(await exit, 0)
    await assert.rejects(get(`${gw.url}/echo`))
  })
})
