import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startGateway } from '../helpers/gateway.js'
import { get } from '../helpers/http.js'

const ROOT = new URL('../../', import.meta.url).pathname
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 })

test('sluice check: a valid file prints a summary and exits 0', () => {
  const r = cli('check', '--config', join(ROOT, 'examples/kong-style.yaml'))
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /is valid: 2 services, 3 routes/)
})

test('sluice check: an invalid file prints every error with its path and exits 1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'))
  const file = join(dir, 'bad.yaml')
  writeFileSync(
    file,
    ['_format_version: "3.0"', 'services:', '  - name: a', '    url: ftp://x', '    routes:', '      - paths: [nope]', '        colour: blue'].join('\n'),
  )
  const r = cli('check', '--config', file)
  assert.equal(r.status, 1)
  assert.match(r.stderr, /invalid \(2 errors\)/)
  assert.match(r.stderr, /services\[0\]\.routes\[0\]\.paths\[0\]: 'nope' must start with '\/'/)
  assert.match(r.stderr, /services\[0\]\.routes\[0\]\.colour: unknown field/)
  // The service's own url is checked once its nested entities are well-formed.
  writeFileSync(file, ['_format_version: "3.0"', 'services:', '  - name: a', '    url: ftp://x'].join('\n'))
  const r2 = cli('check', '--config', file)
  assert.equal(r2.status, 1)
  assert.match(r2.stderr, /services\[0\]\.url: unsupported scheme 'ftp'/)
})

test('sluice start refuses a bad config and never starts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'))
  const file = join(dir, 'bad.yaml')
  writeFileSync(file, '_format_version: "2.1"\n')
  const r = cli('start', '--config', file, '--admin-port', '0', '--proxy-port', '0')
  assert.equal(r.status, 1)
  assert.match(r.stderr, /_format_version/)
})

test('unknown command and unknown flag: usage, exit 2', () => {
  assert.equal(cli('frobnicate').status, 2)
  const r = cli('start', '--nope')
  assert.equal(r.status, 2)
  assert.match(r.stderr, /Usage:/)
})

test('sluice --version prints the package version', () => {
  const r = cli('--version')
  assert.equal(r.status, 0)
  assert.match(r.stdout, /^sluice \d+\.\d+\.\d+/)
})

test('sluice start without --config runs the embedded demo: users balanced over two instances, orders, fallback', async () => {
  const gw = await startGateway({}, { demo: true, workers: 1 })
  try {
    const instances = new Set<string>()
    for (let i = 0; i < 4; i++) {
      const r = await get(`${gw.url}/api/v1/users`)
      assert.equal(r.status, 200)
      assert.equal(r.json.service, 'user-service')
      assert.equal(r.json.path, '/api/v1/users')
      instances.add(r.json.instance)
    }
    assert.equal(instances.size, 2)
    const o = await get(`${gw.url}/api/v1/orders/101`)
    assert.equal(o.json.service, 'order-service')
    const f = await get(`${gw.url}/somewhere/else`)
    assert.equal(f.json.service, 'fallback-service')
    assert.match(gw.output(), /curl -i http:\/\/127\.0\.0\.1:\d+\/api\/v1\/users/)
  } finally {
    await gw.stop()
  }
})
