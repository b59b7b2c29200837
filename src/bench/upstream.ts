// The benchmark's upstream: a uWebSockets.js server that answers as fast as this machine allows, so
// that what the benchmark sees above the direct path is the proxy's cost, not the upstream's.
//
// Run as its own process:  node --import tsx src/bench/upstream.ts --port N   (prints `READY <port>`)
// or in-process:           const up = await startUpstream(0); ...; up.close()
import uWS from 'uWebSockets.js'
import { pathToFileURL } from 'node:url'

/** The small body every path except `/large` answers with (about 100 bytes). */
export const SMALL_BODY: Buffer = Buffer.from(
  JSON.stringify({
    id: 42,
    service: 'bench',
    status: 'ok',
    message: 'hello from the sluice bench upstream',
    tags: ['a', 'b'],
  }),
)

const LARGE_TARGET_BYTES = 1024 * 1024

/**
 * A ~1 MiB JSON document with snake_case keys (for the camelCase transform scenario later).
 * Deterministic: the same bytes on every run and every machine, so response sizes compare.
 */
export function buildLargeBody(targetBytes: number = LARGE_TARGET_BYTES): Buffer {
  if (targetBytes === LARGE_TARGET_BYTES && largeBody !== null) return largeBody
  const built = generateLargeBody(targetBytes)
  if (targetBytes === LARGE_TARGET_BYTES) largeBody = built
  return built
}

let largeBody: Buffer | null = null

function generateLargeBody(targetBytes: number): Buffer {
  // A fixed linear congruential generator instead of Math.random: same document every start.
  let seed = 0x2545f491
  const next = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    return seed
  }
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet']
  const items: string[] = []
  let size = '{"total_count":0,"page_info":{"has_next_page":false},"items":[]}'.length
  for (let i = 0; size < targetBytes; i++) {
    const item = JSON.stringify({
      item_id: i,
      display_name: `${words[next() % 10]}_${words[next() % 10]}`,
      created_at: 1_700_000_000 + (next() % 10_000_000),
      is_active: (next() & 1) === 1,
      unit_price_cents: next() % 100_000,
      owner_account: { account_id: next() % 1_000_000, account_type: words[next() % 10], email_address: `user_${i}@example.com` },
      line_items: [
        { sku_code: `SKU-${next() % 100_000}`, quantity_ordered: next() % 20 },
        { sku_code: `SKU-${next() % 100_000}`, quantity_ordered: next() % 20 },
      ],
    })
    items.push(item)
    size += item.length + 1
  }
  return Buffer.from(
    `{"total_count":${items.length},"page_info":{"has_next_page":false},"items":[${items.join(',')}]}`,
  )
}

/** The native build is the point of the exercise: a silent fallback to node:http would skew every number. */
export function assertNativeUws(): void {
  if (!String(uWS.App).includes('[native code]')) {
    throw new Error(
      'SLUICE_BENCH_UWS_FALLBACK: uWebSockets.js is running its pure-JS fallback, not the native build; ' +
        'benchmark numbers would be meaningless (check the Node ABI / glibc and UWS_USE_FALLBACK)',
    )
  }
}

export interface Upstream {
  readonly port: number
  /** Closes the listen socket and every open connection. */
  close(): void
}

/** Starts the upstream on 127.0.0.1:port (0 picks a free port). */
export function startUpstream(port: number, host: string = '127.0.0.1'): Promise<Upstream> {
  assertNativeUws()
  const large = buildLargeBody()
  // uWS copies the body when it writes; the same ArrayBuffer view is reused for every response.
  const small = SMALL_BODY
  const app = uWS.App()
  app.get('/large', (res) => {
    res.cork(() => {
      res.writeHeader('content-type', 'application/json').end(large)
    })
  })
  app.any('/*', (res) => {
    res.cork(() => {
      res.writeHeader('content-type', 'application/json').end(small)
    })
  })
  return new Promise((resolve, reject) => {
    app.listen(host, port, (listenSocket) => {
      if (listenSocket === false) {
        reject(new Error(`SLUICE_BENCH_LISTEN_FAILED: upstream could not listen on ${host}:${port}`))
        return
      }
      const bound = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket)
      resolve({
        port: bound,
        close() {
          // App.close() (not in this build's typings) also ends keep-alive connections, so a test
          // process can exit; fall back to closing only the listen socket.
          const closable = app as unknown as { close?: () => void }
          if (typeof closable.close === 'function') closable.close()
          else uWS.us_listen_socket_close(listenSocket)
        },
      })
    })
  })
}

function parsePort(argv: readonly string[]): number {
  const i = argv.indexOf('--port')
  const raw = i >= 0 ? argv[i + 1] : '0'
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad --port: ${raw}`)
  return port
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) upstreamMain()

/** The upstream as a process: listens on --port (0 = any), prints `READY <port>`, stops on SIGTERM/SIGINT. */
export function upstreamMain(): void {
  startUpstream(parsePort(process.argv.slice(2))).then(
    (up) => {
      process.stdout.write(`READY ${up.port}\n`)
      const stop = (): void => {
        up.close()
        process.exit(0)
      }
      process.on('SIGTERM', stop)
      process.on('SIGINT', stop)
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
      process.exit(1)
    },
  )
}
