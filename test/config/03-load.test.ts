import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError } from '../../src/errors.js'
import { checkConfig } from '../../src/config/check.js'
import {
  loadConfig,
  loadConfigObject,
  parseConfigText,
  resolveSettings,
  validateConfig,
  type LoadedConfig,
} from '../../src/config/load.js'

let dir = ''
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-config-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

let fileCounter = 0
async function write(ext: string, text: string): Promise<string> {
  const file = join(dir, `config-${++fileCounter}.${ext}`)
  await writeFile(file, text)
  return file
}

async function issuesOf(promise: Promise<unknown>): Promise<{ path: string; message: string; line?: number; column?: number }[]> {
  try {
    await promise
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues]
    throw err
  }
  assert.fail('expected a ConfigError')
}

function syncIssuesOf(fn: () => unknown): { path: string; message: string; line?: number; column?: number }[] {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues]
    throw err
  }
  assert.fail('expected a ConfigError')
}

const YAML_CONFIG = `_format_version: "3.0"
services:
  - name: users
    url: http://users.internal:8080/v1
    routes:
      - name: users-route
        paths: [/users]
upstreams:
  - name: users.internal
    targets:
      - target: 10.0.0.1:8080
settings:
  proxy_port: 9000
  workers: 2
`

const JSON_CONFIG = JSON.stringify({
  _format_version: '3.0',
  services: [{ name: 'users', url: 'http://users.internal:8080/v1', routes: [{ name: 'users-route', paths: ['/users'] }] }],
  upstreams: [{ name: 'users.internal', targets: [{ target: '10.0.0.1:8080' }] }],
  settings: { proxy_port: 9000, workers: 2 },
})

describe('parseConfigText', () => {
  test('reads YAML 1.2 and JSON to the same document', () => {
    assert.deepEqual(parseConfigText(YAML_CONFIG, 'kong.yml'), JSON.parse(JSON_CONFIG))
    assert.deepEqual(parseConfigText(JSON_CONFIG, 'kong.json'), JSON.parse(JSON_CONFIG))
  })

  test('YAML 1.2: yes/no/on/off stay strings, so they cannot turn into booleans by surprise', () => {
    assert.deepEqual(parseConfigText('a: yes\nb: off\n', 'x.yaml'), { a: 'yes', b: 'off' })
  })

  test('a YAML syntax error names its line and column', () => {
    const [issue] = syncIssuesOf(() => parseConfigText('_format_version: "3.0"\nservices:\n  - name: a\n   host: b\n', 'bad.yaml'))
    assert.equal(issue.line, 4)
    assert.equal(issue.path, `line 4, column ${issue.column}`)
    assert.match(issue.message, /^YAML syntax error: /)
  })

  test('a duplicate key in YAML is an error, not a silent overwrite', () => {
    const [issue] = syncIssuesOf(() => parseConfigText('_format_version: "3.0"\nservices: []\nservices: []\n', 'dup.yaml'))
    assert.equal(issue.line, 3)
    assert.match(issue.message, /Map keys must be unique/)
  })

  test('a JSON syntax error names its line and column', () => {
    const [issue] = syncIssuesOf(() => parseConfigText('{\n  "_format_version": "3.0",\n  "services": [,]\n}', 'bad.json'))
    assert.equal(issue.line, 3)
    assert.equal(issue.column, 16)
    assert.equal(issue.message, "JSON syntax error: Unexpected token ','")
  })

  test('the ConfigError names the file', () => {
    assert.throws(() => parseConfigText('a: [', 'conf/kong.yaml'), (err: unknown) => err instanceof ConfigError && err.source === 'conf/kong.yaml' && /in conf\/kong\.yaml/.test(err.message))
  })
})

describe('loadConfig', () => {
  test('YAML and JSON files with the same content load to the same config and hash', async () => {
    const fromYaml = await loadConfig({ file: await write('yaml', YAML_CONFIG), env: {} })
    const fromJson = await loadConfig({ file: await write('json', JSON_CONFIG), env: {} })
    assert.deepEqual(fromYaml.config, fromJson.config)
    assert.equal(fromYaml.hash, fromJson.hash)
    assert.match(fromYaml.hash, /^[0-9a-f]{64}$/)
    assert.equal(fromYaml.settings.proxy_port, 9000)
    assert.equal(fromYaml.config.services[0].upstream?.name, 'users.internal')
  })

  test('the hash is the config version: stable across reloads, changed by any entity change, not by settings', async () => {
    const base = await loadConfig({ file: await write('yaml', YAML_CONFIG), env: {} })
    const again = await loadConfig({ file: await write('yaml', YAML_CONFIG), env: {} })
    const routeChanged = await loadConfig({ file: await write('yaml', YAML_CONFIG.replace('[/users]', '[/people]')), env: {} })
    const settingsChanged = await loadConfig({ file: await write('yaml', YAML_CONFIG.replace('9000', '9001')), env: {} })
    assert.equal(again.hash, base.hash)
    assert.notEqual(routeChanged.hash, base.hash)
    assert.equal(settingsChanged.hash, base.hash)
    assert.equal(settingsChanged.settings.proxy_port, 9001)
  })

  test('the result is deeply frozen', async () => {
    const { config, settings } = await loadConfig({ file: await write('yaml', YAML_CONFIG), env: {} })
    assert.ok(Object.isFrozen(config))
    assert.ok(Object.isFrozen(config.services))
    assert.ok(Object.isFrozen(config.services[0]))
    assert.ok(Object.isFrozen(config.routes[0].paths))
    assert.ok(Object.isFrozen(config.upstreams[0].targets[0].upstream))
    assert.ok(Object.isFrozen(settings))
    assert.ok(Object.isFrozen(settings.trusted_ips))
    // ES modules are strict: writing to a frozen object throws instead of being ignored.
    assert.throws(() => {
      ;(config.services[0] as { port: number }).port = 1
    }, TypeError)
    assert.throws(() => {
      ;(config.routes[0].paths as string[]).push('/x')
    }, TypeError)
    assert.throws(() => {
      ;(settings as { workers: number }).workers = 64
    }, TypeError)
  })

  test('errors from the file and from the environment come in one ConfigError', async () => {
    const file = await write('yaml', '_format_version: "3.0"\nservices:\n  - name: a\n    host: b\n    port: 0\n')
    const issues = await issuesOf(loadConfig({ file, env: { SLUICE_PROXY_PORT: 'abc' } }))
    assert.deepEqual(issues.map((i) => i.path), ['services[0].port', 'SLUICE_PROXY_PORT'])
  })

  test('a missing file is a ConfigError naming the file', async () => {
    const file = join(dir, 'does-not-exist.yaml')
    await assert.rejects(loadConfig({ file, env: {} }), (err: unknown) => err instanceof ConfigError && err.source === file && /cannot read the config file/.test(err.message))
  })

  test('without file, SLUICE_CONFIG names it; with neither, there are no entities', async () => {
    const file = await write('yaml', YAML_CONFIG)
    const viaEnv = await loadConfig({ env: { SLUICE_CONFIG: file } })
    assert.equal(viaEnv.source, file)
    assert.equal(viaEnv.config.services.length, 1)
    const none = await loadConfig({ env: {} })
    assert.equal(none.config.services.length, 0)
  })

  test('a _format_version other than "3.0" in a file is refused', async () => {
    const issues = await issuesOf(loadConfig({ file: await write('yaml', '_format_version: 3.0\n'), env: {} }))
    assert.equal(issues[0].path, '_format_version')
    assert.match(issues[0].message, /quote it/)
    const missing = await issuesOf(loadConfig({ file: await write('json', '{"services": []}'), env: {} }))
    assert.equal(missing[0].path, '_format_version')
  })
})

describe('loadConfigObject', () => {
  test('validates an object the same way as a file, without changing it', async () => {
    const raw = JSON.parse(JSON_CONFIG) as Record<string, unknown>
    const copy = structuredClone(raw)
    const loaded = await loadConfigObject(raw, { env: {}, source: 'embedded demo' })
    const fromFile = await loadConfig({ file: await write('json', JSON_CONFIG), env: {} })
    assert.equal(loaded.source, 'embedded demo')
    assert.equal(loaded.hash, fromFile.hash)
    assert.deepEqual(raw, copy)
    const issues = await issuesOf(loadConfigObject({ _format_version: '3.0', services: [{ name: 'x' }] }, { env: {} }))
    assert.deepEqual(issues.map((i) => i.path), ['services[0].host'])
  })
})

describe('settings', () => {
  test('defaults', () => {
    const s = resolveSettings({})
    assert.equal(s.workers, availableParallelism())
    assert.deepEqual(
      { ...s, workers: 0 },
      {
        workers: 0,
        proxy_listen: '0.0.0.0',
        proxy_port: 8000,
        proxy_ssl_port: 8443,
        ssl_cert: null,
        ssl_key: null,
        admin_listen: '127.0.0.1',
        admin_port: 8001,
        max_header_count: 48,
        max_header_bytes: 32768,
        max_uri_length: 8192,
        max_body_bytes: 10485760,
        trusted_ips: [],
        correlation_id_header: 'X-Correlation-ID',
        access_log: 'stdout',
        drain_timeout: 30000,
        upstream_connections: 128,
        upstream_keepalive_timeout: 60000,
        upstream_client: 'sluice',
        redis_url: null,
      },
    )
  })

  test('precedence: flags > env > file > defaults, per setting', async () => {
    const file = await write('yaml', `_format_version: "3.0"\nsettings:\n  proxy_port: 9000\n  admin_port: 9001\n  drain_timeout: 1000\n`)
    const fileOnly = await loadConfig({ file, env: {} })
    assert.deepEqual([fileOnly.settings.proxy_port, fileOnly.settings.admin_port, fileOnly.settings.drain_timeout], [9000, 9001, 1000])
    const withEnv = await loadConfig({ file, env: { SLUICE_PROXY_PORT: '9100', SLUICE_ADMIN_PORT: '9101' } })
    assert.deepEqual([withEnv.settings.proxy_port, withEnv.settings.admin_port, withEnv.settings.drain_timeout], [9100, 9101, 1000])
    const withFlags = await loadConfig({ file, env: { SLUICE_PROXY_PORT: '9100', SLUICE_ADMIN_PORT: '9101' }, flags: { proxy_port: '9200' } })
    assert.deepEqual([withFlags.settings.proxy_port, withFlags.settings.admin_port, withFlags.settings.drain_timeout], [9200, 9101, 1000])
    assert.equal(withFlags.settings.max_uri_length, 8192)
  })

  test('env values are parsed by the setting\'s type: numbers, lists, null', () => {
    const s = resolveSettings({
      env: {
        SLUICE_WORKERS: '3',
        SLUICE_TRUSTED_IPS: '10.0.0.0/8, 192.168.1.1,::1/128',
        SLUICE_CORRELATION_ID_HEADER: 'off',
        SLUICE_ACCESS_LOG: 'off',
        SLUICE_REDIS_URL: 'redis://127.0.0.1:6379/0',
        SLUICE_MAX_BODY_BYTES: '0',
        PATH: '/usr/bin',
        SLUICE_DRAIN_TIMEOUT: '',
      },
    })
    assert.equal(s.workers, 3)
    assert.deepEqual(s.trusted_ips, ['10.0.0.0/8', '192.168.1.1', '::1/128'])
    assert.equal(s.correlation_id_header, null)
    assert.equal(s.access_log, 'off')
    assert.equal(s.redis_url, 'redis://127.0.0.1:6379/0')
    assert.equal(s.max_body_bytes, 0)
    assert.equal(s.drain_timeout, 30000, 'an empty variable leaves the setting alone')
  })

  test('env values are validated like the file, and errors name the variable', () => {
    const issues = syncIssuesOf(() =>
      resolveSettings({
        env: {
          SLUICE_PROXY_PORT: '70000',
          SLUICE_WORKERS: 'many',
          SLUICE_TRUSTED_IPS: '10.0.0.0/8,10.0.0.0/33',
          SLUICE_MAX_HEADER_COUNT: '49',
          SLUICE_PROXY_PROT: '1',
          SLUICE_REDIS_URL: 'http://user:secret@host',
        },
      }),
    )
    const byPath = Object.fromEntries(issues.map((i) => [i.path, i.message]))
    assert.equal(byPath['SLUICE_PROXY_PORT'], 'must be at most 65535 (got 70000)')
    assert.equal(byPath['SLUICE_WORKERS'], "expected a number, got the string 'many'")
    assert.match(byPath['SLUICE_TRUSTED_IPS[1]'], /invalid prefix length/)
    assert.match(byPath['SLUICE_MAX_HEADER_COUNT'], /must be at most 48: the bundled uWebSockets.js build stalls/)
    assert.equal(byPath['SLUICE_PROXY_PROT'], 'unknown setting in the environment (did you mean SLUICE_PROXY_PORT?)')
    assert.equal(byPath['SLUICE_REDIS_URL'], 'must start with redis:// or rediss://')
    assert.ok(!JSON.stringify(issues).includes('secret'), 'a Redis password is never echoed')
    assert.equal(issues.length, 6)
  })

  test('flags accept snake_case or kebab-case names, strings or typed values; errors name the flag', () => {
    const s = resolveSettings({ flags: { 'proxy-port': '7000', admin_port: 7001, '--workers': '1' } })
    assert.deepEqual([s.proxy_port, s.admin_port, s.workers], [7000, 7001, 1])
    const issues = syncIssuesOf(() => resolveSettings({ flags: { 'proxy-port': 'x', 'max-bodybytes': '1' } }))
    assert.deepEqual(issues, [
      { path: '--proxy-port', message: "expected a number, got the string 'x'" },
      { path: '--max-bodybytes', message: 'unknown setting (did you mean --max-body-bytes?)' },
    ])
  })

  test('ssl_cert and ssl_key come together, even from different sources', async () => {
    const file = await write('yaml', `_format_version: "3.0"\nsettings:\n  ssl_cert: /etc/sluice/cert.pem\n`)
    const issues = await issuesOf(loadConfig({ file, env: {} }))
    assert.deepEqual(issues, [{ path: 'settings.ssl_key', message: 'ssl_cert and ssl_key must be set together' }])
    const ok = await loadConfig({ file, env: { SLUICE_SSL_KEY: '/etc/sluice/key.pem' } })
    assert.deepEqual([ok.settings.ssl_cert, ok.settings.ssl_key], ['/etc/sluice/cert.pem', '/etc/sluice/key.pem'])
    const onlyFlag = syncIssuesOf(() => resolveSettings({ flags: { ssl_key: '/k.pem' } }))
    assert.deepEqual(onlyFlag, [{ path: 'settings.ssl_cert', message: 'ssl_cert and ssl_key must be set together' }])
  })

  test('bad values in the file\'s settings block are reported with their path', () => {
    const issues = syncIssuesOf(() =>
      validateConfig({ _format_version: '3.0', settings: { max_header_count: 100, trusted_ips: ['nope'], admin_listen: 'not a host' } }),
    )
    assert.deepEqual(issues.map((i) => i.path).sort(), ['settings.admin_listen', 'settings.max_header_count', 'settings.trusted_ips[0]'])
  })
})

describe('checkConfig (sluice check)', () => {
  test('the shipped example passes, with a one-line summary of what it holds', () => {
    const example = fileURLToPath(new URL('../../examples/kong-style.yaml', import.meta.url))
    const result = checkConfig(example, { env: {} })
    assert.equal(result.ok, true, result.output)
    assert.equal(result.output.split('\n').length, 1)
    assert.match(result.output, /is valid: 2 services, 3 routes, 1 upstream, 3 targets, 1 consumer, 0 plugins \(version [0-9a-f]{12}\)$/)
  })

  test('a bad file lists every error with its path', async () => {
    const file = await write(
      'yaml',
      `_format_version: "3.0"\nservices:\n  - name: a\n    host: a.internal\n    retries: -1\n    routes:\n      - paths: [nope]\n        methods: [get]\n`,
    )
    const result = checkConfig(file, { env: {} })
    assert.equal(result.ok, false)
    assert.equal(
      result.output,
      [
        `sluice: configuration ${file} is invalid (3 errors):`,
        '  services[0].retries: must be at least 0 (got -1)',
        "  services[0].routes[0].methods[0]: 'get' is not an HTTP method: use upper-case letters, e.g. GET",
        "  services[0].routes[0].paths[0]: 'nope' must start with '/' (a plain path) or '~/' (a regex path)",
      ].join('\n'),
    )
  })

  test('a syntax error is reported with its line and column', async () => {
    const result = checkConfig(await write('yaml', '_format_version: "3.0"\nservices: [\n'), { env: {} })
    assert.equal(result.ok, false)
    assert.match(result.output, /line \d+, column \d+: YAML syntax error/)
  })

  test('loading the example gives the same answer as checking it', async () => {
    const example = fileURLToPath(new URL('../../examples/kong-style.yaml', import.meta.url))
    const loaded: LoadedConfig = await loadConfig({ file: example, env: {} })
    assert.ok(checkConfig(example, { env: {} }).output.includes(loaded.hash.slice(0, 12)))
    assert.equal(loaded.config.upstreams[0].targets.length, 3)
    assert.deepEqual(loaded.config.upstreams[0].targets.map((t) => t.weight), [100, 100, 50])
  })
})
