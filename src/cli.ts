#!/usr/bin/env node
import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { checkConfig } from './config/check.js'
import { loadConfig, loadConfigObject } from './config/load.js'
import { ConfigError } from './errors.js'
// Registers the bundled plugins (config schemas and pipeline phases) in the primary and every worker.
import './plugins/index.js'

/**
 * sluice start | check | hash-password: parses flags and hands over; nothing else lives here.
 * A cluster worker re-runs this file (node:cluster forks process.argv[1]) and goes straight to the worker.
 */

const USAGE = `Usage:
  sluice start [--config FILE] [--workers N] [--proxy-port PORT] [--admin-port PORT]
      Start the gateway. Without --config (or SLUICE_CONFIG), runs the embedded demo: upstreams on
      loopback routed at /api/v1/users, /api/v1/orders and a fallback at /.
  sluice check --config FILE
      Validate a declarative config (Kong _format_version "3.0", YAML or JSON) and print every error with
      its path; exits 1 when the config is invalid (like nginx -t).
  sluice bench [--scenario a,b] [--workers N] [--rate R] [--duration S] [--rounds N] [--out DIR]
               [--reference nginx] [--compare BASELINE.json] [--list]   (sluice bench --help for all)
      Measure the gateway's overhead against a built-in upstream, direct and through the gateway
      alternated per round; writes a JSON and an HTML report. --compare is the CI regression gate.
  sluice tune [--workers 1,2] [--upstream-connections 8,32,128] [--upstream URL]
      Sweep worker counts and upstream connections per target; prints the curve and a recommendation.
  sluice hash-password [--password-stdin]
      Read a password from stdin (piped, or typed without echo) and print its scrypt hash for a
      basic-auth credential's password_hash, so the config file holds no password.
  sluice --version

Settings precedence: flags > environment (SLUICE_WORKERS, SLUICE_PROXY_PORT, ...) > the config's
settings block > defaults.`

async function main(argv: string[]): Promise<number> {
  if (cluster.isWorker) {
    const { runWorker } = await import('./worker/worker.js')
    runWorker()
    return -1
  }
  const [command, ...rest] = argv
  if (command === '--version' || command === '-v') {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    process.stdout.write(`sluice ${pkg.version}\n`)
    return 0
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE + '\n')
    return command === undefined ? 1 : 0
  }
  switch (command) {
    // bench, tune and hash-password take their own flags: they parse them themselves.
    case 'bench':
    case 'tune': {
      const { benchCommand } = await import('./bench/command.js')
      return benchCommand(command, rest)
    }
    case 'hash-password': {
      const { hashPasswordCommand } = await import('./plugins/basic-auth/hash-command.js')
      return hashPasswordCommand(rest)
    }
  }
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: rest,
      options: {
        config: { type: 'string', short: 'c' },
        workers: { type: 'string', short: 'w' },
        'proxy-port': { type: 'string' },
        'admin-port': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values
  } catch (err) {
    process.stderr.write(`sluice: ${(err as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  const flags: Record<string, unknown> = {}
  if (values.workers !== undefined) flags.workers = values.workers
  if (values['proxy-port'] !== undefined) flags.proxy_port = values['proxy-port']
  if (values['admin-port'] !== undefined) flags.admin_port = values['admin-port']

  switch (command) {
    case 'check': {
      if (typeof values.config !== 'string') {
        process.stderr.write('sluice check: --config FILE is required\n')
        return 2
      }
      const result = await checkConfig(values.config)
      ;(result.ok ? process.stdout : process.stderr).write(result.output + '\n')
      return result.ok ? 0 : 1
    }
    case 'start': {
      const { Primary } = await import('./primary/primary.js')
      const file = typeof values.config === 'string' ? values.config : process.env.SLUICE_CONFIG || undefined
      if (file !== undefined) {
        const primary = new Primary({ load: () => loadConfig({ file, env: process.env, flags }) })
        await primary.start()
        return -1
      }
      const { startDemo } = await import('./demo/upstreams.js')
      const demo = await startDemo()
      const primary = new Primary({
        load: () => loadConfigObject(demo.config, { env: process.env, flags, source: 'embedded demo' }),
        banner: (s) => {
          const base = `http://127.0.0.1:${s.proxy_port}`
          return [
            'sluice: running the embedded demo (start with --config FILE for your own services). Try:',
            `  curl -i ${base}/api/v1/users        # user-service, balanced over two instances`,
            `  curl -i ${base}/api/v1/orders       # order-service`,
            `  curl -i ${base}/anything/else       # fallback-service`,
            `  curl -s http://${s.admin_listen}:${s.admin_port}/status`,
          ]
        },
        onExit: async () => {
          await Promise.all(demo.upstreams.map((u) => u.close()))
        },
      })
      await primary.start()
      return -1
    }
    default:
      process.stderr.write(`sluice: unknown command '${command}'\n\n${USAGE}\n`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code)
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`sluice: ${err.message}\n`)
      process.exit(1)
    }
    process.stderr.write(`sluice: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  },
)
