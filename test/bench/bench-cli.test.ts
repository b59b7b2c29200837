import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { PENDING_SCENARIOS, scenarioNames } from '../../src/bench/scenarios.js'
import type { BenchReport } from '../../src/bench/suite.js'
import { runCli } from './helpers.js'

function findChromium(): string | null {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' })
    if (r.status === 0 && r.stdout.trim() !== '') return r.stdout.trim()
  }
  return null
}

/** Width and height from the PNG header (IHDR). */
function pngSize(file: string): { width: number; height: number } {
  const b = readFileSync(file)
  assert.equal(b.toString('latin1', 1, 4), 'PNG', 'a PNG file')
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) }
}

describe('sluice bench (real gateway, real upstream, short run)', () => {
  const out = mkdtempSync(join(tmpdir(), 'sluice-bench-test-'))

  test('--list names the runnable scenarios and the pending ones with their issue', async () => {
    const r = await runCli(['bench', '--list'])
    assert.equal(r.code, 0, r.stderr)
    for (const name of scenarioNames()) assert.match(r.stdout, new RegExp(`^  ${name} `, 'm'))
    for (const p of PENDING_SCENARIOS) assert.match(r.stdout, new RegExp(`${p.name} .*pending on ${p.pendingOn.replace(/[()]/g, '.')}`))
  })

  test('a pending scenario and a bad flag are refused with exit 2', async () => {
    const [first] = PENDING_SCENARIOS
    const pending = await runCli(['bench', '--scenario', first.name])
    assert.equal(pending.code, 2)
    assert.match(pending.stderr, new RegExp(`SLUICE_BENCH_SCENARIO_PENDING.*${first.pendingOn.replace(/[()]/g, '.')}`))
    const bad = await runCli(['bench', '--rate', 'fast'])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /--rate must be a positive/)
  })

  test('every scenario: a well-formed report with samples, percentiles and CPU for direct and gateway', async () => {
    const r = await runCli([
      'bench',
      '--scenario', 'routing,headers,full',
      '--duration', '0.75',
      '--warmup', '0',
      '--rounds', '1',
      '--rate', '1600',
      '--connections', '8',
      '--sat-connections', '16',
      '--out', out,
    ])
    assert.equal(r.code, 0, r.stderr.slice(-2000))
    // The terminal table: one block per scenario.
    for (const name of ['routing', 'headers', 'full']) assert.match(r.stdout, new RegExp(`^${name} \\(1 round\\)`, 'm'))
    assert.match(r.stdout, /added p99 µs/)
    // Progress on stderr, plain lines when not a TTY.
    assert.match(r.stderr, /\[1\/\d+\] routing round 1\/1 direct/)

    const report = JSON.parse(readFileSync(join(out, 'bench.json'), 'utf8')) as BenchReport
    assert.equal(report.kind, 'sluice-bench')
    assert.deepEqual(report.scenarios.map((s) => s.name), ['routing', 'headers', 'full'])
    for (const s of report.scenarios) {
      assert.deepEqual(s.summary.targets.map((t) => t.target), ['direct', 'gateway'])
      for (const t of s.summary.targets) {
        const where = `${s.name}/${t.target}`
        assert.equal(t.failures, 0, `${where}: failures`)
        assert.ok(t.samples >= 1200, `${where}: ${t.samples} samples`)
        assert.ok(t.rps.median > 0, `${where}: rps`)
        assert.ok(t.cpuUsPerReq.median > 0, `${where}: CPU/req ${t.cpuUsPerReq.median}`)
        assert.ok(t.rssBytes.median > 0, `${where}: RSS`)
        const l = t.latencyUs
        assert.ok(0 < l.p50.median && l.p50.median <= l.p90.median && l.p90.median <= l.p99.median, where)
        assert.ok(l.p99.median <= l.p999.median && l.p999.median <= l.max.median, where)
        assert.ok(t.histogram.length > 0, `${where}: histogram`)
      }
      const g = s.summary.targets[1]
      assert.ok(g.addedUs !== null && Number.isFinite(g.addedUs.p50.median), `${s.name}: added latency`)
      assert.ok(g.rpsRatio !== null && g.rpsRatio.median > 0, `${s.name}: rps ratio`)
      assert.ok(g.cpuRatio !== null && g.cpuRatio.median > 0, `${s.name}: CPU ratio`)
    }
    // The headers scenario really sent ~1 KB of client headers.
    const headers = report.scenarios[1].request.headers ?? {}
    const bytes = Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0)
    assert.ok(bytes >= 800 && bytes <= 1400, `headers scenario sends ${bytes} bytes of headers`)
    assert.ok('cookie' in headers && 'authorization' in headers && 'user-agent' in headers)
  })

  test('the HTML report is self-contained and renders its plot in headless Chromium', async () => {
    const html = readFileSync(join(out, 'bench.html'), 'utf8')
    // Nothing fetched from the network: no external src/href, data inline.
    assert.doesNotMatch(html, /(src|href)\s*=\s*["']?https?:/i)
    assert.equal((html.match(/<svg /g) ?? []).length, 3, 'one plot per scenario')
    for (const label of ['50%', '90%', '99%', '99.9%']) assert.ok(html.includes(`>${label}</text>`), label)
    assert.match(html, /<path d="M[^"]+L/)

    const chromium = findChromium()
    assert.ok(chromium !== null, 'chromium is required for this test: apt-get install -y chromium')
    const profile = mkdtempSync(join(tmpdir(), 'sluice-chromium-'))
    const png = join(out, 'bench.png')
    try {
      const r = spawnSync(
        chromium,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          `--user-data-dir=${profile}`,
          `--screenshot=${png}`,
          '--window-size=1200,900',
          pathToFileURL(join(out, 'bench.html')).href,
        ],
        { encoding: 'utf8', timeout: 30_000 },
      )
      assert.ok(existsSync(png), `no screenshot: ${r.stderr.slice(-500)}`)
      assert.deepEqual(pngSize(png), { width: 1200, height: 900 })
      // A blank page with one word compresses to ~5 KB; text, a table and plotted lines do not.
      assert.ok(statSync(png).size > 20_000, `screenshot is only ${statSync(png).size} bytes`)
    } finally {
      rmSync(profile, { recursive: true, force: true })
    }
  })

  // The gate, on the run above as its baseline. Sub-second rounds (~1,200 samples, p99 = the 12th
  // worst) on a shared box are far noisier than bench:ci's, hence 2x the tolerances; the same for
  // both cases, so the doctored one fails on the doctoring alone (a CPU ratio halved is outside +70%).
  const gateArgs = (baseline: string, maxRounds: number): string[] => [
    'bench',
    '--scenario', 'routing',
    '--duration', '0.75',
    '--warmup', '0',
    '--rounds', '1',
    '--rate', '1600',
    '--connections', '8',
    '--sat-connections', '16',
    '--out', join(out, 'gate'),
    '--compare', baseline,
    '--max-rounds', String(maxRounds),
    '--tolerance-scale', '2',
  ]

  test('--compare passes on a fresh baseline of its own', async () => {
    const r = await runCli(gateArgs(join(out, 'bench.json'), 3))
    assert.equal(r.code, 0, `${r.stdout.slice(-1500)}\n${r.stderr.slice(-1000)}`)
    assert.match(r.stdout, /routing: ok/)
    assert.match(r.stdout, /^PASS$/m)
  })

  // A quarter, not a half: with sub-second rounds and --tolerance-scale 2 (CPU ratio +70%) a halved
  // baseline left the gate only 15% of headroom, inside the run-to-run spread of the direct path's CPU.
  test('--compare fails (exit 1) on a baseline doctored to a quarter of the real CPU ratio', async () => {
    const report = JSON.parse(readFileSync(join(out, 'bench.json'), 'utf8')) as BenchReport
    const doctored = structuredClone(report) as { scenarios: { summary: { targets: { cpuRatio: { median: number; min: number; max: number } | null }[] } }[] }
    for (const s of doctored.scenarios) {
      const ratio = s.summary.targets[1].cpuRatio
      assert.ok(ratio !== null)
      ratio.median /= 4
      ratio.min /= 4
      ratio.max /= 4
    }
    const path = join(out, 'doctored.json')
    writeFileSync(path, JSON.stringify(doctored))
    const r = await runCli(gateArgs(path, 1))
    assert.equal(r.code, 1, `${r.stdout.slice(-1500)}\n${r.stderr.slice(-1000)}`)
    assert.match(r.stdout, /routing: REGRESSED \(1 round\)/)
    assert.match(r.stdout, /CPU ratio .* WORSE/)
    assert.match(r.stdout, /^FAIL/m)
    const written = JSON.parse(readFileSync(join(out, 'gate', 'bench.json'), 'utf8')) as { comparison?: { ok: boolean } }
    assert.equal(written.comparison?.ok, false, 'the comparison is in the JSON report too')
    rmSync(out, { recursive: true, force: true })
  })
})
