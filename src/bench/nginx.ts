// nginx as the reference proxy: one worker, keep-alive to the upstream, nothing logged. Whatever
// Sluice is measured against must be configured the way a careful operator would run nginx.
import { spawn, spawnSync } from 'node:child_process'
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'

export const NGINX_INSTALL_HINT = 'apt-get update && apt-get install -y nginx-light'

export class NginxNotFoundError extends Error {
  readonly code = 'SLUICE_BENCH_NGINX_MISSING'
  constructor(looked: readonly string[]) {
    super(
      `SLUICE_BENCH_NGINX_MISSING: nginx is not installed (looked in ${looked.join(', ')}); ` +
        `the end-to-end benchmark needs it as the reference proxy. Install it with: ${NGINX_INSTALL_HINT}`,
    )
  }
}

/** Absolute path of the nginx binary, or null. Debian puts it in /usr/sbin, often not on PATH. */
export function findNginx(): string | null {
  for (const dir of nginxSearchDirs()) {
    const candidate = join(dir, 'nginx')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return null
}

function nginxSearchDirs(): string[] {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '')
  for (const d of ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin']) if (!dirs.includes(d)) dirs.push(d)
  return dirs
}

/** The nginx binary's path; throws NginxNotFoundError with the install command when missing. */
export function requireNginx(): string {
  const bin = findNginx()
  if (bin === null) throw new NginxNotFoundError(nginxSearchDirs())
  return bin
}

/** e.g. "nginx/1.22.1", or null when not installed. */
export function nginxVersion(): string | null {
  const bin = findNginx()
  if (bin === null) return null
  // `nginx -v` writes to stderr.
  const r = spawnSync(bin, ['-v'], { encoding: 'utf8' })
  const m = /nginx\/[\w.]+/.exec(`${r.stderr}${r.stdout}`)
  return m === null ? null : m[0]
}

export interface NginxOptions {
  readonly upstreamPort: number
  /** Port to listen on; 0 (default) picks a free one. */
  readonly port?: number
  readonly workerProcesses?: number
}

export interface NginxProxy {
  readonly port: number
  /** The master's pid: the worker is its child, so cpuOf(pid) covers both. */
  readonly pid: number
  /** The temp dir holding nginx.conf, error.log and temp paths. */
  readonly dir: string
  stop(): Promise<void>
}

/** The reference configuration. Exported so the report can show exactly what was run. */
export function nginxConfig(dir: string, port: number, upstreamPort: number, workerProcesses = 1): string {
  return `# Written by bench/nginx.ts: nginx as the reference proxy for Sluice's end-to-end benchmark.
worker_processes ${workerProcesses};
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;

events {
  worker_connections 4096;
}

http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  # Load generators hold connections for the whole run; the default 1000 requests per connection
  # would make nginx alone pay for reconnects.
  keepalive_requests 1000000;
  keepalive_timeout 75s;

  upstream u {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
  }

  server {
    listen 127.0.0.1:${port} reuseport;
    location / {
      proxy_pass http://u;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`
}

/** A free TCP port on 127.0.0.1 (nginx cannot listen on port 0 and report it back). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** Resolves once `GET /` on the port gets any HTTP response, rejects after timeoutMs. */
export function waitForHttp(port: number, timeoutMs: number, path = '/', isAlive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (!isAlive()) {
        reject(new Error(`process exited before port ${port} answered`))
        return
      }
      const socket = net.connect({ host: '127.0.0.1', port })
      let answered = false
      socket.setTimeout(1000)
      socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`))
      socket.on('data', (d: Buffer) => {
        if (!answered && d.toString('latin1', 0, 5) === 'HTTP/') {
          answered = true
          socket.destroy()
          resolve()
        }
      })
      const retry = (): void => {
        socket.destroy()
        if (answered) return
        answered = true
        if (Date.now() > deadline) reject(new Error(`nothing answered HTTP on 127.0.0.1:${port} within ${timeoutMs} ms`))
        else setTimeout(attempt, 50)
      }
      socket.on('error', retry)
      socket.on('timeout', retry)
      socket.on('close', retry)
    }
    attempt()
  })
}

/** Starts nginx in front of 127.0.0.1:upstreamPort and waits until it answers. */
export async function startNginx(opts: NginxOptions): Promise<NginxProxy> {
  const bin = requireNginx()
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-nginx-'))
  // As root, nginx workers drop to `nobody`, which must be able to reach the temp paths in here.
  chmodSync(dir, 0o755)
  const port = opts.port !== undefined && opts.port !== 0 ? opts.port : await freePort()
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port, opts.upstreamPort, opts.workerProcesses ?? 1))
  const child = spawn(bin, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  let exited = false
  const exit = new Promise<void>((resolve) => child.on('exit', () => ((exited = true), resolve())))
  child.on('error', () => (exited = true))
  const errorLog = (): string => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8').trim()
    } catch {
      return ''
    }
  }
  try {
    await waitForHttp(port, 5000, '/', () => !exited)
  } catch (err) {
    if (!exited) child.kill('SIGKILL')
    await exit
    rmSync(dir, { recursive: true, force: true })
    throw new Error(
      `SLUICE_BENCH_NGINX_START_FAILED: ${(err as Error).message}; stderr: ${stderr.trim()} error.log: ${errorLog()}`,
    )
  }
  const pid = child.pid as number
  return {
    port,
    pid,
    dir,
    async stop(): Promise<void> {
      if (!exited) {
        // SIGTERM is nginx's fast shutdown: it does not wait for idle keep-alive connections.
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
        await exit
        clearTimeout(timer)
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
