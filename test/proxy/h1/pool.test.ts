import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { PassThrough, Readable } from 'node:stream'
import { H1Pool } from '../../../src/proxy/h1/pool.js'
import { Recorder, rawServer, run, sleep } from './helpers.js'

interface HttpServer {
  server: http.Server
  origin: string
  connections: number
  close(): Promise<void>
}

async function httpServer(handler: http.RequestListener): Promise<HttpServer> {
  const server = http.createServer(handler)
  const s = { server, origin: '', connections: 0, close: async () => {} }
  server.on('connection', () => s.connections++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  s.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  s.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return s
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
  })
}

describe('H1Pool: keep-alive and queueing', () => {
  test('one socket carries N sequential requests', async () => {
    const srv = await httpServer((req, res) => res.end(`hi ${req.url}`))
    const pool = new H1Pool(srv.origin, { connections: 8 })
    try {
      for (let i = 0; i < 20; i++) {
        const out = await run(pool, { path: `/n${i}` })
        assert.equal(out.body.toString(), `hi /n${i}`)
      }
      assert.equal(srv.connections, 1)
      assert.equal(pool.size, 1)
    } finally {
      await pool.close()
      await srv.close()
    }
  })

  test('requests beyond `connections` wait in a FIFO queue', async () => {
    let concurrent = 0
    let most = 0
    const order: string[] = []
    const srv = await httpServer((req, res) => {
      concurrent++
      most = Math.max(most, concurrent)
      order.push(req.url!)
      setTimeout(() => {
        concurrent--
        res.end(req.url)
      }, 20)
    })
    const pool = new H1Pool(srv.origin, { connections: 2 })
    try {
      const runs = []
      const accepted: boolean[] = []
      for (let i = 0; i < 8; i++) {
        const rec = new Recorder()
        accepted.push(pool.dispatch({ path: `/q${i}`, method: 'GET', headers: [] }, rec))
        runs.push(rec.done)
      }
      assert.equal(pool.pending, 6)
      assert.deepEqual(accepted, [true, true, false, false, false, false, false, false])
      const outs = await Promise.all(runs)
      assert.deepEqual(
        outs.map((o) => o.body.toString()),
        Array.from({ length: 8 }, (_, i) => `/q${i}`),
      )
      assert.equal(most, 2)
      assert.equal(srv.connections, 2)
      // FIFO: the queued requests reached the upstream in the order they were dispatched.
      assert.deepEqual(order.slice(2), ['/q2', '/q3', '/q4', '/q5', '/q6', '/q7'])
    } finally {
      await pool.close()
      await srv.close()
    }
  })

  test('the upstream closing an idle socket removes it from the pool', async () => {
    const srv = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx')
      setTimeout(() => socket.end(), 20)
    })
    const pool = new H1Pool(srv.origin, { connections: 2 })
    try {
      await run(pool)
      assert.equal(pool.size, 1)
      await sleep(100)
      assert.equal(pool.size, 0)
    } finally {
      await pool.close()
      await srv.close()
    }
  })

  test('idle sockets are closed after keepAliveTimeout', async () => {
    const srv = await httpServer((_req, res) => res.end('x'))
    const pool = new H1Pool(srv.origin, { connections: 2, keepAliveTimeout: 100 })
    try {
      await run(pool)
      assert.equal(pool.size, 1)
      await sleep(40)
      assert.equal(pool.size, 1)
      await sleep(300)
      assert.equal(pool.size, 0)
    } finally {
      await pool.close()
      await srv.close()
    }
  })

  test("the upstream's Keep-Alive: timeout lowers the idle time (2 s margin); 2 s or less: not reused", async () => {
    const srv = await rawServer((socket, head) => {
      const t = head.startsWith('GET /short') ? 2 : 3
      socket.write(`HTTP/1.1 200 OK\r\nKeep-Alive: timeout=${t}\r\nContent-Length: 1\r\n\r\nk`)
    })
    const pool = new H1Pool(srv.origin, { connections: 2, keepAliveTimeout: 10_000 })
    try {
      await run(pool, { path: '/short' })
      assert.equal(pool.size, 0)
      await run(pool, { path: '/three' })
      assert.equal(pool.size, 1)
      await sleep(700)
      assert.equal(pool.size, 1)
      await sleep(1000)
      assert.equal(pool.size, 0)
      assert.equal(srv.connections, 2)
    } finally {
      await pool.close()
      await srv.close()
    }
  })

  test('Connection: close and HTTP/1.0 responses are not reused', async () => {
    const srv = await rawServer((socket, head) => {
      if (head.startsWith('GET /close')) socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na')
      else socket.write('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nb')
    })
    const pool = new H1Pool(srv.origin, { connections: 2 })
    try {
      assert.equal((await run(pool, { path: '/close' })).body.toString(), 'a')
      assert.equal((await run(pool, { path: '/close' })).body.toString(), 'a')
      assert.equal((await run(pool, { path: '/10' })).body.toString(), 'b')
      assert.equal((await run(pool, { path: '/10' })).body.toString(), 'b')
      assert.equal(srv.connections, 4)
    } finally {
      await pool.close()
      await srv.close()
    }
  })

  test('close() waits for in-flight and queued requests, then closes the sockets', async () => {
    const srv = await httpServer((req, res) => setTimeout(() => res.end(req.url), 50))
    const pool = new H1Pool(srv.origin, { connections: 1 })
    const a = run(pool, { path: '/a' })
    const b = run(pool, { path: '/b' })
    const closed = pool.close()
    let closedFirst = false
    void closed.then(() => (closedFirst = true))
    const late = await run(pool, { path: '/late' })
    assert.equal(late.error?.code, 'UND_ERR_CLOSED')
    assert.equal((await a).body.toString(), '/a')
    assert.equal(closedFirst, false)
    assert.equal((await b).body.toString(), '/b')
    await closed
    assert.equal(pool.size, 0)
    await srv.close()
  })

  test('destroy() fails in-flight and queued requests', async () => {
    const srv = await httpServer(() => {})
    const pool = new H1Pool(srv.origin, { connections: 1 })
    const a = run(pool, { path: '/a' })
    const b = run(pool, { path: '/b' })
    await sleep(30)
    await pool.destroy()
    assert.equal((await a).error?.code, 'UND_ERR_DESTROYED')
    assert.equal((await b).error?.code, 'UND_ERR_DESTROYED')
    assert.deepEqual((await b).events, ['error'])
    await srv.close()
  })
})

describe('H1Pool: request bodies', () => {
  test('Buffer body, stream with Content-Length, chunked stream', async () => {
    const seen: Array<{ te: string | undefined; cl: string | undefined; body: string }> = []
    const srv = await httpServer((req, res) => {
      void readBody(req).then((body) => {
        seen.push({ te: req.headers['transfer-encoding'], cl: req.headers['content-length'], body: body.toString() })
        res.end('ok')
      })
    })
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      const big = 'x'.repeat(1_000_000)
      let out = await run(pool, { method: 'POST', body: Buffer.from('buffered body') })
      assert.equal(out.body.toString(), 'ok')
      out = await run(pool, { method: 'PUT', headers: ['content-length', String(big.length)], body: Readable.from([big.slice(0, 10), big.slice(10)]) })
      assert.equal(out.body.toString(), 'ok')
      out = await run(pool, { method: 'POST', body: Readable.from(['chunk one, ', 'chunk two']) })
      assert.equal(out.body.toString(), 'ok')
      out = await run(pool, { method: 'POST' })
      assert.equal(out.body.toString(), 'ok')
      assert.deepEqual(seen, [
        { te: undefined, cl: '13', body: 'buffered body' },
        { te: undefined, cl: String(big.length), body: big },
        { te: 'chunked', cl: undefined, body: 'chunk one, chunk two' },
        { te: undefined, cl: '0', body: '' },
      ])
      // All on one keep-alive socket.
      assert.equal(srv.connections, 1)
    } finally {
      await pool.close()
      await srv.close()
    }
  })

  test('a streamed body respects the socket: a slow upstream pauses the stream', async () => {
    let release: (() => void) | null = null
    const srv = await httpServer((req, res) => {
      req.pause()
      release = () => {
        void readBody(req).then((b) => res.end(String(b.length)))
        req.resume()
      }
    })
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      const body = new PassThrough()
      const done = run(pool, { method: 'POST', body })
      while (release === null) await sleep(5)
      let written = 0
      const piece = Buffer.alloc(64 * 1024, 1)
      // Write until the body stream itself reports it is full: that only happens when H1Pool paused it.
      while (body.write(piece)) {
        written += piece.length
        if (written > 256 * 1024 * 1024) break
        await new Promise((r) => setImmediate(r))
      }
      written += piece.length
      // Without H1Pool pausing it on a full socket, the stream would flow and never fill.
      assert.ok(written < 256 * 1024 * 1024, 'the body stream filled up')
      body.end()
      release!()
      const out = await done
      assert.equal(out.body.toString(), String(written))
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })

  test('a body stream error aborts the request', async () => {
    const srv = await httpServer((req) => req.resume())
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      const body = new PassThrough()
      const done = run(pool, { method: 'POST', body })
      body.write('start')
      await sleep(20)
      body.destroy(Object.assign(new Error('client went away'), { code: 'ETEST' }))
      const out = await done
      assert.equal(out.error?.code, 'ETEST')
      assert.equal(pool.size, 0)
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })

  test('a stream shorter than its Content-Length fails the request', async () => {
    const srv = await httpServer((req) => req.resume())
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      const out = await run(pool, { method: 'POST', headers: ['content-length', '100'], body: Readable.from(['short']) })
      assert.equal(out.error?.code, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH')
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })
})

describe('H1Pool: backpressure, abort', () => {
  test('a handler returning false stops reading until resume(): the upstream write blocks', async () => {
    let serverBlocked = false
    const total = 64 * 1024 * 1024
    const srv = await httpServer((_req, res) => {
      res.writeHead(200, { 'content-length': total })
      const piece = Buffer.alloc(256 * 1024, 7)
      let sent = 0
      const pump = (): void => {
        while (sent < total) {
          sent += piece.length
          if (!res.write(piece)) {
            serverBlocked = true
            res.once('drain', pump)
            return
          }
        }
        res.end()
      }
      pump()
    })
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      const rec = new Recorder()
      let received = 0
      let paused = false
      rec.onDataHook = (chunk) => {
        received += chunk.length
        if (received === chunk.length) {
          paused = true
          return false
        }
        return true
      }
      const done = run(pool, {}, rec)
      while (!paused) await sleep(5)
      // Stopped after the first chunk: the server fills the socket buffers and its write blocks.
      const before = received
      await sleep(300)
      assert.equal(received, before, 'no onData while paused')
      assert.equal(serverBlocked, true)
      assert.ok(received < total)
      rec.resume!()
      const out = await done
      assert.equal(out.body.length, total)
      assert.deepEqual(out.events, ['connect', 'headers', 'data', 'complete'])
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })

  test('pausing in onHeaders delays the body until resume()', async () => {
    const srv = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc'))
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      const rec = new Recorder()
      rec.onHeadersResult = false
      const done = run(pool, {}, rec)
      while (rec.resume === null) await sleep(5)
      await sleep(50)
      assert.deepEqual(rec.events, ['connect', 'headers'])
      rec.resume()
      const out = await done
      assert.equal(out.body.toString(), 'abc')
      // Reused after a paused response.
      assert.equal((await run(pool)).body.toString(), 'abc')
      assert.equal(srv.connections, 1)
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })

  test('abort() in onConnect: onError with the reason, the socket destroyed, nothing sent', async () => {
    const srv = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'))
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      const rec = new Recorder()
      rec.onConnectHook = (abort) => abort(new Error('client aborted'))
      const out = await run(pool, {}, rec)
      assert.deepEqual(out.events, ['connect', 'error'])
      assert.equal(out.error?.message, 'client aborted')
      assert.equal(pool.size, 0)
      await sleep(30)
      const before = srv.connections
      // The next request opens a new socket.
      assert.equal((await run(pool)).error, null)
      assert.equal(srv.connections, before + 1)
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })

  test('abort() mid-body destroys the socket (the upstream sees the close); a late abort is harmless', async () => {
    let upstreamClosed = false
    const srv = await rawServer((socket) => {
      socket.on('close', () => (upstreamClosed = true))
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst part')
    })
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      const rec = new Recorder()
      rec.onDataHook = () => {
        rec.abort!()
        return true
      }
      const out = await run(pool, {}, rec)
      assert.deepEqual(out.events, ['connect', 'headers', 'data', 'error'])
      assert.equal(out.error?.code, 'UND_ERR_ABORTED')
      await sleep(50)
      assert.equal(upstreamClosed, true)
      // Calling abort again after the end changes nothing.
      rec.abort!()
      assert.deepEqual(rec.events, ['connect', 'headers', 'data', 'error'])
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })

  test('an abort kept from a finished request does not touch the next request on its socket', async () => {
    const srv = await rawServer((socket) => setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 30))
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      const first = new Recorder()
      await run(pool, {}, first)
      const second = run(pool)
      first.abort!(new Error('late'))
      const out = await second
      assert.equal(out.error, null)
      assert.equal(out.body.toString(), 'ok')
      assert.equal(srv.connections, 1)
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })
})

describe('H1Pool: errors and timeouts', () => {
  test('ECONNREFUSED passes through; onConnect is never called', async () => {
    const probe = net.createServer()
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r))
    const port = (probe.address() as AddressInfo).port
    await new Promise<void>((r) => probe.close(() => r()))
    const pool = new H1Pool(`http://127.0.0.1:${port}`, { connections: 1 })
    const out = await run(pool)
    assert.equal(out.error?.code, 'ECONNREFUSED')
    assert.deepEqual(out.events, ['error'])
    await pool.destroy()
  })

  test('connect timeout: UND_ERR_CONNECT_TIMEOUT', async () => {
    // A listener that never accepts, its accept queue filled: the kernel drops further SYNs, so connect()
    // hangs. (libuv always accepts, so the listener is a python3 child.)
    const child = spawn('python3', [
      '-c',
      'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(30)',
    ])
    try {
      const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))))
      const fillers: net.Socket[] = []
      for (let i = 0; i < 4; i++) fillers.push(net.connect(port, '127.0.0.1').on('error', () => {}))
      await sleep(100)
      const pool = new H1Pool(`http://127.0.0.1:${port}`, { connections: 1, connect: { timeout: 200 } })
      const started = performance.now()
      const out = await run(pool, { headersTimeout: 2000 })
      const took = performance.now() - started
      for (const s of fillers) s.destroy()
      await pool.destroy()
      assert.equal(out.error?.code, 'UND_ERR_CONNECT_TIMEOUT')
      assert.deepEqual(out.events, ['error'])
      assert.ok(took >= 200 && took < 1000, `fired after ${took} ms`)
    } finally {
      child.kill()
    }
  })

  test('headers timeout: UND_ERR_HEADERS_TIMEOUT, socket dropped', async () => {
    const srv = await rawServer(() => {})
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      const started = performance.now()
      const out = await run(pool, { headersTimeout: 150 })
      const took = performance.now() - started
      assert.equal(out.error?.code, 'UND_ERR_HEADERS_TIMEOUT')
      assert.deepEqual(out.events, ['connect', 'error'])
      assert.ok(took >= 150 && took < 600, `fired after ${took} ms`)
      assert.equal(pool.size, 0)
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })

  test('body timeout between chunks: UND_ERR_BODY_TIMEOUT; steady chunks keep it alive', async () => {
    const srv = await rawServer((socket, head) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n')
      if (head.startsWith('GET /steady')) {
        let n = 0
        const timer = setInterval(() => {
          if (++n === 6) {
            clearInterval(timer)
            socket.write('0\r\n\r\n')
          } else socket.write('1\r\nb\r\n')
        }, 60)
      }
    })
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      const steady = await run(pool, { path: '/steady', bodyTimeout: 200 })
      assert.equal(steady.error, null)
      assert.equal(steady.body.toString(), 'abbbbb')
      const stalled = await run(pool, { path: '/stall', bodyTimeout: 150 })
      assert.equal(stalled.error?.code, 'UND_ERR_BODY_TIMEOUT')
      assert.deepEqual(stalled.events, ['connect', 'headers', 'data', 'error'])
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })

  test('a paused handler is not timed out by bodyTimeout', async () => {
    const srv = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab'))
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      const rec = new Recorder()
      rec.onDataHook = () => false
      const done = run(pool, { bodyTimeout: 100 }, rec)
      await sleep(400)
      assert.deepEqual(rec.events, ['connect', 'headers', 'data'])
      rec.onDataHook = null
      rec.resume!()
      const out = await done
      // Resumed: the clock restarts and the stalled upstream is now timed out.
      assert.equal(out.error?.code, 'UND_ERR_BODY_TIMEOUT')
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })

  test('connection closed mid-response: UND_ERR_SOCKET; announced close with a short body: length mismatch', async () => {
    const srv = await rawServer((socket, head) => {
      if (head.startsWith('GET /ka')) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort')
      else socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10\r\n\r\nshort')
    })
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      const ka = await run(pool, { path: '/ka' })
      assert.equal(ka.error?.code, 'UND_ERR_SOCKET')
      assert.deepEqual(ka.events, ['connect', 'headers', 'data', 'error'])
      const closing = await run(pool, { path: '/close' })
      assert.equal(closing.error?.code, 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH')
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })

  test('invalid request options: UND_ERR_INVALID_ARG, synchronously, nothing sent', async () => {
    const srv = await rawServer(() => assert.fail('nothing may reach the upstream'))
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      const bad: Array<Record<string, unknown>> = [
        { headers: ['x-a', 'line\r\nInjected: 1'] },
        { headers: ['x-a', 'nul\x00'] },
        { headers: ['bad name', 'v'] },
        { headers: ['transfer-encoding', 'chunked'] },
        { headers: ['upgrade', 'websocket'] },
        { headers: ['keep-alive', 'timeout=5'] },
        { headers: ['content-length', '1', 'content-length', '1'] },
        { headers: ['transfer-encoding', ['chunked']] },
        { headers: ['x-list', ['ok', 'bad\n']] },
        { path: '/a b' },
        { path: 'no-slash' },
        { method: 'GE T' },
      ]
      for (const opts of bad) {
        const rec = new Recorder()
        let sync = false
        rec.onConnectHook = null
        const accepted = pool.dispatch({ path: '/', method: 'GET', headers: [], ...opts } as never, rec)
        sync = rec.events.length > 0
        const out = await rec.done
        assert.equal(accepted, false)
        assert.equal(sync, true, JSON.stringify(opts))
        assert.equal(out.error?.code, 'UND_ERR_INVALID_ARG', JSON.stringify(opts))
        assert.deepEqual(out.events, ['error'])
      }
      await sleep(20)
      assert.equal(srv.connections, 0)
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })
})

describe('H1Pool: stale keep-alive sockets', () => {
  test('the upstream closed the idle socket as the request was sent: retried once on a fresh socket', async () => {
    // Answers the first request on each connection; a second request on the same connection is met with a
    // close (a keep-alive timeout racing the request).
    const srv = await rawServer((socket, head, i) => {
      if (i === 0) socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${head.length}\r\n\r\n${head}`)
      else socket.destroy()
    })
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      assert.equal((await run(pool)).error, null)
      const second = await run(pool, { path: '/again' })
      assert.equal(second.error, null)
      assert.match(second.body.toString(), /^GET \/again /)
      assert.deepEqual(second.events, ['connect', 'headers', 'data', 'complete'])
      assert.equal(srv.connections, 2)
      // Idempotent with a Buffer body and a bodiless POST are retried too.
      const put = await run(pool, { method: 'PUT', path: '/put', body: Buffer.from('x') })
      assert.equal(put.error, null)
      assert.equal(srv.connections, 3)
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })

  test('never for a POST with a streamed body, nor twice', async () => {
    const srv = await rawServer((socket, _head, i) => {
      if (i === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx')
      else socket.destroy()
    })
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      await run(pool)
      const out = await run(pool, { method: 'POST', body: Readable.from(['streamed']) })
      assert.ok(out.error !== null)
      assert.ok(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE'].includes(out.error.code!), out.error.code)
      // No second connection: not sent again.
      assert.equal(srv.connections, 1)
      // A POST with a Buffer body is not idempotent either.
      await run(pool)
      const post = await run(pool, { method: 'POST', body: Buffer.from('once') })
      assert.ok(post.error !== null)
      assert.equal(srv.connections, 2)
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })

  test('a fresh socket closed before the response is not retried', async () => {
    const srv = await rawServer((socket) => socket.destroy())
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      const out = await run(pool)
      assert.ok(['ECONNRESET', 'UND_ERR_SOCKET'].includes(out.error?.code ?? ''), out.error?.code)
      assert.equal(srv.connections, 1)
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })
})
