// rate-limit vs routing, interleaved A/B in one gateway process (bench/micro/inproc-ab.ts):
// `node --import tsx bench/micro/ratelimit-ab.ts [rounds] [seconds]`
//
//   routing      the routing scenario's config and request
//   rate-limit   the rate-limit scenario (global rate-limiting, policy redis, limit_by ip, never hit) on a
//                redis-server started here (its CPU is not the gateway's: it is its own process)
//   rl-hidden    the same with hide_client_headers: true: the plugin's decision without the five
//                response headers (what writing them, and the client parsing them, costs)

import { SCENARIOS, type Scenario } from '../../src/bench/scenarios.js'
import { inProcessAB } from './inproc-ab.js'

const routing = SCENARIOS.find((s) => s.name === 'routing')!
const rateLimit = SCENARIOS.find((s) => s.name === 'rate-limit')!

const rlHidden: Scenario = {
  ...rateLimit,
  name: 'rl-hidden',
  config: {
    ...rateLimit.config,
    plugins: rateLimit.config.plugins!.map((p) => ({ ...p, config: { ...(p.config as object), hide_client_headers: true } })),
  },
}

await inProcessAB(
  import.meta.url,
  [
    { name: 'routing', scenario: routing },
    { name: 'rate-limit', scenario: rateLimit },
    { name: 'rl-hidden', scenario: rlHidden },
  ],
  { redis: true, defaultRounds: 6 },
)
