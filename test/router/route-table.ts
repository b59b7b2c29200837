// A seeded, API-shaped route table and request stream, shared by the randomised router test and
// bench/micro/router.ts so both exercise the same mix.

import type { RouteSpec } from '../../src/router/types.js'

/** mulberry32: small, fast, good enough to make reproducible tables. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const BASE_RESOURCES = ['users', 'user', 'users-admin', 'orders', 'order-items', 'products', 'carts', 'files', 'me']
const SUBS = ['posts', 'comments', 'items', 'history', 'settings', 'avatar']
export const HOST_POOL = ['api.example.com', 'www.example.com', 'a.b.example.com', 'example.org', 'example.com', 'shop.test', '']
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']
const HEADER_RULES: ReadonlyArray<Record<string, string[]>> = [
  { 'x-version': ['v2'] },
  { 'x-version': ['~*^v[3-9]$'] },
  { 'x-tenant': ['acme', 'Globex'] },
  { 'x-version': ['v2'], 'x-tenant': ['acme'] },
]

export interface TableOptions {
  readonly routes: number
  readonly regexes: number
  /** Fraction of routes bound to hosts, methods, headers. */
  readonly hostShare: number
  readonly methodShare: number
  readonly headerShare: number
}

export function resources(count: number): string[] {
  const out = [...BASE_RESOURCES]
  for (let i = 0; out.length < count; i++) out.push(`res${i}`)
  return out
}

export function makeRouteTable(seed: number, opts: TableOptions): RouteSpec<string>[] {
  const rand = rng(seed)
  const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rand() * xs.length)]
  const res = resources(Math.ceil(opts.routes / 4))
  const routes: RouteSpec<string>[] = []
  const regexEvery = opts.regexes > 0 ? Math.floor(opts.routes / opts.regexes) : 0
  let regexCount = 0
  for (let i = 0; i < opts.routes; i++) {
    let paths: string[]
    let regexPriority = 0
    if (regexEvery > 0 && i % regexEvery === Math.min(7, regexEvery - 1) && regexCount < opts.regexes) {
      regexCount++
      const r = pick(res)
      paths = [
        pick([
          `~/api/v2/${r}/(?<id>\\d+)$`,
          `~/api/v1/${r}/\\d+/${pick(SUBS)}`,
          `~/files/[a-z]+\\.(png|jpg)`,
          `~/api/v[12]/${r}/(?P<slug>[a-z]+)-\\d+`,
        ]),
      ]
      regexPriority = Math.floor(rand() * 4)
    } else {
      const r = pick(res)
      const kind = rand()
      if (kind < 0.3) paths = [`/api/v${pick(['1', '2'])}/${r}`]
      else if (kind < 0.45) paths = [`/api/v1/${r}/${pick(SUBS)}`]
      else if (kind < 0.55) paths = [`/${r}`]
      else if (kind < 0.7) paths = [`/api/v1/${r}/{id}`]
      else if (kind < 0.8) paths = [`/api/v1/${r}/{id}/${pick(SUBS)}`]
      else if (kind < 0.85) paths = [`/api/v1/{tenant}/${r}`]
      else if (kind < 0.9) paths = [`/api/v2/${r}/`, `/api/v2/${r}/{id}/${pick(SUBS)}`]
      else paths = [`/api/v${pick(['1', '2'])}/${r}`]
    }
    const hosts =
      rand() < opts.hostShare ? [pick(['api.example.com', '*.example.com', 'example.*', 'shop.test', 'www.example.com'])] : null
    const methods = rand() < opts.methodShare ? [pick(METHODS), pick(METHODS)] : null
    const headers = rand() < opts.headerShare ? pick(HEADER_RULES) : null
    routes.push({ id: `r${i}`, paths, methods, hosts, headers, regexPriority, order: i, target: `r${i}` })
  }
  return routes
}

export interface Request {
  readonly method: string
  readonly host: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
}

/** Requests aimed at the table: real paths with params filled in, then mutated (suffix, typo, cut). */
export function makeRequests(seed: number, routes: readonly RouteSpec<string>[], count: number): Request[] {
  const rand = rng(seed)
  const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rand() * xs.length)]
  const out: Request[] = []
  for (let i = 0; i < count; i++) {
    const r = pick(routes)
    let path = pick(r.paths ?? ['/'])
    if (path.startsWith('~')) {
      path = pick(['/api/v2/users/12', '/api/v1/orders/7/posts', '/files/cat.png', '/api/v2/me/abc-12', '/files/x.gif'])
    }
    path = path.replace(/\{[a-z]+\}/g, () => pick(['42', 'me', 'abc', '7x', 'users']))
    const m = rand()
    if (m < 0.2) path += '/' + pick(SUBS)
    else if (m < 0.3) path += 'X'
    else if (m < 0.4) path = path.slice(0, Math.max(1, Math.floor(rand() * path.length)))
    else if (m < 0.45) path = '/nope/' + path
    else if (m < 0.5) path = path.replace('v1', 'v3')
    const headers: Record<string, string> = {}
    if (rand() < 0.3) headers['x-version'] = pick(['v2', 'V2', 'v5', 'v1'])
    if (rand() < 0.2) headers['x-tenant'] = pick(['ACME', 'globex', 'initech'])
    out.push({ method: pick(METHODS), host: pick(HOST_POOL), path, headers })
  }
  return out
}
