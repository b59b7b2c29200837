import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { z } from 'zod'
import { ConfigError } from '../../src/errors.js'
import { validateConfig } from '../../src/config/load.js'
import { registerPluginSchema, unregisterPluginSchema } from '../../src/config/plugins.js'

function issuesOf(raw: unknown): { path: string; message: string }[] {
  try {
    validateConfig(raw)
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => ({ path: i.path, message: i.message }))
    throw err
  }
  assert.fail('expected the configuration to be refused')
}

function messageAt(raw: unknown, path: string): string {
  const issues = issuesOf(raw)
  const found = issues.find((i) => i.path === path)
  assert.ok(found, `no issue at ${path}; got:\n${issues.map((i) => `${i.path}: ${i.message}`).join('\n')}`)
  return found.message
}

const doc = (rest: Record<string, unknown> = {}) => ({ _format_version: '3.0', ...rest })
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

// Plugins exist only once registered; these throw-away ones stand in for the real ones.
before(() => {
  registerPluginSchema('test-auth', z.strictObject({ realm: z.string().default('sluice') }))
  registerPluginSchema('test-log', z.strictObject({}))
})
after(() => {
  unregisterPluginSchema('test-auth')
  unregisterPluginSchema('test-log')
})

describe('routes and their services', () => {
  test('a top-level route finds its service by name or by id; every route carries its service', () => {
    const id = '6f1c2a3b-0000-4000-8000-00000000000A'
    const config = validateConfig(
      doc({
        services: [
          { name: 'a', host: 'a.internal', routes: [{ name: 'nested', paths: ['/n'] }] },
          { name: 'b', id, host: 'b.internal' },
        ],
        routes: [
          { name: 'by-name', service: 'a', paths: ['/x'] },
          { name: 'by-id', service: id.toUpperCase(), paths: ['/y'] },
        ],
      }),
    )
    const [a, b] = config.services
    assert.equal(b.id, id.toLowerCase())
    assert.deepEqual(
      config.routes.map((r) => [r.name, r.service]),
      [
        ['nested', { id: a.id, name: 'a' }],
        ['by-name', { id: a.id, name: 'a' }],
        ['by-id', { id: b.id, name: 'b' }],
      ],
    )
  })

  test('routes are listed in file order: nested ones service by service, then top-level ones', () => {
    const config = validateConfig(
      doc({
        routes: [{ name: 'top', service: 'b', paths: ['/t'] }],
        services: [
          { name: 'a', host: 'a', routes: [{ name: 'a1', paths: ['/1'] }, { name: 'a2', paths: ['/2'] }] },
          { name: 'b', host: 'b', routes: [{ name: 'b1', paths: ['/3'] }] },
        ],
      }),
    )
    assert.deepEqual(config.routes.map((r) => r.name), ['a1', 'a2', 'b1', 'top'])
  })

  test('an unknown service is refused, with a suggestion', () => {
    const raw = doc({ services: [{ name: 'orders', host: 'o' }], routes: [{ service: 'order', paths: ['/'] }] })
    assert.equal(messageAt(raw, 'routes[0].service'), "no service named 'order' (or with that id); did you mean 'orders'?")
  })
})

describe('uniqueness', () => {
  test('service, route and upstream names are unique; the message points at the first use', () => {
    const issues = issuesOf(
      doc({
        services: [
          { name: 's', host: 'a', routes: [{ name: 'r', paths: ['/a'] }] },
          { name: 's', host: 'b' },
        ],
        routes: [{ name: 'r', service: 's', paths: ['/b'] }],
        upstreams: [{ name: 'up' }, { name: 'UP' }],
      }),
    )
    assert.deepEqual(issues, [
      { path: 'upstreams[1].name', message: "duplicate upstream name 'up' (also used by upstreams[0])" },
      { path: 'services[1].name', message: "duplicate service name 's' (also used by services[0])" },
      { path: 'routes[0].name', message: "duplicate route name 'r' (also used by services[0].routes[0])" },
    ])
  })

  test('ids are unique per entity type, whether given or generated', () => {
    const id = '11111111-2222-4333-8444-555555555555'
    const issues = issuesOf(
      doc({
        services: [
          { name: 'a', id, host: 'a' },
          { name: 'b', id, host: 'b' },
        ],
        consumers: [{ username: 'x', id }],
      }),
    )
    // The consumer may share the id with a service: ids are per type, as in Kong's tables.
    assert.deepEqual(issues, [{ path: 'services[1].id', message: `duplicate service id '${id}' (also used by services[0])` }])
  })

  test('consumer usernames and custom_ids are each unique', () => {
    const issues = issuesOf(
      doc({ consumers: [{ username: 'u', custom_id: 'c' }, { username: 'u' }, { username: 'v', custom_id: 'c' }] }),
    )
    assert.deepEqual(
      issues.map((i) => i.path),
      ['consumers[1].username', 'consumers[2].custom_id'],
    )
  })
})

describe('upstreams and targets', () => {
  test('top-level targets join their upstream (by name, case-insensitively, or id); every upstream carries its targets', () => {
    const config = validateConfig(
      doc({
        upstreams: [
          { name: 'users.internal', targets: [{ target: '10.0.0.1:80' }] },
          { name: 'empty.internal' },
          { name: 'by-id.internal', id: '0b0b0b0b-0000-4000-8000-000000000001' },
        ],
        targets: [
          { upstream: 'Users.Internal', target: '10.0.0.2:80', weight: 5 },
          { upstream: '0b0b0b0b-0000-4000-8000-000000000001', target: '10.0.0.3:80' },
        ],
      }),
    )
    const [users, empty, byId] = config.upstreams
    assert.deepEqual(byId.targets.map((t) => t.target), ['10.0.0.3:80'])
    assert.deepEqual(users.targets.map((t) => [t.target, t.weight, t.upstream.name]), [
      ['10.0.0.1:80', 100, 'users.internal'],
      ['10.0.0.2:80', 5, 'users.internal'],
    ])
    assert.equal(users.targets[1].upstream.id, users.id)
    assert.deepEqual(empty.targets, [])
  })

  test('a target for an unknown upstream is refused', () => {
    assert.match(messageAt(doc({ targets: [{ upstream: 'nope', target: 'a:1' }] }), 'targets[0].upstream'), /^no upstream named 'nope'/)
  })

  test('the same target twice in one upstream is refused (after canonicalising)', () => {
    const raw = doc({
      upstreams: [{ name: 'u', targets: [{ target: 'A.internal' }] }, { name: 'v', targets: [{ target: 'a.internal:8000' }] }],
      targets: [{ upstream: 'u', target: 'a.internal:8000' }],
    })
    assert.deepEqual(issuesOf(raw), [
      { path: 'targets[0].target', message: "duplicate target 'a.internal:8000' in upstream 'u' (also at upstreams[0].targets[0])" },
    ])
  })

  test('a service whose host names an upstream resolves to it (case-insensitively); others do not', () => {
    const config = validateConfig(
      doc({
        upstreams: [{ name: 'users.internal', targets: [{ target: '10.0.0.1:80' }] }],
        services: [
          { name: 'balanced', host: 'Users.Internal' },
          { name: 'balanced-url', url: 'http://users.internal/api' },
          { name: 'direct', host: 'example.com' },
        ],
      }),
    )
    const upstream = config.upstreams[0]
    assert.deepEqual(config.services.map((s) => s.upstream), [
      { id: upstream.id, name: 'users.internal' },
      { id: upstream.id, name: 'users.internal' },
      null,
    ])
  })
})

describe('plugins and their scope', () => {
  test('nesting and references give each plugin its scope; global plugins have none', () => {
    const config = validateConfig(
      doc({
        services: [
          {
            name: 's',
            host: 'a',
            plugins: [{ name: 'test-auth' }],
            routes: [{ name: 'r', paths: ['/'], plugins: [{ name: 'test-auth' }] }],
          },
        ],
        consumers: [{ username: 'alice', plugins: [{ name: 'test-auth', route: 'r' }] }],
        plugins: [{ name: 'test-log' }, { name: 'test-auth', service: 's', consumer: 'alice' }],
      }),
    )
    const name = (ref: { name: string | null } | null) => (ref === null ? null : ref.name)
    assert.deepEqual(
      config.plugins.map((p) => [p.name, name(p.service), name(p.route), name(p.consumer)]),
      [
        ['test-auth', 's', null, null],
        ['test-auth', null, 'r', null],
        ['test-auth', null, 'r', 'alice'],
        ['test-log', null, null, null],
        ['test-auth', 's', null, 'alice'],
      ],
    )
    assert.deepEqual(config.plugins[0].config, { realm: 'sluice' })
  })

  test('references to unknown services, routes and consumers are refused with their paths', () => {
    const issues = issuesOf(
      doc({
        services: [{ name: 's', host: 'a' }],
        plugins: [
          { name: 'test-log', service: 'x' },
          { name: 'test-log', route: 'y' },
          { name: 'test-log', consumer: 'z' },
        ],
      }),
    )
    assert.deepEqual(issues.map((i) => i.path), ['plugins[0].service', 'plugins[1].route', 'plugins[2].consumer'])
    assert.match(issues[2].message, /^no consumer named 'z'/)
  })

  test('the same plugin twice on one scope is refused; on different scopes it is fine', () => {
    const raw = doc({
      services: [{ name: 's', host: 'a', plugins: [{ name: 'test-auth' }] }],
      plugins: [{ name: 'test-auth', service: 's' }, { name: 'test-log' }, { name: 'test-log' }],
    })
    assert.deepEqual(issuesOf(raw), [
      { path: 'plugins[0]', message: "plugin 'test-auth' is configured twice for the same scope (service 's') (also at services[0].plugins[0])" },
      { path: 'plugins[2]', message: "plugin 'test-log' is configured twice for the global scope (also at plugins[1])" },
    ])
    const ok = validateConfig(
      doc({ services: [{ name: 's', host: 'a', plugins: [{ name: 'test-auth' }] }], plugins: [{ name: 'test-auth' }] }),
    )
    assert.equal(ok.plugins.length, 2)
  })

  test('a consumer can be named by username or id', () => {
    const id = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee'
    const config = validateConfig(
      doc({
        consumers: [{ username: 'alice' }, { custom_id: 'only-custom', id }],
        plugins: [
          { name: 'test-log', consumer: 'alice' },
          { name: 'test-auth', consumer: id },
        ],
      }),
    )
    assert.deepEqual(config.plugins.map((p) => p.consumer?.name), ['alice', 'only-custom'])
  })
})

describe('deterministic ids', () => {
  const sample = () =>
    doc({
      services: [
        { name: 'a', host: 'a', routes: [{ paths: ['/x'] }, { paths: ['/x'] }, { name: 'named', paths: ['/y'] }] },
        { name: 'b', host: 'b', plugins: [{ name: 'test-log' }] },
      ],
      upstreams: [{ name: 'u', targets: [{ target: 't:1' }] }],
      consumers: [{ username: 'c' }],
    })

  test('every entity gets a UUID v5, the same on every load of the same file', () => {
    const one = validateConfig(sample())
    const two = validateConfig(sample())
    const ids = (c: typeof one) => [
      ...c.services.map((s) => s.id),
      ...c.routes.map((r) => r.id),
      ...c.upstreams.map((u) => u.id),
      ...c.upstreams[0].targets.map((t) => t.id),
      ...c.consumers.map((x) => x.id),
      ...c.plugins.map((p) => p.id),
    ]
    assert.deepEqual(ids(one), ids(two))
    for (const id of ids(one)) assert.match(id, UUID)
    assert.equal(new Set(ids(one)).size, ids(one).length, 'two identical unnamed routes still get distinct ids')
  })

  test('ids follow names and content, not position in the file', () => {
    const forward = validateConfig(sample())
    const raw = sample() as unknown as { services: unknown[] }
    raw.services.reverse()
    const reversed = validateConfig(raw)
    const byName = (c: typeof forward) => Object.fromEntries(c.services.map((s) => [s.name, s.id]))
    assert.deepEqual(byName(forward), byName(reversed))
    const named = (c: typeof forward) => c.routes.find((r) => r.name === 'named')?.id
    assert.equal(named(forward), named(reversed))
  })

  test('a renamed service gets a new id; an id in the file is kept (lower-cased)', () => {
    const a = validateConfig(doc({ services: [{ name: 'a', host: 'h' }] })).services[0].id
    const b = validateConfig(doc({ services: [{ name: 'b', host: 'h' }] })).services[0].id
    assert.notEqual(a, b)
    const given = validateConfig(doc({ services: [{ name: 'a', host: 'h', id: 'ABCDEF01-2345-4789-8BCD-EF0123456789' }] })).services[0].id
    assert.equal(given, 'abcdef01-2345-4789-8bcd-ef0123456789')
  })
})

describe('the two stages', () => {
  test('references are checked only once the shape is right, so errors do not cascade', () => {
    // The route names a missing service, but the service list itself is malformed: only the shape
    // error is reported, not a confusing "no service named" on top of it.
    const issues = issuesOf(doc({ services: [{ name: 's', host: 'a', port: 'eighty' }], routes: [{ service: 'missing', paths: ['/'] }] }))
    assert.deepEqual(issues.map((i) => i.path), ['services[0].port'])
  })

  test('all reference problems are reported together', () => {
    const issues = issuesOf(
      doc({
        routes: [{ service: 'a', paths: ['/'] }, { service: 'b', paths: ['/'] }],
        targets: [{ upstream: 'c', target: 'x' }],
      }),
    )
    assert.equal(issues.length, 3)
  })
})
