import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { startGateway, type Gateway } from '../helpers/gateway.js'
import { raw } from '../helpers/http.js'
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js'

// Requests the uWebSockets.js v20.30 parser never hands to Sluice (platform-notes.md). Sluice cannot
// answer them with a 4xx; these tests pin down what does happen, so a change of uWS build that fixes
// (or worsens) it is noticed: no response is sent, the upstream never sees the request, and uWS closes
// the connection by itself (its idle timeout, about 10 s) instead of leaving it open for ever.

let gw: Gateway
let up: Upstream

before(async () => {
  up = await startUpstream(echo('up'))
  gw = await startGateway({
    _format_version: '3.0',
    services: [{ name: 'up', url: up.url, routes: [{ name: 'all', paths: ['/'] }] }],
  })
})
after(async () => {
  await gw.stop()
  await up.close()
})

const cases: Record<string, string> = {
  'more than 48 header lines': `GET / HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 49 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`,
  'HTTP/1.0 request': 'GET / HTTP/1.0\r\nHost: a\r\n\r\n',
  'whitespace before the colon': 'GET / HTTP/1.1\r\nHost : a\r\n\r\n',
  'obs-fold continuation line': 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n',
  'absolute-form request target': 'GET http://evil.example/x HTTP/1.1\r\nHost: a\r\n\r\n',
  'Transfer-Encoding together with Content-Length': 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'missing Host': 'GET / HTTP/1.1\r\n\r\n',
  'NUL in a header value': 'GET / HTTP/1.1\r\nHost: a\r\nX-Evil: a\x00b\r\n\r\n',
  'control byte 0x01 in a header value': 'GET / HTTP/1.1\r\nHost: a\r\nX-Evil: a\x01b\r\n\r\n',
  'an underscore in a header name': 'GET / HTTP/1.1\r\nHost: a\r\nX_Api_Key: k\r\n\r\n',
}

test('requests uWS refuses before Sluice sees them: no response, connection closed, upstream untouched', async () => {
  const before = up.requests.length
  const results = await Promise.all(Object.entries(cases).map(async ([name, payload]) => ({ name, r: await raw(gw.proxyPort, payload, 20_000) })))
  for (const { name, r } of results) {
    assert.equal(r.data, '', `${name}: uWS sent ${JSON.stringify(r.data.slice(0, 80))}`)
    assert.ok(r.closed, `${name}: connection still open after 20 s`)
  }
  assert.equal(up.requests.length, before)
})

// uWS cannot answer a pipelined request while the response before it is still pending (every proxied
// response is): it closes the connection, and the first response is lost too. Browsers, curl, undici
// (pipelining 1 by default), nginx and most load generators do not pipeline.
test('pipelined requests: uWS closes the connection without answering', async () => {
  const r = await raw(gw.proxyPort, 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n', 5000)
  assert.equal(r.data, '')
  assert.ok(r.closed)
})
