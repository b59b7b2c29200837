// End-to-end overhead benchmark: direct upstream vs Sluice vs nginx, alternated A/B/C per round in
// one process tree, reported as medians and per-round ratios (absolute numbers swing ±30% on a
// 2-core box; ratios taken within a round are what carry over between runs).
//
//   node --import tsx bench/e2e.ts   (a wrapper of this module) [--gateway-cmd "..."] [--targets direct,gateway,nginx]
//        [--rate 3000] [--duration 10] [--rounds 3] [--out bench/results/e2e.json]
//        [--warmup 2] [--connections 16] [--sat-connections 64] [--path /json] [--client net|undici]
//
// --gateway-cmd is a shell command with placeholders {config} {proxyPort} {adminPort} {upstreamPort};
// the gateway is ready when GET http://127.0.0.1:{adminPort}/status answers 200.
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs'
import { availableParallelism, release, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { treeRss } from './cpu.js'
import { nodeArgsFor, spawnLoadgen } from './loadgen.js'
import type { ClientKind, FixedRateResult, SaturationResult } from './loadgen.js'
import { freePort, nginxVersion, requireNginx, startNginx, waitForHttp } from './nginx.js'
import { interruptSignal, stopAll, track as remember, untrack } from './lifecycle.js'

export { stopAll }

export type TargetName = 'direct' | 'gateway' | 'nginx'

export const DEFAULT_GATEWAY_CMD =
  'node dist/cli.js start --config {config} --workers 1 --proxy-port {proxyPort} --admin-port {adminPort}'

/** The same start through tsx, for a tree without `npm run build` (only start-up is slower). */
export const TSX_GATEWAY_CMD =
  'node --import tsx src/cli.ts start --config {config} --workers 1 --proxy-port {proxyPort} --admin-port {adminPort}'

/** src/bench/ or dist/bench/: the repository (or installed package) is two levels up. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const HERE = dirname(fileURLToPath(import.meta.url))
const EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.js'

export interface E2eOptions {
  readonly targets: readonly TargetName[]
  readonly gatewayCmd: string
  readonly rate: number
  readonly durationSec: number
  readonly warmupSec: number
  readonly rounds: number
  readonly connections: number
  readonly satConnections: number
  readonly path: string
  readonly client: ClientKind
  /** Progress lines (stderr by default). */
  readonly log?: (line: string) => void
}

export interface MachineInfo {
  readonly cpuModel: string
  readonly nproc: number
  readonly node: string
  readonly nginx: string | null
  readonly kernel: string
  readonly gitCommit: string | null
  readonly date: string
}

export interface TargetRun {
  readonly round: number
  readonly target: TargetName
  readonly saturation: SaturationResult
  readonly fixed: FixedRateResult
  /** CPU µs per request of the target's process tree at the fixed rate. */
  readonly cpuUsPerReq: number
  /** Latency from the schedule (coordinated-omission corrected), µs. */
  readonly p50: number
  readonly p99: number
  /** This round's target minus this round's direct, µs (null for direct or when direct was not run). */
  addedP50: number | null
  addedP99: number | null
  /** The same on service time (from the actual write), less timer jitter in it. */
  addedServiceP50: number | null
  addedServiceP99: number | null
  readonly rssBytes: number
  readonly rssByProcess: { pid: number; comm: string; rssBytes: number }[]
  /** Errors + timeouts + non-2xx over both runs: anything but 0 makes the round suspect. */
  readonly failures: number
}

export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
}

export interface TargetSummary {
  readonly target: TargetName
  readonly rps: Spread
  readonly cpuUsPerReq: Spread
  readonly p50: Spread
  readonly p99: Spread
  readonly addedP50: Spread | null
  readonly addedP99: Spread | null
  readonly addedServiceP50: Spread | null
  readonly addedServiceP99: Spread | null
  readonly rssBytes: Spread
  readonly failures: number
}

/** Gateway against nginx, from per-round ratios and differences. */
export interface VersusNginx {
  /** gateway rps / nginx rps, same round. Goal: >= 1. */
  readonly rpsRatio: Spread
  /** gateway CPU/req / nginx CPU/req, same round. Goal: <= 1.2. */
  readonly cpuRatio: Spread
  /** gateway added latency minus nginx added latency, µs. Goal: <= 0. */
  readonly addedP50Diff: Spread
  readonly addedP99Diff: Spread
}

export interface E2eReport {
  readonly machine: MachineInfo
  readonly options: Omit<E2eOptions, 'log'>
  readonly nginxConfig: string | null
  readonly runs: TargetRun[]
  readonly summary: TargetSummary[]
  readonly gatewayVsNginx: VersusNginx | null
}

// ---------------------------------------------------------------------------------------------

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN }
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  const median = s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
  return { median, min: s[0], max: s[s.length - 1] }
}

export function machineInfo(): MachineInfo {
  let cpuModel = 'unknown'
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))
    if (m !== null) cpuModel = m[1].trim()
  } catch {
    // not Linux
  }
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' })
  return {
    cpuModel,
    nproc: availableParallelism(),
    node: process.version,
    nginx: nginxVersion(),
    kernel: release(),
    gitCommit: git.status === 0 ? git.stdout.trim() : null,
    date: new Date().toISOString(),
  }
}

export interface Running {
  readonly port: number
  /** Root of the process tree whose CPU is charged to this target. */
  readonly pid: number
  stop(): Promise<void>
}


function stopChild(child: ChildProcess, group: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolveStop) => {
    const kill = (signal: NodeJS.Signals): void => {
      try {
        if (group && child.pid !== undefined) process.kill(-child.pid, signal)
        else child.kill(signal)
      } catch {
        // already gone
      }
    }
    const timer = setTimeout(() => kill('SIGKILL'), 5000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolveStop()
    })
    kill('SIGTERM')
  })
}

/** Starts upstream.ts (its sibling module) as its own process and waits for `READY <port>`. */
export function startUpstreamProcess(): Promise<Running> {
  const child = spawn(process.execPath, [...nodeArgsFor(join(HERE, `upstream${EXT}`)), '--port', '0'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return new Promise((resolveStart, reject) => {
    let out = ''
    let err = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`upstream did not print READY within 15 s: ${err.trim()}`))
    }, 15_000)
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d
      const m = /READY (\d+)/.exec(out)
      if (m === null) return
      clearTimeout(timer)
      child.stdout.removeAllListeners('data')
      child.stdout.resume()
      resolveStart({ port: Number(m[1]), pid: child.pid as number, stop: () => stopChild(child, false) })
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`upstream exited with ${code}: ${err.trim()}`))
    })
  })
}

export function gatewayConfigYaml(upstreamPort: number): string {
  return `_format_version: "3.0"
settings: { access_log: "off" }
services:
  - name: bench
    url: http://127.0.0.1:${upstreamPort}
    routes: [{ name: bench, paths: ["/"] }]
`
}

async function waitForStatus200(url: string, timeoutMs: number, isAlive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer'
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error(`gateway exited before ${url} answered (${last})`)
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) })
      await res.arrayBuffer()
      if (res.status === 200) return
      last = `status ${res.status}`
    } catch (err) {
      last = (err as Error).message
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (${last})`)
}

export interface GatewayStartOptions {
  /** The declarative config to run (default: gatewayConfigYaml, `/` to the upstream). */
  readonly configText?: string
  /** Fills the `{workers}` placeholder (default 1). */
  readonly workers?: number
  /** A path the proxy port must answer on before the gateway counts as up (default /json). */
  readonly checkPath?: string
}

/** Starts the gateway by command in its own process group; its whole tree is charged to it. */
export async function startGateway(
  cmdTemplate: string,
  upstreamPort: number,
  opts: GatewayStartOptions = {},
): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-gateway-'))
  const config = join(dir, 'sluice.yaml')
  writeFileSync(config, opts.configText ?? gatewayConfigYaml(upstreamPort))
  const proxyPort = await freePort()
  const adminPort = await freePort()
  const cmd = cmdTemplate
    .replaceAll('{config}', config)
    .replaceAll('{workers}', String(opts.workers ?? 1))
    .replaceAll('{proxyPort}', String(proxyPort))
    .replaceAll('{adminPort}', String(adminPort))
    .replaceAll('{upstreamPort}', String(upstreamPort))
  const logPath = join(dir, 'gateway.log')
  const logFd = openSync(logPath, 'w')
  // `exec` so the shell is replaced and the pid we hold is the gateway's own.
  const child = spawn('sh', ['-c', `exec ${cmd}`], { cwd: REPO_ROOT, stdio: ['ignore', logFd, logFd], detached: true })
  closeSync(logFd)
  let exited = false
  child.on('exit', () => (exited = true))
  const cleanup = async (): Promise<void> => {
    await stopChild(child, true)
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitForStatus200(`http://127.0.0.1:${adminPort}/status`, 30_000, () => !exited)
    await waitForHttp(proxyPort, 10_000, opts.checkPath ?? '/json', () => !exited)
  } catch (err) {
    let tail = ''
    try {
      tail = readFileSync(logPath, 'utf8').split('\n').slice(-20).join('\n')
    } catch {
      // no log
    }
    await cleanup()
    throw new Error(`SLUICE_BENCH_GATEWAY_START_FAILED: ${(err as Error).message}\ncommand: ${cmd}\nlog tail:\n${tail}`)
  }
  return { port: proxyPort, pid: child.pid as number, stop: cleanup }
}

async function checkAnswers(port: number, path: string, target: TargetName): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`)
  const body = await res.text()
  if (res.status !== 200) throw new Error(`${target} answered ${res.status} on ${path}: ${body.slice(0, 200)}`)
}

// ---------------------------------------------------------------------------------------------

export async function runE2e(opts: E2eOptions): Promise<E2eReport> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'))
  if (opts.targets.includes('nginx')) requireNginx()
  const machine = machineInfo()
  const started: Running[] = []
  const signal = interruptSignal()
  const track = (r: Running): void => {
    started.push(r)
    remember(r)
  }
  const runs: TargetRun[] = []
  let nginxConfigText: string | null = null
  try {
    const upstream = await startUpstreamProcess()
    track(upstream)
    log(`upstream on :${upstream.port} (pid ${upstream.pid})`)
    const running = new Map<TargetName, Running>()
    for (const target of opts.targets) {
      if (target === 'direct') running.set('direct', upstream)
      else if (target === 'nginx') {
        const n = await startNginx({ upstreamPort: upstream.port })
        nginxConfigText = readFileSync(join(n.dir, 'nginx.conf'), 'utf8')
        const r = { port: n.port, pid: n.pid, stop: () => n.stop() }
        track(r)
        running.set('nginx', r)
        log(`nginx on :${n.port} (pid ${n.pid})`)
      } else {
        const g = await startGateway(opts.gatewayCmd, upstream.port)
        track(g)
        running.set('gateway', g)
        log(`gateway on :${g.port} (pid ${g.pid})`)
      }
    }
    for (const [name, r] of running) await checkAnswers(r.port, opts.path, name)

    for (let round = 1; round <= opts.rounds; round++) {
      const roundRuns: TargetRun[] = []
      for (const target of opts.targets) {
        const r = running.get(target) as Running
        const url = `http://127.0.0.1:${r.port}${opts.path}`
        log(`round ${round}/${opts.rounds} ${target}: warm-up ${opts.warmupSec}s`)
        await spawnLoadgen({ mode: 'saturation', url, durationSec: opts.warmupSec, connections: opts.satConnections, signal })
        log(`round ${round}/${opts.rounds} ${target}: saturation ${opts.durationSec}s x ${opts.satConnections} conns`)
        const saturation = (await spawnLoadgen({
          mode: 'saturation',
          url,
          durationSec: opts.durationSec,
          connections: opts.satConnections,
          cpuPid: r.pid,
          signal,
        })) as SaturationResult
        log(`round ${round}/${opts.rounds} ${target}: fixed ${opts.rate}/s for ${opts.durationSec}s`)
        const fixed = (await spawnLoadgen({
          mode: 'fixed',
          url,
          durationSec: opts.durationSec,
          connections: opts.connections,
          rate: opts.rate,
          client: opts.client,
          cpuPid: r.pid,
          signal,
        })) as FixedRateResult
        const rss = treeRss(r.pid)
        const run: TargetRun = {
          round,
          target,
          saturation,
          fixed,
          cpuUsPerReq: round1(fixed.targetCpuUsPerReq ?? NaN),
          p50: fixed.latencyUs.p50,
          p99: fixed.latencyUs.p99,
          addedP50: null,
          addedP99: null,
          addedServiceP50: null,
          addedServiceP99: null,
          rssBytes: rss.totalBytes,
          rssByProcess: rss.processes,
          failures:
            saturation.errors + saturation.timeouts + saturation.non2xx + fixed.errors + fixed.timeouts + fixed.non2xx,
        }
        roundRuns.push(run)
        runs.push(run)
        log(
          `  rps ${saturation.rps}  cpu ${run.cpuUsPerReq} µs/req  p50 ${run.p50} µs  p99 ${run.p99} µs` +
            (run.failures > 0 ? `  FAILURES ${run.failures}` : ''),
        )
      }
      addLatencyOverDirect(roundRuns)
    }
  } finally {
    for (const r of started.reverse()) {
      untrack(r)
      await r.stop().catch(() => undefined)
    }
  }
  const { log: _log, ...options } = opts
  return { machine, options, nginxConfig: nginxConfigText, runs, ...summarizeRuns(opts.targets, runs) }
}

/** Per-target medians over rounds, and the gateway against nginx from per-round ratios. */
export function summarizeRuns(
  targets: readonly TargetName[],
  runs: TargetRun[],
): { summary: TargetSummary[]; gatewayVsNginx: VersusNginx | null } {
  return {
    summary: targets.map((t) => summarizeTarget(t, runs.filter((r) => r.target === t))),
    gatewayVsNginx: versusNginx(runs),
  }
}

/** Fills the added-latency fields from the round's direct run, whatever order the targets ran in. */
export function addLatencyOverDirect(roundRuns: TargetRun[]): void {
  const direct = roundRuns.find((r) => r.target === 'direct')
  if (direct === undefined) return
  for (const r of roundRuns) {
    if (r === direct) continue
    r.addedP50 = r.fixed.latencyUs.p50 - direct.fixed.latencyUs.p50
    r.addedP99 = r.fixed.latencyUs.p99 - direct.fixed.latencyUs.p99
    r.addedServiceP50 = r.fixed.serviceUs.p50 - direct.fixed.serviceUs.p50
    r.addedServiceP99 = r.fixed.serviceUs.p99 - direct.fixed.serviceUs.p99
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10
}

function nonNull(values: (number | null)[]): number[] {
  return values.filter((v): v is number => v !== null)
}

function summarizeTarget(target: TargetName, runs: TargetRun[]): TargetSummary {
  const added = (pick: (r: TargetRun) => number | null): Spread | null => {
    const v = nonNull(runs.map(pick))
    return v.length === 0 ? null : spread(v)
  }
  return {
    target,
    rps: spread(runs.map((r) => r.saturation.rps)),
    cpuUsPerReq: spread(runs.map((r) => r.cpuUsPerReq)),
    p50: spread(runs.map((r) => r.p50)),
    p99: spread(runs.map((r) => r.p99)),
    addedP50: added((r) => r.addedP50),
    addedP99: added((r) => r.addedP99),
    addedServiceP50: added((r) => r.addedServiceP50),
    addedServiceP99: added((r) => r.addedServiceP99),
    rssBytes: spread(runs.map((r) => r.rssBytes)),
    failures: runs.reduce((n, r) => n + r.failures, 0),
  }
}

function versusNginx(runs: TargetRun[]): VersusNginx | null {
  const rps: number[] = []
  const cpu: number[] = []
  const d50: number[] = []
  const d99: number[] = []
  const rounds = new Set(runs.map((r) => r.round))
  for (const round of rounds) {
    const g = runs.find((r) => r.round === round && r.target === 'gateway')
    const n = runs.find((r) => r.round === round && r.target === 'nginx')
    if (g === undefined || n === undefined) continue
    rps.push(g.saturation.rps / n.saturation.rps)
    cpu.push(g.cpuUsPerReq / n.cpuUsPerReq)
    if (g.addedP50 !== null && n.addedP50 !== null) d50.push(g.addedP50 - n.addedP50)
    if (g.addedP99 !== null && n.addedP99 !== null) d99.push(g.addedP99 - n.addedP99)
  }
  if (rps.length === 0) return null
  return { rpsRatio: spread(rps), cpuRatio: spread(cpu), addedP50Diff: spread(d50), addedP99Diff: spread(d99) }
}

// ---------------------------------------------------------------------------------------------

function fmt(s: Spread | null, digits = 0): string {
  if (s === null || Number.isNaN(s.median)) return '–'
  const f = (n: number): string => n.toFixed(digits)
  return s.min === s.max ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`
}

function mib(s: Spread): Spread {
  return { median: s.median / 1048576, min: s.min / 1048576, max: s.max / 1048576 }
}

/** The report as Markdown: machine, per-target medians (min–max over rounds), gateway vs nginx. */
export function renderMarkdown(report: E2eReport): string {
  const m = report.machine
  const o = report.options
  const lines: string[] = []
  lines.push(`## Sluice end-to-end overhead (${m.date})`)
  lines.push('')
  lines.push(
    `Machine: ${m.cpuModel}, ${m.nproc} cores, kernel ${m.kernel}, Node ${m.node}, ${m.nginx ?? 'nginx not installed'}` +
      (m.gitCommit !== null ? `, commit ${m.gitCommit}` : ''),
  )
  lines.push(
    `Runs: ${o.rounds} rounds of ${o.targets.join(' / ')}; per target: ${o.warmupSec}s warm-up, ` +
      `${o.durationSec}s saturation (autocannon, ${o.satConnections} conns), ` +
      `${o.durationSec}s at ${o.rate} req/s (open loop, ${o.connections} conns, ${o.client} client), path ${o.path}.`,
  )
  lines.push('Values: median (min–max) over rounds; added latency = target minus direct in the same round.')
  lines.push('')
  lines.push(
    '| target | rps at saturation | CPU µs/req at fixed rate | p50 µs | p99 µs | added p50 µs | added p99 µs | RSS MiB | failures |',
  )
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const s of report.summary) {
    lines.push(
      `| ${s.target} | ${fmt(s.rps)} | ${fmt(s.cpuUsPerReq, 1)} | ${fmt(s.p50)} | ${fmt(s.p99)} | ` +
        `${fmt(s.addedP50)} | ${fmt(s.addedP99)} | ${fmt(mib(s.rssBytes), 1)} | ${s.failures} |`,
    )
  }
  const service = report.summary.filter((s) => s.addedServiceP50 !== null)
  if (service.length > 0) {
    lines.push('')
    lines.push(
      'Added latency on service time (from the socket write, without the load generator\'s timer jitter): ' +
        service.map((s) => `${s.target} p50 ${fmt(s.addedServiceP50)} µs, p99 ${fmt(s.addedServiceP99)} µs`).join('; ') +
        '.',
    )
  }
  const v = report.gatewayVsNginx
  if (v !== null) {
    const verdict = (ok: boolean): string => (ok ? 'meets' : 'MISSES')
    lines.push('')
    lines.push('| gateway vs nginx (per round) | median (min–max) | goal | |')
    lines.push('|---|---:|---|---|')
    lines.push(`| throughput ratio | ${fmt(v.rpsRatio, 2)} | >= 1.00 | ${verdict(v.rpsRatio.median >= 1)} |`)
    lines.push(`| CPU/req ratio | ${fmt(v.cpuRatio, 2)} | <= 1.20 | ${verdict(v.cpuRatio.median <= 1.2)} |`)
    lines.push(`| added p50 minus nginx's, µs | ${fmt(v.addedP50Diff)} | <= 0 | ${verdict(v.addedP50Diff.median <= 0)} |`)
    lines.push(`| added p99 minus nginx's, µs | ${fmt(v.addedP99Diff)} | <= 0 | ${verdict(v.addedP99Diff.median <= 0)} |`)
  }
  return lines.join('\n') + '\n'
}

// ---------------------------------------------------------------------------------------------

function flag(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1] : undefined
}

function num(argv: readonly string[], name: string, fallback: number): number {
  const raw = flag(argv, name)
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`bad ${name}: ${raw}`)
  return n
}

function defaultGatewayCmd(): string {
  if (existsSync(join(REPO_ROOT, 'dist', 'cli.js')) || !existsSync(join(REPO_ROOT, 'src', 'cli.ts'))) {
    return DEFAULT_GATEWAY_CMD
  }
  process.stderr.write('dist/cli.js not built: starting the gateway through tsx (src/cli.ts)\n')
  return TSX_GATEWAY_CMD
}

export function parseArgs(argv: readonly string[]): E2eOptions & { out: string } {
  const targets = (flag(argv, '--targets') ?? 'direct,gateway,nginx').split(',').map((t) => t.trim())
  for (const t of targets) {
    if (t !== 'direct' && t !== 'gateway' && t !== 'nginx') throw new Error(`unknown target ${t} (direct, gateway, nginx)`)
  }
  const client = flag(argv, '--client') ?? 'net'
  if (client !== 'net' && client !== 'undici') throw new Error(`bad --client: ${client}`)
  return {
    targets: targets as TargetName[],
    gatewayCmd: flag(argv, '--gateway-cmd') ?? defaultGatewayCmd(),
    rate: num(argv, '--rate', 3000),
    durationSec: num(argv, '--duration', 10),
    warmupSec: num(argv, '--warmup', 2),
    rounds: num(argv, '--rounds', 3),
    connections: num(argv, '--connections', 16),
    satConnections: num(argv, '--sat-connections', 64),
    path: flag(argv, '--path') ?? '/json',
    client,
    out: flag(argv, '--out') ?? join('bench', 'results', 'e2e.json'),
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) e2eMain()

/** `bench/e2e.ts` as a command: parses argv, runs, writes the JSON, prints Markdown, exits. */
export function e2eMain(): void {
  // The gateway runs in its own process group (so its workers can be stopped together), which also
  // keeps it out of reach of the terminal's Ctrl-C: stop it here.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`${signal}: stopping the upstream, gateway and nginx\n`)
      void stopAll().then(() => process.exit(130))
    })
  }
  const main = async (): Promise<void> => {
    const { out, ...opts } = parseArgs(process.argv.slice(2))
    const report = await runE2e(opts)
    mkdirSync(dirname(resolve(out)), { recursive: true })
    writeFileSync(out, JSON.stringify(report, null, 2) + '\n')
    process.stdout.write(renderMarkdown(report))
    process.stderr.write(`wrote ${out}\n`)
  }
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
      process.exit(1)
    },
  )
}
