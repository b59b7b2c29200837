// Alternating comparison of the floors: nginx, bare-forwarder (uWS + undici), raw-forwarder (uWS + a
// minimal net.Socket client) and the direct upstream. Per round, per target in turn: a saturation run
// (autocannon), then a fixed-rate run with the target's user and system CPU read separately from
// /proc/<pid>/stat (fields 14 and 15, summed over its process tree).
//   node --import tsx bench/baseline/compare.ts [--rounds 3] [--duration 8] [--sat-duration 5]
//        [--rate 3000] [--targets nginx,bare,raw,direct] [--out bench/results/baseline.json]
// Targets: nginx, direct, and any FORWARDERS key below (variants of the two forwarders).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { clockTicksPerSecond, processTree } from '../cpu.js'
import { spawnLoadgen, type FixedRateResult, type LoadgenProcessOptions, type LoadgenResult, type SaturationResult } from '../loadgen.js'
import { freePort, startNginx, waitForHttp } from '../nginx.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..', '..')

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : fallback
}
const rounds = Number(flag('--rounds', '3'))
const durationSec = Number(flag('--duration', '8'))
const satSec = Number(flag('--sat-duration', '5'))
const rate = Number(flag('--rate', '3000'))
const targets = flag('--targets', 'nginx,bare,raw,direct').split(',')
const out = flag('--out', join(ROOT, 'bench', 'results', 'baseline.json'))

/** utime and stime of a process tree, in seconds. */
function userSys(pid: number): { user: number; sys: number } {
  let user = 0
  let sys = 0
  for (const p of processTree(pid)) {
    let text: string
    try {
      text = readFileSync(`/proc/${p.pid}/stat`, 'latin1')
    } catch {
      continue
    }
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
    user += Number(rest[11])
    sys += Number(rest[12])
  }
  const hz = clockTicksPerSecond()
  return { user: user / hz, sys: sys / hz }
}

function startNode(script: string, args: string[]): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let text = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      text += d
      const m = /READY (\d+)/.exec(text)
      if (m !== null) resolve({ child, port: Number(m[1]) })
    })
    child.on('exit', (code) => reject(new Error(`${script} exited with ${code}`)))
  })
}

/** Forwarder targets: script under bench/baseline and extra arguments. */
const FORWARDERS: Record<string, { script: string; args: string[] }> = {
  bare: { script: 'bare-forwarder.ts', args: [] },
  raw: { script: 'raw-forwarder.ts', args: [] },
  'raw-handle': { script: 'raw-forwarder.ts', args: ['--write', 'handle'] },
  // The same uWS handler over Sluice's H1Pool and over undici: the two rows isolate the client.
  h1: { script: 'h1-forwarder.ts', args: [] },
  'h1-undici': { script: 'h1-forwarder.ts', args: ['--client', 'undici'] },
}

/** One retry: a load generator that dies (e.g. a module edited mid-run in the shared tree) costs a run, not the whole comparison. */
async function loadgen(opts: LoadgenProcessOptions): Promise<LoadgenResult> {
  try {
    return await spawnLoadgen(opts)
  } catch (err) {
    process.stderr.write(`loadgen failed, retrying once: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`)
    await new Promise((r) => setTimeout(r, 2000))
    return spawnLoadgen(opts)
  }
}

interface Row {
  round: number
  target: string
  load1: number
  rps: number
  satErrors: number
  userUs: number
  sysUs: number
  outerTotalUs: number
  windowTotalUs: number
  p50Us: number
  p99Us: number
  serviceP50Us: number
  sent: number
  ok: number
  errors: number
  loadgenCpuUsPerReq: number
}

async function main(): Promise<void> {
  const up = await startNode('bench/upstream.ts', ['--port', '0'])
  const procs: Record<string, { pid: number; port: number; stop: () => void }> = {
    direct: { pid: up.child.pid!, port: up.port, stop: () => up.child.kill() },
  }
  const upstreamAddr = `127.0.0.1:${up.port}`
  try {
    if (targets.includes('nginx')) {
      const ng = await startNginx({ upstreamPort: up.port })
      procs.nginx = { pid: ng.pid, port: ng.port, stop: () => void ng.stop() }
    }
    for (const name of targets) {
      const spec = FORWARDERS[name]
      if (spec === undefined) continue
      const p = await freePort()
      const fw = await startNode(`bench/baseline/${spec.script}`, ['--port', String(p), '--upstream', upstreamAddr, ...spec.args])
      await waitForHttp(fw.port, 10_000, '/json')
      procs[name] = { pid: fw.child.pid!, port: fw.port, stop: () => fw.child.kill() }
    }
    const rows: Row[] = []
    for (let round = 1; round <= rounds; round++) {
      for (const target of targets) {
        const t = procs[target]
        const url = `http://127.0.0.1:${t.port}/json`
        const load1 = Number(readFileSync('/proc/loadavg', 'latin1').split(' ')[0])
        const sat = (await loadgen({ mode: 'saturation', url, durationSec: satSec, connections: 64 })) as SaturationResult
        const before = userSys(t.pid)
        const fixed = (await loadgen({
          mode: 'fixed',
          url,
          durationSec,
          rate,
          connections: 16,
          cpuPid: t.pid,
        })) as FixedRateResult
        const after = userSys(t.pid)
        const n = fixed.sent
        const row: Row = {
          round,
          target,
          load1,
          rps: sat.rps,
          satErrors: sat.errors + sat.non2xx,
          userUs: ((after.user - before.user) * 1e6) / n,
          sysUs: ((after.sys - before.sys) * 1e6) / n,
          outerTotalUs: ((after.user - before.user + after.sys - before.sys) * 1e6) / n,
          windowTotalUs: fixed.targetCpuUsPerReq ?? NaN,
          p50Us: fixed.latencyUs.p50,
          p99Us: fixed.latencyUs.p99,
          serviceP50Us: fixed.serviceUs.p50,
          sent: n,
          ok: fixed.ok,
          errors: fixed.errors + fixed.non2xx + fixed.timeouts,
          loadgenCpuUsPerReq: fixed.loadgenCpuUsPerReq,
        }
        rows.push(row)
        mkdirSync(dirname(out), { recursive: true })
        writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), rate, durationSec, satSec, rows }, null, 2))
        process.stderr.write(
          `r${round} ${target.padEnd(6)} load ${load1.toFixed(2)} user ${row.userUs.toFixed(1)} sys ${row.sysUs.toFixed(1)} ` +
            `total ${row.outerTotalUs.toFixed(1)} (window ${row.windowTotalUs.toFixed(1)}) rps ${row.rps} ` +
            `p50 ${row.p50Us} p99 ${row.p99Us} ok ${row.ok}/${n} err ${row.errors}+${row.satErrors}\n`,
        )
      }
    }
    const range = (xs: number[], digits: number): string => {
      const lo = Math.min(...xs)
      const hi = Math.max(...xs)
      return lo.toFixed(digits) === hi.toFixed(digits) ? lo.toFixed(digits) : `${lo.toFixed(digits)}–${hi.toFixed(digits)}`
    }
    const hasNginx = targets.includes('nginx')
    const lines = [
      '| target | user µs/req | sys µs/req | total µs/req | total / nginx (per round) | saturation rps | p50 µs | p99 µs |',
      '|---|---|---|---|---|---|---|---|',
    ]
    for (const target of targets) {
      const rs = rows.filter((r) => r.target === target)
      const ratios = rs.map((r) => {
        const n = rows.find((x) => x.round === r.round && x.target === 'nginx')
        return n === undefined ? NaN : r.outerTotalUs / n.outerTotalUs
      })
      lines.push(
        `| ${target} | ${range(rs.map((r) => r.userUs), 1)} | ${range(rs.map((r) => r.sysUs), 1)} | ` +
          `${range(rs.map((r) => r.outerTotalUs), 1)} | ${hasNginx ? range(ratios, 2) : '–'} | ` +
          `${range(rs.map((r) => r.rps), 0)} | ${range(rs.map((r) => r.p50Us), 0)} | ${range(rs.map((r) => r.p99Us), 0)} |`,
      )
    }
    process.stdout.write(lines.join('\n') + '\n')
  } finally {
    for (const p of Object.values(procs)) p.stop()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exitCode = 1
})
