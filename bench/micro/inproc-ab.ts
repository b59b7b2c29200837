// The in-process interleaved A/B harness behind bench/micro/jwt-ab.ts and ratelimit-ab.ts.
//
// The `sluice bench` suite starts a fresh gateway per scenario, so on a shared 2-core box the drift
// between two scenarios' runs can exceed a plugin's cost. Here every variant runs as an in-process worker
// (the real ProxyServer on uWS, test/helpers/inproc.ts) in ONE host process, and the load generator
// alternates between them every few seconds, order rotated per round. Per turn: CPU µs/request of the
// host process at a fixed rate (idle variants cost ~nothing), then a short saturation run. Printed:
// per-round values and the medians of per-round ratios to the first variant.
//
// A script calls `inProcessAB(import.meta.url, variants, options)`; it runs as the driver, and again as
// the host (`--serve`), which the driver spawns.

import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { stopAll } from '../../src/bench/lifecycle.js'
import { spawnLoadgen, type FixedRateResult, type SaturationResult } from '../../src/bench/loadgen.js'
import { startBenchRedis } from '../../src/bench/redis.js'
import { scenarioConfigYaml, type Scenario } from '../../src/bench/scenarios.js'
import { parseConfigText } from '../../src/config/load.js'
import { startInProcess, type InProcessGateway } from '../../test/helpers/inproc.js'

const RATE = 3000

export interface Variant {
  readonly name: string
  /** The gateway config the variant serves. */
  readonly scenario: Scenario
  /** The request sent to it (default: the scenario's). */
  readonly request?: Scenario['request']
}

export interface AbOptions {
  /** Start a redis-server for the variants' configs (`{redisPort}`). */
  readonly redis?: boolean
  readonly defaultRounds?: number
}

/** A child process printing `READY <json>` once it serves. */
async function child(args: string[]): Promise<{ proc: ReturnType<typeof spawn>; ready: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const ready = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (line.startsWith('READY ')) resolve(line.slice(6))
    })
    proc.on('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)))
  })
  return { proc, ready }
}

export async function inProcessAB(scriptUrl: string, variants: readonly Variant[], options: AbOptions = {}): Promise<void> {
  if (process.argv[2] === '--serve') await serve(variants, process.argv[3], process.argv[4] === undefined ? undefined : Number(process.argv[4]))
  else await drive(new URL(scriptUrl).pathname, variants, options)
}

/** The gateway host: its own process, so the CPU reading of it is the workers' alone. */
async function serve(variants: readonly Variant[], endpoint: string, redisPort: number | undefined): Promise<void> {
  const gateways: InProcessGateway[] = []
  for (const v of variants) {
    gateways.push(await startInProcess(parseConfigText(scenarioConfigYaml(v.scenario, endpoint, {}, redisPort), `${v.name}.yaml`) as object))
  }
  process.stdout.write(`READY ${JSON.stringify(gateways.map((g) => g.url))}\n`)
  process.on('SIGTERM', () => {
    void Promise.all(gateways.map((g) => g.close())).then(() => process.exit(0))
  })
}

async function drive(script: string, variants: readonly Variant[], options: AbOptions): Promise<void> {
  const rounds = Number(process.argv[2] ?? options.defaultRounds ?? 5)
  const seconds = Number(process.argv[3] ?? 4)
  const redis = options.redis === true ? await startBenchRedis() : null
  const upstream = await child(['src/bench/upstream.ts', '--port', '0'])
  const hostArgs = [script, '--serve', `http://127.0.0.1:${upstream.ready.trim()}/json`]
  if (redis !== null) hostArgs.push(String(redis.port))
  const host = await child(hostArgs)
  const urls = JSON.parse(host.ready) as string[]
  const requestOf = (i: number) => variants[i].request ?? variants[i].scenario.request
  const results = variants.map(() => ({ cpu: [] as number[], rps: [] as number[] }))
  try {
    for (let i = 0; i < variants.length; i++) {
      // Warm-up: JIT, connection pools, plugin caches and leases.
      await spawnLoadgen({ mode: 'saturation', url: urls[i] + requestOf(i).path, durationSec: 2, connections: 32, request: requestOf(i) })
    }
    for (let round = 0; round < rounds; round++) {
      const line: string[] = []
      for (let k = 0; k < variants.length; k++) {
        const i = (k + round) % variants.length
        const request = requestOf(i)
        const url = urls[i] + request.path
        const fixed = (await spawnLoadgen({ mode: 'fixed', url, durationSec: seconds, connections: 16, rate: RATE, client: 'net', request, cpuPid: host.proc.pid })) as FixedRateResult
        const sat = (await spawnLoadgen({ mode: 'saturation', url, durationSec: seconds, connections: 64, request })) as SaturationResult
        const name = variants[i].name
        if (fixed.non2xx + fixed.errors + sat.non2xx + sat.errors > 0) throw new Error(`${name}: failed requests (${fixed.non2xx}/${fixed.errors}, ${sat.non2xx}/${sat.errors})`)
        results[i].cpu.push(fixed.targetCpuUsPerReq!)
        results[i].rps.push(sat.rps)
        line.push(`${name} ${fixed.targetCpuUsPerReq!.toFixed(1)} µs/req ${Math.round(sat.rps)} rps`)
      }
      console.log(`round ${round + 1}: ${line.join(' | ')}`)
    }
  } finally {
    host.proc.kill('SIGTERM')
    upstream.proc.kill('SIGTERM')
    await stopAll()
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
  const base = results[0]
  const first = variants[0].name
  console.log(`\n${rounds} rounds, ${seconds}s per turn, fixed ${RATE}/s then saturation (64 connections); node ${process.version}${redis !== null ? `, redis-server ${redis.version}` : ''}`)
  console.log(`| variant | CPU µs/req (median) | CPU ratio to ${first} (median of rounds) | rps (median) | rps ratio to ${first} (median of rounds) |`)
  console.log('|---|---:|---:|---:|---:|')
  results.forEach((r, i) => {
    const cpuRatio = median(r.cpu.map((c, j) => c / base.cpu[j]))
    const rpsRatio = median(r.rps.map((x, j) => x / base.rps[j]))
    console.log(`| ${variants[i].name} | ${median(r.cpu).toFixed(1)} | ${cpuRatio.toFixed(3)} | ${Math.round(median(r.rps))} | ${rpsRatio.toFixed(3)} |`)
  })
}
