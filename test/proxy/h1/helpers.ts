import net from 'node:net'
import type { AddressInfo } from 'node:net'
import type { H1DispatchOptions } from '../../../src/proxy/h1/pool.js'

/** Anything with undici's legacy dispatch (H1Pool, undici Pool). */
export interface Dispatching {
  dispatch(opts: H1DispatchOptions, handler: object): boolean
}

export interface Outcome {
  /** Callback names in order (consecutive onData merged into one 'data'). */
  events: string[]
  status: number
  statusText: string
  headers: string[]
  body: Buffer
  chunks: number
  error: (Error & { code?: string }) | null
}

/** A handler recording what the client called, in order. */
export class Recorder {
  readonly events: string[] = []
  status = 0
  statusText = ''
  headers: string[] = []
  readonly chunks: Buffer[] = []
  error: (Error & { code?: string }) | null = null
  abort: ((err?: Error) => void) | null = null
  resume: (() => void) | null = null
  readonly done: Promise<Outcome>
  private settle!: (o: Outcome) => void
  /** Set by tests: called in onConnect / per chunk; return false from onData to pause. */
  onConnectHook: ((abort: (err?: Error) => void) => void) | null = null
  onDataHook: ((chunk: Buffer) => boolean) | null = null
  onHeadersResult = true

  constructor() {
    this.done = new Promise((resolve) => (this.settle = resolve))
  }

  private push(e: string): void {
    if (e === 'data' && this.events[this.events.length - 1] === 'data') return
    this.events.push(e)
  }

  onConnect(abort: (err?: Error) => void): void {
    this.push('connect')
    this.abort = abort
    this.onConnectHook?.(abort)
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
    this.push('headers')
    this.status = status
    this.statusText = statusText
    this.headers = raw.map((b) => b.toString('latin1'))
    this.resume = resume
    return this.onHeadersResult
  }

  onData(chunk: Buffer): boolean {
    this.push('data')
    // Copied by the test only to check the client's chunk stays intact after the callback.
    this.chunks.push(chunk)
    return this.onDataHook === null ? true : this.onDataHook(chunk)
  }

  onComplete(): void {
    this.push('complete')
    this.finish()
  }

  onError(err: Error): void {
    this.push('error')
    this.error = err
    this.finish()
  }

  private finish(): void {
    this.settle({
      events: this.events,
      status: this.status,
      statusText: this.statusText,
      headers: this.headers,
      body: Buffer.concat(this.chunks),
      chunks: this.chunks.length,
      error: this.error,
    })
  }
}

export function run(pool: Dispatching, opts: Partial<H1DispatchOptions> = {}, rec = new Recorder()): Promise<Outcome> {
  pool.dispatch({ path: '/', method: 'GET', headers: [], ...opts }, rec)
  return rec.done
}

export interface RawServer {
  readonly port: number
  readonly origin: string
  /** Connections accepted so far. */
  connections: number
  readonly sockets: Set<net.Socket>
  close(): Promise<void>
}

/**
 * A net server answering with exact bytes: `onRequest(socket, head, index)` is called for each request
 * head that arrives on a connection (index counts requests on that connection).
 */
export async function rawServer(onRequest: (socket: net.Socket, head: string, index: number) => void): Promise<RawServer> {
  const sockets = new Set<net.Socket>()
  const state = { connections: 0 }
  const server = net.createServer((socket) => {
    state.connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let buffered = ''
    let index = 0
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('latin1')
      for (;;) {
        const at = buffered.indexOf('\r\n\r\n')
        if (at < 0) return
        const head = buffered.slice(0, at + 4)
        buffered = buffered.slice(at + 4)
        // Bodies are not parsed: tests with request bodies use node:http servers.
        onRequest(socket, head, index++)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    get connections() {
      return state.connections
    },
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  } as RawServer
}

/** Writes `bytes` one byte per turn of the event loop (each its own TCP segment: noDelay). */
export async function dribble(socket: net.Socket, bytes: string | Buffer): Promise<void> {
  socket.setNoDelay(true)
  const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes
  for (let i = 0; i < buf.length; i++) {
    if (socket.destroyed) return
    socket.write(buf.subarray(i, i + 1))
    await new Promise((r) => setTimeout(r, 1))
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
