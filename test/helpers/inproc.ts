import uWS from 'uWebSockets.js'
import { JwksKeys } from '../../src/auth/jwks/keys.js'
import { loadConfigObject } from '../../src/config/load.js'
import '../../src/plugins/index.js'
import { compileTrustedIps } from '../../src/proxy/headers.js'
import { PoolRegistry } from '../../src/proxy/pools.js'
import { compileSnapshot } from '../../src/worker/compile.js'
import { ProxyServer } from '../../src/worker/http.js'
import { closeLimiters } from '../../src/ratelimit/registry.js'

/**
 * A gateway worker inside the test process: the real ProxyServer on a real uWS socket (127.0.0.1, a free
 * port), without the cluster around it. For plugin access tests that need many requests and direct
 * access to worker-side state (the JWKS key store); integration tests use startGateway instead.
 */
export interface InProcessGateway {
  readonly port: number
  readonly url: string
  readonly jwks: JwksKeys
  /** Compiles and swaps in a new config, as a reload does. */
  reload(config: object): Promise<void>
  close(): Promise<void>
}

export async function startInProcess(config: object, jwks = new JwksKeys()): Promise<InProcessGateway> {
  const registry = new PoolRegistry({ connections: 8, keepAliveTimeout: 5000 })
  let version = 1
  const compile = async (cfg: object) => {
    const loaded = await loadConfigObject(cfg)
    return compileSnapshot(loaded.config, loaded.settings, version++, loaded.hash, registry, jwks)
  }
  const server = new ProxyServer(
    await compile(config),
    { maxHeaderCount: 48, maxHeaderBytes: 32768, maxUriLength: 8192, maxBodyBytes: 10 * 1024 * 1024 },
    compileTrustedIps([]),
    null,
  )
  const app = uWS.App().any('/*', server.handler('http', 0))
  const listen = await new Promise<uWS.us_listen_socket>((resolve, reject) =>
    app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('listen failed')))),
  )
  const port = uWS.us_socket_local_port(listen)
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    jwks,
    async reload(cfg) {
      server.swap(await compile(cfg))
    },
    async close() {
      uWS.us_listen_socket_close(listen)
      await registry.closeAll()
      // Rate-limit stores (Redis connections, sync timers) live for the process: a test file ends them.
      await closeLimiters()
    },
  }
}
