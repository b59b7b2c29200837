import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { parseConfigText, validateConfig } from '../../src/config/load.js'
import '../../src/plugins/index.js'
import { compareScenario, DEFAULT_TOLERANCE, moreRoundsRule, scaleTolerance } from '../../src/bench/compare.js'
import { createProgress } from '../../src/bench/progress.js'
import { percentileCurve, renderHtml, renderScenarioTable, tuneCurveSvg } from '../../src/bench/report.js'
import { fullScenario, scenarioConfigYaml, SCENARIOS, selectScenarios } from '../../src/bench/scenarios.js'
import { newHistogram } from '../../src/bench/loadgen.js'
import { serializeRequest } from '../../src/bench/loadgen.js'
import { summarizeScenario } from '../../src/bench/suite.js'
import type { BenchReport, BenchTarget, ScenarioSummary, TargetRun } from '../../src/bench/suite.js'
import { recommend, sharedCoresNote } from '../../src/bench/tune.js'
import type { TuneReport, TuneSetting } from '../../src/bench/tune.js'
import * as hdr from 'hdr-histogram-js'

function histogramOf(values: number[]): string {
  const h = newHistogram()
  for (const v of values) h.recordValue(v)
  const out = hdr.encodeIntoCompressedBase64(h)
  h.destroy()
  return out
}

function run(round: number, target: BenchTarget, rps: number, p50: number, p99: number, cpu: number): TargetRun {
  return {
    round,
    target,
    rps,
    latencyUs: { count: 100, p50, p90: p50 + 10, p99, p999: p99 + 10, max: p99 + 20, mean: p50 },
    serviceUs: { count: 100, p50, p90: p50, p99, p999: p99, max: p99, mean: p50 },
    cpuUsPerReq: cpu,
    rssBytes: 1 << 20,
    failures: 0,
    fixedSamples: 100,
    histogram: histogramOf([p50, p99]),
  }
}

/** Rounds of direct (10,000 rps, 100/400 µs, 40 µs CPU) and gateway given per round. */
function summaryOf(gateway: [rps: number, p50: number, p99: number, cpu: number][]): ScenarioSummary {
  const runs: TargetRun[] = []
  gateway.forEach(([rps, p50, p99, cpu], i) => {
    runs.push(run(i + 1, 'direct', 10_000, 100, 400, 40))
    runs.push(run(i + 1, 'gateway', rps, p50, p99, cpu))
  })
  return summarizeScenario(['direct', 'gateway'], runs)
}

function reportOf(summary: ScenarioSummary): BenchReport {
  return { kind: 'sluice-bench', scenarios: [{ name: 'routing', summary }] } as unknown as BenchReport
}

describe('bench scenarios', () => {
  test('every scenario config, and full, is a valid Sluice config', () => {
    for (const s of [...SCENARIOS, fullScenario()]) {
      const yaml = scenarioConfigYaml(s, 'http://127.0.0.1:9/json', { upstream_connections: 8 })
      const raw = parseConfigText(yaml, `${s.name}.yaml`) as { settings: Record<string, unknown> }
      assert.equal(raw.settings.upstream_connections, 8)
      assert.equal(raw.settings.access_log, 'off', 'no access log in the measurement')
      const config = validateConfig(raw, s.name)
      assert.ok(config.services.length >= 1, s.name)
    }
  })

  test('routing has 1,000 routes; full combines every scenario and carries all their headers', () => {
    const routing = SCENARIOS.find((s) => s.name === 'routing')
    const routes = (routing?.config.services?.[0].routes ?? []) as unknown[]
    assert.equal(routes.length, 1000)
    const full = fullScenario()
    // jwt reuses routing's service entry; full keeps it once (two copies would be duplicate names).
    assert.equal(full.config.services?.length, new Set(SCENARIOS.flatMap((s) => s.config.services ?? [])).size)
    assert.equal(new Set(full.config.services?.map((s) => s.name)).size, full.config.services?.length, 'service names stay unique')
    for (const s of SCENARIOS) for (const h of Object.keys(s.request.headers ?? {})) assert.ok(h in (full.request.headers ?? {}), h)
    assert.equal(full.config.settings?.correlation_id_header, 'X-Correlation-ID', 'the headers scenario turns the correlation id on')
    assert.deepEqual(selectScenarios(undefined).map((s) => s.name), [...SCENARIOS.map((s) => s.name), 'full'])
  })

  test('the request is serialised once with its headers and a content-length for a body', () => {
    const r = serializeRequest(new URL('http://127.0.0.1:8/a?b=1'), {
      method: 'POST',
      headers: { 'x-a': '1', host: 'ignored', 'content-length': '99' },
      body: 'héllo',
    }).toString('latin1')
    assert.equal(r.split('\r\n\r\n')[0], 'POST /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:8\r\nx-a: 1\r\nContent-Length: 6')
    assert.equal(Buffer.from(r.split('\r\n\r\n')[1], 'latin1').toString('utf8'), 'héllo')
  })
})

describe('compare gate rules', () => {
  const baseline = summaryOf([
    [5000, 200, 800, 120],
    [5200, 210, 820, 124],
  ])

  test('the same numbers pass; a halved CPU ratio, a lower rps ratio or more added latency fail', () => {
    assert.ok(compareScenario(baseline, baseline, DEFAULT_TOLERANCE).every((m) => m.ok))
    const worseCpu = summaryOf([[5100, 205, 810, 250]])
    const cpu = compareScenario(worseCpu, baseline, DEFAULT_TOLERANCE).find((m) => m.metric === 'CPU ratio')
    assert.equal(cpu?.ok, false)
    const slower = summaryOf([[3000, 205, 810, 122]])
    assert.equal(compareScenario(slower, baseline, DEFAULT_TOLERANCE).find((m) => m.metric === 'rps ratio')?.ok, false)
    const laggy = summaryOf([[5100, 600, 9000, 122]])
    const lag = compareScenario(laggy, baseline, DEFAULT_TOLERANCE)
    assert.equal(lag.find((m) => m.metric === 'added p50 µs')?.ok, false)
    assert.equal(lag.find((m) => m.metric === 'added p99 µs')?.ok, false)
    // A wider tolerance lets the mild CPU regression through.
    assert.ok(compareScenario(worseCpu, baseline, scaleTolerance(DEFAULT_TOLERANCE, 6)).every((m) => m.ok))
  })

  test('one more round while failing or while the spread is wider than the headroom; none once settled', () => {
    const more = moreRoundsRule(reportOf(baseline))
    assert.equal(more('routing', summaryOf([[5100, 205, 810, 122]])), false, 'settled and passing')
    assert.equal(more('routing', summaryOf([[5100, 205, 810, 250]])), true, 'failing')
    assert.equal(
      more('routing', summaryOf([[2000, 205, 810, 122], [9000, 205, 810, 122], [5100, 205, 810, 122]])),
      true,
      'rps ratio spread (0.2..0.9) wider than its headroom',
    )
    assert.equal(more('other', summaryOf([[5100, 205, 810, 250]])), false, 'not in the baseline: not gated')
  })
})

describe('report pieces', () => {
  test('percentile curve: rises with the percentile and ends at the max', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => 100 + i)
    const curve = percentileCurve(histogramOf(values))
    assert.ok(curve.length > 100)
    for (let i = 1; i < curve.length; i++) assert.ok(curve[i].us >= curve[i - 1].us && curve[i].t >= curve[i - 1].t)
    assert.ok(Math.abs(curve[curve.length - 1].t - 4) < 1e-9, '10,000 samples resolve to 99.99%')
    assert.ok(Math.abs(curve[curve.length - 1].us - 10_099) <= 10)
    // x = log10(1 / (1 - p)): each point reads the value at its percentile
    for (const p of curve.slice(0, -1)) {
      const expected = 100 + 10_000 * (1 - Math.pow(10, -p.t))
      assert.ok(Math.abs(p.us - expected) <= expected * 0.002 + 2, `${JSON.stringify(p)} vs ${expected}`)
    }
  })

  test('the table and the HTML carry each target', () => {
    const summary = summaryOf([[5000, 200, 800, 120]])
    const scenario = { name: 'routing', description: 'd', request: { path: '/x' }, runs: [], summary }
    const table = renderScenarioTable(scenario)
    assert.match(table, /^\s+direct\s+gateway$/m)
    assert.match(table, /^added p50 µs\s+–\s+100$/m)
    assert.match(table, /^CPU ratio to direct\s+–\s+3\.00$/m)
  })

  test('tune: recommends the fastest within 5%, lowest p99, fewest workers; the curve and the shared-cores note render', () => {
    const s = (workers: number, upstreamConnections: number, rps: number, p99Us: number, failures = 0): TuneSetting => ({
      workers,
      upstreamConnections,
      rps,
      p50Us: 100,
      p99Us,
      cpuUsPerReq: 100,
      failures,
    })
    const settings = [s(1, 8, 5000, 900), s(1, 128, 5100, 700), s(2, 8, 5300, 1500), s(2, 128, 9000, 600, 3)]
    assert.equal(recommend(settings), 1, '2/128 had failures; 2/8 is fastest but 1/128 is within 5% with a lower p99')
    assert.equal(recommend([s(1, 8, 5000, 700), s(2, 8, 5000, 690)]), 0, 'p99 within 10%: fewer workers')
    assert.equal(recommend([s(1, 8, 0, 0, 1)]), null)
    const note = sharedCoresNote(2, 2, true)
    assert.match(note, /load generator shares this host's cores.*same 2 cores/)
    const tune = { settings, recommendation: { index: 1, workers: 1, upstreamConnections: 128 } } as unknown as TuneReport
    const svg = tuneCurveSvg(tune)
    assert.equal((svg.match(/<rect /g) ?? []).length, 1 + settings.length)
    const html = renderHtml({ tune: { ...tune, sharedCoresNote: note, recommendationText: 'Recommended: x' } as TuneReport })
    assert.match(html, /Tune: workers and upstream connections/)
    assert.match(html, /<tr class="rec"><td>1<\/td><td>128<\/td>/)
  })

  test('progress: a redrawn line on a TTY, numbered lines otherwise', () => {
    const written: string[] = []
    const tty = createProgress(4, { isTTY: true, columns: 80, write: (c) => (written.push(c), true) })
    tty.step('routing direct')
    tty.note('result')
    tty.done()
    assert.ok(written[0].startsWith('\r\x1b[K'), 'clears the line before redrawing')
    assert.match(written[0].slice(4), /^\[#{6}\.{18}\]\s+25% \d+s routing direct$/)
    assert.ok(written.includes('\r\x1b[Kresult\n'))
    assert.equal(written[written.length - 1], '\r\x1b[K')
    const lines: string[] = []
    const plain = createProgress(2, { isTTY: false, write: (c) => (lines.push(c), true) })
    plain.step('a')
    plain.grow(2)
    plain.step('b')
    assert.deepEqual(lines, ['[1/2] a\n', '[2/4] b\n'])
  })
})
