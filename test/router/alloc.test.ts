// Guards the hot-path promise: static hits and misses allocate nothing per lookup. Heap growth is
// measured after a full GC, as the difference between a long and a short loop (which cancels the
// loop's own constant cost). A scavenge during a loop can only make growth look smaller, so the
// allocating case (params) is checked too, on its largest sample, to prove the measurement sees
// allocation at all.

import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { compileRouter } from '../../src/router/router.js'
import type { HeaderLookup, RouteMatch, Router } from '../../src/router/types.js'
import { makeRequests, makeRouteTable, type Request } from './route-table.js'
import { getGc, newSpaceUsed } from './heap.js'

const noHeaders: HeaderLookup = () => undefined

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

/** Per-lookup heap growth, 5 samples sorted ascending. */
function bytesPerLookup(router: Router<string>, reqs: readonly Request[], n: number): number[] {
  const gc = getGc()
  run(router, reqs, n) // warm-up: optimised code, not the interpreter's feedback allocations
  const growth = (count: number): number => {
    gc()
    const before = newSpaceUsed()
    run(router, reqs, count)
    return newSpaceUsed() - before
  }
  const samples: number[] = []
  for (let i = 0; i < 5; i++) samples.push((growth(n) - growth(n / 5)) / (n - n / 5))
  return samples.sort((a, b) => a - b)
}

describe('allocation per lookup', () => {
  const routes = makeRouteTable(7, { routes: 1000, regexes: 10, hostShare: 0.02, methodShare: 0.1, headerShare: 0 })
  const router = compileRouter(routes)
  const requests = makeRequests(11, routes, 20_000).map((r) => ({ ...r, path: Buffer.from(r.path).toString() }))
  const byKind = (pick: (m: ReturnType<typeof router.find>) => boolean) =>
    requests.filter((r) => pick(router.find(r.method, r.host, r.path, noHeaders))).slice(0, 2000)
  const regexRoutes = new Set(routes.filter((r) => r.paths?.some((p) => p.startsWith('~'))).map((r) => r.target))
  const staticHits = byKind((m) => m !== null && m.params === null && !regexRoutes.has(m.target))
  const misses = byKind((m) => m === null)
  const paramHits = byKind((m) => m !== null && m.params !== null)

  test('the request sets are not empty', () => {
    assert.ok(staticHits.length > 100 && misses.length > 100 && paramHits.length > 100)
  })

  test('static prefix hits allocate nothing', () => {
    const samples = bytesPerLookup(router, staticHits, 100_000)
    assert.ok(samples[2] < 1, `median bytes/lookup ${samples[2]}`)
  })

  test('misses allocate nothing', () => {
    const samples = bytesPerLookup(router, misses, 100_000)
    assert.ok(samples[2] < 1, `median bytes/lookup ${samples[2]}`)
  })

  test('param hits do allocate (the measurement can see allocation)', () => {
    // Largest sample: a scavenge inside a loop only ever hides growth.
    const samples = bytesPerLookup(router, paramHits, 2_500) // 2,000 x ~130 B: fits a 1 MB new space
    assert.ok(samples[4] > 40, `largest bytes/lookup ${samples[4]}`)
  })
})
