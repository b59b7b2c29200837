import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { z } from 'zod'
import { ConfigError } from '../../src/errors.js'
import { validateConfig } from '../../src/config/load.js'
import {
  getPluginSchema,
  registerPluginSchema,
  registeredPlugins,
  unregisterPluginSchema,
} from '../../src/config/plugins.js'

function issuesOf(raw: unknown): { path: string; message: string }[] {
  try {
    validateConfig(raw)
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => ({ path: i.path, message: i.message }))
    throw err
  }
  assert.fail('expected the configuration to be refused')
}

/** The message reported at `path`, failing when there is none. */
function messageAt(raw: unknown, path: string): string {
  const issues = issuesOf(raw)
  const found = issues.find((i) => i.path === path)
  assert.ok(found, `no issue at ${path}; got:\n${issues.map((i) => `${i.path}: ${i.message}`).join('\n')}`)
  return found.message
}

const doc = (rest: Record<string, unknown> = {}) => ({ _format_version: '3.0', ...rest })
const svc = (rest: Record<string, unknown> = {}) => ({ name: 's', host: 'example.com', ...rest })

describe('_format_version', () => {
  test('"3.0" with nothing else is a valid, empty configuration', () => {
    const config = validateConfig(doc())
    assert.equal(config._format_version, '3.0')
    assert.deepEqual([config.services, config.routes, config.upstreams, config.consumers, config.plugins], [[], [], [], [], []])
  })

  test('missing is refused and the message says what to write', () => {
    assert.match(messageAt({ services: [] }, '_format_version'), /is required: start the file with _format_version: "3.0"/)
  })

  test('another version is refused', () => {
    assert.match(messageAt({ _format_version: '2.1' }, '_format_version'), /unsupported format version '2.1'/)
  })

  test('an unquoted 3.0 (a YAML number) is refused with a hint to quote it', () => {
    assert.match(messageAt({ _format_version: 3 }, '_format_version'), /quote it/)
  })

  test('an empty document is refused', () => {
    assert.equal(issuesOf(null)[0].message, 'the configuration is empty: it needs at least _format_version: "3.0"')
  })
})

describe('services', () => {
  test('defaults are Kong\'s: retries 5, timeouts 60000, enabled, port by protocol, no path', () => {
    const [http, https] = validateConfig(doc({ services: [svc(), svc({ name: 't', protocol: 'https' })] })).services
    assert.equal(http.protocol, 'http')
    assert.equal(http.port, 80)
    assert.equal(https.port, 443)
    assert.equal(http.path, null)
    assert.equal(http.retries, 5)
    assert.deepEqual([http.connect_timeout, http.write_timeout, http.read_timeout], [60000, 60000, 60000])
    assert.equal(http.enabled, true)
    assert.deepEqual(http.tags, [])
  })

  test('the url shorthand fills protocol, host, port and path', () => {
    const cases: [string, string, string, number, string | null][] = [
      ['http://Example.COM', 'http', 'example.com', 80, null],
      ['https://api.example.com/v1/', 'https', 'api.example.com', 443, '/v1/'],
      ['http://10.0.0.5:8080/base', 'http', '10.0.0.5', 8080, '/base'],
      ['http://[::1]:9000', 'http', '::1', 9000, null],
    ]
    for (const [url, protocol, host, port, path] of cases) {
      const [s] = validateConfig(doc({ services: [{ name: 's', url }] })).services
      assert.deepEqual({ protocol: s.protocol, host: s.host, port: s.port, path: s.path }, { protocol, host, port, path }, url)
      assert.equal('url' in s, false)
    }
  })

  test('url together with host is refused, as are other schemes, queries and credentials', () => {
    assert.match(messageAt(doc({ services: [{ name: 's', url: 'http://a', host: 'b' }] }), 'services[0].url'), /either 'url' or/)
    assert.match(messageAt(doc({ services: [{ name: 's', url: 'ftp://a' }] }), 'services[0].url'), /unsupported scheme 'ftp'/)
    assert.match(messageAt(doc({ services: [{ name: 's', url: 'http://a/?x=1' }] }), 'services[0].url'), /query string/)
    assert.match(messageAt(doc({ services: [{ name: 's', url: 'http://u:p@a/' }] }), 'services[0].url'), /credentials/)
    assert.match(messageAt(doc({ services: [{ name: 's', url: 'not a url' }] }), 'services[0].url'), /is not a URL/)
  })

  test('a service needs a host or a url', () => {
    assert.match(messageAt(doc({ services: [{ name: 's' }] }), 'services[0].host'), /is required \(or give the whole address as 'url'\)/)
  })

  test('host must not carry a port; path follows Kong\'s rules', () => {
    assert.match(messageAt(doc({ services: [svc({ host: 'a.b:80' })] }), 'services[0].host'), /must not have a port/)
    assert.match(messageAt(doc({ services: [svc({ path: 'v1' })] }), 'services[0].path'), /must start with '\/'/)
    assert.match(messageAt(doc({ services: [svc({ path: '/a//b' })] }), 'services[0].path'), /empty segments/)
    assert.match(messageAt(doc({ services: [svc({ path: '/a%zz' })] }), 'services[0].path'), /percent-encoding/)
  })

  test('bounds: timeouts 1..2^31-2, retries 0..32767, port 1..65535', () => {
    const max = 2 ** 31 - 2
    assert.equal(validateConfig(doc({ services: [svc({ read_timeout: max, retries: 0 })] })).services[0].read_timeout, max)
    assert.equal(messageAt(doc({ services: [svc({ read_timeout: max + 1 })] }), 'services[0].read_timeout'), `must be at most ${max} (got ${max + 1})`)
    assert.equal(messageAt(doc({ services: [svc({ connect_timeout: 0 })] }), 'services[0].connect_timeout'), 'must be at least 1 (got 0)')
    assert.equal(messageAt(doc({ services: [svc({ retries: 32768 })] }), 'services[0].retries'), 'must be at most 32767 (got 32768)')
    assert.equal(messageAt(doc({ services: [svc({ retries: 1.5 })] }), 'services[0].retries'), 'expected an integer, got the number 1.5')
    assert.equal(messageAt(doc({ services: [svc({ port: 70000 })] }), 'services[0].port'), 'must be at most 65535 (got 70000)')
    assert.equal(messageAt(doc({ services: [svc({ retries: '3' })] }), 'services[0].retries'), "expected a number, got the string '3'")
  })

  test('names follow Kong\'s character rules', () => {
    assert.match(messageAt(doc({ services: [svc({ name: 'my service' })] }), 'services[0].name'), /only accepted ASCII characters/)
    assert.equal(validateConfig(doc({ services: [svc({ name: 'café.v1~x_y-z' })] })).services[0].name, 'café.v1~x_y-z')
  })
})

describe('routes', () => {
  const withRoute = (route: Record<string, unknown>) => doc({ services: [svc({ routes: [route] })] })
  const routeError = (route: Record<string, unknown>, field: string) => messageAt(withRoute(route), `services[0].routes[0].${field}`)

  test('defaults: strip_path, no preserve_host, regex_priority 0, protocols http+https', () => {
    const [route] = validateConfig(withRoute({ paths: ['/a'] })).routes
    assert.equal(route.strip_path, true)
    assert.equal(route.preserve_host, false)
    assert.equal(route.regex_priority, 0)
    assert.deepEqual(route.protocols, ['http', 'https'])
    assert.deepEqual([route.hosts, route.methods, route.headers], [null, null, null])
  })

  test('a route must match on something', () => {
    assert.equal(
      messageAt(withRoute({ name: 'r' }), 'services[0].routes[0]'),
      "a route must set at least one of 'paths', 'hosts', 'methods' or 'headers'",
    )
    assert.ok(validateConfig(withRoute({ methods: ['GET'] })))
    assert.ok(validateConfig(withRoute({ headers: { 'x-a': ['1'] } })))
  })

  test('paths: plain ones start with / and are normalised; ~ ones are regexes that must compile', () => {
    assert.match(routeError({ paths: ['api'] }, 'paths[0]'), /must start with '\/' \(a plain path\) or '~\/' \(a regex path\)/)
    assert.match(routeError({ paths: ['/a//b'] }, 'paths[0]'), /empty segments/)
    assert.match(routeError({ paths: ['/a/../b'] }, 'paths[0]'), /non-normalised path/)
    assert.match(routeError({ paths: ['/%7Euser'] }, 'paths[0]'), /use '\/~user' instead/)
    assert.match(routeError({ paths: ['/a b'] }, 'paths[0]'), /outside RFC 3986/)
    assert.equal(routeError({ paths: ['/ok', '~/users/(\\d+'] }, 'paths[1]'), "invalid regex '/users/(\\d+': Unterminated group")
    assert.match(routeError({ paths: ['~users'] }, 'paths[0]'), /must start with '~\/'/)
    const [route] = validateConfig(withRoute({ paths: ['/a/%2F', '~/v(?<n>\\d+)/x$', '/users/{id}/posts/{post}'] })).routes
    assert.deepEqual(route.paths, ['/a/%2F', '~/v(?<n>\\d+)/x$', '/users/{id}/posts/{post}'])
  })

  test('paths: {name} captures are whole segments with distinct names', () => {
    assert.match(routeError({ paths: ['/users/x{id}'] }, 'paths[0]'), /write a whole segment as \{name\}/)
    assert.match(routeError({ paths: ['/a/{id}/b/{id}'] }, 'paths[0]'), /appears twice/)
  })

  test('methods are upper-case tokens; repeats are dropped', () => {
    assert.match(routeError({ methods: ['get'] }, 'methods[0]'), /not an HTTP method: use upper-case letters/)
    assert.deepEqual(validateConfig(withRoute({ methods: ['GET', 'POST', 'GET'] })).routes[0].methods, ['GET', 'POST'])
  })

  test('hosts: exact or one wildcard at either end, lower-cased, no port', () => {
    const [route] = validateConfig(withRoute({ hosts: ['API.Example.com', '*.example.com', 'example.*', '10.1.2.3'] })).routes
    assert.deepEqual(route.hosts, ['api.example.com', '*.example.com', 'example.*', '10.1.2.3'])
    assert.match(routeError({ hosts: ['a.*.com'] }, 'hosts[0]'), /leftmost or rightmost label/)
    assert.match(routeError({ hosts: ['*.a.*'] }, 'hosts[0]'), /at most one wildcard/)
    assert.match(routeError({ hosts: ['a.com:8000'] }, 'hosts[0]'), /ports in route hosts are not supported/)
    assert.match(routeError({ hosts: ['bad_host!'] }, 'hosts[0]'), /invalid host/)
  })

  test('headers: names lower-cased, values lists; Host is refused; ~* values must compile', () => {
    const [route] = validateConfig(withRoute({ headers: { 'X-Version': ['1', '~*^v2'] } })).routes
    assert.deepEqual(route.headers, { 'x-version': ['1', '~*^v2'] })
    assert.match(routeError({ headers: { Host: ['a'] } }, 'headers.Host'), /match hosts with the 'hosts' field/)
    assert.match(routeError({ headers: { 'x-a': [] } }, 'headers.x-a'), /at least 1 item/)
    assert.match(routeError({ headers: { 'x-a': 'v' } }, 'headers.x-a'), /expected a list, got the string 'v'/)
    assert.match(routeError({ headers: { 'x-a': ['~*(x'] } }, 'headers.x-a[0]'), /invalid regex/)
    assert.match(routeError({ headers: { 'X-A': ['1'], 'x-a': ['2'] } }, 'headers.x-a'), /listed twice/)
    assert.match(routeError({ headers: { 'bad name': ['1'] } }, 'headers["bad name"]'), /not a valid header name/)
  })

  test('protocols are http and/or https', () => {
    assert.match(routeError({ paths: ['/'], protocols: ['grpc'] }, 'protocols[0]'), /must be one of 'http', 'https' \(got 'grpc'\)/)
    assert.match(routeError({ paths: ['/'], protocols: [] }, 'protocols'), /at least 1 item/)
  })

  test('a top-level route must name its service', () => {
    assert.equal(messageAt(doc({ routes: [{ paths: ['/'] }] }), 'routes[0].service'), 'is required')
  })
})

describe('upstreams and targets', () => {
  const up = (rest: Record<string, unknown> = {}) => ({ name: 'backend', ...rest })

  test('defaults: round-robin, no hashing, 10000 slots; targets weight 100 and port 8000', () => {
    const [u] = validateConfig(doc({ upstreams: [up({ targets: [{ target: '10.0.0.1' }, { target: 'Node-2.internal:81', weight: 0 }] })] })).upstreams
    assert.equal(u.algorithm, 'round-robin')
    assert.deepEqual([u.hash_on, u.hash_fallback, u.hash_on_header], ['none', 'none', null])
    assert.equal(u.slots, 10000)
    assert.deepEqual(
      u.targets.map((t) => [t.target, t.host, t.port, t.weight]),
      [
        ['10.0.0.1:8000', '10.0.0.1', 8000, 100],
        ['node-2.internal:81', 'node-2.internal', 81, 0],
      ],
    )
  })

  test('IPv6 targets are written back with brackets', () => {
    const [u] = validateConfig(doc({ upstreams: [up({ targets: [{ target: '[::1]:9000' }, { target: '::2' }] })] })).upstreams
    assert.deepEqual(u.targets.map((t) => [t.target, t.host, t.port]), [['[::1]:9000', '::1', 9000], ['[::2]:8000', '::2', 8000]])
  })

  test('bad targets, weights and slots are refused with their paths', () => {
    const raw = doc({ upstreams: [up({ slots: 9, targets: [{ target: 'a:0' }, { target: 'b', weight: 65536 }, { target: 'bad host' }] })] })
    const issues = issuesOf(raw)
    assert.deepEqual(issues.map((i) => i.path).sort(), ['upstreams[0].slots', 'upstreams[0].targets[0].target', 'upstreams[0].targets[1].weight', 'upstreams[0].targets[2].target'])
  })

  test('an upstream name is a host name: no IP, no port', () => {
    assert.match(messageAt(doc({ upstreams: [up({ name: '10.0.0.1' })] }), 'upstreams[0].name'), /not an IP address/)
    assert.match(messageAt(doc({ upstreams: [up({ name: 'a:80' })] }), 'upstreams[0].name'), /must not have a port/)
  })

  test('hashing settings are checked as Kong does', () => {
    assert.match(messageAt(doc({ upstreams: [up({ algorithm: 'consistent-hashing', hash_on: 'header' })] }), 'upstreams[0].hash_on_header'), /required when hash_on is 'header'/)
    assert.match(messageAt(doc({ upstreams: [up({ algorithm: 'consistent-hashing' })] }), 'upstreams[0].hash_on'), /must be set/)
    assert.match(messageAt(doc({ upstreams: [up({ hash_on: 'ip' })] }), 'upstreams[0].hash_on'), /only applies to algorithm 'consistent-hashing'/)
    assert.match(messageAt(doc({ upstreams: [up({ algorithm: 'consistent-hashing', hash_on: 'ip', hash_fallback: 'ip' })] }), 'upstreams[0].hash_fallback'), /must differ/)
    const [u] = validateConfig(
      doc({ upstreams: [up({ algorithm: 'consistent-hashing', hash_on: 'header', hash_on_header: 'X-User', hash_fallback: 'ip' })] }),
    ).upstreams
    assert.equal(u.hash_on_header, 'x-user')
    assert.match(messageAt(doc({ upstreams: [up({ algorithm: 'ring-hash' })] }), 'upstreams[0].algorithm'), /must be one of 'round-robin', 'least-connections', 'consistent-hashing'/)
  })
})

describe('consumers', () => {
  test('need a username or a custom_id', () => {
    assert.equal(messageAt(doc({ consumers: [{ tags: ['x'] }] }), 'consumers[0]'), "a consumer must set at least one of 'username' or 'custom_id'")
    const [a, b] = validateConfig(doc({ consumers: [{ username: 'alice' }, { custom_id: 'c-1' }] })).consumers
    assert.deepEqual([a.username, a.custom_id, b.username, b.custom_id], ['alice', null, null, 'c-1'])
  })
})

describe('unknown fields', () => {
  test('are refused everywhere, each with its path and a suggestion when one is close', () => {
    const raw = doc({
      servics: [],
      services: [svc({ hots: 'x', routes: [{ paths: ['/'] }, { paths: ['/b'], strip_paht: true }] })],
      upstreams: [{ name: 'u', targets: [{ target: 'a', wieght: 1 }] }],
      settings: { proxy_prot: 1 },
    })
    const issues = issuesOf(raw)
    const byPath = Object.fromEntries(issues.map((i) => [i.path, i.message]))
    assert.equal(byPath['servics'], "unknown field (did you mean 'services'?)")
    assert.equal(byPath['services[0].hots'], "unknown field (did you mean 'host'?)")
    assert.equal(byPath['services[0].routes[1].strip_paht'], "unknown field (did you mean 'strip_path'?)")
    assert.equal(byPath['upstreams[0].targets[0].wieght'], "unknown field (did you mean 'weight'?)")
    assert.equal(byPath['settings.proxy_prot'], "unknown field (did you mean 'proxy_port'?)")
    assert.equal(issues.length, 5)
  })

  test('an unrelated unknown field gets no suggestion', () => {
    assert.equal(messageAt(doc({ services: [svc({ zzzzzzzz: 1 })] }), 'services[0].zzzzzzzz'), 'unknown field')
  })

  test('a route nested under a service cannot name a service', () => {
    assert.match(messageAt(doc({ services: [svc({ routes: [{ paths: ['/'], service: 'x' }] })] }), 'services[0].routes[0].service'), /^unknown field/)
  })

  test('every problem is reported, not just the first', () => {
    const issues = issuesOf(
      doc({ services: [svc({ port: 0 }), svc({ name: 't', retries: -1, routes: [{ paths: ['x'] }] })], consumers: [{}] }),
    )
    assert.deepEqual(issues.map((i) => i.path), ['services[0].port', 'services[1].retries', 'services[1].routes[0].paths[0]', 'consumers[0]'])
  })

  test('wrong container types read in YAML words', () => {
    assert.equal(messageAt(doc({ services: {} }), 'services'), 'expected a list, got a mapping')
    assert.equal(messageAt(doc({ services: ['s'] }), 'services[0]'), "expected a mapping, got the string 's'")
  })
})

describe('plugins and the plugin registry', () => {
  const rateLimit = z.strictObject({
    minute: z.int().min(1).optional(),
    policy: z.enum(['local', 'redis']).default('local'),
  })

  test('an unknown plugin is refused with its path', () => {
    assert.equal(messageAt(doc({ plugins: [{ name: 'no-such-plugin' }] }), 'plugins[0].name'), "unknown plugin 'no-such-plugin' (no plugins are available in this build)")
    assert.match(messageAt(doc({ services: [svc({ plugins: [{ name: 'x' }] })] }), 'services[0].plugins[0].name'), /^unknown plugin 'x'/)
  })

  test('a registered plugin\'s config is validated and filled by its schema', () => {
    registerPluginSchema('test-rate-limit', rateLimit)
    try {
      assert.equal(getPluginSchema('test-rate-limit'), rateLimit)
      assert.ok(registeredPlugins().includes('test-rate-limit'))
      const config = validateConfig(doc({ services: [svc({ plugins: [{ name: 'test-rate-limit', config: { minute: 5 } }] })], plugins: [{ name: 'test-rate-limit' }] }))
      assert.deepEqual(config.plugins.map((p) => p.config), [{ minute: 5, policy: 'local' }, { policy: 'local' }])
      assert.deepEqual(config.plugins.map((p) => [p.enabled, p.protocols]), [[true, ['http', 'https']], [true, ['http', 'https']]])

      const issues = issuesOf(
        doc({
          plugins: [
            { name: 'test-rate-limit', config: { minute: 0, polcy: 'x' } },
            { name: 'test-rate-limt' },
            { name: 'test-rate-limit', config: { policy: 'cluster' }, consumer: 'c', extra: 1 },
          ],
        }),
      )
      const byPath = Object.fromEntries(issues.map((i) => [i.path, i.message]))
      assert.equal(byPath['plugins[0].config.minute'], 'must be at least 1 (got 0)')
      assert.equal(byPath['plugins[0].config.polcy'], "unknown field (did you mean 'policy'?)")
      assert.equal(byPath['plugins[1].name'], "unknown plugin 'test-rate-limt' (did you mean 'test-rate-limit'?)")
      assert.equal(byPath['plugins[2].extra'], 'unknown field')
    } finally {
      unregisterPluginSchema('test-rate-limit')
    }
    assert.equal(getPluginSchema('test-rate-limit'), undefined)
  })

  test('registration refuses bad names and a second, different schema under a taken name', () => {
    assert.throws(() => registerPluginSchema('Bad_Name', rateLimit), /invalid plugin name/)
    registerPluginSchema('test-twice', rateLimit)
    try {
      registerPluginSchema('test-twice', rateLimit)
      assert.throws(() => registerPluginSchema('test-twice', z.strictObject({})), /already has a registered config schema/)
    } finally {
      assert.equal(unregisterPluginSchema('test-twice'), true)
    }
    assert.equal(unregisterPluginSchema('test-twice'), false)
  })

  test('a nested plugin cannot name the kind it is nested under', () => {
    registerPluginSchema('test-nested', z.strictObject({}))
    try {
      assert.match(messageAt(doc({ services: [svc({ plugins: [{ name: 'test-nested', service: 's' }] })] }), 'services[0].plugins[0].service'), /^unknown field/)
      assert.match(
        messageAt(doc({ consumers: [{ username: 'u', plugins: [{ name: 'test-nested', consumer: 'u' }] }] }), 'consumers[0].plugins[0].consumer'),
        /^unknown field/,
      )
    } finally {
      unregisterPluginSchema('test-nested')
    }
  })
})
