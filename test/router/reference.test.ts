// The compiled trie router against a deliberately naive reference: for every request, try every
// (route, path), build each candidate's precedence key as a tuple and take the maximum. Written
// from the rules at the top of src/router/router.ts, sharing no code with it.

import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { compileRouter } from '../../src/router/router.js'
import type { RouteMatch, RouteSpec } from '../../src/router/types.js'
import { makeRequests, makeRouteTable, type Request } from './route-table.js'

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

const regexCache = new Map<string, RegExp>()
/** Compiled once per source: the reference stays naive in logic, not in wasted time. */
function re(source: string, flags = ''): RegExp {
  let r = regexCache.get(flags + '/' + source)
  if (r === undefined) regexCache.set(flags + '/' + source, (r = new RegExp(source, flags)))
  return r
}

const plainCache = new Map<string, { regex: RegExp; names: string[]; staticLength: number }>()
/** A plain path as an anchored regex: statics escaped, each `{name}` a non-empty segment. */
function plainPathRegex(p: string) {
  let c = plainCache.get(p)
  if (c === undefined) {
    const names: string[] = []
    let staticLength = 0
    const source = p
      .split(/(\{[A-Za-z_][A-Za-z0-9_]*\})/)
      .map((piece) => {
        if (piece.startsWith('{')) {
          names.push(piece.slice(1, -1))
          return '([^/]+)'
        }
        staticLength += piece.length
        return escapeRegex(piece)
      })
      .join('')
    c = { regex: new RegExp('^' + source), names, staticLength }
    plainCache.set(p, c)
  }
  return c
}

interface Candidate {
  key: number[]
  match: RouteMatch<string>
}

function hostOk(hosts: readonly string[], host: string): boolean {
  return hosts.some((h) => {
    if (h.startsWith('*.')) return host.endsWith(h.slice(1)) && host.length > h.length - 1
    if (h.endsWith('.*')) return host.startsWith(h.slice(0, -1)) && host.length > h.length - 1
    return h === host
  })
}

function headerOk(rules: Readonly<Record<string, readonly string[]>>, headers: Readonly<Record<string, string>>): boolean {
  return Object.entries(rules).every(([name, values]) => {
    const v = headers[name]
    if (v === undefined) return false
    return values.some((want) =>
      want.startsWith('~*') ? re(want.slice(2), 'i').test(v) : v.toLowerCase() === want.toLowerCase(),
    )
  })
}

function referenceFind(routes: readonly RouteSpec<string>[], req: Request): RouteMatch<string> | null {
  let best: Candidate | null = null
  for (const r of routes) {
    const methods = r.methods ?? []
    const hosts = r.hosts ?? []
    const headers = r.headers ?? {}
    const paths = r.paths ?? []
    if (methods.length > 0 && !methods.includes(req.method)) continue
    if (hosts.length > 0 && !hostOk(hosts, req.host)) continue
    if (Object.keys(headers).length > 0 && !headerOk(headers, req.headers)) continue
    const weight =
      (methods.length > 0 ? 1 : 0) + (hosts.length > 0 ? 1 : 0) + (Object.keys(headers).length > 0 ? 1 : 0) + (paths.length > 0 ? 1 : 0)
    const plainHostOnly = hosts.length > 0 && hosts.every((h) => !h.includes('*')) ? 1 : 0
    const headerCount = Object.keys(headers).length
    const tries = paths.length > 0 ? paths : [null]
    tries.forEach((p, pathIndex) => {
      let match: RouteMatch<string>
      let isRegex = 0
      let length = 0
      let paramCount = 0
      if (p === null) {
        match = { target: r.target, matchedLength: 0, params: null }
      } else if (p.startsWith('~')) {
        const m = re('^(?:' + p.slice(1).replace(/\(\?P</g, '(?<') + ')').exec(req.path)
        if (m === null) return
        isRegex = 1
        const params = m.groups ? Object.fromEntries(Object.entries(m.groups).filter(([, v]) => v !== undefined)) : null
        match = { target: r.target, matchedLength: m[0].length, params }
      } else {
        const compiled = plainPathRegex(p)
        const names = compiled.names
        length = compiled.staticLength
        const m = compiled.regex.exec(req.path)
        if (m === null) return
        paramCount = names.length
        length += paramCount
        const params = names.length > 0 ? Object.fromEntries(names.map((n, i) => [n, m[i + 1]])) : null
        match = { target: r.target, matchedLength: m[0].length, params }
      }
      const key = [
        weight,
        plainHostOnly,
        headerCount,
        isRegex,
        isRegex ? r.regexPriority : 0,
        isRegex ? 0 : length,
        -paramCount,
        -r.order,
        -pathIndex,
      ]
      if (best === null || compareKeys(key, best.key) > 0) best = { key, match }
    })
  }
  return best === null ? null : (best as Candidate).match
}

function compareKeys(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return 0
}

function plain(m: RouteMatch<string> | null) {
  return m === null ? null : { target: m.target, matchedLength: m.matchedLength, params: m.params === null ? null : { ...m.params } }
}

describe('compiled router equals the brute-force reference', () => {
  const mixes = [
    { name: 'API mix (1,000 routes, 10 regexes, some hosts/methods/headers)', seed: 1, routes: 1000, regexes: 10, hostShare: 0.05, methodShare: 0.15, headerShare: 0.03 },
    { name: 'constraint-heavy (1,000 routes, 40 regexes, many hosts/methods/headers)', seed: 2, routes: 1000, regexes: 40, hostShare: 0.4, methodShare: 0.5, headerShare: 0.3 },
    { name: 'small table (50 routes)', seed: 3, routes: 50, regexes: 5, hostShare: 0.2, methodShare: 0.3, headerShare: 0.2 },
  ]
  for (const mix of mixes) {
    test(mix.name, () => {
      const routes = makeRouteTable(mix.seed, mix)
      const router = compileRouter(routes)
      const requests = makeRequests(mix.seed + 100, routes, 10_000)
      let hits = 0
      for (const req of requests) {
        const want = referenceFind(routes, req)
        const got = router.find(req.method, req.host, req.path, (n) => req.headers[n])
        assert.deepEqual(plain(got), want, `${req.method} ${req.host} ${req.path} ${JSON.stringify(req.headers)}`)
        if (want !== null) hits++
      }
      // The request stream must exercise both outcomes, or the comparison proves little.
      assert.ok(hits > requests.length * 0.3 && hits < requests.length, `hits ${hits} of ${requests.length}`)
    })
  }

  test('the table exercises every kind of route the comparison claims to cover', () => {
    const routes = makeRouteTable(2, { routes: 1000, regexes: 40, hostShare: 0.4, methodShare: 0.5, headerShare: 0.3 })
    const has = (f: (r: RouteSpec<string>) => boolean) => routes.some(f)
    assert.ok(has((r) => r.paths!.some((p) => p.startsWith('~'))))
    assert.ok(has((r) => r.paths!.some((p) => p.includes('{'))))
    assert.ok(has((r) => r.hosts?.some((h) => h.startsWith('*.')) ?? false))
    assert.ok(has((r) => r.hosts?.some((h) => h.endsWith('.*')) ?? false))
    assert.ok(has((r) => r.hosts?.some((h) => !h.includes('*')) ?? false))
    assert.ok(has((r) => Object.values(r.headers ?? {}).some((v) => v.some((x) => x.startsWith('~*')))))
    assert.ok(has((r) => (r.paths?.length ?? 0) > 1))
  })
})
