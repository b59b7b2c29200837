import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startGateway } from '../helpers/gateway.js'
import { get } from '../helpers/http.js'
import { echo, startUpstream } from '../helpers/upstream.js'

// On a dual-stack listener uWS spells peers in full IPv6 form (0000:...:ffff:7f00:0001); the gateway
// forwards the canonical address, the one trusted_ips and logs compare against.
test('dual-stack listener: X-Forwarded-For and X-Real-IP carry canonical addresses', async () => {
  const up = await startUpstream(echo('up'))
  const gw = await startGateway({
    _format_version: '3.0',
    settings: { proxy_listen: '::' },
    services: [{ name: 'up', url: up.url, routes: [{ name: 'all', paths: ['/'] }] }],
  })
  try {
    const v4 = await get(`http://127.0.0.1:${gw.proxyPort}/`)
    assert.equal(v4.json.headers['x-forwarded-for'], '127.0.0.1')
    assert.equal(v4.json.headers['x-real-ip'], '127.0.0.1')
    const v6 = await get(`http://[::1]:${gw.proxyPort}/`)
    assert.equal(v6.json.headers['x-forwarded-for'], '::1')
  } finally {
    await gw.stop()
    await up.close()
  }
})
