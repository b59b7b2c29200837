// `sluice bench`: per scenario, the same load straight to the upstream and through the gateway (and
// through nginx with --reference nginx), alternated A/B[/C] per round so that drift on a shared box
// lands on every target alike. Reported per round and as medians; ratios and added latency are taken
// within a round, which is what carries over between runs and machines.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as hdr from 'hdr-histogram-js'
import { treeRss } from './cpu.js'
import { machineInfo, REPO_ROOT, spread, startGateway, startUpstreamProcess } from './e2e.js'
import type { MachineInfo, Running, Spread } from './e2e.js'
import { newHistogram, spawnLoadgen } from './loadgen.js'
import type { FixedRateResult, LatencySummary, RequestShape, SaturationResult } from './loadgen.js'
import { requireNginx, startNginx } from './nginx.js'
import type { Progress } from './progress.js'
import { scenarioConfigYaml, UPSTREAM_PATHS } from './scenarios.js'
import type { Scenario } from './scenarios.js'
import { interruptSignal, track as remember, untrack } from './lifecycle.js'
import { commandsProcessed, startBenchRedis } from './redis.js'

export type BenchTarget = 'direct' | 'gateway' | 'nginx'

/** The start command placeholders: {config} {workers} {proxyPort} {adminPort} {upstreamPort}. */
export function defaultGatewayCmd(): string {
  const node = JSON.stringify(process.execPath)
  const tail = 'start --config {config} --workers {workers} --proxy-port {proxyPort} --admin-port {adminPort}'
  // Start the gateway the way this bench runs: from the sources through tsx, or the compiled build.
  const fromSources = fileURLToPath(import.meta.url).endsWith('.ts')
  if (fromSources || !existsSync(join(REPO_ROOT, 'dist', 'cli.js'))) {
    return `${node} --import tsx ${JSON.stringify(join(REPO_ROOT, 'src', 'cli.ts'))} ${tail}`
  }
  return `${node} ${JSON.stringify(join(REPO_ROOT, 'dist', 'cli.js'))} ${tail}`
}

export interface BenchOptions {
  readonly scenarios: readonly Scenario[]
  readonly workers: number
  /** Fixed request rate (req/s) for latency and CPU per request. */
  readonly rate: number
  readonly durationSec: number
  /** Saturation warm-up before each target's measurement. */
  readonly warmupSec: number
  readonly rounds: number
  /** Keep-alive connections of the fixed-rate run. */
  readonly connections: number
  /** Connections of the saturation run (autocannon). */
  readonly satConnections: number
  readonly reference: 'nginx' | null
  readonly gatewayCmd: string
  /** Which targets to measure (default direct, gateway and nginx when referenced); tune runs gateway only. */
  readonly targets?: readonly BenchTarget[]
  /** Extra gateway settings for every scenario (sluice tune sets upstream_connections). */
  readonly settings?: Readonly<Record<string, unknown>>
  /** An upstream endpoint instead of the built-in one (sluice tune --upstream); direct CPU is then unknown. */
  readonly upstreamUrl?: string
  /**
   * Asked after each round from the `rounds`-th on: one more round for this scenario? The compare
   * gate uses it to repeat until the spread is small or the budget (maxRounds) is spent.
   */
  readonly moreRounds?: (scenario: string, summary: ScenarioSummary, roundsDone: number) => boolean
  readonly maxRounds?: number
  readonly progress?: Progress
}

export interface TargetRun {
  readonly round: number
  readonly target: BenchTarget
  /** Saturation throughput, requests per second. */
  readonly rps: number
  readonly latencyUs: LatencySummary
  readonly serviceUs: LatencySummary
  /** CPU µs per request of the target's process tree at the fixed rate. */
  readonly cpuUsPerReq: number
  readonly rssBytes: number
  /** Errors, timeouts and non-2xx answers over both runs: anything but 0 makes the round suspect. */
  readonly failures: number
  readonly fixedSamples: number
  /** Corrected-latency histogram of the fixed-rate run (hdr compressed base64). */
  readonly histogram: string
  /**
   * For a scenario that talks to Redis, gateway target only: the Redis commands per second measured
   * around the saturation run and around the fixed-rate run (two very different request rates).
   */
  readonly redis?: readonly RedisLoad[]
}

/** Redis commands per second while the gateway served `reqPerSec`. */
export interface RedisLoad {
  readonly reqPerSec: number
  readonly commandsPerSec: number
}

export type Percentile = 'p50' | 'p90' | 'p99' | 'p999' | 'max'
export const PERCENTILES: readonly Percentile[] = ['p50', 'p90', 'p99', 'p999', 'max']

export interface TargetSummary {
  readonly target: BenchTarget
  readonly rps: Spread
  readonly cpuUsPerReq: Spread
  readonly latencyUs: Readonly<Record<Percentile, Spread>>
  /** Target minus direct, same round, then median over rounds (null for direct). */
  readonly addedUs: Readonly<Record<Percentile, Spread>> | null
  /** Target / direct, same round (null for direct). */
  readonly rpsRatio: Spread | null
  readonly cpuRatio: Spread | null
  readonly rssBytes: Spread
  readonly failures: number
  readonly samples: number
  /** The fixed-rate histograms of every round merged (hdr compressed base64), for the plot. */
  readonly histogram: string
}

export interface ScenarioSummary {
  readonly rounds: number
  readonly targets: TargetSummary[]
}

export interface ScenarioResult {
  readonly name: string
  readonly description: string
  readonly request: RequestShape & { readonly path: string }
  readonly runs: TargetRun[]
  readonly summary: ScenarioSummary
}

export interface BenchReport {
  readonly kind: 'sluice-bench'
  readonly version: 1
  readonly machine: MachineInfo
  /** The run's options as recorded in the report (JSON-safe: scenario names, resolved settings). */
  readonly options: Pick<
    BenchOptions,
    'workers' | 'rate' | 'durationSec' | 'warmupSec' | 'rounds' | 'connections' | 'satConnections' | 'reference' | 'gatewayCmd'
  > & { readonly scenarios: string[]; readonly settings: Readonly<Record<string, unknown>> }
  readonly scenarios: ScenarioResult[]
}

export { stopAll as stopBench } from './lifecycle.js'

export function targetsOf(opts: Pick<BenchOptions, 'reference' | 'targets'>): BenchTarget[] {
  if (opts.targets !== undefined) return [...opts.targets]
  return opts.reference === 'nginx' ? ['direct', 'gateway', 'nginx'] : ['direct', 'gateway']
}

/** Steps the progress bar counts per target per round: warm-up, saturation, fixed rate. */
export const STEPS_PER_TARGET = 3

export async function runBench(opts: BenchOptions): Promise<BenchReport> {
  if (opts.reference === 'nginx') requireNginx()
  const targets = targetsOf(opts)
  const machine = machineInfo()
  const signal = interruptSignal()
  const started: Running[] = []
  const track = (r: Running): Running => {
    started.push(r)
    remember(r)
    return r
  }
  const results: ScenarioResult[] = []
  const progress = opts.progress
  try {
    let upstreamBase: string
    let upstreamPort: number
    if (opts.upstreamUrl === undefined) {
      const upstream = track(await startUpstreamProcess())
      upstreamPort = upstream.port
      upstreamBase = `http://127.0.0.1:${upstream.port}`
      progress?.note(`upstream on :${upstream.port} (pid ${upstream.pid})`)
    } else {
      const u = new URL(opts.upstreamUrl)
      upstreamPort = Number(u.port || 80)
      upstreamBase = u.origin
    }
    const directPid = started[0]?.pid ?? null
    let redisPort: number | undefined
    if (opts.scenarios.some((s) => s.needsRedis === true)) {
      const redis = await startBenchRedis()
      // startBenchRedis registered it with the lifecycle already; `started` stops it at the end.
      started.push(redis)
      redisPort = redis.port
      progress?.note(`redis-server ${redis.version} on :${redis.port} (pid ${redis.pid})`)
    }
    let nginx: Running | null = null
    if (opts.reference === 'nginx') {
      const n = await startNginx({ upstreamPort })
      nginx = track({ port: n.port, pid: n.pid, stop: () => n.stop() })
      progress?.note(`nginx on :${n.port} (pid ${n.pid})`)
    }
    for (const scenario of opts.scenarios) {
      const endpoint = opts.upstreamUrl ?? `${upstreamBase}${UPSTREAM_PATHS[scenario.upstream]}`
      const endpointPath = new URL(endpoint).pathname + new URL(endpoint).search
      progress?.note(`${scenario.name}: starting the gateway (${opts.workers} worker${opts.workers === 1 ? '' : 's'})`)
      const gateway = track(
        await startGateway(opts.gatewayCmd, upstreamPort, {
          configText: scenarioConfigYaml(scenario, endpoint, opts.settings ?? {}, redisPort),
          workers: opts.workers,
          checkPath: scenario.request.path,
        }),
      )
      const urls: Record<BenchTarget, string> = {
        direct: `${upstreamBase}${endpointPath}`,
        gateway: `http://127.0.0.1:${gateway.port}${scenario.request.path}`,
        // nginx passes every path through: it gets the endpoint's, as the direct run does.
        nginx: nginx === null ? '' : `http://127.0.0.1:${nginx.port}${endpointPath}`,
      }
      const pids: Record<BenchTarget, number | null> = {
        direct: directPid,
        gateway: gateway.pid,
        nginx: nginx?.pid ?? null,
      }
      await checkAnswers(urls, targets, scenario)
      const request: RequestShape = {
        method: scenario.request.method,
        headers: scenario.request.headers,
        body: scenario.request.body ?? null,
      }
      const runs: TargetRun[] = []
      const maxRounds = Math.max(opts.rounds, opts.maxRounds ?? opts.rounds)
      for (let round = 1; round <= maxRounds; round++) {
        if (round > opts.rounds) {
          const more = opts.moreRounds?.(scenario.name, summarizeScenario(targets, runs), round - 1) ?? false
          if (!more) break
          progress?.grow(targets.length * STEPS_PER_TARGET)
          progress?.note(`${scenario.name}: spread too wide or over tolerance, one more round (${round}/${maxRounds})`)
        }
        for (const target of targets) {
          const label = `${scenario.name} round ${round}/${Math.max(opts.rounds, round)} ${target}`
          const redis = target === 'gateway' && scenario.needsRedis === true ? (redisPort ?? null) : null
          runs.push(await measureTarget(opts, round, target, urls[target], pids[target], request, label, signal, redis))
        }
      }
      await gateway.stop()
      untrack(gateway)
      started.splice(started.indexOf(gateway), 1)
      results.push({
        name: scenario.name,
        description: scenario.description,
        request: scenario.request,
        runs,
        summary: summarizeScenario(targets, runs),
      })
    }
  } finally {
    for (const r of started.reverse()) {
      untrack(r)
      await r.stop().catch(() => undefined)
    }
  }
  return {
    kind: 'sluice-bench',
    version: 1,
    machine,
    options: {
      scenarios: opts.scenarios.map((s) => s.name),
      workers: opts.workers,
      rate: opts.rate,
      durationSec: opts.durationSec,
      warmupSec: opts.warmupSec,
      rounds: opts.rounds,
      connections: opts.connections,
      satConnections: opts.satConnections,
      reference: opts.reference,
      gatewayCmd: opts.gatewayCmd,
      settings: opts.settings ?? {},
    },
    scenarios: results,
  }
}

async function checkAnswers(urls: Record<BenchTarget, string>, targets: BenchTarget[], scenario: Scenario): Promise<void> {
  for (const t of targets) {
    const res = await fetch(urls[t], {
      method: scenario.request.method ?? 'GET',
      headers: { ...(scenario.request.headers ?? {}) },
      body: scenario.request.body ?? undefined,
    })
    const body = await res.text()
    if (res.status !== 200) {
      throw new Error(
        `SLUICE_BENCH_TARGET_NOT_OK: ${t} answered ${res.status} on ${urls[t]} (scenario ${scenario.name}): ${body.slice(0, 200)}`,
      )
    }
  }
}

async function measureTarget(
  opts: BenchOptions,
  round: number,
  target: BenchTarget,
  url: string,
  pid: number | null,
  request: RequestShape,
  label: string,
  signal: AbortSignal,
  redisPort: number | null = null,
): Promise<TargetRun> {
  const progress = opts.progress
  const cpuPid = pid ?? undefined
  progress?.step(`${label}: warm-up ${opts.warmupSec}s`)
  if (opts.warmupSec > 0) {
    await spawnLoadgen({ mode: 'saturation', url, durationSec: opts.warmupSec, connections: opts.satConnections, request, signal })
  }
  progress?.step(`${label}: saturation ${opts.durationSec}s`)
  const satRedis = redisPort === null ? null : await redisMark(redisPort)
  const saturation = (await spawnLoadgen({
    mode: 'saturation',
    url,
    durationSec: opts.durationSec,
    connections: opts.satConnections,
    request,
    cpuPid,
    signal,
  })) as SaturationResult
  const satLoad = satRedis === null ? null : await redisLoadSince(satRedis, saturation.rps)
  progress?.step(`${label}: ${opts.rate} req/s for ${opts.durationSec}s`)
  const fixedRedis = redisPort === null ? null : await redisMark(redisPort)
  const fixed = (await spawnLoadgen({
    mode: 'fixed',
    url,
    durationSec: opts.durationSec,
    connections: opts.connections,
    rate: opts.rate,
    client: 'net',
    request,
    cpuPid,
    signal,
  })) as FixedRateResult
  const fixedLoad =
    fixedRedis === null ? null : await redisLoadSince(fixedRedis, fixed.windowSec > 0 ? fixed.ok / fixed.windowSec : 0)
  const failures =
    saturation.errors + saturation.timeouts + saturation.non2xx + fixed.errors + fixed.timeouts + fixed.non2xx
  const run: TargetRun = {
    round,
    target,
    rps: saturation.rps,
    latencyUs: fixed.latencyUs,
    serviceUs: fixed.serviceUs,
    cpuUsPerReq: Math.round((fixed.targetCpuUsPerReq ?? NaN) * 10) / 10,
    rssBytes: pid === null ? 0 : treeRss(pid).totalBytes,
    failures,
    fixedSamples: fixed.latencyUs.count,
    histogram: fixed.histogram,
    ...(satLoad !== null && fixedLoad !== null ? { redis: [satLoad, fixedLoad] } : {}),
  }
  for (const load of run.redis ?? []) progress?.note(`${label}: ${redisLoadLine(load)}`)
  progress?.note(
    `${label}: ${run.rps} rps, p50 ${run.latencyUs.p50} µs, p99 ${run.latencyUs.p99} µs, ${run.cpuUsPerReq} µs CPU/req` +
      (failures > 0 ? `, ${failures} FAILURES` : ''),
  )
  return run
}

interface RedisMark {
  readonly port: number
  readonly commands: number
  readonly atMs: number
}

async function redisMark(port: number): Promise<RedisMark> {
  return { port, commands: await commandsProcessed(port), atMs: performance.now() }
}

/**
 * Commands per second since `mark`, over the wall time between the two readings (the load generator's
 * start-up included: syncs run on the clock, not per request). The INFO of the first reading counts
 * itself, hence the 1 taken off.
 */
async function redisLoadSince(mark: RedisMark, reqPerSec: number): Promise<RedisLoad> {
  const commands = (await commandsProcessed(mark.port)) - mark.commands - 1
  const sec = (performance.now() - mark.atMs) / 1000
  return { reqPerSec: Math.round(reqPerSec), commandsPerSec: Math.round((commands / sec) * 10) / 10 }
}

export function redisLoadLine(load: RedisLoad): string {
  return `redis commands/s at ${load.reqPerSec} req/s: ${load.commandsPerSec}`
}

/** The terminal lines for every scenario that measured its Redis load (empty when none did). */
export function renderRedisLoad(report: BenchReport): string {
  const lines: string[] = []
  for (const s of report.scenarios) {
    for (const run of s.runs) {
      for (const load of run.redis ?? []) lines.push(`${s.name} round ${run.round}: ${redisLoadLine(load)}`)
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`
}

/** Merges base64 hdr histograms into one (base64). */
export function mergeHistograms(encoded: readonly string[]): string {
  const merged = newHistogram()
  for (const e of encoded) {
    const h = hdr.decodeFromCompressedBase64(e)
    merged.add(h)
    h.destroy()
  }
  const out = hdr.encodeIntoCompressedBase64(merged)
  merged.destroy()
  return out
}

/** Per-target medians over rounds; added latency and ratios against the same round's direct run. */
export function summarizeScenario(targets: readonly BenchTarget[], runs: readonly TargetRun[]): ScenarioSummary {
  const rounds = new Set(runs.map((r) => r.round))
  const summaries = targets.map((target): TargetSummary => {
    const mine = runs.filter((r) => r.target === target)
    const latencyUs = Object.fromEntries(
      PERCENTILES.map((p) => [p, spread(mine.map((r) => r.latencyUs[p]))]),
    ) as Record<Percentile, Spread>
    let addedUs: Record<Percentile, Spread> | null = null
    let rpsRatio: Spread | null = null
    let cpuRatio: Spread | null = null
    if (target !== 'direct') {
      const pairs: [TargetRun, TargetRun][] = []
      for (const round of rounds) {
        const t = mine.find((r) => r.round === round)
        const d = runs.find((r) => r.round === round && r.target === 'direct')
        if (t !== undefined && d !== undefined) pairs.push([t, d])
      }
      if (pairs.length > 0) {
        addedUs = Object.fromEntries(
          PERCENTILES.map((p) => [p, spread(pairs.map(([t, d]) => t.latencyUs[p] - d.latencyUs[p]))]),
        ) as Record<Percentile, Spread>
        rpsRatio = spread(pairs.map(([t, d]) => t.rps / d.rps))
        cpuRatio = spread(pairs.map(([t, d]) => t.cpuUsPerReq / d.cpuUsPerReq))
      }
    }
    return {
      target,
      rps: spread(mine.map((r) => r.rps)),
      cpuUsPerReq: spread(mine.map((r) => r.cpuUsPerReq)),
      latencyUs,
      addedUs,
      rpsRatio,
      cpuRatio,
      rssBytes: spread(mine.map((r) => r.rssBytes)),
      failures: mine.reduce((n, r) => n + r.failures, 0),
      samples: mine.reduce((n, r) => n + r.fixedSamples, 0),
      histogram: mine.length === 0 ? '' : mergeHistograms(mine.map((r) => r.histogram)),
    }
  })
  return { rounds: rounds.size, targets: summaries }
}

/** The merged histogram of a summary, decoded (caller destroys it), for percentile curves. */
export function decodeHistogram(encoded: string): hdr.Histogram {
  return hdr.decodeFromCompressedBase64(encoded)
}
