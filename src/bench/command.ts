// `sluice bench` and `sluice tune` as commands: flags in, report files and a terminal table out.
// Exit codes: 0 done (gate passed), 1 the gate found a regression or the run failed, 2 bad usage or
// a missing prerequisite (nginx for --reference nginx).
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { compareReports, DEFAULT_TOLERANCE, loadBaseline, moreRoundsRule, scaleTolerance } from './compare.js'
import type { Comparison } from './compare.js'
import { NginxNotFoundError, requireNginx } from './nginx.js'
import { createProgress } from './progress.js'
import { RedisNotFoundError } from './redis.js'
import { renderHtml, renderMarkdown, renderTerminal } from './report.js'
import { listScenarios, selectScenarios, UnknownScenarioError } from './scenarios.js'
import { defaultGatewayCmd, renderRedisLoad, runBench, stopBench, STEPS_PER_TARGET, targetsOf } from './suite.js'
import type { BenchReport } from './suite.js'
import { DEFAULT_UPSTREAM_CONNECTIONS, defaultWorkerSweep, renderTuneTerminal, runTune, tuneSteps } from './tune.js'

const BENCH_HELP = `Usage: sluice bench [options]
  --scenario a,b          scenarios to run (default: every existing one and full); see --list
  --list                  print the scenarios (and those pending on a plugin) and exit
  --workers N             gateway workers (default 1)
  --rate R                fixed request rate for latency and CPU per request (default 3000)
  --duration S            seconds per saturation run and per fixed-rate run (default 5)
  --warmup S              saturation warm-up before each target (default 1)
  --rounds N              rounds of direct, gateway[, nginx] (default 3)
  --connections N         keep-alive connections of the fixed-rate run (default 16)
  --sat-connections N     connections of the saturation run (default 64)
  --out DIR               where bench.json and bench.html go (default bench/results/)
  --reference nginx       nginx (one worker, keep-alive upstream) as a third column
  --gateway-cmd CMD       start command of the gateway under test; placeholders {config} {workers}
                          {proxyPort} {adminPort} {upstreamPort}; ready when :{adminPort}/status is 200
  --compare FILE          regression gate against a baseline written by --save-baseline
  --max-rounds N          with --compare: round budget while the spread is wide (default 3 x rounds)
  --tolerance-scale K     with --compare: multiply every tolerance by K (shorter runs are noisier)
  --save-baseline FILE    also write this run's report to FILE (a baseline for --compare)`

const TUNE_HELP = `Usage: sluice tune [options]
  --workers 1,2,..        worker counts to sweep (default 1..cores)
  --upstream-connections a,b   upstream_connections values to sweep (default ${DEFAULT_UPSTREAM_CONNECTIONS.join(',')})
  --upstream URL          measure against this upstream endpoint instead of the built-in one
  --scenario NAME         the request and config to tune with (default routing)
  --rate R --duration S --warmup S --connections N --sat-connections N --gateway-cmd CMD --out DIR
                          as for sluice bench (duration default 3)`

type Values = Record<string, string | boolean | undefined>

function positive(values: Values, name: string, fallback: number, integer = true): number {
  const raw = values[name]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got '${String(raw)}'`)
  }
  return n
}

function list(values: Values, name: string): string[] | undefined {
  const raw = values[name]
  if (typeof raw !== 'string') return undefined
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

class UsageError extends Error {}

const COMMON_OPTIONS = {
  scenario: { type: 'string' },
  workers: { type: 'string' },
  rate: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  connections: { type: 'string' },
  'sat-connections': { type: 'string' },
  out: { type: 'string' },
  'gateway-cmd': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

function installSignalHandlers(): void {
  // The gateway runs in its own process group (so its workers stop together), out of reach of the
  // terminal's Ctrl-C: stop everything here.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping the upstream, gateway and nginx\n`)
      void stopBench().then(() => process.exit(130))
    })
  }
}

function writeOut(
  dir: string,
  name: string,
  json: unknown,
  html: string,
  markdown?: string,
): { json: string; html: string } {
  mkdirSync(dir, { recursive: true })
  const jsonPath = join(dir, `${name}.json`)
  const htmlPath = join(dir, `${name}.html`)
  writeFileSync(jsonPath, JSON.stringify(json, null, 2) + '\n')
  writeFileSync(htmlPath, html)
  if (markdown !== undefined) writeFileSync(join(dir, `${name}.md`), markdown)
  return { json: jsonPath, html: htmlPath }
}

async function bench(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...COMMON_OPTIONS,
      rounds: { type: 'string' },
      reference: { type: 'string' },
      compare: { type: 'string' },
      'max-rounds': { type: 'string' },
      'save-baseline': { type: 'string' },
      'tolerance-scale': { type: 'string' },
      list: { type: 'boolean' },
    },
    strict: true,
  })
  if (values.help === true) {
    process.stdout.write(BENCH_HELP + '\n')
    return 0
  }
  if (values.list === true) {
    process.stdout.write(listScenarios() + '\n')
    return 0
  }
  const reference = values.reference
  if (reference !== undefined && reference !== 'nginx') throw new UsageError(`--reference takes 'nginx', got '${reference}'`)
  if (reference === 'nginx') requireNginx()
  const scenarios = selectScenarios(list(values, 'scenario'))
  const rounds = positive(values, 'rounds', 3)
  const baselinePath = values.compare
  const baseline = baselinePath === undefined ? null : loadBaseline(baselinePath)
  const maxRounds = baseline === null ? rounds : positive(values, 'max-rounds', Math.max(rounds + 2, rounds * 3))
  const tolerance = scaleTolerance(DEFAULT_TOLERANCE, positive(values, 'tolerance-scale', 1, false))
  const opts = {
    scenarios,
    workers: positive(values, 'workers', 1),
    rate: positive(values, 'rate', 3000),
    durationSec: positive(values, 'duration', 5, false),
    warmupSec: values.warmup === '0' ? 0 : positive(values, 'warmup', 1, false),
    rounds,
    connections: positive(values, 'connections', 16),
    satConnections: positive(values, 'sat-connections', 64),
    reference: reference === 'nginx' ? ('nginx' as const) : null,
    gatewayCmd: values['gateway-cmd'] ?? defaultGatewayCmd(),
    maxRounds,
    moreRounds: baseline === null ? undefined : moreRoundsRule(baseline, tolerance),
  }
  installSignalHandlers()
  const progress = createProgress(scenarios.length * rounds * targetsOf(opts).length * STEPS_PER_TARGET)
  let report: BenchReport
  try {
    report = await runBench({ ...opts, progress })
  } finally {
    progress.done()
  }
  let comparison: Comparison | undefined
  if (baseline !== null && baselinePath !== undefined) comparison = compareReports(report, baseline, baselinePath, tolerance)
  process.stdout.write(renderTerminal(report, comparison))
  process.stdout.write(renderRedisLoad(report))
  const json = comparison === undefined ? report : { ...report, comparison }
  const markdown = renderMarkdown(report, `sluice bench ${argv.join(' ')}`)
  const files = writeOut(resolve(values.out ?? join('bench', 'results')), 'bench', json, renderHtml({ report, comparison }), markdown)
  if (values['save-baseline'] !== undefined) {
    mkdirSync(dirname(resolve(values['save-baseline'])), { recursive: true })
    writeFileSync(values['save-baseline'], JSON.stringify(report, null, 2) + '\n')
    process.stderr.write(`baseline written to ${values['save-baseline']}\n`)
  }
  process.stderr.write(`wrote ${files.json} and ${files.html}\n`)
  if (report.scenarios.some((s) => s.summary.targets.some((t) => t.failures > 0))) {
    process.stderr.write('sluice bench: some requests failed (see the failures row): the numbers are suspect\n')
  }
  return comparison === undefined || comparison.ok ? 0 : 1
}

async function tune(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...COMMON_OPTIONS, 'upstream-connections': { type: 'string' }, upstream: { type: 'string' } },
    strict: true,
  })
  if (values.help === true) {
    process.stdout.write(TUNE_HELP + '\n')
    return 0
  }
  const ints = (name: string, fallback: readonly number[]): number[] => {
    const raw = list(values, name)
    if (raw === undefined) return [...fallback]
    return raw.map((r) => positive({ [name]: r }, name, 1))
  }
  const scenarioNames = list(values, 'scenario') ?? ['routing']
  if (scenarioNames.length !== 1) throw new UsageError('sluice tune takes one --scenario')
  const [scenario] = selectScenarios(scenarioNames)
  const upstreamUrl = values.upstream
  if (upstreamUrl !== undefined) {
    try {
      if (new URL(upstreamUrl).protocol !== 'http:') throw new Error('not http')
    } catch {
      throw new UsageError(`--upstream must be an http:// URL, got '${upstreamUrl}'`)
    }
  }
  const workers = ints('workers', defaultWorkerSweep(availableParallelism()))
  const upstreamConnections = ints('upstream-connections', DEFAULT_UPSTREAM_CONNECTIONS)
  installSignalHandlers()
  const progress = createProgress(tuneSteps({ workers, upstreamConnections }))
  let report
  try {
    report = await runTune({
      scenario,
      workers,
      upstreamConnections,
      rate: positive(values, 'rate', 3000),
      durationSec: positive(values, 'duration', 3, false),
      warmupSec: values.warmup === '0' ? 0 : positive(values, 'warmup', 1, false),
      connections: positive(values, 'connections', 16),
      satConnections: positive(values, 'sat-connections', 64),
      gatewayCmd: values['gateway-cmd'] ?? defaultGatewayCmd(),
      upstreamUrl,
      progress,
    })
  } finally {
    progress.done()
  }
  process.stdout.write(renderTuneTerminal(report))
  const files = writeOut(resolve(values.out ?? join('bench', 'results')), 'tune', report, renderHtml({ tune: report }))
  process.stderr.write(`wrote ${files.json} and ${files.html}\n`)
  return 0
}

/** Entry point for src/cli.ts: `sluice bench ...` / `sluice tune ...`. */
export async function benchCommand(command: 'bench' | 'tune', argv: string[]): Promise<number> {
  try {
    return command === 'bench' ? await bench(argv) : await tune(argv)
  } catch (err) {
    if (
      err instanceof UsageError ||
      err instanceof UnknownScenarioError ||
      err instanceof NginxNotFoundError ||
      err instanceof RedisNotFoundError
    ) {
      process.stderr.write(`sluice ${command}: ${err.message}\n`)
      return 2
    }
    if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
      process.stderr.write(`sluice ${command}: ${err.message}\n\n${command === 'bench' ? BENCH_HELP : TUNE_HELP}\n`)
      return 2
    }
    throw err
  }
}
