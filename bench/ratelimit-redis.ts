// Redis commands per second under the rate-limit scenario at very different request rates (issue 5):
// the limiter leases tokens and syncs every sync_rate seconds, so Redis work should follow the active
// keys (one here: one client IP) and the sync rate, and stay flat when the request rate grows 8x.
//
//   node --import tsx bench/ratelimit-redis.ts [--workers 1] [--duration 8] [--rates 500,4000,500,4000]
//
// Per rate: a fixed-rate run (the bench's own load generator, one client, 16 connections) through the
// gateway, with `INFO stats` and `INFO commandstats` read right before and after; commands/s is over
// the wall time between the readings. Commands run inside the limiter's script (by EVALSHA) are
// counted by Redis too, so EVALSHA/s (the round trips) is given beside. Prints a table and one JSON line.
import { parseArgs } from 'node:util'
import { defaultGatewayCmd } from '../src/bench/suite.js'
import { startGateway, startUpstreamProcess } from '../src/bench/e2e.js'
import type { Running } from '../src/bench/e2e.js'
import { spawnLoadgen } from '../src/bench/loadgen.js'
import type { FixedRateResult } from '../src/bench/loadgen.js'
import { commandCalls, commandsProcessed, startBenchRedis } from '../src/bench/redis.js'
import { scenarioConfigYaml, SCENARIOS, UPSTREAM_PATHS } from '../src/bench/scenarios.js'
import { stopAll, track } from '../src/bench/lifecycle.js'

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '1' },
    duration: { type: 'string', default: '8' },
    rates: { type: 'string', default: '500,4000,500,4000' },
    connections: { type: 'string', default: '16' },
  },
})
const workers = Number(values.workers)
const durationSec = Number(values.duration)
const rates = values.rates.split(',').map(Number)
const connections = Number(values.connections)

interface Row {
  rate: number
  achievedRps: number
  failures: number
  seconds: number
  commands: number
  commandsPerSec: number
  /** Client round trips of the limiter (its bucket script, by SHA): the commands above minus the script's inner calls. */
  evalshaPerSec: number
  /** Calls per command name over the run (INFO excluded). */
  calls: Record<string, number>
}

async function main(): Promise<void> {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stopAll().then(() => process.exit(130)))
  const scenario = SCENARIOS.find((s) => s.name === 'rate-limit')
  if (scenario === undefined) throw new Error('no rate-limit scenario')
  const upstream = track(await startUpstreamProcess())
  const redis = await startBenchRedis()
  const endpoint = `http://127.0.0.1:${upstream.port}${UPSTREAM_PATHS[scenario.upstream]}`
  const gateway: Running = track(
    await startGateway(defaultGatewayCmd(), upstream.port, {
      configText: scenarioConfigYaml(scenario, endpoint, {}, redis.port),
      workers,
      checkPath: scenario.request.path,
    }),
  )
  const url = `http://127.0.0.1:${gateway.port}${scenario.request.path}`
  const request = { method: scenario.request.method, headers: scenario.request.headers }
  process.stderr.write(`redis-server ${redis.version} on :${redis.port}, gateway ${workers} worker(s) on :${gateway.port}\n`)
  // Warm-up: JIT, connections, every worker holding a lease of the key.
  await spawnLoadgen({ mode: 'fixed', url, durationSec: 2, connections, rate: 1000, client: 'net', request })
  const rows: Row[] = []
  for (const rate of rates) {
    const calls0 = await commandCalls(redis.port)
    const total0 = await commandsProcessed(redis.port)
    const t0 = performance.now()
    const r = (await spawnLoadgen({ mode: 'fixed', url, durationSec, connections, rate, client: 'net', request })) as FixedRateResult
    const seconds = (performance.now() - t0) / 1000
    const total1 = await commandsProcessed(redis.port)
    const calls1 = await commandCalls(redis.port)
    // A command is counted once it has run: total1 - total0 holds our INFO stats that read total0;
    // calls1 - calls0 holds the three INFOs between the two commandstats readings (not the last one).
    const commands = total1 - total0 - 1
    const calls: Record<string, number> = {}
    for (const [name, n] of Object.entries(calls1)) {
      const d = n - (calls0[name] ?? 0) - (name === 'info' ? 3 : 0)
      if (d > 0) calls[name] = d
    }
    rows.push({
      rate,
      achievedRps: Math.round(r.ok / r.windowSec),
      failures: r.errors + r.timeouts + r.non2xx,
      seconds: Math.round(seconds * 100) / 100,
      commands,
      commandsPerSec: Math.round((commands / seconds) * 10) / 10,
      evalshaPerSec: Math.round(((calls.evalsha ?? 0) / seconds) * 100) / 100,
      calls,
    })
    const row = rows[rows.length - 1]
    process.stderr.write(
      `redis commands/s at ${rate} req/s: ${row.commandsPerSec}, evalsha/s ${row.evalshaPerSec} (${row.achievedRps} req/s served, ${row.failures} failures, ` +
        `${commands} commands in ${row.seconds} s: ${JSON.stringify(calls)})\n`,
    )
  }
  await stopAll()
  const lines = ['| req/s asked | req/s served | failures | seconds | Redis commands | commands/s | EVALSHA/s | by command |', '|---:|---:|---:|---:|---:|---:|---:|---|']
  for (const r of rows) {
    const by = Object.entries(r.calls).map(([k, v]) => `${k} ${v}`).join(', ')
    lines.push(`| ${r.rate} | ${r.achievedRps} | ${r.failures} | ${r.seconds} | ${r.commands} | ${r.commandsPerSec} | ${r.evalshaPerSec} | ${by} |`)
  }
  process.stdout.write(`${lines.join('\n')}\n`)
  process.stdout.write(`${JSON.stringify({ workers, durationSec, connections, redis: redis.version, rows })}\n`)
}

main().catch(async (err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  await stopAll()
  process.exit(1)
})
