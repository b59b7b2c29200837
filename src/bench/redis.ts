// A throwaway redis-server for the scenarios that need one (rate-limit, and full when it includes it):
// no persistence, loopback only, a free port, killed with the rest of the run (lifecycle.ts). And the
// one question the bench asks it: how many commands has it processed (INFO), to show that the
// limiter's Redis work follows active keys and the sync rate, not the request rate.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { connect } from 'node:net'
import { freePort } from './nginx.js'
import { track, untrack } from './lifecycle.js'
import type { Running } from './e2e.js'

const REDIS_SERVER = process.env.SLUICE_REDIS_SERVER ?? 'redis-server'
const START_TIMEOUT_MS = 10_000

export class RedisNotFoundError extends Error {
  readonly code = 'SLUICE_BENCH_REDIS_NOT_FOUND'
}

export interface BenchRedis extends Running {
  /** `redis-server --version`'s `v=` field, for the report. */
  readonly version: string
}

/** The installed redis-server's version, or null when there is none. */
export function redisServerVersion(): string | null {
  const probe = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined || probe.status !== 0) return null
  return /v=(\S+)/.exec(probe.stdout)?.[1] ?? probe.stdout.trim()
}

/**
 * Sends one inline command on a fresh connection and resolves with the reply's payload (a simple
 * string's text, or a bulk string's body). Enough for PING and INFO; not a client.
 */
export function redisCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port })
    let reply = ''
    const fail = (err: Error): void => {
      clearTimeout(timer)
      socket.destroy()
      reject(err)
    }
    const timer = setTimeout(() => fail(new Error(`no reply to '${command}' from 127.0.0.1:${port} in ${timeoutMs} ms`)), timeoutMs)
    socket.setEncoding('utf8')
    socket.once('connect', () => socket.write(`${command}\r\n`))
    socket.on('data', (chunk: string) => {
      reply += chunk
      const bulk = /^\$(\d+)\r\n/.exec(reply)
      // INFO's body is ASCII, so characters count as bytes here.
      const done = bulk !== null ? reply.length >= bulk[0].length + Number(bulk[1]) + 2 : reply.endsWith('\r\n')
      if (!done) return
      clearTimeout(timer)
      socket.end()
      if (reply.startsWith('-')) reject(new Error(`redis: ${reply.slice(1).trim()}`))
      else resolve(bulk !== null ? reply.slice(bulk[0].length, bulk[0].length + Number(bulk[1])) : reply.slice(1).trim())
    })
    socket.once('error', fail)
  })
}

/** `INFO stats` total_commands_processed (the INFO that asks counts too: callers subtract 1 per reading). */
export async function commandsProcessed(port: number): Promise<number> {
  const info = await redisCommand(port, 'INFO stats')
  const m = /total_commands_processed:(\d+)/.exec(info)
  if (m === null) throw new Error(`redis on :${port}: no total_commands_processed in INFO stats`)
  return Number(m[1])
}

/** `INFO commandstats` as command -> calls (e.g. evalsha -> 12). */
export async function commandCalls(port: number): Promise<Record<string, number>> {
  const info = await redisCommand(port, 'INFO commandstats')
  const calls: Record<string, number> = {}
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]] = Number(m[2])
  return calls
}

/** Servers not stopped yet: killed when the process exits, even by an uncaught error that skipped stopAll(). */
const alive = new Set<ChildProcess>()
let exitHook = false

/** Starts redis-server on a free loopback port, waits for PING, and registers it for stopAll(). */
export async function startBenchRedis(): Promise<BenchRedis> {
  const version = redisServerVersion()
  if (version === null) {
    throw new RedisNotFoundError(
      `SLUICE_BENCH_REDIS_NOT_FOUND: the selected scenarios need redis-server, which is not runnable ` +
        `(install it, e.g. apt-get install redis-server, or set SLUICE_REDIS_SERVER to its path)`,
    )
  }
  const port = await freePort()
  const child = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--logfile', ''],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  alive.add(child)
  child.once('exit', () => alive.delete(child))
  if (!exitHook) {
    exitHook = true
    process.once('exit', () => {
      for (const c of alive) c.kill('SIGKILL')
    })
  }
  let log = ''
  const keep = (b: Buffer): void => void (log = (log + b.toString()).slice(-2000))
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const stop = (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      child.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      child.kill('SIGTERM')
    })
  }
  const running: BenchRedis = { port, pid: child.pid ?? -1, version, stop }
  track(running)
  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      untrack(running)
      throw new Error(`SLUICE_BENCH_REDIS_START_FAILED: redis-server exited (${child.exitCode ?? child.signalCode}): ${log.trim()}`)
    }
    if ((await redisCommand(port, 'PING', 300).catch(() => '')) === 'PONG') return running
    if (Date.now() > deadline) {
      untrack(running)
      await stop()
      throw new Error(`SLUICE_BENCH_REDIS_START_FAILED: no PONG from :${port} within ${START_TIMEOUT_MS} ms: ${log.trim()}`)
    }
    await new Promise((r) => setTimeout(r, 20))
  }
}
