// rate-limit vs routing, interleaved A/B in one process tree: `node --import tsx bench/micro/ratelimit-ab.ts [rounds] [seconds]`
//
// The `sluice bench` suite starts a fresh gateway per scenario, so on a shared 2-core box the drift
// between two scenarios' runs can exceed the plugin's cost (interleaving the scenarios helps, but each
// still runs at a different time). Here two in-process workers (the real ProxyServer on uWS,
// test/helpers/inproc.ts) serve at once from one process, and the load generator alternates between
// them every few seconds, order rotated per round:
//   routing      the routing scenario's config and request
//   rate-limit   the rate-limit scenario (global rate-limiting, policy redis, limit_by ip, never hit) on a
//                redis-server started here (its CPU is not the gateway's: it is its own process)
//   rl-hidden    the same with hide_client_headers: true: the plugin's decision without the five
//                response headers (what writing them, and the client parsing them, costs)
// Per turn: CPU µs/request of the worker process at a fixed rate, then a short saturation run.
// Printed: per-round values and the medians of per-round ratios to routing.

import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { stopAll } from '../../src/bench/lifecycle.js'
import { spawnLoadgen, type FixedRateResult, type SaturationResult } from '../../src/bench/loadgen.js'
import { startBenchRedis } from '../../src/bench/redis.js'
import { SCENARIOS, scenarioConfigYaml } from '../../src/bench/scenarios.js'
import { parseConfigText } from '../../src/config/load.js'
import { startInProcess, type InProcessGateway } from '../../test/helpers/inproc.js'

const RATE = 3000

const routing = SCENARIOS.find((s) => s.name === 'routing')!
const rateLimit = SCENARIOS.find((s) => s.name === 'rate-limit')!

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

const rlHidden: typeof routing = {
  ...rateLimit,
  name: 'rl-hidden',
  config: {
    ...rateLimit.config,
    plugins: rateLimit.config.plugins!.map((p) => ({ ...p, config: { ...(p.config as object), hide_client_headers: true } })),
  },
}

const VARIANTS = ['routing', 'rate-limit', 'rl-hidden'] as const
type VariantName = (typeof VARIANTS)[number]
const scenarioOf: Record<VariantName, typeof routing> = { routing, 'rate-limit': rateLimit, 'rl-hidden': rlHidden }

if (process.argv[2] === '--serve') {
  // The gateway host: its own process, so the load generator's CPU reading of its tree is the workers' alone.
  const endpoint = process.argv[3]
  const redisPort = Number(process.argv[4])
  const configOf = (s: typeof routing) => parseConfigText(scenarioConfigYaml(s, endpoint, {}, redisPort), `${s.name}.yaml`) as object
  const gateways: Record<VariantName, InProcessGateway> = {
    routing: await startInProcess(configOf(routing)),
    'rate-limit': await startInProcess(configOf(rateLimit)),
    'rl-hidden': await startInProcess(configOf(rlHidden)),
  }
  process.stdout.write(`READY ${JSON.stringify(Object.fromEntries(VARIANTS.map((v) => [v, gateways[v].url])))}\n`)
  process.on('SIGTERM', () => {
    void Promise.all(VARIANTS.map((v) => gateways[v].close())).then(() => process.exit(0))
  })
} else {
  await main()
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 6)
  const seconds = Number(process.argv[3] ?? 4)
  const redis = await startBenchRedis()
  const upstream = await child(['src/bench/upstream.ts', '--port', '0'])
  const host = await child([new URL(import.meta.url).pathname, '--serve', `http://127.0.0.1:${upstream.ready.trim()}/json`, String(redis.port)])
  const urls = JSON.parse(host.ready) as Record<VariantName, string>
  const results = new Map<VariantName, { cpu: number[]; rps: number[] }>(VARIANTS.map((v) => [v, { cpu: [], rps: [] }]))
  try {
    for (const v of VARIANTS) {
      // Warm-up: JIT, connection pools, the rate-limit lease grown to the request rate.
      const request = scenarioOf[v].request
      await spawnLoadgen({ mode: 'saturation', url: urls[v] + request.path, durationSec: 2, connections: 32, request })
    }
    for (let round = 0; round < rounds; round++) {
      const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length])
      const line: string[] = []
      for (const v of order) {
        const request = scenarioOf[v].request
        const url = urls[v] + request.path
        const fixed = (await spawnLoadgen({ mode: 'fixed', url, durationSec: seconds, connections: 16, rate: RATE, client: 'net', request, cpuPid: host.proc.pid })) as FixedRateResult
        const sat = (await spawnLoadgen({ mode: 'saturation', url, durationSec: seconds, connections: 64, request })) as SaturationResult
        if (fixed.non2xx + fixed.errors + sat.non2xx + sat.errors > 0) throw new Error(`${v}: failed requests (${fixed.non2xx}/${fixed.errors}, ${sat.non2xx}/${sat.errors})`)
        results.get(v)!.cpu.push(fixed.targetCpuUsPerReq!)
        results.get(v)!.rps.push(sat.rps)
        line.push(`${v} ${fixed.targetCpuUsPerReq!.toFixed(1)} µs/req ${Math.round(sat.rps)} rps`)
      }
      console.log(`round ${round + 1}: ${line.join(' | ')}`)
    }
  } finally {
    host.proc.kill('SIGTERM')
    upstream.proc.kill('SIGTERM')
    await stopAll()
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
  const base = results.get('routing')!
  console.log(`\n${rounds} rounds, ${seconds}s per turn, fixed ${RATE}/s then saturation (64 connections); node ${process.version}, redis-server ${redis.version}`)
  console.log('| variant | CPU µs/req (median) | CPU ratio to routing (median of rounds) | rps (median) | rps ratio to routing (median of rounds) |')
  console.log('|---|---:|---:|---:|---:|')
  for (const [name, r] of results) {
    const cpuRatio = median(r.cpu.map((c, i) => c / base.cpu[i]))
    const rpsRatio = median(r.rps.map((x, i) => x / base.rps[i]))
    console.log(`| ${name} | ${median(r.cpu).toFixed(1)} | ${cpuRatio.toFixed(3)} | ${Math.round(median(r.rps))} | ${rpsRatio.toFixed(3)} |`)
  }
}
