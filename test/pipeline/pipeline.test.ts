import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import uWS from 'uWebSockets.js'
import { z } from 'zod'
import { loadConfigObject } from '../../src/config/load.js'
import { compilePipelines, runAccess, type Step } from '../../src/pipeline/compile.js'
import type { RequestContext } from '../../src/pipeline/context.js'
import { registerPlugin, type Plugin } from '../../src/pipeline/plugin.js'
import { respond } from '../../src/pipeline/respond.js'
import { compileTrustedIps } from '../../src/proxy/headers.js'
import { PoolRegistry } from '../../src/proxy/pools.js'
import { compileSnapshot } from '../../src/worker/compile.js'
import { ConsumerIndex } from '../../src/auth/consumers.js'
import { JwksKeys } from '../../src/auth/jwks/keys.js'
import { ProxyServer } from '../../src/worker/http.js'
import { get } from '../helpers/http.js'
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js'

// The plugin pipeline in-process: a real uWS listener and ProxyServer in this test's process, with test
// plugins registered here (a spawned gateway only knows the bundled plugins). Phases run in priority
// order, async access plugins hold the request, header-phase edits are validated before uWS writes them.

const order: string[] = []

const tagger: Plugin<{ tag: string }, { tag: string }> = {
  name: 'test-tagger',
  priority: 1000,
  schema: z.strictObject({ tag: z.string().default('t') }),
  compile: (c) => ({ tag: c.tag }),
  access(ctx, s) {
    order.push(`tagger:${s.tag}`)
    ctx.upstreamHeaders!.push('x-tag', s.tag)
    return true
  },
  header(_ctx, s, headers) {
    headers.push('x-tagged', s.tag)
    headers.push('x-evil', 'a\r\nInjected: yes') // must never reach the client
    const i = headers.findIndex((h, k) => k % 2 === 0 && h.toLowerCase() === 'x-drop-me')
    if (i >= 0) headers.splice(i, 2)
  },
  log(ctx) {
    order.push(`log:${ctx.status}`)
  },
}

const slowGate: Plugin<{ deny: boolean }, { deny: boolean }> = {
  name: 'test-slow-gate',
  priority: 500,
  schema: z.strictObject({ deny: z.boolean().default(false) }),
  compile: (c) => c,
  async access(ctx: RequestContext, s) {
    order.push('gate')
    await new Promise((r) => setTimeout(r, 30))
    if (s.deny) {
      respond(ctx, 401, '{"message":"Unauthorized"}', 'application/json; charset=utf-8', ['www-authenticate', 'Key', 'x-bad', 'v\nx'])
      return false
    }
    ctx.upstreamPath = '/rewritten'
    return true
  },
}

const thrower: Plugin<object, null> = {
  name: 'test-thrower',
  priority: 1,
  schema: z.strictObject({}),
  compile: () => null,
  access() {
    throw new Error('boom')
  },
}

let up: Upstream
let listen: uWS.us_listen_socket
let port: number

before(async () => {
  for (const p of [tagger, slowGate, thrower]) registerPlugin(p)
  up = await startUpstream((req, res, body) => {
    res.setHeader('x-drop-me', '1')
    echo('up')(req, res, body)
  })
  const loaded = await loadConfigObject({
    _format_version: '3.0',
    services: [
      {
        name: 'svc',
        url: up.url,
        routes: [
          { name: 'open', paths: ['/open'], plugins: [{ name: 'test-tagger', config: { tag: 'A' } }, { name: 'test-slow-gate' }] },
          { name: 'denied', paths: ['/denied'], plugins: [{ name: 'test-slow-gate', config: { deny: true } }] },
          { name: 'broken', paths: ['/broken'], plugins: [{ name: 'test-thrower' }] },
          { name: 'none', paths: ['/none'] },
        ],
      },
    ],
  })
  const snapshot = compileSnapshot(loaded.config, loaded.settings, 1, loaded.hash, new PoolRegistry({ connections: 4, keepAliveTimeout: 5000 }))
  const server = new ProxyServer(snapshot, { maxHeaderCount: 48, maxHeaderBytes: 32768, maxUriLength: 8192, maxBodyBytes: 0 }, compileTrustedIps([]), null)
  const app = uWS.App().any('/*', server.handler('http', 0))
  await new Promise<void>((resolve) =>
    app.listen('127.0.0.1', 0, (s) => {
      listen = s
      port = uWS.us_socket_local_port(s)
      resolve()
    }),
  )
})

after(async () => {
  uWS.us_listen_socket_close(listen)
  await up.close()
})

describe('pipeline', () => {
  test('phases compile to null when a route has no plugins', async () => {
    const loaded = await loadConfigObject({
      _format_version: '3.0',
      services: [{ name: 's', url: 'http://127.0.0.1:1', routes: [{ name: 'r', paths: ['/'] }] }],
    })
    const env = { consumers: new ConsumerIndex(loaded.config.consumers), jwks: new JwksKeys(), workers: 1 }
    const p = compilePipelines(loaded.config, env).get(loaded.config.routes[0].id)!
    assert.deepEqual(p, { access: null, header: null, log: null, forConsumer: null })
  })

  test('access plugins run by priority; an async one holds the request; edits reach the upstream', async () => {
    order.length = 0
    const r = await get(`http://127.0.0.1:${port}/open`)
    assert.equal(r.status, 200)
    assert.deepEqual(order.slice(0, 2), ['tagger:A', 'gate'])
    assert.equal(r.json.url, '/rewritten', 'the path an access plugin set is the one forwarded')
    assert.equal(r.json.headers['x-tag'], 'A')
  })

  test('header phase: additions reach the client, removals stick, CR/LF values are dropped', async () => {
    const r = await get(`http://127.0.0.1:${port}/open`)
    assert.equal(r.headers['x-tagged'], 'A')
    assert.equal(r.headers['x-drop-me'], undefined)
    assert.equal(r.headers['x-evil'], undefined)
    assert.equal(r.headers['injected'], undefined)
  })

  test('log phase runs after the response with the final status', async () => {
    order.length = 0
    await get(`http://127.0.0.1:${port}/open`)
    await new Promise((r) => setTimeout(r, 20))
    assert.ok(order.includes('log:200'), JSON.stringify(order))
  })

  test('an access plugin that answers: its response, its valid headers, nothing forwarded', async () => {
    const before = up.requests.length
    const r = await get(`http://127.0.0.1:${port}/denied`)
    assert.equal(r.status, 401)
    assert.equal(r.headers['www-authenticate'], 'Key')
    assert.equal(r.headers['x-bad'], undefined)
    assert.equal(up.requests.length, before)
  })

  test('a plugin that throws gives a 500 with a stable code, and the worker keeps serving', async () => {
    const r = await get(`http://127.0.0.1:${port}/broken`)
    assert.equal(r.status, 500)
    assert.equal(r.json.code, 'SLUICE_ERR_INTERNAL')
    assert.equal((await get(`http://127.0.0.1:${port}/none`)).status, 200)
  })

  test('runAccess: a false from a sync plugin stops the loop', () => {
    const calls: string[] = []
    const mk = (name: string, v: boolean): Step => ({
      plugin: { name, priority: 0, schema: z.object({}), compile: () => null, access: () => (calls.push(name), v) },
      state: null,
    })
    assert.equal(runAccess({ aborted: false } as RequestContext, [mk('a', true), mk('b', false), mk('c', true)]), false)
    assert.deepEqual(calls, ['a', 'b'])
  })
})
