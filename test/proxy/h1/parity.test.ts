import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type net from 'node:net'
import { Readable } from 'node:stream'
import { Pool } from 'undici'
import { H1Pool, type H1DispatchOptions } from '../../../src/proxy/h1/pool.js'
import { Recorder, dribble, rawServer, run, type Dispatching, type Outcome } from './helpers.js'

/**
 * The same handler sequence against undici's Pool and H1Pool, for a set of upstream behaviours: the
 * callback traces (order, status, reason, raw headers, body bytes, error code) must match, since
 * forward.ts's Exchange is written against undici's behaviour.
 */
interface Behaviour {
  name: string
  respond: (socket: net.Socket, head: string) => void
  opts?: Partial<H1DispatchOptions>
  /** Error codes the two clients name differently for the same failure (undici's llhttp message codes). */
  sameErrorOnly?: boolean
  ignoreStatusText?: boolean
}

const BEHAVIOURS: Behaviour[] = [
  { name: 'Content-Length', respond: (s) => s.write('HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 5\r\n\r\nhello') },
  { name: 'chunked', respond: (s) => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n') },
  {
    name: 'chunked, one byte per read',
    respond: (s) => void dribble(s, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'),
    // undici 7.30 reports an empty reason phrase when the status line arrives split (it keeps only the
    // last piece llhttp hands it); H1Pool reports 'OK'.
    ignoreStatusText: true,
  },
  { name: 'until close', respond: (s) => s.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it') },
  { name: '204', respond: (s) => s.write('HTTP/1.1 204 No Content\r\nX-B: 2\r\n\r\n') },
  { name: '304', respond: (s) => s.write('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n') },
  { name: 'HEAD', opts: { method: 'HEAD' }, respond: (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n') },
  { name: '404 with a reason', respond: (s) => s.write('HTTP/1.1 404 Not Found Here\r\nContent-Length: 1\r\n\r\nx') },
  { name: 'Connection: close', respond: (s) => s.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok') },
  { name: 'HTTP/1.0', respond: (s) => s.end('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok') },
  { name: 'closed mid-body on keep-alive', respond: (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc') },
  { name: 'closed before any byte', respond: (s) => s.end() },
  { name: 'short body on an announced close', respond: (s) => s.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10\r\n\r\nabc') },
  { name: 'headers timeout', opts: { headersTimeout: 100 }, respond: () => {} },
  { name: 'body timeout', opts: { bodyTimeout: 100 }, respond: (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc') },
  { name: 'invalid header value', opts: { headers: ['x-a', 'a\r\nb'] }, respond: () => {} },
  {
    name: 'POST with a Buffer body',
    opts: { method: 'POST', body: Buffer.from('abc') },
    // (undici also sends `connection: keep-alive`, the HTTP/1.1 default H1Pool leaves out.)
    respond: (s, head) => s.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${/\r\ncontent-length: 3\r\n/.test(head) ? 'ok' : 'no'}`),
  },
  {
    name: 'Content-Length with Transfer-Encoding',
    respond: (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
    sameErrorOnly: true,
  },
  { name: 'invalid chunk size', respond: (s) => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n'), sameErrorOnly: true },
]

function view(o: Outcome, b: Behaviour): unknown {
  const sameErrorOnly = b.sameErrorOnly === true
  return {
    events: o.events,
    status: o.status,
    statusText: b.ignoreStatusText === true ? '' : o.statusText,
    headers: o.headers,
    body: o.body.toString('latin1'),
    error: o.error === null ? null : sameErrorOnly ? 'error' : o.error.code,
  }
}

async function outcome(make: (origin: string) => Dispatching & { destroy(): Promise<void> }, b: Behaviour): Promise<Outcome> {
  const srv = await rawServer((socket, head) => b.respond(socket, head))
  const pool = make(srv.origin)
  try {
    return await run(pool, { ...b.opts }, new Recorder())
  } finally {
    await pool.destroy()
    await srv.close()
  }
}

describe('H1Pool matches undici Pool callback traces', () => {
  for (const b of BEHAVIOURS) {
    test(b.name, async () => {
      const undici = await outcome((origin) => new Pool(origin, { connections: 1, pipelining: 1 }) as unknown as Dispatching & { destroy(): Promise<void> }, b)
      const sluice = await outcome((origin) => new H1Pool(origin, { connections: 1 }), b)
      assert.deepEqual(view(sluice, b), view(undici, b))
    })
  }

  test('POST with a streamed chunked body', async () => {
    const b: Behaviour = {
      name: 'stream',
      respond: (s, head) => s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${head.length}\r\n\r\n${head}`),
    }
    const u = await outcome((origin) => new Pool(origin, { connections: 1 }) as unknown as Dispatching & { destroy(): Promise<void> }, { ...b, opts: { method: 'POST', body: Readable.from(['a', 'b']) } })
    const s = await outcome((origin) => new H1Pool(origin, { connections: 1 }), { ...b, opts: { method: 'POST', body: Readable.from(['a', 'b']) } })
    assert.deepEqual(s.events, u.events)
    // Both send the stream chunked; the head the server saw differs only in header case/order.
    assert.match(u.body.toString(), /transfer-encoding: chunked/i)
    assert.match(s.body.toString(), /transfer-encoding: chunked/i)
  })
})
