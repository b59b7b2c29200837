// Real redis-server processes for tests: one standalone server or a three-master cluster, each on
// free loopback ports with its own temporary data directory. No mocks: rate limiting is judged
// against the real thing, including outages (stop, restart, kill, pause).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { freePort } from './ports.js'

const REDIS_SERVER = process.env.SLUICE_REDIS_SERVER ?? 'redis-server'
const REDIS_CLI = process.env.SLUICE_REDIS_CLI ?? 'redis-cli'
const START_TIMEOUT_MS = 10_000

export interface RedisServer {
  readonly port: number
  readonly url: string
  readonly dir: string
  /** Process id of the running server (changes on restart). */
  readonly pid: number
  /** SIGTERM and wait for the exit; the data directory is kept for restart(). */
  stop(): Promise<void>
  /** Starts again on the same port and data directory (for outage tests). */
  restart(): Promise<void>
  /** SIGKILL, no shutdown save: a crash. */
  kill(): void
  /** SIGSTOP: the server keeps its sockets but answers nothing (a hung Redis). */
  pause(): void
  /** SIGCONT after pause(). */
  resume(): void
  /** Stops for good and removes the data directory (unless the caller supplied it). */
  close(): Promise<void>
}

export interface StartRedisOptions {
  port?: number
  /** Data directory; a fresh temporary one (removed by close()) when absent. */
  dir?: string
  /** Append-only file persistence (survives restart() after a kill()). */
  appendonly?: boolean
  /** Extra `--name value` arguments. */
  args?: readonly string[]
}

// Every server this module started, so a crashing test file still leaves no stray process behind.
const running = new Set<ChildProcess>()
let exitHookInstalled = false

function killAll(): void {
  for (const child of running) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', killAll)
  // A test file interrupted (Ctrl-C, the runner's timeout) does not reach 'exit' handlers: clean
  // up, then let the signal do what it would have done.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll()
      process.kill(process.pid, signal)
    })
  }
}

let checkedInstalled = false

/** Tests must fail, never skip, when Redis is missing: say loudly how to get it. */
function assertInstalled(): void {
  if (checkedInstalled) return
  const probe = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' })
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      `redis-server is not installed or not runnable (${probe.error?.message ?? `exit ${probe.status}`}). ` +
        'The rate-limiting tests need a real Redis: run `apt-get install -y redis-server` ' +
        '(or set SLUICE_REDIS_SERVER to its path).',
    )
  }
  checkedInstalled = true
}

/** Sends one inline command over a fresh socket; resolves with the raw reply text. */
export function rawCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    let reply = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no reply to '${command}' from 127.0.0.1:${port} in ${timeoutMs} ms`))
    }, timeoutMs)
    socket.setEncoding('utf8')
    socket.once('connect', () => socket.write(`${command}\r\n`))
    socket.on('data', (chunk: string) => {
      reply += chunk
      // Inline replies end with CRLF; bulk replies ($len CRLF body CRLF) are complete once the
      // body is in. Good enough for PING and CLUSTER INFO.
      const bulk = /^\$(\d+)\r\n/.exec(reply)
      const done = bulk ? reply.length >= bulk[0].length + Number(bulk[1]) + 2 : reply.endsWith('\r\n')
      if (done) {
        clearTimeout(timer)
        socket.end()
        resolve(reply)
      }
    })
    socket.once('error', (err) => {
      clearTimeout(timer)
      socket.destroy()
      reject(err)
    })
  })
}

async function waitFor(check: () => Promise<boolean>, what: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode}) before ${what}: ${stderr()}`)
    }
    if (await check().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`redis-server: ${what} did not happen within ${START_TIMEOUT_MS} ms: ${stderr()}`)
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

/** Starts a standalone redis-server on 127.0.0.1 and waits until PING answers. */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  assertInstalled()
  installExitHook()
  const port = options.port ?? (await freePort())
  const ownDir = options.dir === undefined
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'sluice-redis-'))
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', options.appendonly ? '60 1' : '',
    '--appendonly', options.appendonly ? 'yes' : 'no',
    '--appendfsync', 'always',
    '--daemonize', 'no',
    '--protected-mode', 'no',
    '--loglevel', 'warning',
    '--logfile', '',
    ...(options.args ?? []),
  ]
  return launch(port, dir, ownDir, args)
}

async function launch(port: number, dir: string, ownDir: boolean, args: readonly string[]): Promise<RedisServer> {
  let child!: ChildProcess
  let log = ''
  const spawnServer = async (): Promise<void> => {
    log = ''
    child = spawn(REDIS_SERVER, args, { detached: false, stdio: ['ignore', 'pipe', 'pipe'] })
    running.add(child)
    const current = child
    current.once('exit', () => running.delete(current))
    current.stdout?.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)))
    current.stderr?.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)))
    await waitFor(async () => (await rawCommand(port, 'PING', 300)).startsWith('+PONG'), 'PING answered', current, () => log)
  }

  const stop = async (): Promise<void> => {
    const current = child
    if (current.exitCode !== null || current.signalCode !== null) return
    // A paused server only acts on SIGTERM once continued.
    current.kill('SIGCONT')
    current.kill('SIGTERM')
    const timer = setTimeout(() => current.kill('SIGKILL'), 5000)
    await exited(current)
    clearTimeout(timer)
  }

  await spawnServer()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get pid() {
      return child.pid ?? -1
    },
    stop,
    restart: async () => {
      await stop()
      await spawnServer()
    },
    kill: () => {
      child.kill('SIGKILL')
    },
    pause: () => {
      child.kill('SIGSTOP')
    },
    resume: () => {
      child.kill('SIGCONT')
    },
    close: async () => {
      child.kill('SIGCONT')
      await stop()
      if (ownDir) rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * Starts a Redis Sentinel on a free port watching `master` under the name `masterName` (quorum 1),
 * and waits until it knows the master's address.
 */
export async function startRedisSentinel(master: RedisServer, masterName = 'sluice'): Promise<RedisServer> {
  assertInstalled()
  installExitHook()
  const port = await freePort()
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-sentinel-'))
  // Sentinel rewrites its configuration file, so it must be a file of its own.
  const conf = path.join(dir, 'sentinel.conf')
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      'protected-mode no',
      `dir ${dir}`,
      `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 1`,
      `sentinel down-after-milliseconds ${masterName} 5000`,
      '',
    ].join('\n'),
  )
  const sentinel = await launch(port, dir, true, [conf, '--sentinel', '--loglevel', 'warning', '--logfile', ''])
  const deadline = Date.now() + START_TIMEOUT_MS
  while (!(await rawCommand(port, `SENTINEL get-master-addr-by-name ${masterName}`).catch(() => '')).includes(String(master.port))) {
    if (Date.now() > deadline) {
      await sentinel.close()
      throw new Error(`sentinel on ${port} did not learn master ${masterName} within ${START_TIMEOUT_MS} ms`)
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  return sentinel
}

export interface RedisCluster {
  readonly nodes: readonly RedisServer[]
  /** `[{ host, port }]` for ioredis' Cluster or a `cluster_nodes` config. */
  readonly startupNodes: readonly { host: string; port: number }[]
  stop(): Promise<void>
}

/**
 * Starts `masters` redis-servers with cluster mode on, joins them with `redis-cli --cluster create`
 * (no replicas) and waits until every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const nodes: RedisServer[] = []
  try {
    for (let i = 0; i < masters; i++) {
      // The cluster bus gets its own free port: the default port+10000 may be taken or above 65535.
      const busPort = await freePort()
      nodes.push(
        await startRedis({
          args: [
            '--cluster-enabled', 'yes',
            '--cluster-config-file', 'nodes.conf',
            '--cluster-node-timeout', '2000',
            '--cluster-port', String(busPort),
          ],
        }),
      )
    }
    const create = spawnSync(
      REDIS_CLI,
      ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8', timeout: START_TIMEOUT_MS },
    )
    if (create.error !== undefined || create.status !== 0) {
      throw new Error(`redis-cli --cluster create failed (${create.error?.message ?? `exit ${create.status}`}): ${create.stdout}${create.stderr}`)
    }
    const deadline = Date.now() + START_TIMEOUT_MS
    for (const node of nodes) {
      for (;;) {
        const info = await rawCommand(node.port, 'CLUSTER INFO').catch(() => '')
        if (info.includes('cluster_state:ok')) break
        if (Date.now() > deadline) throw new Error(`cluster node ${node.port} not ok within ${START_TIMEOUT_MS} ms: ${info}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.close()))
    throw err
  }
  return {
    nodes,
    startupNodes: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    stop: async () => {
      await Promise.all(nodes.map((n) => n.close()))
    },
  }
}
