// `sluice bench --compare BASELINE.json`: the regression gate. It compares ratios taken inside one
// run (gateway against direct in the same round), never absolute numbers, so a baseline recorded on
// one machine still means something on a slower or busier one.
import { readFileSync } from 'node:fs'
import type { Spread } from './e2e.js'
import type { BenchReport, ScenarioSummary, TargetSummary } from './suite.js'

/**
 * How much worse than the baseline a metric may come out before the gate fails. Chosen from the
 * run-to-run spread of `npm run bench:ci` measured on a shared 2-core box (bench/README.md,
 * "Regression gate"): each limit sits above the worst swing seen between identical runs.
 */
export interface Tolerance {
  /** Throughput ratio may fall by this fraction of the baseline's. */
  readonly rpsRatio: number
  /** CPU-per-request ratio may rise by this fraction of the baseline's. */
  readonly cpuRatio: number
  /** Added p50 may rise by max(abs µs, rel x baseline). */
  readonly addedP50Us: number
  readonly addedP50Rel: number
  readonly addedP99Us: number
  readonly addedP99Rel: number
  /** A metric whose (max - min) / sqrt(rounds) exceeds this share of its limit's headroom asks for another round. */
  readonly spreadShare: number
}

export const DEFAULT_TOLERANCE: Tolerance = {
  rpsRatio: 0.4,
  cpuRatio: 0.35,
  addedP50Us: 150,
  addedP50Rel: 1,
  addedP99Us: 5000,
  addedP99Rel: 2,
  spreadShare: 1,
}

/** Every limit widened (k > 1) or narrowed (k < 1); the spread rule is a share and stays. */
export function scaleTolerance(t: Tolerance, k: number): Tolerance {
  return {
    rpsRatio: Math.min(0.95, t.rpsRatio * k),
    cpuRatio: t.cpuRatio * k,
    addedP50Us: t.addedP50Us * k,
    addedP50Rel: t.addedP50Rel * k,
    addedP99Us: t.addedP99Us * k,
    addedP99Rel: t.addedP99Rel * k,
    spreadShare: t.spreadShare,
  }
}

export function toleranceText(t: Tolerance): string {
  return (
    `rps ratio -${pct(t.rpsRatio)}%, CPU ratio +${pct(t.cpuRatio)}%, ` +
    `added p50 +max(${Math.round(t.addedP50Us)} µs, ${pct(t.addedP50Rel)}%), ` +
    `added p99 +max(${Math.round(t.addedP99Us)} µs, ${pct(t.addedP99Rel)}%)`
  )
}

function pct(x: number): number {
  return Math.round(x * 1000) / 10
}

export interface MetricComparison {
  readonly metric: 'rps ratio' | 'CPU ratio' | 'added p50 µs' | 'added p99 µs'
  readonly current: number
  readonly baseline: number
  /** The worst value that still passes. */
  readonly limit: number
  /** max - min of the metric over this run's rounds. */
  readonly spread: number
  readonly ok: boolean
  /** Decimal places for printing. */
  readonly digits: number
}

export interface ScenarioComparison {
  readonly scenario: string
  readonly rounds: number
  readonly ok: boolean
  readonly metrics: MetricComparison[]
}

export interface Comparison {
  readonly baseline: string
  readonly toleranceText: string
  readonly tolerance: Tolerance
  readonly scenarios: ScenarioComparison[]
  /** Scenarios of this run that the baseline does not have. */
  readonly missing: string[]
  readonly ok: boolean
}

export class BaselineError extends Error {
  readonly code = 'SLUICE_BENCH_BAD_BASELINE'
}

export function loadBaseline(path: string): BenchReport {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new BaselineError(`SLUICE_BENCH_BAD_BASELINE: cannot read ${path}: ${(err as Error).message}`)
  }
  const r = parsed as Partial<BenchReport>
  if (r.kind !== 'sluice-bench' || !Array.isArray(r.scenarios)) {
    throw new BaselineError(`SLUICE_BENCH_BAD_BASELINE: ${path} is not a sluice bench report (written by sluice bench --out)`)
  }
  return r as BenchReport
}

function gatewayOf(s: ScenarioSummary): TargetSummary | undefined {
  return s.targets.find((t) => t.target === 'gateway')
}

function width(s: Spread | null | undefined): number {
  return s === null || s === undefined ? NaN : s.max - s.min
}

/** Compares one scenario's gateway metrics with the baseline's. */
export function compareScenario(current: ScenarioSummary, baseline: ScenarioSummary, t: Tolerance): MetricComparison[] {
  const g = gatewayOf(current)
  const b = gatewayOf(baseline)
  if (g === undefined || b === undefined || g.rpsRatio === null || b.rpsRatio === null) return []
  const out: MetricComparison[] = []
  const higherIsBetter = (
    metric: MetricComparison['metric'],
    cur: Spread,
    base: number,
    limit: number,
    digits: number,
  ): void => {
    out.push({ metric, current: cur.median, baseline: base, limit, spread: width(cur), ok: cur.median >= limit, digits })
  }
  const lowerIsBetter = (
    metric: MetricComparison['metric'],
    cur: Spread,
    base: number,
    limit: number,
    digits: number,
  ): void => {
    out.push({ metric, current: cur.median, baseline: base, limit, spread: width(cur), ok: cur.median <= limit, digits })
  }
  higherIsBetter('rps ratio', g.rpsRatio, b.rpsRatio.median, b.rpsRatio.median * (1 - t.rpsRatio), 3)
  if (g.cpuRatio !== null && b.cpuRatio !== null && Number.isFinite(b.cpuRatio.median)) {
    lowerIsBetter('CPU ratio', g.cpuRatio, b.cpuRatio.median, b.cpuRatio.median * (1 + t.cpuRatio), 3)
  }
  if (g.addedUs !== null && b.addedUs !== null) {
    const b50 = b.addedUs.p50.median
    const b99 = b.addedUs.p99.median
    lowerIsBetter('added p50 µs', g.addedUs.p50, b50, b50 + Math.max(t.addedP50Us, Math.abs(b50) * t.addedP50Rel), 0)
    lowerIsBetter('added p99 µs', g.addedUs.p99, b99, b99 + Math.max(t.addedP99Us, Math.abs(b99) * t.addedP99Rel), 0)
  }
  return out
}

export function compareReports(
  current: BenchReport,
  baseline: BenchReport,
  baselinePath: string,
  t: Tolerance = DEFAULT_TOLERANCE,
): Comparison {
  const scenarios: ScenarioComparison[] = []
  const missing: string[] = []
  for (const s of current.scenarios) {
    const b = baseline.scenarios.find((x) => x.name === s.name)
    if (b === undefined) {
      missing.push(s.name)
      continue
    }
    const metrics = compareScenario(s.summary, b.summary, t)
    scenarios.push({ scenario: s.name, rounds: s.summary.rounds, ok: metrics.every((m) => m.ok), metrics })
  }
  return {
    baseline: baselinePath,
    toleranceText: toleranceText(t),
    tolerance: t,
    scenarios,
    missing,
    ok: scenarios.length > 0 && scenarios.every((s) => s.ok),
  }
}

/**
 * The gate's "one more round?" rule: while a metric fails, or its spread over rounds (range divided
 * by sqrt(rounds)) is wider than the headroom the tolerance gives it, the median is not settled yet; the caller's maxRounds is the
 * budget. A regression that is real keeps failing however many rounds run.
 */
export function moreRoundsRule(
  baseline: BenchReport,
  t: Tolerance = DEFAULT_TOLERANCE,
): (scenario: string, summary: ScenarioSummary) => boolean {
  return (scenario, summary) => {
    const b = baseline.scenarios.find((x) => x.name === scenario)
    if (b === undefined) return false
    // The range over n rounds only grows with n; range / sqrt(n) shrinks as the median settles.
    const settle = Math.sqrt(Math.max(1, summary.rounds))
    for (const m of compareScenario(summary, b.summary, t)) {
      if (!m.ok) return true
      const headroom = Math.abs(m.limit - m.baseline)
      if (m.spread / settle > headroom * t.spreadShare) return true
    }
    return false
  }
}
