import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { get } from '../helpers/http.js'
import { startInProcess, type InProcessGateway } from '../helpers/inproc.js'
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js'

// `hash_on: consumer` balances by the consumer an authentication plugin identified (it runs in the access
// phase, before a target is picked): each consumer sticks to one target.

const ups: Upstream[] = []
let gw: InProcessGateway

before(async () => {
  for (const name of ['a', 'b', 'c']) ups.push(await startUpstream(echo(name)))
  gw = await startInProcess({
    _format_version: '3.0',
    upstreams: [
      {
        name: 'pool',
        algorithm: 'consistent-hashing',
        hash_on: 'consumer',
        targets: ups.map((u) => ({ target: u.target })),
      },
    ],
    consumers: Array.from({ length: 8 }, (_, i) => ({ username: `user${i}`, keyauth_credentials: [{ key: `key-${i}-0123456789` }] })).concat([{ username: 'guest' } as never]),
    services: [{ name: 'svc', host: 'pool', protocol: 'http', port: 80, routes: [{ name: 'r', paths: ['/'] }] }],
    plugins: [{ name: 'key-auth', config: { anonymous: 'guest' } }],
  })
})

after(async () => {
  await gw.close()
  for (const u of ups) await u.close()
})

test('each consumer, the anonymous one too, sticks to one target; together they spread', async () => {
  const chosen = new Map<number, Set<string>>()
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 8; i++) {
      const r = await get(`${gw.url}/x`, { apikey: `key-${i}-0123456789` })
      assert.equal(r.status, 200)
      assert.equal(r.json.headers['x-consumer-username'], `user${i}`)
      if (!chosen.has(i)) chosen.set(i, new Set())
      chosen.get(i)!.add(r.json.name)
    }
  }
  for (const [i, targets] of chosen) assert.equal(targets.size, 1, `user${i} hit ${[...targets].join(', ')}`)
  assert.ok(new Set([...chosen.values()].map((s) => [...s][0])).size >= 2, 'eight consumers all hashed to one target')
  // The anonymous consumer is a consumer too (Kong hashes on it): it sticks as well.
  const anon = new Set<string>()
  for (let i = 0; i < 6; i++) anon.add((await get(`${gw.url}/x`)).json.name)
  assert.equal(anon.size, 1)
})
