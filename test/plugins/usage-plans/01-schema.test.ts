import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { ConsumerIndex } from '../../../src/auth/consumers.js'
import { loadConfigObject } from '../../../src/config/load.js'
import { ConfigError } from '../../../src/errors.js'
import '../../../src/plugins/index.js'

// Usage plans in the config: the top-level plans, the consumers' references to them (checked at load,
// refused with their paths), the normalised form, the plan on CompiledConsumer, and the plugin's config.

const base = (extra: object) => ({
  _format_version: '3.0',
  services: [{ name: 's', url: 'http://127.0.0.1:1', routes: [{ name: 'r', paths: ['/'] }] }],
  ...extra,
})

async function issues(extra: object): Promise<string[]> {
  try {
    await loadConfigObject(base(extra))
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`)
    throw err
  }
  return []
}

describe('usage_plans', () => {
  test('plans and references normalise; consumers without a plan carry null', async () => {
    const { config } = await loadConfigObject(
      base({
        usage_plans: [
          { name: 'gold', throttle: { rate: 50, burst: 100 }, quota: { limit: 10000, period: 'month' }, tags: ['paid'] },
          { name: 'trial', quota: { limit: 100, period: 'day' } },
          { name: 'burst-only', throttle: { rate: 0.5, burst: 1 } },
        ],
        consumers: [{ username: 'alice', usage_plan: 'gold' }, { username: 'bob', usage_plan: 'trial' }, { custom_id: 'carol' }],
      }),
    )
    assert.deepEqual(config.usage_plans, [
      { name: 'gold', throttle: { rate: 50, burst: 100 }, quota: { limit: 10000, period: 'month' }, tags: ['paid'] },
      { name: 'trial', throttle: null, quota: { limit: 100, period: 'day' }, tags: [] },
      { name: 'burst-only', throttle: { rate: 0.5, burst: 1 }, quota: null, tags: [] },
    ])
    assert.deepEqual(config.consumers.map((c) => c.usage_plan), ['gold', 'trial', null])

    const index = new ConsumerIndex(config.consumers, config.usage_plans)
    const alice = index.find('alice')!
    assert.deepEqual(alice.plan, { name: 'gold', throttle: { rate: 50, burst: 100 }, quota: { limit: 10000, period: 'month' } })
    assert.equal(index.find('bob')!.plan!.throttle, null)
    assert.equal(index.find('carol')!.plan, null)
    // One object per plan, shared by its consumers.
    const twice = new ConsumerIndex(
      [...config.consumers, { ...config.consumers[0], id: '11111111-1111-4111-8111-111111111111', username: 'alice2' }],
      config.usage_plans,
    )
    assert.equal(twice.find('alice')!.plan, twice.find('alice2')!.plan)
  })

  test('an empty config has no plans', async () => {
    assert.deepEqual((await loadConfigObject(base({}))).config.usage_plans, [])
  })

  test('refusals name the field', async () => {
    assert.deepEqual(await issues({ consumers: [{ username: 'a', usage_plan: 'gold' }] }), ["consumers[0].usage_plan: no usage plan named 'gold'"])
    assert.deepEqual(
      await issues({ usage_plans: [{ name: 'gold', quota: { limit: 1, period: 'day' } }], consumers: [{ username: 'a' }, { username: 'b', usage_plan: 'golf' }] }),
      ["consumers[1].usage_plan: no usage plan named 'golf'; did you mean 'gold'?"],
    )
    assert.deepEqual(await issues({ usage_plans: [{ name: 'empty' }] }), ["usage_plans[0]: a usage plan must set 'throttle', 'quota' or both"])
    assert.deepEqual(
      await issues({ usage_plans: [{ name: 'p', quota: { limit: 1, period: 'day' } }, { name: 'p', throttle: { rate: 1, burst: 1 } }] }),
      ["usage_plans[1].name: duplicate usage plan name 'p' (also used by usage_plans[0])"],
    )
    assert.match((await issues({ usage_plans: [{ name: 'p', throttle: { rate: 0, burst: 1 } }] }))[0], /^usage_plans\[0\]\.throttle\.rate: /)
    assert.match((await issues({ usage_plans: [{ name: 'p', throttle: { rate: 1, burst: 0 } }] }))[0], /^usage_plans\[0\]\.throttle\.burst: /)
    assert.match((await issues({ usage_plans: [{ name: 'p', throttle: { rate: 1, burst: 1.5 } }] }))[0], /^usage_plans\[0\]\.throttle\.burst: /)
    assert.match((await issues({ usage_plans: [{ name: 'p', quota: { limit: 0, period: 'day' } }] }))[0], /^usage_plans\[0\]\.quota\.limit: /)
    assert.match((await issues({ usage_plans: [{ name: 'p', quota: { limit: 5, period: 'year' } }] }))[0], /^usage_plans\[0\]\.quota\.period: /)
    assert.match((await issues({ usage_plans: [{ name: 'p', quota: { limit: 5, period: 'day', extra: 1 } }] }))[0], /^usage_plans\[0\]\.quota/)
    assert.match((await issues({ usage_plans: [{ throttle: { rate: 1, burst: 1 } }] }))[0], /^usage_plans\[0\]\.name: /)
  })
})

describe('usage-plans plugin config', () => {
  const withPlugin = (config: object) => ({ plugins: [{ name: 'usage-plans', config }] })

  test('defaults: redis policy, fault tolerant, sync every second, headers shown', async () => {
    const { config } = await loadConfigObject(base(withPlugin({ redis: { host: '127.0.0.1' } })))
    const c = config.plugins[0].config as Record<string, unknown>
    assert.equal(c.policy, 'redis')
    assert.equal(c.fault_tolerant, true)
    assert.equal(c.sync_rate, 1)
    assert.equal(c.hide_client_headers, false)
    assert.equal((c.redis as { port: number }).port, 6379)
  })

  test('refusals name the field', async () => {
    const p = 'plugins[0].config'
    assert.deepEqual(await issues(withPlugin({})), [`${p}.redis.host: required when policy is 'redis' (or sentinel_master + sentinel_nodes, or cluster_nodes)`])
    assert.deepEqual(await issues(withPlugin({ policy: 'local' })), [])
    assert.deepEqual(await issues(withPlugin({ policy: 'local', sync_rate: 0.001 })), [`${p}.sync_rate: must be -1 (synchronous) or at least 0.02 seconds`])
    assert.match((await issues(withPlugin({ policy: 'cluster' })))[0], /^plugins\[0\]\.config\.policy: /)
    assert.match((await issues(withPlugin({ policy: 'local', quota: 5 })))[0], /^plugins\[0\]\.config/)
  })
})
