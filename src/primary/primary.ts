import cluster, { type Worker } from 'node:cluster'
import { readFileSync } from 'node:fs'
import { JwksManager, jwksSourcesFromConfig } from '../auth/jwks/manager.js'
import { MemoryBucketStore } from '../ratelimit/memory-store.js'
import type { GatewayConfig, Settings } from '../config/schema.js'
import { logger } from '../observability/logger.js'
import { AdminServer } from './admin.js'
import type { FromWorker, ToWorker, WorkerStats } from './ipc.js'

/**
 * The node:cluster primary: forks the workers, respawns a crashed one with backoff, pushes every new
 * config to all of them (SIGHUP or the admin API), drains on SIGTERM/SIGINT, and serves the admin port.
 * It never handles proxy traffic itself.
 */

export interface LoadedConfig {
  readonly config: GatewayConfig
  readonly settings: Settings
  readonly source: string
  readonly hash: string
}

export interface PrimaryOptions {
  /** Loads and validates the config (called at start and on every SIGHUP); throws ConfigError. */
  load(): Promise<LoadedConfig>
  /** Extra lines for the start-up banner (the demo prints what to curl). */
  banner?(settings: Settings): string[]
  /** Called after the workers are gone, before exit (the demo stops its upstreams). */
  onExit?(): Promise<void>
}

interface Slot {
  index: number
  worker: Worker | null
  ready: boolean
  version: number
  restarts: number
  /** Crashes in a row (reset once a worker has lived STABLE_MS). */
  crashes: number
  startedAt: number
  /** The worker runs uWebSockets.js's native binary (not its slow pure-Node fallback). */
  native: boolean | null
}

const STABLE_MS = 10_000
const MAX_BACKOFF_MS = 10_000

export class Primary {
  private current!: LoadedConfig
  private version = 0
  private loadedAt = 0
  private reloads = 0
  private readonly slots: Slot[] = []
  private shuttingDown = false
  private admin: AdminServer | null = null
  private statsSeq = 0
  private readonly statsWaiters = new Map<number, (s: WorkerStats) => void>()
  /** Fetches each JWKS URI once for all workers and broadcasts the key sets. */
  private readonly jwks = new JwksManager()
  /** `policy: local` rate-limit buckets: one per key for the whole node, leased to the workers. */
  private readonly buckets = new MemoryBucketStore()

  constructor(private readonly opts: PrimaryOptions) {}

  async start(): Promise<void> {
    this.current = await this.opts.load()
    this.version = 1
    this.loadedAt = Date.now()
    this.jwks.onSnapshot((snapshot) => this.broadcast({ type: 'jwks', snapshot }))
    this.jwks.configure(jwksSourcesFromConfig(this.current.config))
    const { settings } = this.current
    this.admin = new AdminServer(this)
    await this.admin.listen(settings.admin_listen, settings.admin_port)
    for (let i = 0; i < settings.workers; i++) {
      this.slots.push({ index: i, worker: null, ready: false, version: 0, restarts: 0, crashes: 0, startedAt: 0, native: null })
      this.fork(this.slots[i])
    }
    process.on('SIGHUP', () => void this.reload())
    process.on('SIGTERM', () => void this.shutdown('SIGTERM'))
    process.on('SIGINT', () => void this.shutdown('SIGINT'))
  }

  private fork(slot: Slot): void {
    const worker = cluster.fork({ SLUICE_WORKER_INDEX: String(slot.index) })
    slot.worker = worker
    slot.ready = false
    slot.startedAt = Date.now()
    worker.on('message', (msg: FromWorker) => this.onMessage(slot, msg))
    worker.on('exit', (code, signal) => this.onExit(slot, worker, code, signal))
  }

  private sendConfig(worker: Worker): void {
    const { config, settings, hash } = this.current
    const msg: ToWorker = { type: 'config', version: this.version, hash, config, settings }
    worker.send(msg)
  }

  private onMessage(slot: Slot, msg: FromWorker): void {
    switch (msg.type) {
      case 'hello':
        if (slot.worker !== null) {
          this.sendConfig(slot.worker)
          for (const snapshot of this.jwks.snapshots()) slot.worker.send({ type: 'jwks', snapshot } satisfies ToWorker)
        }
        break
      case 'jwks-need':
        this.jwks.need(msg.uri)
        break
      case 'rl-lease': {
        let reply: ToWorker
        try {
          reply = { type: 'rl-grant', id: msg.id, grants: this.buckets.leaseNow(msg.batch) }
        } catch (err) {
          reply = { type: 'rl-grant', id: msg.id, grants: null, error: (err as Error).message }
        }
        if (slot.worker !== null && slot.worker.isConnected()) slot.worker.send(reply)
        break
      }
      case 'listening':
        slot.ready = true
        slot.version = msg.version
        slot.native = msg.native
        if (!msg.native) logger.warn('worker runs the pure-Node uWebSockets.js fallback: expect low throughput')
        if (this.slots.every((s) => s.ready) && slot.restarts === 0 && this.slots.every((s) => s.restarts === 0)) {
          this.printBanner()
        }
        break
      case 'config-applied':
        slot.version = msg.version
        break
      case 'config-failed':
        logger.error({ worker: slot.index, version: msg.version, error: msg.error }, 'worker could not apply config')
        break
      case 'listen-failed':
        logger.fatal({ worker: slot.index, error: msg.error }, 'worker cannot listen')
        void this.shutdown('listen-failed', 1)
        break
      case 'stats':
        this.statsWaiters.get(msg.id)?.(msg.stats)
        break
    }
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return
    slot.worker = null
    slot.ready = false
    if (this.shuttingDown) return
    const lived = Date.now() - slot.startedAt
    slot.crashes = lived > STABLE_MS ? 1 : slot.crashes + 1
    slot.restarts++
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** (slot.crashes - 1))
    logger.error({ worker: slot.index, pid: worker.process.pid, code, signal, respawnInMs: delay }, 'worker exited; respawning')
    setTimeout(() => {
      if (!this.shuttingDown) this.fork(slot)
    }, delay)
  }

  /** Re-reads and validates the config; a bad one is refused and the old one keeps serving. */
  async reload(): Promise<{ ok: boolean; version: number; error?: string }> {
    let next: LoadedConfig
    try {
      next = await this.opts.load()
    } catch (err) {
      logger.error({ error: (err as Error).message }, 'reload refused: the running config keeps serving')
      return { ok: false, version: this.version, error: (err as Error).message }
    }
    this.current = next
    this.version++
    this.reloads++
    this.loadedAt = Date.now()
    this.jwks.configure(jwksSourcesFromConfig(next.config))
    for (const slot of this.slots) if (slot.worker !== null) this.sendConfig(slot.worker)
    logger.info({ version: this.version, hash: next.hash }, 'config reloaded')
    return { ok: true, version: this.version }
  }

  async shutdown(reason: string, exitCode = 0): Promise<void> {
    if (this.shuttingDown) return
    this.shuttingDown = true
    const drainMs = this.current.settings.drain_timeout
    logger.info({ reason, drainMs }, 'draining')
    const deadline = Date.now() + drainMs
    const exits = this.slots
      .filter((s) => s.worker !== null)
      .map((s) => {
        const w = s.worker!
        return new Promise<void>((resolve) => {
          if (w.isDead()) return resolve()
          w.once('exit', () => resolve())
          const msg: ToWorker = { type: 'drain', deadline }
          w.send(msg)
        })
      })
    const hardStop = setTimeout(() => {
      for (const s of this.slots) s.worker?.process.kill('SIGKILL')
    }, drainMs + 3000)
    await Promise.all(exits)
    clearTimeout(hardStop)
    await this.jwks.close()
    await this.admin?.close()
    await this.opts.onExit?.()
    logger.info('stopped')
    process.exit(exitCode)
  }

  /** Sends to every live worker (one that is exiting misses it, and its successor starts from hello). */
  private broadcast(msg: ToWorker): void {
    for (const slot of this.slots) {
      const w = slot.worker
      if (w !== null && w.isConnected()) w.send(msg)
    }
  }

  /** Asks every live worker for its counters (bounded wait: a stuck worker shows as not answering). */
  async status(): Promise<object> {
    const workers = await Promise.all(
      this.slots.map(async (slot) => {
        const w = slot.worker
        const stats = w !== null && slot.ready ? await this.askStats(w) : null
        return {
          index: slot.index,
          pid: w?.process.pid ?? null,
          alive: w !== null && !w.isDead(),
          ready: slot.ready,
          restarts: slot.restarts,
          config_version: stats?.version ?? slot.version,
          inflight: stats?.inflight ?? null,
          requests: stats?.requests ?? null,
          rss: stats?.rss ?? null,
          ratelimit: stats?.ratelimit ?? null,
          answering: stats !== null,
          native_uws: slot.native,
        }
      }),
    )
    return {
      config: { version: this.version, hash: this.current.hash, source: this.current.source, loaded_at: new Date(this.loadedAt).toISOString(), reloads: this.reloads },
      workers,
      connections: { proxy: countEstablished(this.current.settings.proxy_port) },
      jwks: this.jwks.report(),
    }
  }

  private askStats(w: Worker): Promise<WorkerStats | null> {
    const id = ++this.statsSeq
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.statsWaiters.delete(id)
        resolve(null)
      }, 1000)
      this.statsWaiters.set(id, (s) => {
        clearTimeout(timer)
        this.statsWaiters.delete(id)
        resolve(s)
      })
      const msg: ToWorker = { type: 'stats', id }
      w.send(msg)
    })
  }

  get settings(): Settings {
    return this.current.settings
  }

  private printBanner(): void {
    const s = this.current.settings
    const lines = [
      `sluice: ${s.workers} worker(s) listening on ${s.proxy_listen}:${s.proxy_port}` +
        (s.ssl_cert ? ` and TLS on :${s.proxy_ssl_port}` : ''),
      `sluice: admin API on http://${s.admin_listen}:${s.admin_port}/status; config ${this.current.source} (version ${this.version})`,
      ...(this.opts.banner?.(s) ?? []),
    ]
    process.stderr.write(lines.join('\n') + '\n')
  }
}


/** Established TCP connections to the proxy port (all workers together), from /proc/net/tcp{,6}. */
export function countEstablished(port: number): number | null {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  let n = 0
  try {
    for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
      const lines = readFileSync(file, 'latin1').split('\n')
      for (let i = 1; i < lines.length; i++) {
        const cols = lines[i].trim().split(/\s+/)
        // cols[1] = local "ADDR:PORT", cols[3] = state (01 = ESTABLISHED)
        if (cols.length > 3 && cols[3] === '01' && cols[1].endsWith(`:${hexPort}`)) n++
      }
    }
  } catch {
    return null
  }
  return n
}
