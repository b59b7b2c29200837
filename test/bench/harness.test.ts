import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import { cpuOf, processTree, rssOf, treeRss } from '../../src/bench/cpu.js'
import { runFixedRate, runSaturation, spawnLoadgen } from '../../src/bench/loadgen.js'
import type { FixedRateResult } from '../../src/bench/loadgen.js'
import { findNginx, NGINX_INSTALL_HINT, startNginx } from '../../src/bench/nginx.js'
import { buildLargeBody, SMALL_BODY, startUpstream } from '../../src/bench/upstream.js'
import { addLatencyOverDirect, renderMarkdown, spread, summarizeRuns } from '../../src/bench/e2e.js'
import type { E2eReport, TargetName, TargetRun } from '../../src/bench/e2e.js'

function assertOrdered(r: FixedRateResult['latencyUs']): void {
  assert.ok(r.p50 > 0, `p50 ${r.p50} > 0`)
  assert.ok(r.p50 <= r.p90 && r.p90 <= r.p99 && r.p99 <= r.p999 && r.p999 <= r.max, JSON.stringify(r))
}

describe('bench upstream', () => {
  test('answers /json with the small body and /large with ~1 MiB of snake_case JSON', async () => {
    const up = await startUpstream(0)
    try {
      const small = await fetch(`http://127.0.0.1:${up.port}/json`)
      assert.equal(small.status, 200)
      assert.equal(small.headers.get('content-type'), 'application/json')
      const smallBody = Buffer.from(await small.arrayBuffer())
      assert.deepEqual(smallBody, SMALL_BODY)
      assert.ok(smallBody.length >= 80 && smallBody.length <= 140, `small body is ${smallBody.length} bytes`)
      const other = await fetch(`http://127.0.0.1:${up.port}/anything/else`)
      assert.deepEqual(Buffer.from(await other.arrayBuffer()), SMALL_BODY)

      const large = await fetch(`http://127.0.0.1:${up.port}/large`)
      const doc = (await large.json()) as { total_count: number; items: Record<string, unknown>[] }
      assert.equal(doc.items.length, doc.total_count)
      assert.ok('display_name' in doc.items[0] && 'owner_account' in doc.items[0])
      const bytes = buildLargeBody()
      assert.ok(Math.abs(bytes.length - 1048576) < 4096, `large body is ${bytes.length} bytes`)
      assert.deepEqual(buildLargeBody(4096), buildLargeBody(4096), 'the document is deterministic')
    } finally {
      up.close()
    }
  })
})

describe('fixed-rate load generator', () => {
  test('raw net client: ~200 samples in 1 s at 200/s, ordered percentiles, no errors', async () => {
    const up = await startUpstream(0)
    try {
      const r = await runFixedRate({
        url: `http://127.0.0.1:${up.port}/json`,
        rate: 200,
        durationSec: 1,
        connections: 4,
        client: 'net',
      })
      assert.equal(r.scheduled, 200)
      assert.equal(r.sent, 200)
      assert.equal(r.ok, 200)
      assert.equal(r.errors + r.non2xx + r.timeouts, 0)
      assert.equal(r.latencyUs.count, 200)
      assertOrdered(r.latencyUs)
      assertOrdered(r.serviceUs)
      // Latency from the schedule includes the wait for the send: never below the service time.
      assert.ok(r.latencyUs.p50 >= r.serviceUs.p50, `${r.latencyUs.p50} >= ${r.serviceUs.p50}`)
      // The schedule spans 1 s; finishing much earlier would mean the rate was not held.
      assert.ok(r.windowSec >= 0.99 && r.windowSec < 1.5, `window ${r.windowSec}s`)
    } finally {
      up.close()
    }
  })

  test('undici client reports the same counts', async () => {
    const up = await startUpstream(0)
    try {
      const r = await runFixedRate({
        url: `http://127.0.0.1:${up.port}/json`,
        rate: 200,
        durationSec: 0.5,
        connections: 2,
        client: 'undici',
      })
      assert.equal(r.ok, 100)
      assert.equal(r.errors + r.non2xx + r.timeouts, 0)
      assertOrdered(r.latencyUs)
    } finally {
      up.close()
    }
  })

  test('counts non-2xx, chunked bodies and server-closed connections through the raw parser', async () => {
    // A raw server: 404 with a chunked body and `Connection: close` on every second response.
    let n = 0
    const server = net.createServer((socket) => {
      socket.on('data', () => {
        n++
        const close = n % 2 === 0
        socket.write(
          'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n' +
            (close ? 'Connection: close\r\n' : '') +
            '\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
        )
        if (close) socket.end()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    try {
      const r = await runFixedRate({ url: `http://127.0.0.1:${port}/x`, rate: 100, durationSec: 0.5, connections: 2, client: 'net' })
      assert.equal(r.scheduled, 50)
      assert.equal(r.non2xx, 50)
      assert.equal(r.ok + r.errors + r.timeouts, 0)
    } finally {
      server.close()
    }
  })

  test('a response split across TCP segments (inside the blank line, inside the body) completes once', async () => {
    const pieces = ['HTTP/1.1 200 OK\r\nContent-Le', 'ngth: 5\r\n\r', '\nhe', 'llo']
    const server = net.createServer((socket) => {
      socket.setNoDelay(true)
      socket.on('data', async () => {
        for (const p of pieces) {
          socket.write(p)
          await new Promise((r) => setTimeout(r, 2))
        }
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    try {
      const r = await runFixedRate({ url: `http://127.0.0.1:${port}/`, rate: 50, durationSec: 0.4, connections: 2, client: 'net' })
      assert.equal(r.ok, 20)
      assert.equal(r.errors + r.non2xx + r.timeouts, 0)
      // Four writes 2 ms apart: the response cannot have completed before the last one.
      assert.ok(r.serviceUs.p50 >= 5000, `service p50 ${r.serviceUs.p50}`)
    } finally {
      server.close()
    }
  })

  test('a target that never answers shows up as timeouts and in the tail, not as silence', async () => {
    const server = net.createServer(() => {})
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    try {
      const r = await runFixedRate({
        url: `http://127.0.0.1:${port}/`,
        rate: 100,
        durationSec: 0.3,
        connections: 2,
        client: 'net',
        graceMs: 200,
      })
      assert.equal(r.ok, 0)
      assert.equal(r.timeouts, 30)
      assert.equal(r.sent, 2)
      assert.ok(r.latencyUs.max >= 200_000, `max ${r.latencyUs.max} µs includes the stall`)
    } finally {
      server.close()
    }
  })

  test('saturation mode reports throughput and, when asked, µs latency per response', async () => {
    const up = await startUpstream(0)
    try {
      const r = await runSaturation({ url: `http://127.0.0.1:${up.port}/json`, connections: 4, durationSec: 1, latency: true })
      assert.ok(r.total > 100, `total ${r.total}`)
      assert.ok(r.rps > 100, `rps ${r.rps}`)
      assert.equal(r.ok, r.total)
      assert.equal(r.errors + r.non2xx, 0)
      assert.ok(r.latencyUs !== null)
      // Every completed response is in the histogram (autocannon may count a few in flight at the end).
      assert.ok(Math.abs(r.latencyUs.count - r.total) <= 4, `${r.latencyUs.count} vs ${r.total}`)
      assertOrdered(r.latencyUs)
    } finally {
      up.close()
    }
  })

  test('runs as a separate process and reports the target tree CPU', async () => {
    const up = await startUpstream(0)
    try {
      const r = (await spawnLoadgen({
        mode: 'fixed',
        url: `http://127.0.0.1:${up.port}/json`,
        rate: 300,
        durationSec: 1,
        connections: 4,
        cpuPid: process.pid,
      })) as FixedRateResult
      assert.equal(r.mode, 'fixed')
      assert.equal(r.ok, 300)
      assert.ok(r.loadgenCpuSec > 0)
      // The upstream runs in this test process, so its CPU is in the measured tree.
      assert.ok(r.targetCpuSec !== null && r.targetCpuSec >= 0)
    } finally {
      up.close()
    }
  })
})

describe('cpu.ts', () => {
  test('CPU of a busy child (and its grandchild) is positive and grows', async () => {
    // sh -> node busy loop: the grandchild's CPU must be found through ppid links.
    // Own process group, so the finally block can kill sh and the spinning grandchild together.
    const child = spawn('sh', ['-c', `${JSON.stringify(process.execPath)} -e "for(;;){}"; true`], {
      stdio: 'ignore',
      detached: true,
    })
    try {
      const pid = child.pid as number
      await new Promise((r) => setTimeout(r, 300))
      const tree = processTree(pid)
      assert.ok(tree.length >= 2, `tree of sh has its node child: ${JSON.stringify(tree)}`)
      const t0 = performance.now()
      const a = cpuOf(pid)
      await new Promise((r) => setTimeout(r, 400))
      const b = cpuOf(pid)
      assert.ok(a > 0, `first sample ${a}`)
      assert.ok(b > a, `monotonic: ${a} -> ${b}`)
      // One spinning thread cannot use more CPU than wall time (plus a clock tick of rounding); the
      // lower bound stays loose because other tests may be sharing these two cores.
      assert.ok(b - a <= (performance.now() - t0) / 1000 + 0.02, `delta ${b - a}`)
      assert.ok(treeRss(pid).totalBytes > rssOf(pid), 'tree RSS includes the node grandchild')
    } finally {
      process.kill(-(child.pid as number), 'SIGKILL')
    }
  })

  test('a pid that does not exist has no tree and no CPU', () => {
    assert.deepEqual(processTree(2 ** 22 + 12345), [])
    assert.equal(cpuOf(2 ** 22 + 12345), 0)
    assert.equal(rssOf(2 ** 22 + 12345), 0)
  })
})

describe('nginx reference proxy', () => {
  test('is installed (the benchmark needs it)', () => {
    assert.ok(findNginx() !== null, `nginx is not installed; install it with: ${NGINX_INSTALL_HINT}`)
  })

  test('starts in front of the upstream, proxies, and stops', async () => {
    assert.ok(findNginx() !== null, `nginx is not installed; install it with: ${NGINX_INSTALL_HINT}`)
    const up = await startUpstream(0)
    try {
      const nginx = await startNginx({ upstreamPort: up.port })
      let stopped = false
      try {
        const res = await fetch(`http://127.0.0.1:${nginx.port}/json`)
        assert.equal(res.status, 200)
        assert.match(res.headers.get('server') ?? '', /^nginx/)
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), SMALL_BODY)
        assert.ok(processTree(nginx.pid).length >= 2, 'master and one worker')
        await nginx.stop()
        stopped = true
        assert.equal(processTree(nginx.pid).length, 0, 'nginx exited')
        await assert.rejects(fetch(`http://127.0.0.1:${nginx.port}/json`))
      } finally {
        if (!stopped) await nginx.stop()
      }
    } finally {
      up.close()
    }
  })
})

/** A run with just the fields the summary reads. */
function fakeRun(round: number, target: TargetName, rps: number, cpu: number, p50: number, p99: number): TargetRun {
  const lat = { count: 1, p50, p90: p50, p99, p999: p99, max: p99, mean: p50 }
  return {
    round,
    target,
    saturation: { rps } as TargetRun['saturation'],
    fixed: { latencyUs: lat, serviceUs: lat } as TargetRun['fixed'],
    cpuUsPerReq: cpu,
    p50,
    p99,
    addedP50: null,
    addedP99: null,
    addedServiceP50: null,
    addedServiceP99: null,
    rssBytes: 1048576,
    rssByProcess: [],
    failures: 0,
  }
}

describe('e2e summary', () => {
  test('spread takes the median of odd and even counts', () => {
    assert.deepEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3 })
    assert.deepEqual(spread([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4 })
  })

  test('added latency is per round against that round\'s direct; gateway vs nginx are per-round ratios', () => {
    // Round 2 is a slow round for everyone: per-round differences keep it from skewing the result.
    const rounds = [
      [fakeRun(1, 'gateway', 900, 60, 300, 900), fakeRun(1, 'direct', 2000, 20, 100, 500), fakeRun(1, 'nginx', 1000, 50, 200, 700)],
      [fakeRun(2, 'gateway', 450, 66, 1300, 1900), fakeRun(2, 'direct', 1000, 22, 1100, 1500), fakeRun(2, 'nginx', 500, 55, 1200, 1700)],
      [fakeRun(3, 'gateway', 1200, 48, 310, 950), fakeRun(3, 'direct', 2500, 18, 100, 500), fakeRun(3, 'nginx', 1000, 40, 210, 690)],
    ]
    for (const r of rounds) addLatencyOverDirect(r)
    const runs = rounds.flat()
    assert.equal(runs[0].addedP50, 200)
    assert.equal(runs[5].addedP99, 200)
    assert.equal(runs[1].addedP50, null, 'direct has no added latency')
    const { summary, gatewayVsNginx } = summarizeRuns(['direct', 'gateway', 'nginx'], runs)
    const gateway = summary.find((s) => s.target === 'gateway')
    assert.deepEqual(gateway?.addedP50, { median: 200, min: 200, max: 210 })
    assert.deepEqual(gateway?.rps, { median: 900, min: 450, max: 1200 })
    assert.ok(gatewayVsNginx !== null)
    assert.deepEqual(gatewayVsNginx.rpsRatio, { median: 0.9, min: 0.9, max: 1.2 })
    assert.deepEqual(gatewayVsNginx.cpuRatio, { median: 1.2, min: 1.2, max: 1.2 })
    assert.deepEqual(gatewayVsNginx.addedP50Diff, { median: 100, min: 100, max: 100 })

    const report = { machine: { cpuModel: 'x', nproc: 2, node: 'v20', nginx: 'nginx/1.22.1', kernel: 'k', gitCommit: null, date: 'd' },
      options: { targets: ['direct', 'gateway', 'nginx'], gatewayCmd: '', rate: 3000, durationSec: 10, warmupSec: 2, rounds: 3,
        connections: 16, satConnections: 64, path: '/json', client: 'net' },
      nginxConfig: null, runs, summary, gatewayVsNginx } satisfies E2eReport
    const md = renderMarkdown(report)
    assert.match(md, /\| gateway \| 900 \(450–1200\) \|/)
    assert.match(md, /\| throughput ratio \| 0\.90 \(0\.90–1\.20\) \| >= 1\.00 \| MISSES \|/)
    assert.match(md, /\| CPU\/req ratio \| 1\.20 \| <= 1\.20 \| meets \|/)
  })
})
