// jwt vs routing, interleaved A/B in one gateway process (bench/micro/inproc-ab.ts):
// `node --import tsx bench/micro/jwt-ab.ts [rounds] [seconds]`
//
//   routing       the routing scenario's config and request
//   routing+hdr   the same, but the request also carries the jwt scenario's Authorization header (no
//                 plugin): what the extra bytes cost to parse and forward, without any jwt work
//   jwt           the jwt scenario (global jwt plugin, warm verified-token cache)

import { SCENARIOS } from '../../src/bench/scenarios.js'
import { inProcessAB } from './inproc-ab.js'

const routing = SCENARIOS.find((s) => s.name === 'routing')!
const jwt = SCENARIOS.find((s) => s.name === 'jwt')!

await inProcessAB(import.meta.url, [
  { name: 'routing', scenario: routing },
  {
    name: 'routing+hdr',
    scenario: routing,
    request: { ...routing.request, headers: { ...routing.request.headers, authorization: jwt.request.headers!.authorization } },
  },
  { name: 'jwt', scenario: jwt },
])
