import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { startGateway, type Gateway } from '../../helpers/gateway.js'
import { get } from '../../helpers/http.js'
import { echo, startUpstream, type Upstream } from '../../helpers/upstream.js'

// request-termination through a real gateway: scopes and their precedence (route > service > global),
// trigger, custom bodies, a disabled instance; the upstream never sees a terminated request.

let up: Upstream
let gw: Gateway

before(async () => {
  up = await startUpstream(echo('up'))
  gw = await startGateway({
    _format_version: '3.0',
    plugins: [{ name: 'request-termination', config: { status_code: 503, message: 'global maintenance' }, enabled: true }],
    services: [
      {
        name: 'svc',
        url: up.url,
        plugins: [{ name: 'request-termination', config: { status_code: 410, body: 'gone for good', content_type: 'text/plain' } }],
        routes: [
          { name: 'svc-route', paths: ['/svc'] },
          { name: 'route-level', paths: ['/route-level'], plugins: [{ name: 'request-termination', config: { status_code: 404, message: 'route says no' } }] },
          { name: 'route-off', paths: ['/route-off'], plugins: [{ name: 'request-termination', enabled: false }] },
        ],
      },
      {
        name: 'triggered',
        url: up.url,
        routes: [{ name: 'trig', paths: ['/trig'], plugins: [{ name: 'request-termination', config: { status_code: 403, trigger: 'X-Block' } }] }],
      },
      { name: 'plain', url: up.url, routes: [{ name: 'plain', paths: ['/plain'] }] },
    ],
  })
})

after(async () => {
  await gw.stop()
  await up.close()
})

test('a global instance applies where nothing more specific does', async () => {
  const r = await get(`${gw.url}/plain`)
  assert.equal(r.status, 503)
  assert.deepEqual(r.json, { message: 'global maintenance' })
})

test('a service instance beats the global one; raw body with its content type', async () => {
  const r = await get(`${gw.url}/svc`)
  assert.equal(r.status, 410)
  assert.equal(r.body, 'gone for good')
  assert.equal(r.headers['content-type'], 'text/plain')
  assert.ok(r.headers['x-correlation-id'], 'the correlation id is echoed on plugin answers too')
})

test('a route instance beats the service one', async () => {
  const r = await get(`${gw.url}/route-level`)
  assert.equal(r.status, 404)
  assert.deepEqual(r.json, { message: 'route says no' })
})

test('a disabled route instance does not apply, and does not hide the service instance either', async () => {
  const r = await get(`${gw.url}/route-off`)
  assert.equal(r.status, 410)
})

test('trigger: only requests carrying the header or query parameter are terminated', async () => {
  const before = up.requests.length
  assert.equal((await get(`${gw.url}/trig`, { 'x-block': '1' })).status, 403)
  assert.equal((await get(`${gw.url}/trig?X-Block=1`)).status, 403)
  assert.equal(up.requests.length, before, 'terminated requests never reach the upstream')
  const passed = await get(`${gw.url}/trig?other=1`)
  assert.equal(passed.status, 200)
  assert.equal(up.requests.length, before + 1)
})

test('an unknown plugin name is refused at config load with its path', async () => {
  await assert.rejects(
    startGateway({ _format_version: '3.0', plugins: [{ name: 'no-such-plugin' }] }),
    /plugins\[0\]\.name/,
  )
})
