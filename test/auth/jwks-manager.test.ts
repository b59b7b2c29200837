import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { SignJWT, jwtVerify } from 'jose'
import { JwksManager, jwksSourcesFromConfig, refreshDelay, type JwksManagerOptions, type JwksSource } from '../../src/auth/jwks/manager.js'
import { JwksKeys, type JwksSnapshot } from '../../src/auth/jwks/keys.js'
import type { GatewayConfig } from '../../src/config/schema.js'
import { JwksServer, issuerKey, sleep, until, type JwksMode } from './jwks-server.js'

interface Rig {
  server: JwksServer
  manager: JwksManager
  seen: JwksSnapshot[]
  source: JwksSource
  /** Snapshots carrying keys (not "unchanged" answers). */
  full(): JwksSnapshot[]
  kids(s: JwksSnapshot): string[]
  close(): Promise<void>
}

async function rig(timings: Partial<Omit<JwksSource, 'uri'>> = {}, opts: JwksManagerOptions = {}, kids = ['k1']): Promise<Rig> {
  const server = new JwksServer()
  for (const kid of kids) server.keys.push((await issuerKey(kid)).jwk)
  await server.start()
  const manager = new JwksManager({ retryMinMs: 50, retryMaxMs: 400, ...opts })
  const seen: JwksSnapshot[] = []
  manager.onSnapshot((s) => seen.push(s))
  const source: JwksSource = { uri: server.uri, cacheTtlMs: 60_000, cooldownMs: 60_000, staleGraceMs: 60_000, timeoutMs: 2000, ...timings }
  return {
    server,
    manager,
    seen,
    source,
    full: () => seen.filter((s) => s.jwks !== null),
    kids: (s) => (s.jwks?.keys ?? []).map((k) => (k as { kid: string }).kid),
    async close() {
      await manager.close()
      await server.stop()
    },
  }
}

describe('JwksManager: fetching and refreshing', () => {
  test('fetches a new URI at once and broadcasts its key set with its freshness', async () => {
    const r = await rig({ cacheTtlMs: 60_000, staleGraceMs: 30_000 }, {}, ['k1', 'k2'])
    try {
      const before = Date.now()
      r.manager.configure([r.source])
      await until(() => r.seen.length === 1, 3000, 'first snapshot')
      const s = r.seen[0]
      assert.equal(s.uri, r.server.uri)
      assert.deepEqual(r.kids(s), ['k1', 'k2'])
      assert.ok(s.fetchedAt >= before && s.fetchedAt <= Date.now())
      assert.equal(s.staleUntil, s.fetchedAt + 60_000 + 30_000)
      assert.deepEqual(r.manager.snapshots(), [s])
      assert.deepEqual(r.manager.stats(r.server.uri), { fetches: 1, failures: 0, failuresInRow: 0, lastError: null })
      assert.equal(r.server.hits.length, 1)
    } finally {
      await r.close()
    }
  })

  test('refreshes ahead of expiry, so the set never lapses while the endpoint answers', async () => {
    const r = await rig({ cacheTtlMs: 1000, staleGraceMs: 0 })
    try {
      r.manager.configure([r.source])
      await until(() => r.full().length >= 3, 4000, 'two refreshes')
      const [a, b, c] = r.full()
      // Each refresh lands before the previous set's TTL (+ grace 0) runs out.
      assert.ok(b.fetchedAt < a.staleUntil, `refresh at ${b.fetchedAt - a.fetchedAt} ms of a 1000 ms TTL`)
      assert.ok(c.fetchedAt < b.staleUntil)
      assert.ok(b.fetchedAt > a.fetchedAt && c.fetchedAt > b.fetchedAt)
      assert.equal(r.manager.stats(r.server.uri)?.failures, 0)
    } finally {
      await r.close()
    }
  })

  test('refreshDelay: 10% of the TTL ahead, at least 5 s, at most half the TTL', () => {
    assert.equal(refreshDelay(600_000), 540_000)
    assert.equal(refreshDelay(10_000), 5_000)
    assert.equal(refreshDelay(30_000), 25_000)
    assert.equal(refreshDelay(1_000), 500)
    assert.ok(refreshDelay(0) > 0, 'a zero TTL must not refresh in a loop')
  })

  test('rotation: the refresh after the endpoint swaps keys broadcasts the new set', async () => {
    const r = await rig({ cacheTtlMs: 400 })
    try {
      r.manager.configure([r.source])
      await until(() => r.full().length === 1, 3000, 'first snapshot')
      r.server.keys = [(await issuerKey('k2')).jwk]
      await until(() => r.kids(r.full().at(-1)!).includes('k2'), 3000, 'rotated set')
      assert.deepEqual(r.kids(r.full().at(-1)!), ['k2'])
      assert.deepEqual(r.kids(r.manager.snapshots()[0]), ['k2'])
    } finally {
      await r.close()
    }
  })
})

describe('JwksManager: stale-if-error', () => {
  for (const outage of ['status-500', 'closed'] as const) {
    test(`endpoint down (${outage}): cached set stays, staleUntil unchanged, retries back off, recovery broadcasts`, async () => {
      const r = await rig({ cacheTtlMs: 300, staleGraceMs: 60_000 }, { retryMinMs: 50, retryMaxMs: 200 })
      try {
        r.manager.configure([r.source])
        await until(() => r.full().length === 1, 3000, 'first snapshot')
        const good = r.full()[0]
        const port = r.server.port
        let hitsBefore = 0
        if (outage === 'status-500') {
          r.server.mode = 'status-500'
          hitsBefore = r.server.hits.length
        } else {
          await r.server.stop()
        }
        await until(() => (r.manager.stats(good.uri)?.failuresInRow ?? 0) >= 4, 5000, 'four failures')
        const stats = r.manager.stats(good.uri)!
        assert.ok(stats.failures >= 4)
        assert.ok(stats.lastError !== null && stats.lastError.length > 0)
        if (outage === 'status-500') assert.match(stats.lastError, /status 500/)
        assert.deepEqual(r.manager.snapshots(), [good], 'the last good set keeps serving with its own freshness')
        assert.equal(r.full().length, 1, 'no failure broadcasts a set')
        if (outage === 'status-500') {
          // Retry gaps follow the backoff (50, 100, 200, 200 ms): never a tight loop.
          const times = r.server.hits.slice(hitsBefore)
          const gaps = times.slice(1).map((t, i) => t - times[i])
          assert.ok(gaps.length >= 3)
          assert.ok(gaps[0] >= 45, `first retry gap ${gaps[0]}`)
          assert.ok(gaps[1] >= 95, `second retry gap ${gaps[1]}`)
          assert.ok(gaps[2] >= 190, `third retry gap ${gaps[2]}`)
          r.server.mode = 'ok'
        } else {
          await r.server.start(port)
        }
        await until(() => r.full().length === 2, 3000, 'snapshot after recovery')
        const back = r.full()[1]
        assert.ok(back.fetchedAt > good.fetchedAt)
        assert.equal(back.staleUntil, back.fetchedAt + 300 + 60_000)
        assert.equal(r.manager.stats(good.uri)?.failuresInRow, 0)
        assert.equal(r.manager.stats(good.uri)?.lastError, null)
      } finally {
        await r.close()
      }
    })
  }

  test('a need() answered by a failed fetch gets an unchanged snapshot, so waiting workers stop waiting', async () => {
    const r = await rig({ cooldownMs: 0 })
    try {
      r.manager.configure([r.source])
      await until(() => r.full().length === 1, 3000, 'first snapshot')
      const good = r.full()[0]
      r.server.mode = 'status-404'
      r.manager.need(good.uri)
      await until(() => r.seen.length === 2, 3000, 'answer to need')
      assert.deepEqual(r.seen[1], { uri: good.uri, jwks: null, fetchedAt: good.fetchedAt, staleUntil: good.staleUntil })
    } finally {
      await r.close()
    }
  })
})

describe('JwksManager: unknown kid, cooldown and single flight', () => {
  test('need() within the cooldown answers at once with an unchanged snapshot and fetches nothing', async () => {
    const r = await rig({ cooldownMs: 60_000 })
    try {
      r.manager.configure([r.source])
      await until(() => r.full().length === 1, 3000, 'first snapshot')
      const good = r.full()[0]
      r.manager.need(good.uri)
      // Synchronous: no wait on the network or a timer.
      assert.equal(r.seen.length, 2)
      assert.deepEqual(r.seen[1], { uri: good.uri, jwks: null, fetchedAt: good.fetchedAt, staleUntil: good.staleUntil })
      await sleep(50)
      assert.equal(r.server.hits.length, 1)
      assert.equal(r.manager.stats(good.uri)?.fetches, 1)
    } finally {
      await r.close()
    }
  })

  test('a burst of need() past the cooldown makes exactly one fetch', async () => {
    const r = await rig({ cooldownMs: 100 })
    try {
      r.manager.configure([r.source])
      await until(() => r.full().length === 1, 3000, 'first snapshot')
      await sleep(150)
      for (let i = 0; i < 50; i++) r.manager.need(r.server.uri)
      await until(() => r.full().length === 2, 3000, 'refetched set')
      await sleep(50)
      assert.equal(r.server.hits.length, 2)
      assert.equal(r.manager.stats(r.server.uri)?.fetches, 2)
      assert.equal(r.seen.length, 2, 'the one fetch answers every asker; no extra unchanged snapshots')
    } finally {
      await r.close()
    }
  })

  test('need() while the first fetch is in flight joins it', async () => {
    const r = await rig({ cooldownMs: 0 })
    try {
      r.manager.configure([r.source])
      for (let i = 0; i < 20; i++) r.manager.need(r.server.uri)
      await until(() => r.full().length === 1, 3000, 'first snapshot')
      await sleep(50)
      assert.equal(r.server.hits.length, 1)
    } finally {
      await r.close()
    }
  })

  test('need() for a URI the config does not name is ignored', async () => {
    const r = await rig()
    try {
      r.manager.need('http://127.0.0.1:1/elsewhere')
      assert.equal(r.seen.length, 0)
      assert.equal(r.manager.stats('http://127.0.0.1:1/elsewhere'), undefined)
    } finally {
      await r.close()
    }
  })

  test('workers in-process: a token signed with a rotated-in key verifies after one shared refetch', async () => {
    const r = await rig({ cooldownMs: 0 })
    try {
      // Three workers' key stores, connected to the manager as the primary's IPC would.
      const workers = [new JwksKeys(), new JwksKeys(), new JwksKeys()]
      for (const w of workers) w.connect((uri) => r.manager.need(uri))
      r.manager.onSnapshot((s) => {
        for (const w of workers) void w.update(s)
      })
      r.manager.configure([r.source])
      await until(() => r.full().length === 1, 3000, 'first snapshot')
      await sleep(20)
      assert.ok(workers.every((w) => w.get(r.server.uri, 'k1') !== undefined))

      const fresh = await issuerKey('k2')
      r.server.keys.push(fresh.jwk)
      const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'RS256', kid: 'k2' }).setIssuedAt().setExpirationTime('5m').sign(fresh.privateKey)
      assert.equal(workers[0].get(r.server.uri, 'k2'), undefined)
      // Every worker meets the new kid at once, several requests each.
      await Promise.all(workers.flatMap((w) => [w.refresh(r.server.uri, 3000), w.refresh(r.server.uri, 3000)]))
      assert.equal(r.server.hits.length, 2, 'one refetch for all workers')
      for (const w of workers) {
        const key = w.get(r.server.uri, 'k2')
        assert.ok(key !== undefined)
        const { payload } = await jwtVerify(token, key.key, { algorithms: [key.alg] })
        assert.equal(payload.sub, 'alice')
      }
    } finally {
      await r.close()
    }
  })
})

describe('JwksManager: refused responses are failures, not crashes', () => {
  const cases: Array<[JwksMode, RegExp]> = [
    ['redirect', /redirect refused \(status 302\)/],
    ['status-404', /status 404/],
    ['oversize', /exceeds/],
    ['oversize-chunked', /exceeds/],
    ['invalid-json', /not JSON/],
    ['no-keys', /"keys" array/],
    ['keys-not-array', /"keys" array/],
    ['array', /"keys" array/],
  ]
  for (const [mode, reason] of cases) {
    test(mode, async () => {
      const r = await rig()
      r.server.mode = mode
      try {
        r.manager.configure([r.source])
        await until(() => (r.manager.stats(r.server.uri)?.failures ?? 0) >= 1, 3000, 'a failure')
        assert.match(r.manager.stats(r.server.uri)!.lastError!, reason)
        assert.equal(r.seen.length, 0)
        assert.deepEqual(r.manager.snapshots(), [])
        if (mode === 'redirect') assert.equal(r.server.movedHits, 0, 'the redirect was not followed')
      } finally {
        await r.close()
      }
    })
  }

  test('a hanging endpoint times out, and the retry still runs', async () => {
    const r = await rig({ timeoutMs: 150 })
    r.server.mode = 'hang'
    try {
      r.manager.configure([r.source])
      await until(() => (r.manager.stats(r.server.uri)?.failures ?? 0) >= 2, 3000, 'two timeouts')
      assert.match(r.manager.stats(r.server.uri)!.lastError!, /timed out after 150 ms/)
    } finally {
      await r.close()
    }
  })

  test('a failure after good sets keeps the good set (oversize during refresh)', async () => {
    const r = await rig({ cacheTtlMs: 200 })
    try {
      r.manager.configure([r.source])
      await until(() => r.full().length === 1, 3000, 'first snapshot')
      r.server.mode = 'oversize'
      await until(() => (r.manager.stats(r.server.uri)?.failures ?? 0) >= 2, 3000, 'failures')
      assert.deepEqual(r.manager.snapshots(), [r.full()[0]])
    } finally {
      await r.close()
    }
  })
})

describe('JwksManager: configure()', () => {
  test('removing a URI stops its refreshes; adding one fetches it; kept ones are not refetched', async () => {
    const a = await rig({ cacheTtlMs: 200 })
    const b = new JwksServer()
    b.keys.push((await issuerKey('b1')).jwk)
    await b.start()
    try {
      a.manager.configure([a.source])
      await until(() => a.full().length >= 2, 3000, 'a refresh')
      const bSource = { ...a.source, uri: b.uri, cacheTtlMs: 60_000 }
      a.manager.configure([a.source, bSource])
      await until(() => a.full().some((s) => s.uri === b.uri), 3000, 'b fetched')
      a.manager.configure([bSource])
      const hits = a.server.hits.length
      await sleep(600)
      assert.equal(a.server.hits.length, hits, 'no fetch of a removed URI')
      assert.equal(a.manager.stats(a.server.uri), undefined)
      assert.deepEqual(a.manager.snapshots().map((s) => s.uri), [b.uri])
      assert.equal(b.hits.length, 1, 'a kept URI is not refetched by configure()')
    } finally {
      await a.close()
      await b.stop()
    }
  })

  test('removing a URI aborts its fetch in flight without broadcasting', async () => {
    const r = await rig({ timeoutMs: 10_000 })
    r.server.mode = 'hang'
    try {
      r.manager.configure([r.source])
      await until(() => r.server.hits.length === 1, 3000, 'request arrives')
      r.manager.configure([])
      await sleep(100)
      assert.equal(r.seen.length, 0)
    } finally {
      await r.close()
    }
  })

  test('a shorter TTL on reload reschedules the refresh', async () => {
    const r = await rig({ cacheTtlMs: 60_000 })
    try {
      r.manager.configure([r.source])
      await until(() => r.full().length === 1, 3000, 'first snapshot')
      r.manager.configure([{ ...r.source, cacheTtlMs: 300 }])
      await until(() => r.full().length >= 2, 3000, 'refresh under the new TTL')
    } finally {
      await r.close()
    }
  })

  test('the process exits by itself once configure([]) removed every URI (no timer left behind)', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/jwks-exit.ts', import.meta.url))
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SLUICE_LOG_LEVEL: 'silent' } })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])))
    clearTimeout(killer)
    assert.equal(signal, null, `the child hung and was killed; stderr: ${err}`)
    assert.equal(code, 0, err)
    const report = JSON.parse(out) as { snapshots: number; fetches: number }
    assert.ok(report.snapshots >= 2, 'the child saw refreshes before removal')
  })
})

describe('jwksSourcesFromConfig', () => {
  const issuer = (uri: string, over: Record<string, unknown> = {}) => ({
    issuer: `iss-${uri}`,
    jwks_uri: uri,
    cache_ttl: 600,
    refetch_cooldown: 30,
    stale_grace: 3600,
    timeout: 5000,
    ...over,
  })
  const plugin = (name: string, issuers: unknown[], enabled = true) => ({ name, enabled, config: { issuers } })

  test('one source per URI; the strictest timings win, except the grace, where the longest wins', () => {
    const config = {
      plugins: [
        plugin('jwt', [issuer('https://a/jwks'), issuer('https://b/jwks', { cache_ttl: 60 })]),
        plugin('jwt', [issuer('https://a/jwks', { cache_ttl: 120, refetch_cooldown: 60, stale_grace: 7200, timeout: 1000 })]),
        plugin('jwt', [issuer('https://a/jwks', { refetch_cooldown: 5, stale_grace: 10 })]),
        plugin('key-auth', [issuer('https://c/jwks')]),
        plugin('jwt', [issuer('https://d/jwks')], false),
        plugin('jwt', []),
      ],
    } as unknown as GatewayConfig
    const sources = jwksSourcesFromConfig(config)
    assert.deepEqual(sources, [
      { uri: 'https://a/jwks', cacheTtlMs: 120_000, cooldownMs: 5_000, staleGraceMs: 7_200_000, timeoutMs: 1000 },
      { uri: 'https://b/jwks', cacheTtlMs: 60_000, cooldownMs: 30_000, staleGraceMs: 3_600_000, timeoutMs: 5000 },
    ])
  })

  test('a config without jwt issuers has no sources', () => {
    assert.deepEqual(jwksSourcesFromConfig({ plugins: [] } as unknown as GatewayConfig), [])
    assert.deepEqual(jwksSourcesFromConfig({ plugins: [{ name: 'jwt', enabled: true, config: {} }] } as unknown as GatewayConfig), [])
  })
})
