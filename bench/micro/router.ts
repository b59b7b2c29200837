// Router lookup micro-benchmark: `node --import tsx bench/micro/router.ts`
//
// 1,000 API-shaped routes (static prefixes, `{id}` params, 10 regexes, a few host-bound and
// method-bound), from the same seeded generator as test/router/reference.test.ts. Requests are
// classified by what wins (static, param, regex, miss) and each class is timed separately, with a
// sorted linear scan over precompiled regexes as the baseline (what a router without a trie does).
//
// Bytes per lookup: after a full GC, the young-generation growth of a 2,500-lookup loop minus that
// of a 500-lookup loop, over the 2,000 lookups between them (the difference cancels the loop's own
// constant cost); median of 9 rounds. Both loops stay small enough (< 1 MB even at ~130 B/lookup)
// that no scavenge hides allocation. Results are stored to a module-level object so escape analysis
// can't delete the allocations being measured.

import os from 'node:os'
import { compileRouter } from '../../src/router/router.js'
import type { HeaderLookup, RouteMatch, RouteSpec, Router } from '../../src/router/types.js'
import { makeRequests, makeRouteTable, type Request } from '../../test/router/route-table.js'
import { getGc, newSpaceUsed } from '../../test/router/heap.js'

const gc = getGc()

const routes = makeRouteTable(7, { routes: 1000, regexes: 10, hostShare: 0.02, methodShare: 0.1, headerShare: 0 })
const router = compileRouter(routes)
const noHeaders: HeaderLookup = () => undefined

// Classify requests by the kind of route that wins, so each row measures one code path.
const kinds: Record<string, Request[]> = { 'hit: static prefix': [], 'hit: {param}': [], 'hit: regex': [], miss: [] }
const byId = new Map(routes.map((r) => [r.id, r]))
// Request paths are flattened (as a fresh string from uWS is); generated ones are ropes from `+=`.
for (const generated of makeRequests(11, routes, 200_000)) {
  const req = { ...generated, path: Buffer.from(generated.path).toString() }
  const m = router.find(req.method, req.host, req.path, noHeaders)
  if (m === null) {
    kinds.miss.push(req)
    continue
  }
  // The generated table never mixes regex and plain paths in one route.
  const spec = byId.get(m.target)!
  if (spec.paths?.[0]?.startsWith('~')) kinds['hit: regex'].push(req)
  else if (m.params !== null) kinds['hit: {param}'].push(req)
  else kinds['hit: static prefix'].push(req)
}
// The generator aims few requests at regex routes; add some built from each regex's literal prefix.
const tails = ['123', '42/history', 'abc-12', 'cat.png', 'x', '7/posts']
for (const spec of routes.filter((r) => r.paths?.[0]?.startsWith('~'))) {
  const prefix = spec.paths![0].slice(1).split(/[[(\\]/)[0]
  for (const tail of tails) {
    const path = Buffer.from(prefix + tail).toString()
    const m = router.find('GET', '', path, noHeaders)
    if (m !== null && byId.get(m.target)!.paths![0].startsWith('~')) kinds['hit: regex'].push({ method: 'GET', host: '', path, headers: {} })
  }
}
// Misses from the generator are mostly near-misses; add plain unknown paths too.
for (let i = 0; i < 2000; i++) kinds.miss.push({ method: 'GET', host: '', path: `/unknown/${i}/x`, headers: {} })

/** Sorted linear scan: every (route, path) as an anchored RegExp in precedence order, first pass wins. */
function linearBaseline(specs: readonly RouteSpec<string>[]): Router<string> {
  interface Row {
    spec: RouteSpec<string>
    re: RegExp
    key: number[]
  }
  const rows: Row[] = []
  for (const s of specs) {
    for (const p of s.paths ?? ['/']) {
      const isRegex = p.startsWith('~')
      const source = isRegex ? p.slice(1).replace(/\(\?P</g, '(?<') : p.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+')
      const weight = (s.methods ? 1 : 0) + (s.hosts ? 1 : 0) + (s.paths ? 1 : 0)
      const plainHost = s.hosts !== null && s.hosts.every((h) => !h.includes('*')) ? 1 : 0
      rows.push({ spec: s, re: new RegExp('^(?:' + source + ')'), key: [weight, plainHost, isRegex ? 1 : 0, isRegex ? s.regexPriority : p.length, -s.order] })
    }
  }
  rows.sort((a, b) => {
    for (let i = 0; i < a.key.length; i++) if (a.key[i] !== b.key[i]) return b.key[i] - a.key[i]
    return 0
  })
  return {
    find(method, host, path) {
      for (const row of rows) {
        const s = row.spec
        if (s.methods !== null && !s.methods.includes(method)) continue
        if (s.hosts !== null && !s.hosts.some((h) => (h.startsWith('*.') ? host.endsWith(h.slice(1)) : h.endsWith('.*') ? host.startsWith(h.slice(0, -1)) : h === host))) continue
        const m = row.re.exec(path)
        if (m !== null) return { target: s.target, matchedLength: m[0].length, params: null }
      }
      return null
    },
  }
}
const baseline = linearBaseline(routes)

/**
 * Every result is stored where the optimiser can't see it die: otherwise, with find() inlined into
 * this loop, escape analysis may delete the very allocations being measured.
 */
export const escape: { last: RouteMatch<string> | null } = { last: null }

function run(router: Router<string>, reqs: readonly Request[], n: number): number {
  let found = 0
  for (let i = 0; i < n; i++) {
    const q = reqs[i % reqs.length]
    const m = router.find(q.method, q.host, q.path, noHeaders)
    escape.last = m
    if (m !== null) found++
  }
  return found
}

function opsPerSecond(r: Router<string>, reqs: readonly Request[], n: number): number {
  run(r, reqs, Math.min(n, 200_000)) // warm-up: let the JIT settle on this request mix
  // Median of 5 rounds: the machine is shared, so single runs swing by 2x.
  const samples: number[] = []
  for (let round = 0; round < 5; round++) {
    const t0 = process.hrtime.bigint()
    run(r, reqs, n)
    samples.push(n / (Number(process.hrtime.bigint() - t0) / 1e9))
  }
  samples.sort((a, b) => a - b)
  return samples[2]
}

function heapGrowth(r: Router<string>, reqs: readonly Request[], n: number): number {
  gc()
  const before = newSpaceUsed()
  run(r, reqs, n)
  return newSpaceUsed() - before
}

function bytesPerLookup(r: Router<string>, reqs: readonly Request[]): number {
  run(r, reqs, 25_000)
  const perLookup: number[] = []
  for (let round = 0; round < 9; round++) {
    const small = heapGrowth(r, reqs, 500)
    const large = heapGrowth(r, reqs, 2_500)
    perLookup.push((large - small) / 2_000)
  }
  perLookup.sort((a, b) => a - b)
  return perLookup[4]
}

const rows: string[][] = []
for (const [kind, reqs] of Object.entries(kinds)) {
  // Distinct requests cycled in a fixed order; 4,096 keeps the set out of trivial branch prediction.
  const set = reqs.slice(0, 4096)
  const trieOps = opsPerSecond(router, set, 1_000_000)
  const bytes = bytesPerLookup(router, set)
  const baseOps = opsPerSecond(baseline, set, 10_000)
  rows.push([
    kind,
    String(set.length),
    Math.round(trieOps).toLocaleString('en-US'),
    (1e9 / trieOps).toFixed(0),
    bytes.toFixed(1),
    Math.round(baseOps).toLocaleString('en-US'),
    (trieOps / baseOps).toFixed(0) + 'x',
  ])
}

const header = ['requests', 'distinct', 'lookups/s', 'ns/lookup', 'bytes/lookup', 'linear scan lookups/s', 'trie speed-up']
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |'
console.log(`router micro-benchmark: ${routes.length} routes (${routes.filter((r) => r.paths?.[0]?.startsWith('~')).length} regex, ` +
  `${routes.filter((r) => r.paths?.some((p) => p.includes('{'))).length} with {param}, ${routes.filter((r) => r.hosts).length} host-bound, ` +
  `${routes.filter((r) => r.methods).length} method-bound)`)
console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.cpus().length} cpus`)
console.log(line(header))
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|')
for (const r of rows) console.log(line(r))
