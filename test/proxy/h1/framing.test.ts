import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { H1Pool } from '../../../src/proxy/h1/pool.js'
import { dribble, rawServer, run } from './helpers.js'

/** Response bytes and what the handler must see. */
interface Case {
  name: string
  response: string
  method?: string
  status: number
  body: string
  /** Header names and values expected (as sent). */
  headers?: string[]
  /** The server closes after writing (the body runs until close). */
  closeAfter?: boolean
}

const CASES: Case[] = [
  {
    name: 'Content-Length body',
    response: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Name: Value\r\n\r\nhello',
    status: 200,
    body: 'hello',
    headers: ['Content-Length', '5', 'X-Name', 'Value'],
  },
  {
    name: 'chunked body with extensions and trailers',
    response:
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5;ext=1\r\nhello\r\n' +
      'A\r\n, world!!!\r\n' +
      '0\r\nX-Trailer: t\r\n\r\n',
    status: 200,
    body: 'hello, world!!!',
  },
  {
    name: 'body until close',
    response: 'HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nstreamed until the end',
    status: 200,
    body: 'streamed until the end',
    closeAfter: true,
  },
  {
    name: 'interim 1xx responses skipped',
    response: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
    status: 201,
    body: 'ok',
    headers: ['Content-Length', '2'],
  },
  {
    name: 'HEAD: no body whatever the Content-Length says',
    response: 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n',
    method: 'HEAD',
    status: 200,
    body: '',
  },
  { name: '204: no body', response: 'HTTP/1.1 204 No Content\r\n\r\n', status: 204, body: '' },
  { name: '304: no body despite a Content-Length', response: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n', status: 304, body: '' },
  {
    name: 'empty reason phrase, header value whitespace trimmed',
    response: 'HTTP/1.1 404\r\nX-Pad:  \t padded \t\r\nContent-Length: 0\r\n\r\n',
    status: 404,
    body: '',
    headers: ['X-Pad', 'padded', 'Content-Length', '0'],
  },
  {
    name: 'equal duplicate Content-Length accepted',
    response: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
    status: 200,
    body: 'abc',
  },
]

describe('h1 response framing', () => {
  for (const c of CASES) {
    for (const split of ['whole', 'one byte per read'] as const) {
      test(`${c.name} (${split})`, async () => {
        const srv = await rawServer((socket) => {
          const done = split === 'whole' ? Promise.resolve(void socket.write(c.response, 'latin1')) : dribble(socket, c.response)
          void done.then(() => {
            if (c.closeAfter) socket.end()
          })
        })
        const pool = new H1Pool(srv.origin, { connections: 1 })
        try {
          const out = await run(pool, { method: c.method ?? 'GET' })
          assert.equal(out.error, null, out.error?.message)
          assert.deepEqual(out.events, c.body === '' ? ['connect', 'headers', 'complete'] : ['connect', 'headers', 'data', 'complete'])
          assert.equal(out.status, c.status)
          assert.equal(out.body.toString('latin1'), c.body)
          if (c.headers) assert.deepEqual(out.headers, c.headers)
          if (split === 'one byte per read' && c.body.length > 1) assert.ok(out.chunks > 1, 'the body arrived in pieces')
        } finally {
          await pool.destroy()
          await srv.close()
        }
      })
    }
  }

  test('keep-alive after each framing: one socket carries CL, chunked, 204, HEAD and 304 in turn', async () => {
    const responses = [
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\ncd\r\n0\r\n\r\n',
      'HTTP/1.1 204 No Content\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n',
      'HTTP/1.1 304 Not Modified\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz',
    ]
    const srv = await rawServer((socket, _head, i) => socket.write(responses[i], 'latin1'))
    const pool = new H1Pool(srv.origin, { connections: 4 })
    try {
      const bodies: string[] = []
      for (let i = 0; i < responses.length; i++) {
        const out = await run(pool, { method: i === 3 ? 'HEAD' : 'GET' })
        assert.equal(out.error, null)
        bodies.push(out.body.toString())
      }
      assert.deepEqual(bodies, ['ab', 'cd', '', '', '', 'z'])
      assert.equal(srv.connections, 1)
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })

  test('body chunks stay intact after the callback (the read buffer is shared by all sockets)', async () => {
    const a = 'A'.repeat(300_000)
    const b = 'B'.repeat(300_000)
    const srv = await rawServer((socket, head) => {
      const body = head.startsWith('GET /a') ? a : b
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
    })
    const pool = new H1Pool(srv.origin, { connections: 2 })
    try {
      const [oa, ob] = await Promise.all([run(pool, { path: '/a' }), run(pool, { path: '/b' })])
      assert.equal(oa.body.toString(), a)
      assert.equal(ob.body.toString(), b)
      assert.ok(oa.headers.length === 2 && oa.headers[1] === String(a.length))
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })
})

describe('h1 hostile responses', () => {
  const BAD: Array<[string, string, string]> = [
    ['Content-Length with Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['Transfer-Encoding then Content-Length', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['differing duplicate Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', 'HPE_INVALID_CONTENT_LENGTH'],
    ['non-digit Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello', 'HPE_INVALID_CONTENT_LENGTH'],
    ['negative Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
    ['Content-Length list', 'HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello', 'HPE_INVALID_CONTENT_LENGTH'],
    ['huge Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
    ['chunk size overflow', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nx\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['chunk size not hex', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['chunk data longer than its size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n', 'HPE_CR_EXPECTED'],
    ['chunked not last', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['bare LF in the headers', 'HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2\r\nContent-Length: 0\r\n\r\n', 'HPE_CR_EXPECTED'],
    ['bare CR in a header value', 'HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\nContent-Length: 0\r\n\r\n', 'HPE_LF_EXPECTED'],
    ['NUL in a header value', 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: a\r\n  folded\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['not HTTP', 'SSH-2.0-OpenSSH_9.6\r\n\r\n', 'HPE_INVALID_VERSION'],
    ['HTTP/2 status line', 'HTTP/2.0 200 OK\r\n\r\n', 'HPE_INVALID_VERSION'],
    ['bad status code', 'HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['101 upgrade', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n', 'SLUICE_H1_UPGRADE'],
    ['header section over 64 KiB', `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`, 'HPE_HEADER_OVERFLOW'],
    ['header section over 64 KiB, never ending', `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70_000)}`, 'HPE_HEADER_OVERFLOW'],
    ['trailers over 64 KiB', `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: ${'t'.repeat(70_000)}\r\n\r\n`, 'HPE_HEADER_OVERFLOW'],
  ]
  for (const [name, response, code] of BAD) {
    test(`${name} -> ${code}`, async () => {
      const srv = await rawServer((socket) => socket.write(response, 'latin1'))
      const pool = new H1Pool(srv.origin, { connections: 1 })
      try {
        const out = await run(pool)
        assert.equal(out.error?.code, code, out.error?.message)
        assert.equal(out.events[out.events.length - 1], 'error')
        // A failed response never leaves a socket in the pool.
        assert.equal(pool.size, 0)
      } finally {
        await pool.destroy()
        await srv.close()
      }
    })
  }

  test('bytes beyond the response: completed, but the socket is not reused', async () => {
    const srv = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA', 'latin1'))
    const pool = new H1Pool(srv.origin, { connections: 1 })
    try {
      const first = await run(pool)
      assert.equal(first.body.toString(), 'ok')
      assert.equal(pool.size, 0)
      const second = await run(pool)
      assert.equal(second.body.toString(), 'ok')
      assert.equal(srv.connections, 2)
    } finally {
      await pool.destroy()
      await srv.close()
    }
  })
})
