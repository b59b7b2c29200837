// The bench report as a terminal table and as one self-contained HTML file: data and plots inline
// (SVG drawn here), no script, font or style fetched from anywhere, so it opens offline and in CI
// artifacts as is.
import type { Spread } from './e2e.js'
import type { BenchReport, BenchTarget, Percentile, ScenarioResult, TargetSummary } from './suite.js'
import { decodeHistogram, PERCENTILES } from './suite.js'
import type { Comparison } from './compare.js'
import type { TuneReport } from './tune.js'

const PERCENTILE_LABEL: Readonly<Record<Percentile, string>> = {
  p50: 'p50',
  p90: 'p90',
  p99: 'p99',
  p999: 'p99.9',
  max: 'max',
}

function num(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '–'
}

function med(s: Spread | null, digits = 0): string {
  return s === null ? '–' : num(s.median, digits)
}

function withRange(s: Spread | null, digits = 0): string {
  if (s === null || !Number.isFinite(s.median)) return '–'
  return s.min === s.max ? num(s.median, digits) : `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})`
}

interface Row {
  readonly label: string
  readonly cell: (t: TargetSummary) => string
}

function rows(range: boolean): Row[] {
  const f = range ? withRange : med
  return [
    { label: 'saturation rps', cell: (t) => f(t.rps) },
    { label: 'rps ratio to direct', cell: (t) => f(t.rpsRatio, 2) },
    ...PERCENTILES.map((p) => ({ label: `${PERCENTILE_LABEL[p]} µs`, cell: (t: TargetSummary) => f(t.latencyUs[p]) })),
    ...PERCENTILES.map((p) => ({
      label: `added ${PERCENTILE_LABEL[p]} µs`,
      cell: (t: TargetSummary) => (t.addedUs === null ? '–' : f(t.addedUs[p])),
    })),
    { label: 'CPU µs/req', cell: (t) => f(t.cpuUsPerReq, 1) },
    { label: 'CPU ratio to direct', cell: (t) => f(t.cpuRatio, 2) },
    {
      label: 'RSS MiB',
      cell: (t) => f({ median: t.rssBytes.median / 1048576, min: t.rssBytes.min / 1048576, max: t.rssBytes.max / 1048576 }, 1),
    },
    { label: 'samples (fixed rate)', cell: (t) => String(t.samples) },
    { label: 'failures', cell: (t) => String(t.failures) },
  ]
}

/** One scenario's summary as aligned text columns (medians over rounds). */
export function renderScenarioTable(s: ScenarioResult): string {
  const targets = s.summary.targets
  const table = rows(false).map((r) => [r.label, ...targets.map((t) => r.cell(t))])
  const header = ['', ...targets.map((t) => t.target)]
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)))
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  return [line(header), ...table.map(line)].join('\n')
}

export function renderTerminal(report: BenchReport, comparison?: Comparison): string {
  const m = report.machine
  const o = report.options
  const out: string[] = []
  out.push(
    `sluice bench: ${m.cpuModel}, ${m.nproc} cores, Node ${m.node}${m.gitCommit === null ? '' : `, commit ${m.gitCommit}`}`,
  )
  out.push(
    `${o.workers} worker${o.workers === 1 ? '' : 's'}; per target per round: ${o.warmupSec}s warm-up, ${o.durationSec}s saturation ` +
      `(${o.satConnections} conns), ${o.durationSec}s at ${o.rate} req/s (${o.connections} conns). Medians over rounds; ` +
      'added latency and ratios are per round against direct.',
  )
  for (const s of report.scenarios) {
    out.push('')
    out.push(`${s.name} (${s.summary.rounds} round${s.summary.rounds === 1 ? '' : 's'}): ${s.description}`)
    out.push(renderScenarioTable(s))
  }
  if (comparison !== undefined) {
    out.push('')
    out.push(renderComparison(comparison))
  }
  return out.join('\n') + '\n'
}

export function renderComparison(c: Comparison): string {
  const out = [`Compared with ${c.baseline} (tolerances: ${c.toleranceText}):`]
  for (const s of c.scenarios) {
    out.push(`  ${s.scenario}: ${s.ok ? 'ok' : 'REGRESSED'} (${s.rounds} round${s.rounds === 1 ? '' : 's'})`)
    for (const m of s.metrics) {
      out.push(
        `    ${m.metric.padEnd(18)} now ${num(m.current, m.digits).padStart(8)}  baseline ${num(m.baseline, m.digits).padStart(8)}  ` +
          `limit ${num(m.limit, m.digits).padStart(8)}  spread ${num(m.spread, m.digits)}  ${m.ok ? 'ok' : 'WORSE'}`,
      )
    }
  }
  for (const missing of c.missing) out.push(`  ${missing}: not in the baseline (not gated)`)
  out.push(c.ok ? 'PASS' : 'FAIL: a scenario is worse than the baseline beyond the tolerance')
  return out.join('\n')
}

/** The report as Markdown (bench/RESULTS.md is one of these): machine, options, a table per scenario. */
export function renderMarkdown(report: BenchReport, command?: string): string {
  const m = report.machine
  const o = report.options
  const out: string[] = []
  out.push(`## sluice bench, ${m.date}`)
  out.push('')
  out.push(
    `Machine: ${m.cpuModel}, ${m.nproc} cores, kernel ${m.kernel}, Node ${m.node}, ${m.nginx ?? 'nginx not installed'}` +
      (m.gitCommit === null ? '' : `, commit ${m.gitCommit}`) +
      '.',
  )
  if (command !== undefined) out.push(`Command: \`${command}\``)
  out.push(
    `Runs: ${o.rounds} rounds per scenario, ${o.workers} worker(s); per target per round ${o.warmupSec}s warm-up, ` +
      `${o.durationSec}s saturation (${o.satConnections} conns), ${o.durationSec}s at ${o.rate} req/s (${o.connections} conns). ` +
      'Values: median (min–max) over rounds; added latency and ratios against direct in the same round.',
  )
  for (const s of report.scenarios) {
    out.push('')
    out.push(`### ${s.name}`)
    out.push('')
    out.push(`${s.description}. Request: \`${s.request.method ?? 'GET'} ${s.request.path}\`.`)
    out.push('')
    const targets = s.summary.targets
    out.push(`| | ${targets.map((t) => t.target).join(' | ')} |`)
    out.push(`|---|${targets.map(() => '---:').join('|')}|`)
    for (const r of rows(true)) out.push(`| ${r.label} | ${targets.map((t) => r.cell(t)).join(' | ')} |`)
  }
  return out.join('\n') + '\n'
}

// --- HTML -------------------------------------------------------------------------------------

const COLORS: Readonly<Record<BenchTarget, string>> = { direct: '#2f7d32', gateway: '#1f5fbf', nginx: '#c2571a' }

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** Points (t, µs) of a percentile distribution, t = log10(1 / (1 - p)): HdrHistogram's plot axis. */
export function percentileCurve(encoded: string): { t: number; us: number }[] {
  if (encoded === '') return []
  const h = decodeHistogram(encoded)
  try {
    const count = h.totalCount
    if (count === 0) return []
    // Beyond 1/count the percentiles all read the max: stop there (at most 99.999%).
    const tMax = Math.min(5, Math.log10(count))
    const points: { t: number; us: number }[] = []
    for (let t = 0; t <= tMax + 1e-9; t += 0.025) {
      const p = 100 * (1 - Math.pow(10, -t))
      points.push({ t, us: Math.min(h.getValueAtPercentile(p), h.maxValue) })
    }
    points.push({ t: tMax, us: h.maxValue })
    return points
  } finally {
    h.destroy()
  }
}

const TICKS: readonly [number, string][] = [
  [0, '0%'],
  [Math.log10(2), '50%'],
  [1, '90%'],
  [2, '99%'],
  [3, '99.9%'],
  [4, '99.99%'],
  [5, '99.999%'],
]

function niceMax(v: number): number {
  if (!(v > 0)) return 1
  const p = Math.pow(10, Math.floor(Math.log10(v)))
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p
  return 10 * p
}

/** The percentile-distribution plot of one scenario as inline SVG. */
export function percentilePlotSvg(s: ScenarioResult): string {
  const W = 760
  const H = 380
  const L = 70
  const R = 130
  const T = 20
  const B = 50
  const curves = s.summary.targets.map((t) => ({ target: t.target, points: percentileCurve(t.histogram) }))
  const tMax = Math.max(2, ...curves.map((c) => (c.points.length === 0 ? 0 : c.points[c.points.length - 1].t)))
  const yMax = niceMax(Math.max(1, ...curves.flatMap((c) => c.points.map((p) => p.us))))
  const x = (t: number): number => L + (t / tMax) * (W - L - R)
  const y = (us: number): number => T + (1 - us / yMax) * (H - T - B)
  const parts: string[] = []
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" ` +
      `aria-label="latency by percentile, ${esc(s.name)}" font-family="sans-serif" font-size="12">`,
  )
  parts.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="#fafafa" stroke="#999"/>`)
  for (const [t, label] of TICKS) {
    if (t > tMax + 1e-9) continue
    parts.push(`<line x1="${x(t)}" y1="${T}" x2="${x(t)}" y2="${H - B}" stroke="#ddd"/>`)
    parts.push(`<text x="${x(t)}" y="${H - B + 16}" text-anchor="middle">${label}</text>`)
  }
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5
    parts.push(`<line x1="${L}" y1="${y(v)}" x2="${W - R}" y2="${y(v)}" stroke="#e4e4e4"/>`)
    parts.push(`<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${num(v)}</text>`)
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">percentile (log scale of 1/(1-p))</text>`)
  parts.push(`<text x="16" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(T + H - B) / 2})">latency µs</text>`)
  curves.forEach((c, i) => {
    if (c.points.length === 0) return
    const d = c.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p.us).toFixed(1)}`).join('')
    parts.push(`<path d="${d}" fill="none" stroke="${COLORS[c.target]}" stroke-width="2"/>`)
    parts.push(`<line x1="${W - R + 12}" y1="${T + 14 + i * 20}" x2="${W - R + 36}" y2="${T + 14 + i * 20}" stroke="${COLORS[c.target]}" stroke-width="3"/>`)
    parts.push(`<text x="${W - R + 42}" y="${T + 18 + i * 20}">${c.target}</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n')
}

function scenarioTableHtml(s: ScenarioResult): string {
  const targets = s.summary.targets
  const head = `<tr><th></th>${targets.map((t) => `<th>${t.target}</th>`).join('')}</tr>`
  const body = rows(true)
    .map((r) => `<tr><th>${esc(r.label)}</th>${targets.map((t) => `<td>${esc(r.cell(t))}</td>`).join('')}</tr>`)
    .join('\n')
  return `<table>${head}\n${body}</table>`
}

/** The tune curve: throughput (bars) and p99 (line) per setting, as inline SVG. */
export function tuneCurveSvg(tune: TuneReport): string {
  const W = 760
  const H = 340
  const L = 70
  const R = 70
  const T = 20
  const B = 70
  const n = tune.settings.length
  const rpsMax = niceMax(Math.max(1, ...tune.settings.map((s) => s.rps)))
  const p99Max = niceMax(Math.max(1, ...tune.settings.map((s) => s.p99Us)))
  const slot = (W - L - R) / Math.max(1, n)
  const yR = (v: number): number => T + (1 - v / rpsMax) * (H - T - B)
  const yP = (v: number): number => T + (1 - v / p99Max) * (H - T - B)
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="tune curve" font-family="sans-serif" font-size="12">`,
    `<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="#fafafa" stroke="#999"/>`,
  ]
  for (let i = 0; i <= 5; i++) {
    parts.push(`<text x="${L - 6}" y="${yR((rpsMax * i) / 5) + 4}" text-anchor="end" fill="#1f5fbf">${num((rpsMax * i) / 5)}</text>`)
    parts.push(`<text x="${W - R + 6}" y="${yP((p99Max * i) / 5) + 4}" fill="#b3261e">${num((p99Max * i) / 5)}</text>`)
  }
  tune.settings.forEach((s, i) => {
    const cx = L + slot * (i + 0.5)
    const recommended = tune.recommendation !== null && tune.recommendation.index === i
    parts.push(
      `<rect x="${cx - slot * 0.3}" y="${yR(s.rps)}" width="${slot * 0.6}" height="${H - B - yR(s.rps)}" fill="${recommended ? '#0d3c85' : '#7fa6e0'}"/>`,
    )
    parts.push(`<text x="${cx}" y="${H - B + 16}" text-anchor="middle">${s.workers}w / ${s.upstreamConnections}c</text>`)
  })
  const d = tune.settings
    .map((s, i) => `${i === 0 ? 'M' : 'L'}${(L + slot * (i + 0.5)).toFixed(1)},${yP(s.p99Us).toFixed(1)}`)
    .join('')
  parts.push(`<path d="${d}" fill="none" stroke="#b3261e" stroke-width="2"/>`)
  tune.settings.forEach((s, i) => parts.push(`<circle cx="${L + slot * (i + 0.5)}" cy="${yP(s.p99Us)}" r="3" fill="#b3261e"/>`))
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - B + 36}" text-anchor="middle">workers / upstream connections per target</text>`)
  parts.push(`<text x="${L}" y="${H - 8}" fill="#1f5fbf">bars: saturation rps (left axis)</text>`)
  parts.push(`<text x="${W - R}" y="${H - 8}" text-anchor="end" fill="#b3261e">line: p99 µs at the fixed rate (right axis)</text>`)
  parts.push('</svg>')
  return parts.join('\n')
}

function tuneTableHtml(tune: TuneReport): string {
  const head = '<tr><th>workers</th><th>upstream conns</th><th>saturation rps</th><th>p50 µs</th><th>p99 µs</th><th>CPU µs/req</th><th>failures</th></tr>'
  const body = tune.settings
    .map(
      (s, i) =>
        `<tr${tune.recommendation?.index === i ? ' class="rec"' : ''}><td>${s.workers}</td><td>${s.upstreamConnections}</td>` +
        `<td>${s.rps}</td><td>${s.p50Us}</td><td>${s.p99Us}</td><td>${num(s.cpuUsPerReq, 1)}</td><td>${s.failures}</td></tr>`,
    )
    .join('\n')
  return `<table>${head}\n${body}</table>`
}

export interface HtmlInput {
  readonly report?: BenchReport
  readonly comparison?: Comparison
  readonly tune?: TuneReport
}

export function renderHtml(input: HtmlInput): string {
  const m = input.report?.machine ?? input.tune?.machine
  const parts: string[] = []
  parts.push('<!doctype html><html lang="en"><head><meta charset="utf-8">')
  parts.push('<title>Sluice bench report</title>')
  parts.push(
    '<style>body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}table{border-collapse:collapse;margin:8px 0 24px}' +
      'th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;font-size:13px}th:first-child{text-align:left}' +
      'tr.rec td{background:#e3ecfa;font-weight:bold}.meta{color:#555;font-size:13px}pre{background:#f4f4f4;padding:8px}</style>',
  )
  parts.push('</head><body><h1>Sluice bench report</h1>')
  if (m !== undefined) {
    parts.push(
      `<p class="meta">${esc(m.date)} · ${esc(m.cpuModel)}, ${m.nproc} cores · kernel ${esc(m.kernel)} · Node ${esc(m.node)}` +
        `${m.gitCommit === null ? '' : ` · commit ${esc(m.gitCommit)}`}${m.nginx === null ? '' : ` · ${esc(m.nginx)}`}</p>`,
    )
  }
  const r = input.report
  if (r !== undefined) {
    const o = r.options
    parts.push(
      `<p class="meta">${o.workers} worker(s); per target per round: ${o.warmupSec}s warm-up, ${o.durationSec}s saturation ` +
        `(${o.satConnections} connections), ${o.durationSec}s at ${o.rate} req/s over ${o.connections} keep-alive connections ` +
        `(latency from the scheduled send time, hdr histogram, µs). Targets alternate per round; values are medians ` +
        `(min–max) over rounds; added latency and ratios are against direct in the same round.</p>`,
    )
    for (const s of r.scenarios) {
      parts.push(`<h2>${esc(s.name)}</h2><p>${esc(s.description)} · ${s.summary.rounds} round(s) · request ` +
        `<code>${esc(s.request.method ?? 'GET')} ${esc(s.request.path)}</code></p>`)
      parts.push(percentilePlotSvg(s))
      parts.push(scenarioTableHtml(s))
    }
  }
  if (input.comparison !== undefined) {
    parts.push(`<h2>Regression gate</h2><pre>${esc(renderComparison(input.comparison))}</pre>`)
  }
  const tune = input.tune
  if (tune !== undefined) {
    parts.push('<h2>Tune: workers and upstream connections</h2>')
    parts.push(`<p>${esc(tune.sharedCoresNote)}</p>`)
    parts.push(tuneCurveSvg(tune))
    parts.push(tuneTableHtml(tune))
    parts.push(`<p><strong>${esc(tune.recommendationText)}</strong></p>`)
  }
  // The data behind the page, for anyone who wants to re-plot it (JSON in a non-executed script block).
  const data = JSON.stringify({ report: input.report, tune: input.tune }).replace(/</g, '\\u003c')
  parts.push(`<script type="application/json" id="sluice-bench-data">${data}</script>`)
  parts.push('</body></html>')
  return parts.join('\n') + '\n'
}
