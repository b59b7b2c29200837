import uWS from 'uWebSockets.js'
import type { Settings } from '../config/schema.js'
import { deepFreeze } from '../config/normalize.js'
import { AccessLog } from '../observability/access-log.js'
import { logger } from '../observability/logger.js'
import { compileTrustedIps } from '../proxy/headers.js'
import { PoolRegistry, type UpstreamClient } from '../proxy/pools.js'
import type { FromWorker, ToWorker } from '../primary/ipc.js'
import { compileSnapshot } from './compile.js'
import { JwksKeys, redactUri } from '../auth/jwks/keys.js'
import { closeLimiters, ipcBucketStore, limiterReport } from '../ratelimit/registry.js'
import { ProxyServer, type Limits } from './http.js'

/**
 * One worker: waits for its first config from the primary, compiles it, listens on the proxy port(s)
 * (every worker listens on the same port: uSockets sets SO_REUSEPORT and the kernel spreads connections),
 * then swaps in each new config it is sent, and drains on request.
 */

/** uWS falls back silently to a slow pure-Node server when its binary does not load (platform-notes.md). */
export function uwsIsNative(): boolean {
  return String(uWS.App).includes('[native code]')
}

function send(msg: FromWorker): void {
  process.send?.(msg)
}

function limitsOf(s: Settings): Limits {
  return {
    maxHeaderCount: s.max_header_count,
    maxHeaderBytes: s.max_header_bytes,
    maxUriLength: s.max_uri_length,
    maxBodyBytes: s.max_body_bytes,
  }
}

export function runWorker(): void {
  const native = uwsIsNative()
  if (!native && process.env.SLUICE_ALLOW_FALLBACK !== '1') {
    send({ type: 'listen-failed', error: 'uWebSockets.js native binary did not load (fallback server refused)' })
    logger.fatal('uWebSockets.js native binary did not load; refusing to run on the slow fallback')
    process.exit(78)
  }

  let server: ProxyServer | null = null
  let registry: PoolRegistry<UpstreamClient> | null = null
  let accessLog: AccessLog | null = null
  const listenSockets: uWS.us_listen_socket[] = []
  let draining = false
  // JWKS keys outlive config snapshots; the primary fetches them once for all workers.
  const jwks = new JwksKeys()
  jwks.connect((uri) => send({ type: 'jwks-need', uri }))

  function listen(settings: Settings, srv: ProxyServer): Promise<void> {
    const apps: Array<{ app: uWS.TemplatedApp; port: number; proto: 'http' | 'https' }> = [
      { app: uWS.App(), port: settings.proxy_port, proto: 'http' },
    ]
    if (settings.ssl_cert && settings.ssl_key) {
      apps.push({
        app: uWS.SSLApp({ cert_file_name: settings.ssl_cert, key_file_name: settings.ssl_key }),
        port: settings.proxy_ssl_port,
        proto: 'https',
      })
    }
    return Promise.all(
      apps.map(
        ({ app, port, proto }) =>
          new Promise<void>((resolve, reject) => {
            app.any('/*', srv.handler(proto, port))
            app.listen(settings.proxy_listen, port, (sock) => {
              if (sock) {
                listenSockets.push(sock)
                resolve()
              } else reject(new Error(`cannot listen on ${settings.proxy_listen}:${port} (${proto})`))
            })
          }),
      ),
    ).then(() => undefined)
  }

  async function drain(deadline: number): Promise<void> {
    if (draining) return
    draining = true
    for (const sock of listenSockets.splice(0)) uWS.us_listen_socket_close(sock)
    if (server !== null) {
      const idle = server.whenIdle()
      await Promise.race([idle, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())])
      if (server.inflight > 0) logger.warn({ inflight: server.inflight }, 'drain deadline reached with requests in flight')
    }
    accessLog?.close()
    // Held rate-limit tokens go back to the shared buckets (bounded: a dead store must not hold the exit).
    await Promise.race([closeLimiters(), new Promise((r) => setTimeout(r, 500).unref())])
    await Promise.race([registry?.closeAll(), new Promise((r) => setTimeout(r, 1000).unref())])
    process.exit(0)
  }

  process.on('message', (msg: ToWorker) => {
    switch (msg.type) {
      case 'config': {
        const { settings } = msg
        try {
          registry ??= new PoolRegistry({
            connections: settings.upstream_connections,
            keepAliveTimeout: settings.upstream_keepalive_timeout,
            client: settings.upstream_client,
          })
          // IPC delivers a structured clone: freeze it again so nothing on the request path can mutate config.
          const snapshot = compileSnapshot(deepFreeze(msg.config), settings, msg.version, msg.hash, registry, jwks)
          if (server === null) {
            if (settings.access_log !== 'off') accessLog = new AccessLog(settings.access_log)
            server = new ProxyServer(snapshot, limitsOf(settings), compileTrustedIps(settings.trusted_ips), accessLog)
            const srv = server
            listen(settings, srv).then(
              () => send({ type: 'listening', version: msg.version, native }),
              (err: Error) => {
                send({ type: 'listen-failed', error: err.message })
                process.exit(1)
              },
            )
          } else {
            server.configure(limitsOf(settings), compileTrustedIps(settings.trusted_ips))
            server.swap(snapshot)
            send({ type: 'config-applied', version: msg.version })
          }
        } catch (err) {
          if (server === null) {
            // Nothing to keep serving: the first config must compile.
            send({ type: 'listen-failed', error: `config does not compile: ${(err as Error).message}` })
            process.exit(1)
          }
          send({ type: 'config-failed', version: msg.version, error: (err as Error).message })
        }
        break
      }
      case 'drain':
        void drain(msg.deadline)
        break
      case 'rl-grant':
        ipcBucketStore()?.answer(msg.id, msg.grants, msg.error)
        break
      case 'jwks':
        jwks.update(msg.snapshot).catch((err: Error) => logger.error({ err, uri: redactUri(msg.snapshot.uri) }, 'JWKS update failed'))
        break
      case 'stats':
        send({
          type: 'stats',
          id: msg.id,
          stats: {
            pid: process.pid,
            version: server?.snapshot.version ?? 0,
            inflight: server?.inflight ?? 0,
            requests: server?.requests ?? 0,
            draining,
            rss: process.memoryUsage.rss(),
            ratelimit: limiterReport(),
          },
        })
        break
    }
  })

  send({ type: 'hello' })

  // The primary is gone (crashed or killed): finish what is running, then leave.
  process.on('disconnect', () => void drain(Date.now() + 5000))
  process.on('SIGTERM', () => void drain(Date.now() + 30000))
  process.on('SIGINT', () => {})
}
