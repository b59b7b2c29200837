import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { freePort } from './ports.js'

/**
 * Boots a real gateway (primary + workers) as a child process, on free loopback ports, from a config
 * object written to a temp file. Waits until every worker listens (admin /status).
 */
export interface Gateway {
  readonly proc: ChildProcess
  readonly proxyPort: number
  readonly adminPort: number
  readonly configFile: string
  readonly url: string
  /** stderr and stdout as seen so far. */
  output(): string
  status(): Promise<any>
  /** Rewrites the config file (for SIGHUP reloads). */
  writeConfig(config: object): void
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export interface GatewayOptions {
  workers?: number
  env?: Record<string, string>
  /** Extra CLI args. */
  args?: string[]
  /** Don't pass --config (embedded demo). */
  demo?: boolean
}

const ROOT = new URL('../../', import.meta.url).pathname

export async function startGateway(config: object, opts: GatewayOptions = {}): Promise<Gateway> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-gw-'))
  const configFile = join(dir, 'sluice.yaml')
  const withSettings = { ...config } as Record<string, any>
  writeFileSync(configFile, stringify(withSettings))
  const proxyPort = await freePort()
  const adminPort = await freePort()
  const args = ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'start']
  if (!opts.demo) args.push('--config', configFile)
  args.push('--workers', String(opts.workers ?? 1), '--proxy-port', String(proxyPort), '--admin-port', String(adminPort), ...(opts.args ?? []))
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, SLUICE_ACCESS_LOG: 'off', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))

  const gw: Gateway = {
    proc,
    proxyPort,
    adminPort,
    configFile,
    url: `http://127.0.0.1:${proxyPort}`,
    output: () => out,
    status: async () => (await fetch(`http://127.0.0.1:${adminPort}/status`)).json(),
    writeConfig: (c) => writeFileSync(configFile, stringify(c)),
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode !== null) return proc.exitCode
      proc.kill(signal)
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000)
      const code = await exited
      clearTimeout(t)
      return code
    },
  }

  const deadline = Date.now() + 20_000
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`gateway exited with ${proc.exitCode}:\n${out}`)
    if (Date.now() > deadline) {
      proc.kill('SIGKILL')
      throw new Error(`gateway not ready in 20 s:\n${out}`)
    }
    try {
      const s = await gw.status()
      if (s.workers.length > 0 && s.workers.every((w: any) => w.ready)) return gw
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}
