import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfigObject } from '../../../src/config/load.js'
import { ConfigError } from '../../../src/errors.js'
import '../../../src/plugins/index.js'

// The rate-limiting config: Kong's defaults (sync_rate aside, documented), and every refusal with its path.

const cfg = (config: object) => ({
  _format_version: '3.0',
  services: [{ name: 's', url: 'http://127.0.0.1:1', routes: [{ name: 'r', paths: ['/'] }] }],
  plugins: [{ name: 'rate-limiting', config }],
})

async function issues(config: object): Promise<string[]> {
  try {
    await loadConfigObject(cfg(config))
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`)
    throw err
  }
  return []
}

describe('rate-limiting config', () => {
  test("Kong's defaults", async () => {
    const c = (await loadConfigObject(cfg({ minute: 10 }))).config.plugins[0].config
    assert.equal(c.limit_by, 'consumer')
    assert.equal(c.policy, 'local')
    assert.equal(c.fault_tolerant, true)
    assert.equal(c.hide_client_headers, false)
    assert.equal(c.error_code, 429)
    assert.equal(c.error_message, 'API rate limit exceeded')
    assert.equal(c.algorithm, 'token-bucket')
    assert.equal(c.sync_rate, 1)
    assert.equal((c.redis as { port: number }).port, 6379)
    assert.equal((c.redis as { timeout: number }).timeout, 2000)
  })

  test('refusals name the field', async () => {
    const p = 'plugins[0].config'
    assert.deepEqual(await issues({}), [`${p}.second: set at least one limit: second, minute, hour, day, month or year`])
    assert.deepEqual(await issues({ second: 10, minute: 5 }), [`${p}.minute: the limit for minute (5) must not be less than the limit for second (10)`])
    assert.deepEqual(await issues({ minute: 5, limit_by: 'header' }), [`${p}.header_name: required when limit_by is 'header'`])
    assert.deepEqual(await issues({ minute: 5, limit_by: 'path' }), [`${p}.path: required when limit_by is 'path'`])
    assert.match((await issues({ minute: 5, limit_by: 'path', path: 'no-slash' }))[0], /^plugins\[0\]\.config\.path: must start with '\/'/)
    assert.match((await issues({ minute: 5, policy: 'cluster' }))[0], /^plugins\[0\]\.config\.policy: 'cluster' keeps counters in Kong's database/)
    assert.deepEqual(await issues({ minute: 5, policy: 'redis' }), [
      `${p}.redis.host: required when policy is 'redis' (or sentinel_master + sentinel_nodes, or cluster_nodes)`,
    ])
    assert.deepEqual(await issues({ minute: 5, sync_rate: 0.001 }), [`${p}.sync_rate: must be -1 (synchronous) or at least 0.02 seconds`])
    assert.match((await issues({ minute: 0 }))[0], /^plugins\[0\]\.config\.minute/)
    assert.match((await issues({ minute: 5, error_code: 200 }))[0], /^plugins\[0\]\.config\.error_code/)
    assert.match((await issues({ minute: 5, header_name: 'x_tenant', limit_by: 'header' }))[0], /^plugins\[0\]\.config\.header_name: must be a valid header name/)
    assert.deepEqual(await issues({ minute: 5, policy: 'redis', redis: { host: '127.0.0.1' } }), [])
  })
})
