import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { compileRouter, gateSourceOf, literalPrefixOf, RouteCompileError } from '../../src/router/router.js'
import type { HeaderLookup, RouteSpec } from '../../src/router/types.js'

let nextOrder = 0
function route(id: string, fields: Partial<Omit<RouteSpec<string>, 'id' | 'target'>> = {}): RouteSpec<string> {
  return {
    id,
    paths: null,
    methods: null,
    hosts: null,
    headers: null,
    regexPriority: 0,
    order: nextOrder++,
    target: id,
    ...fields,
  }
}

const noHeaders: HeaderLookup = () => undefined
function headersOf(h: Record<string, string>): HeaderLookup {
  return (name) => h[name]
}

/** Target id of the route matched, or null. */
function hit(
  routes: RouteSpec<string>[],
  path: string,
  opts: { method?: string; host?: string; headers?: Record<string, string> } = {},
): string | null {
  const router = compileRouter(routes)
  const m = router.find(opts.method ?? 'GET', opts.host ?? '', path, opts.headers ? headersOf(opts.headers) : noHeaders)
  return m === null ? null : m.target
}

describe('plain paths', () => {
  const routes = [route('users', { paths: ['/api/v1/users'] }), route('slash', { paths: ['/docs/'] })]
  const router = compileRouter(routes)

  test('exact path matches with its length as matchedLength', () => {
    assert.deepEqual(router.find('GET', '', '/api/v1/users', noHeaders), {
      target: 'users',
      matchedLength: 13,
      params: null,
    })
  })

  test('prefix semantics: longer paths and mid-segment continuations match (as in Kong)', () => {
    assert.equal(router.find('GET', '', '/api/v1/users/7', noHeaders)?.target, 'users')
    assert.equal(router.find('GET', '', '/api/v1/usersX', noHeaders)?.target, 'users')
    assert.equal(router.find('GET', '', '/api/v1/usersX', noHeaders)?.matchedLength, 13)
  })

  test('shorter paths, other paths and case differences miss with null', () => {
    assert.equal(router.find('GET', '', '/api/v1/user', noHeaders), null)
    assert.equal(router.find('GET', '', '/api/v1/Users', noHeaders), null)
    assert.equal(router.find('GET', '', '/', noHeaders), null)
    assert.equal(router.find('GET', '', '/other', noHeaders), null)
  })

  test('a trailing slash in the route is part of the prefix', () => {
    assert.equal(router.find('GET', '', '/docs/intro', noHeaders)?.target, 'slash')
    assert.equal(router.find('GET', '', '/docs', noHeaders), null)
  })

  test('static winners return one shared result object (no allocation per lookup)', () => {
    const a = router.find('GET', '', '/api/v1/users/1', noHeaders)
    const b = router.find('GET', '', '/api/v1/users/2', noHeaders)
    assert.ok(a !== null && a === b)
    assert.ok(Object.isFrozen(a))
  })

  test('a route without paths matches every path with matchedLength 0', () => {
    const r = compileRouter([route('any', { methods: ['GET'] })])
    assert.deepEqual(r.find('GET', '', '/whatever/x', noHeaders), { target: 'any', matchedLength: 0, params: null })
    assert.equal(r.find('POST', '', '/whatever/x', noHeaders), null)
  })

  test('empty arrays mean "not constrained", like null (Kong is_empty_field)', () => {
    const r = compileRouter([route('empty', { paths: [], methods: [], hosts: [], headers: {} }), route('p', { paths: ['/p'] })])
    assert.deepEqual(r.find('DELETE', 'x.com', '/q', noHeaders), { target: 'empty', matchedLength: 0, params: null })
    // weight 0 loses to any constrained route
    assert.equal(r.find('GET', '', '/p', noHeaders)?.target, 'p')
  })

  test('an empty route table finds nothing', () => {
    assert.equal(compileRouter([]).find('GET', 'a.com', '/', noHeaders), null)
  })

  test('non-ASCII paths match char for char', () => {
    const r = compileRouter([route('u', { paths: ['/caf\u00e9/\u{1F600}'] })])
    assert.equal(r.find('GET', '', '/caf\u00e9/\u{1F600}/x', noHeaders)?.target, 'u')
    assert.equal(r.find('GET', '', '/cafe/\u{1F600}', noHeaders), null)
  })
})

describe('{param} paths', () => {
  test('a param captures one segment; the rest is a prefix match', () => {
    const r = compileRouter([route('user', { paths: ['/users/{id}'] })])
    assert.deepEqual(r.find('GET', '', '/users/42', noHeaders), {
      target: 'user',
      matchedLength: 9,
      params: { id: '42' },
    })
    assert.deepEqual(r.find('GET', '', '/users/42/posts', noHeaders)?.params, { id: '42' })
    assert.equal(r.find('GET', '', '/users/42/posts', noHeaders)?.matchedLength, 9)
  })

  test('a param never matches an empty segment', () => {
    const r = compileRouter([route('user', { paths: ['/users/{id}'] })])
    assert.equal(r.find('GET', '', '/users/', noHeaders), null)
    assert.equal(r.find('GET', '', '/users//x', noHeaders), null)
  })

  test('several params, static text between them', () => {
    const r = compileRouter([route('post', { paths: ['/users/{user}/posts/{post}'] })])
    assert.deepEqual(r.find('GET', '', '/users/ann/posts/9', noHeaders)?.params, { user: 'ann', post: '9' })
    assert.equal(r.find('GET', '', '/users/ann/comments/9', noHeaders), null)
  })

  test('routes sharing a param position keep their own names', () => {
    const r = compileRouter([
      route('a', { paths: ['/o/{orgId}/members'] }),
      route('b', { paths: ['/o/{org}/teams'] }),
    ])
    assert.deepEqual(r.find('GET', '', '/o/x/members', noHeaders)?.params, { orgId: 'x' })
    assert.deepEqual(r.find('GET', '', '/o/y/teams', noHeaders)?.params, { org: 'y' })
  })

  test('the winner reports its own captures even after a losing branch captured others', () => {
    // '/a/{x}/b/{y}/c' is longer so it wins over '/a/{p}' when both match.
    const r = compileRouter([route('short', { paths: ['/a/{p}'] }), route('long', { paths: ['/a/{x}/b/{y}/c'] })])
    assert.deepEqual(r.find('GET', '', '/a/1/b/2/c', noHeaders), {
      target: 'long',
      matchedLength: 10,
      params: { x: '1', y: '2' },
    })
    assert.deepEqual(r.find('GET', '', '/a/1/b/2/d', noHeaders)?.params, { p: '1' })
  })

  test('static and param branches are both explored', () => {
    const r = compileRouter([route('me', { paths: ['/users/me'] }), route('posts', { paths: ['/users/{id}/posts'] })])
    assert.equal(r.find('GET', '', '/users/me', noHeaders)?.target, 'me')
    assert.equal(r.find('GET', '', '/users/me/posts', noHeaders)?.target, 'posts')
    assert.equal(r.find('GET', '', '/users/7/posts', noHeaders)?.target, 'posts')
  })
})

describe('regex paths', () => {
  test('anchored at the start, not at the end; matchedLength is the match end', () => {
    const r = compileRouter([route('num', { paths: ['~/items/\\d+'] })])
    assert.deepEqual(r.find('GET', '', '/items/123/x', noHeaders), { target: 'num', matchedLength: 10, params: null })
    assert.equal(r.find('GET', '', '/v1/items/123', noHeaders), null)
    assert.equal(r.find('GET', '', '/items/x', noHeaders), null)
  })

  test('every alternative is anchored', () => {
    const r = compileRouter([route('alt', { paths: ['~/a|/b'] })])
    assert.equal(r.find('GET', '', '/b', noHeaders)?.target, 'alt')
    assert.equal(r.find('GET', '', '/x/b', noHeaders), null)
  })

  test('named groups become params; (?P<name>) is accepted; unmatched groups are left out', () => {
    const r = compileRouter([
      route('named', { paths: ['~/orders/(?<id>\\d+)(?:/(?<sub>[a-z]+))?$'] }),
      route('python', { paths: ['~/p/(?P<slug>[a-z-]+)$'] }),
    ])
    assert.deepEqual(r.find('GET', '', '/orders/5/lines', noHeaders)?.params, { id: '5', sub: 'lines' })
    assert.deepEqual(r.find('GET', '', '/orders/5', noHeaders)?.params, { id: '5' })
    assert.deepEqual(r.find('GET', '', '/p/hello-world', noHeaders)?.params, { slug: 'hello-world' })
  })

  test('non-ASCII group names become params too', () => {
    const r = compileRouter([route('u', { paths: ['~/w/(?<\u00e9t\u00e9>\\d+)'] })])
    assert.deepEqual(r.find('GET', '', '/w/2024', noHeaders)?.params, { '\u00e9t\u00e9': '2024' })
  })

  test('a leading (?i) makes the path regex case-insensitive', () => {
    const r = compileRouter([route('ci', { paths: ['~(?i)/Files/'] })])
    assert.equal(r.find('GET', '', '/FILES/x', noHeaders)?.target, 'ci')
  })

  test('regex_priority: higher wins among matching regex paths, then config order', () => {
    const routes = [
      route('low', { paths: ['~/r/\\w+'], regexPriority: 1 }),
      route('high', { paths: ['~/r/\\d+'], regexPriority: 5 }),
      route('high-later', { paths: ['~/r/[0-9]+'], regexPriority: 5 }),
    ]
    assert.equal(hit(routes, '/r/12'), 'high')
    assert.equal(hit(routes, '/r/ab'), 'low')
  })

  test('regexes without a literal prefix are still tried on every path', () => {
    const routes = [
      route('anywhere', { paths: ['~.*\\.json$'] }),
      route('caseless', { paths: ['~(?i)/API/'] }),
      route('alternation', { paths: ['~/x|/y'] }),
      route('plain', { paths: ['/api/'] }),
    ]
    assert.equal(hit(routes, '/a/b.json'), 'anywhere')
    assert.equal(hit(routes, '/api/users'), 'caseless')
    assert.equal(hit(routes, '/y/1'), 'alternation')
    assert.equal(hit(routes, '/a/b.jsonx'), null)
  })

  test('a regex is a candidate only where its literal prefix matches, and still ranks globally', () => {
    const routes = [
      route('deep-plain', { paths: ['/orders/123/lines/9'] }),
      route('regex', { paths: ['~/orders/(?<id>\\d+)'] }),
      route('other-regex', { paths: ['~/invoices/\\d+'], regexPriority: 9 }),
    ]
    assert.deepEqual(compileRouter(routes).find('GET', '', '/orders/123/lines/9', noHeaders), {
      target: 'regex',
      matchedLength: 11,
      params: { id: '123' },
    })
    assert.equal(hit(routes, '/orders/x'), null)
    assert.equal(hit(routes, '/invoices/5'), 'other-regex')
  })

  test('the combined gate regex agrees with the individual regexes', () => {
    // Named groups with the same name in several routes, classes containing "(?<", escapes.
    const routes = [
      route('a', { paths: ['~/a/(?<id>\\d+)$'] }),
      route('b', { paths: ['~/b/(?<id>[a-z]+)$'] }),
      route('c', { paths: ['~/c/[(?<x>]+$'] }),
      route('d', { paths: ['~/d/\\(?<y>z\\)'] }),
    ]
    assert.deepEqual(compileRouter(routes).find('GET', '', '/b/xyz', noHeaders)?.params, { id: 'xyz' })
    assert.equal(hit(routes, '/a/12'), 'a')
    assert.equal(hit(routes, '/c/(<?x'), 'c')
    assert.equal(hit(routes, '/d/<y>z)'), 'd')
    assert.equal(hit(routes, '/d/(<y>z)'), 'd')
    assert.equal(hit(routes, '/a/x'), null)
  })

  test('hundreds of regexes sharing a literal prefix: rank order holds, plain routes still win when none match', () => {
    const routes = [route('plain', { paths: ['/api/v1/'] })]
    for (let i = 0; i < 300; i++) routes.push(route(`rx${i}`, { paths: [`~/api/v1/r${i}/(?<id>\\d+)$`], regexPriority: i % 3 }))
    routes.push(route('backref', { paths: ['~/api/v1/(x)\\1'] })) // not gate-able: tried on its own
    const r = compileRouter(routes)
    assert.deepEqual(r.find('GET', '', '/api/v1/r250/7', noHeaders)?.params, { id: '7' })
    assert.equal(r.find('GET', '', '/api/v1/r250/7', noHeaders)?.target, 'rx250')
    assert.equal(r.find('GET', '', '/api/v1/r250/x', noHeaders)?.target, 'plain')
    assert.equal(r.find('GET', '', '/api/v1/xx', noHeaders)?.target, 'backref')
  })

  test('gate sources: named groups become non-capturing; backreferences opt out', () => {
    assert.equal(gateSourceOf('/a/(?<id>\\d+)'), '/a/(?:\\d+)')
    assert.equal(gateSourceOf('/a/[(?<x>]'), '/a/[(?<x>]')
    assert.equal(gateSourceOf('/a/\\(?<x>'), '/a/\\(?<x>')
    assert.equal(gateSourceOf('(?<=/a)b(?<!c)'), '(?<=/a)b(?<!c)')
    assert.equal(gateSourceOf('/(a)\\1'), null)
    assert.equal(gateSourceOf('/(?<n>a)\\k<n>'), null)
  })

  test('literal prefix extraction is conservative', () => {
    assert.equal(literalPrefixOf('/orders/(?<id>\\d+)'), '/orders/')
    assert.equal(literalPrefixOf('^/a\\.b/c'), '/a.b/c')
    assert.equal(literalPrefixOf('/ab?c'), '/a')
    assert.equal(literalPrefixOf('/ab*'), '/a')
    assert.equal(literalPrefixOf('/ab{2}'), '/a')
    assert.equal(literalPrefixOf('/ab+c'), '/ab')
    assert.equal(literalPrefixOf('/a|/b'), '')
    assert.equal(literalPrefixOf('/x\\d'), '/x')
    assert.equal(literalPrefixOf('[/]a'), '')
  })
})

describe('hosts', () => {
  const routes = [
    route('exact', { hosts: ['api.example.com'], paths: ['/'] }),
    route('suffix', { hosts: ['*.example.com'], paths: ['/'] }),
    route('prefix', { hosts: ['example.*'], paths: ['/'] }),
  ]
  const router = compileRouter(routes)
  const target = (host: string) => router.find('GET', host, '/x', noHeaders)?.target ?? null

  test('exact host', () => {
    assert.equal(target('api.example.com'), 'exact')
  })

  test('*.example.com matches any deeper name but not example.com itself', () => {
    assert.equal(target('www.example.com'), 'suffix')
    assert.equal(target('a.b.example.com'), 'suffix')
    assert.equal(target('example.com'), 'prefix') // only example.* takes it
    assert.equal(target('badexample.com'), null)
  })

  test('example.* matches any TLD', () => {
    assert.equal(target('example.org'), 'prefix')
    assert.equal(target('example.co.uk'), 'prefix')
    assert.equal(target('examples.org'), null)
  })

  test('a route with hosts never matches an empty host', () => {
    assert.equal(target(''), null)
  })

  test('routes with several exact hosts match any of them', () => {
    const r = compileRouter([route('multi', { hosts: ['a.com', 'b.com'] })])
    assert.equal(r.find('GET', 'b.com', '/', noHeaders)?.target, 'multi')
    assert.equal(r.find('GET', 'c.com', '/', noHeaders), null)
  })

  test('hosts in the spec are compared lower-case', () => {
    const r = compileRouter([route('upper', { hosts: ['API.Example.com'] })])
    assert.equal(r.find('GET', 'api.example.com', '/', noHeaders)?.target, 'upper')
  })
})

describe('methods and headers', () => {
  test('methods: any listed method matches', () => {
    const routes = [route('rw', { paths: ['/x'], methods: ['PUT', 'POST'] })]
    assert.equal(hit(routes, '/x', { method: 'POST' }), 'rw')
    assert.equal(hit(routes, '/x', { method: 'GET' }), null)
  })

  test('headers: plain values compare case-insensitively, any listed value', () => {
    const routes = [route('v2', { headers: { 'x-version': ['v2', 'V3'] } })]
    assert.equal(hit(routes, '/', { headers: { 'x-version': 'V2' } }), 'v2')
    assert.equal(hit(routes, '/', { headers: { 'x-version': 'v3' } }), 'v2')
    assert.equal(hit(routes, '/', { headers: { 'x-version': 'v22' } }), null)
    assert.equal(hit(routes, '/'), null)
  })

  test('headers: plain values fold ASCII letters only, on both sides', () => {
    const routes = [route('accent', { headers: { 'x-city': ['S\u00c3O-paulo'] } })]
    assert.equal(hit(routes, '/', { headers: { 'x-city': 's\u00c3o-PAULO' } }), 'accent')
    assert.equal(hit(routes, '/', { headers: { 'x-city': 's\u00e3o-paulo' } }), null)
  })

  test('headers: ~* values are case-insensitive unanchored regexes', () => {
    const routes = [route('mobile', { headers: { 'user-agent': ['~*iphone|android'] } })]
    assert.equal(hit(routes, '/', { headers: { 'user-agent': 'Mozilla (iPhone; CPU)' } }), 'mobile')
    assert.equal(hit(routes, '/', { headers: { 'user-agent': 'curl/8' } }), null)
  })

  test('headers: every header of the route must match', () => {
    const routes = [route('both', { headers: { a: ['1'], b: ['2'] } })]
    assert.equal(hit(routes, '/', { headers: { a: '1', b: '2' } }), 'both')
    assert.equal(hit(routes, '/', { headers: { a: '1' } }), null)
  })

  test('header names from the spec are looked up lower-case', () => {
    const routes = [route('h', { headers: { 'X-Tenant': ['acme'] } })]
    assert.equal(hit(routes, '/', { headers: { 'x-tenant': 'ACME' } }), 'h')
  })
})

describe('precedence (each rule, see the top of src/router/router.ts)', () => {
  test('rule 1: more constrained attributes win over a longer path', () => {
    const routes = [route('long-path', { paths: ['/api/v1/users/list'] }), route('root-get', { paths: ['/'], methods: ['GET'] })]
    assert.equal(hit(routes, '/api/v1/users/list'), 'root-get')
    assert.equal(hit(routes, '/api/v1/users/list', { method: 'POST' }), 'long-path')
  })

  test('rule 1: a route with hosts beats one without, even with a longer path', () => {
    const routes = [route('path', { paths: ['/a/b/c'] }), route('host', { hosts: ['x.com'], paths: ['/'] })]
    assert.equal(hit(routes, '/a/b/c', { host: 'x.com' }), 'host')
  })

  test('rule 1: route with headers+path beats path only; a weight-1 route without path is beaten by path+method', () => {
    const routes = [
      route('hdr-only', { headers: { x: ['1'] } }),
      route('path-method', { paths: ['/p'], methods: ['GET'] }),
    ]
    assert.equal(hit(routes, '/p', { headers: { x: '1' } }), 'path-method')
    assert.equal(hit(routes, '/q', { headers: { x: '1' } }), 'hdr-only')
  })

  test('rule 2: plain hosts beat wildcard hosts at equal weight', () => {
    const routes = [
      route('wild', { hosts: ['*.example.com'], paths: ['/long/path'] }),
      route('plain', { hosts: ['api.example.com'], paths: ['/'] }),
    ]
    assert.equal(hit(routes, '/long/path', { host: 'api.example.com' }), 'plain')
    assert.equal(hit(routes, '/long/path', { host: 'www.example.com' }), 'wild')
  })

  test('rule 2: at equal weight, plain hosts also beat a route with no hosts', () => {
    const routes = [
      route('method', { methods: ['GET'], paths: ['/a/b/c'] }),
      route('host', { hosts: ['api.example.com'], paths: ['/'] }),
      route('wild', { hosts: ['*.example.com'], paths: ['/'] }),
    ]
    assert.equal(hit(routes, '/a/b/c', { host: 'api.example.com' }), 'host')
    // a wildcard host gets no such bit: the longer path decides
    assert.equal(hit(routes, '/a/b/c', { host: 'www.example.com' }), 'method')
  })

  test('rule 2: a mix of plain and wildcard hosts counts as wildcard', () => {
    const routes = [
      route('mixed', { hosts: ['api.example.com', '*.example.org'], paths: ['/long'] }),
      route('plain', { hosts: ['api.example.com'], paths: ['/'] }),
    ]
    assert.equal(hit(routes, '/long', { host: 'api.example.com' }), 'plain')
  })

  test('rule 3: more header names win at equal weight', () => {
    const routes = [
      route('one', { headers: { a: ['1'] }, paths: ['/longer/path'] }),
      route('two', { headers: { a: ['1'], b: ['2'] }, paths: ['/'] }),
    ]
    assert.equal(hit(routes, '/longer/path', { headers: { a: '1', b: '2' } }), 'two')
    assert.equal(hit(routes, '/longer/path', { headers: { a: '1' } }), 'one')
  })

  test('rule 4: a regex path beats a plain path at equal weight, whatever the length', () => {
    const routes = [route('plain', { paths: ['/api/v1/users/123'] }), route('regex', { paths: ['~/api'] })]
    assert.equal(hit(routes, '/api/v1/users/123'), 'regex')
    assert.equal(hit(routes, '/x'), null)
  })

  test('rule 4 yields to rule 1: a plain path with a method beats a bare regex', () => {
    const routes = [route('regex', { paths: ['~/api/.*'], regexPriority: 100 }), route('plain-get', { paths: ['/api'], methods: ['GET'] })]
    assert.equal(hit(routes, '/api/x'), 'plain-get')
    assert.equal(hit(routes, '/api/x', { method: 'POST' }), 'regex')
  })

  test('rule 5: regex_priority orders regexes regardless of config order', () => {
    const routes = [route('first', { paths: ['~/a'], regexPriority: 0 }), route('second', { paths: ['~/a/b'], regexPriority: 2 })]
    assert.equal(hit(routes, '/a/b'), 'second')
    assert.equal(hit(routes, '/a/c'), 'first')
  })

  test('rule 6: longest plain prefix wins, wherever it is in the config', () => {
    const routes = [route('short', { paths: ['/a'] }), route('long', { paths: ['/a/b/c'] }), route('mid', { paths: ['/a/b'] })]
    assert.equal(hit(routes, '/a/b/c/d'), 'long')
    assert.equal(hit(routes, '/a/b/x'), 'mid')
    assert.equal(hit(routes, '/a/x'), 'short')
  })

  test('rule 6: a {param} counts as one character', () => {
    const routes = [route('slash', { paths: ['/users/'] }), route('param', { paths: ['/users/{id}'] }), route('me', { paths: ['/users/me'] })]
    assert.equal(hit(routes, '/users/me'), 'me') // 9 > 8
    assert.equal(hit(routes, '/users/7'), 'param') // 8 > 7
  })

  test('rule 7: at equal length a static path beats a param path', () => {
    const routes = [route('param', { paths: ['/u/{id}'] }), route('static', { paths: ['/u/m'] })]
    assert.equal(hit(routes, '/u/m'), 'static')
    assert.equal(hit(routes, '/u/mm'), 'static') // '/u/m' is a prefix of it
    assert.equal(hit(routes, '/u/x'), 'param')
  })

  test('rule 8: a full tie goes to the earlier route in the config', () => {
    const a = route('a', { paths: ['/same'] })
    const b = route('b', { paths: ['/same'] })
    assert.equal(hit([a, b], '/same'), 'a')
    assert.equal(hit([{ ...b, order: 0 }, { ...a, order: 1 }], '/same'), 'b')
  })

  test('rule 9: within one route, the earlier path decides matchedLength on a tie', () => {
    const r = compileRouter([route('two', { paths: ['~/a', '~/a/b'] })])
    assert.equal(r.find('GET', '', '/a/b', noHeaders)?.matchedLength, 2)
  })

  test('multiple paths of one route are ranked separately (Kong splits them)', () => {
    const routes = [route('multi', { paths: ['/x', '/a/b/c'] }), route('mid', { paths: ['/a/b'] })]
    assert.equal(hit(routes, '/a/b/c'), 'multi')
    assert.equal(hit(routes, '/a/b/d'), 'mid')
  })

  test('a losing constraint falls back to the next best candidate, including shorter prefixes', () => {
    const routes = [
      route('post-deep', { paths: ['/a/b/c'], methods: ['POST'] }),
      route('get-mid', { paths: ['/a/b'], methods: ['GET'] }),
      route('any-deep', { paths: ['/a/b/c/d'] }),
    ]
    assert.equal(hit(routes, '/a/b/c/d', { method: 'POST' }), 'post-deep')
    assert.equal(hit(routes, '/a/b/c/d', { method: 'GET' }), 'get-mid')
    assert.equal(hit(routes, '/a/b/c/d', { method: 'PUT' }), 'any-deep')
  })

  test('exact-host routes are found through the host map and ranked with the rest', () => {
    const routes = [
      route('h1', { hosts: ['one.com'], paths: ['/a'] }),
      route('h2', { hosts: ['two.com', 'one.com'], paths: ['/a/b'] }),
      route('h1-get', { hosts: ['one.com'], paths: ['/'], methods: ['GET'] }),
    ]
    assert.equal(hit(routes, '/a/b', { host: 'one.com', method: 'POST' }), 'h2')
    assert.equal(hit(routes, '/a/b', { host: 'one.com' }), 'h1-get')
    assert.equal(hit(routes, '/a/x', { host: 'two.com' }), null)
  })
})

describe('hostile paths', () => {
  test('a 1 MB path of tiny segments is walked without deep recursion and in bounded time', () => {
    const r = compileRouter([
      route('deep', { paths: ['/{a}/{b}/{c}/{d}'] }),
      route('static', { paths: ['/a/a/a/a/a/a/a/a'] }),
    ])
    const path = '/a'.repeat(500_000)
    const started = process.hrtime.bigint()
    const m = r.find('GET', '', path, noHeaders)
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    assert.equal(m?.target, 'static') // 16 chars beats 8
    assert.ok(ms < 500, `took ${ms} ms`)
    assert.deepEqual(r.find('GET', '', '/' + 'x'.repeat(1_000_000), noHeaders), null)
  })
})

describe('bad specs throw naming the route', () => {
  const cases: Array<[string, Partial<RouteSpec<string>>, RegExp]> = [
    ['bad regex', { paths: ['~/a(b'] }, /route "r1": paths\[0\]: invalid regex/],
    ['leading-star wildcard without dot', { hosts: ['*example.com'] }, /route "r1": hosts: invalid wildcard host/],
    ['middle wildcard', { hosts: ['api.*.com'] }, /invalid wildcard host/],
    ['two wildcards', { hosts: ['*.example.*'] }, /invalid wildcard host/],
    ['bare star', { hosts: ['*'] }, /invalid wildcard host/],
    ['relative path', { paths: ['api/v1'] }, /route "r1": paths\[0\]: .*must start with "\/"/],
    ['param inside a segment', { paths: ['/files/x{name}'] }, /must start a segment/],
    ['param not ending its segment', { paths: ['/files/{name}.json'] }, /must end its segment/],
    ['unclosed param', { paths: ['/files/{name'] }, /without "}"/],
    ['bad param name', { paths: ['/files/{1x}'] }, /invalid param name/],
    ['duplicate param name', { paths: ['/{a}/{a}'] }, /duplicate param name/],
    ['empty header values', { headers: { 'x-a': [] } }, /route "r1": headers.x-a: needs at least one value/],
    ['bad header regex', { headers: { 'x-a': ['~*(('] } }, /route "r1": headers.x-a: invalid regex/],
    ['non-finite regex priority', { regexPriority: Number.NaN }, /route "r1": regexPriority/],
  ]
  for (const [name, fields, message] of cases) {
    test(name, () => {
      assert.throws(
        () => compileRouter([route('ok', { paths: ['/fine'] }), route('r1', fields)]),
        (err: unknown) => err instanceof RouteCompileError && err.routeId === 'r1' && message.test(err.message),
      )
    })
  }

  test('duplicate route ids', () => {
    assert.throws(() => compileRouter([route('dup'), route('dup')]), /route "dup": id: duplicate route id/)
  })
})
