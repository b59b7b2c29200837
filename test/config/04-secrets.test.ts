import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { loadConfigObject } from '../../src/config/load.js'
import '../../src/plugins/index.js'

// Credentials in a config never come back out: not in `sluice check` errors (which end up in CI logs),
// not in the normalised config workers receive (plain-text passwords are hashed at load and dropped).

const ROOT = new URL('../../', import.meta.url).pathname
const API_KEY = 'api-key-SECRET-7f3a9c'
const SHORT_SECRET = 'short-SECRET-hs'
const PASSWORD = 'pass-SECRET-word'

function check(config: object): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-secrets-'))
  const file = join(dir, 'bad.yaml')
  writeFileSync(file, stringify(config))
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'check', '--config', file], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 })
  return { status: r.status, out: r.stdout + r.stderr }
}

test('sluice check reports credential problems without quoting the secrets', () => {
  // Shape problems (the first stage of validation)...
  const shape = check({
    _format_version: '3.0',
    consumers: [
      { username: 'a', jwt_secrets: [{ key: 'iss-a', secret: SHORT_SECRET }] },
      { username: 'b', basicauth_credentials: [{ username: 'b', password: PASSWORD, password_hash: '$scrypt$x' }] },
      { username: 'c', basicauth_credentials: [{ username: 'c', password_hash: `$scrypt$${PASSWORD}` }] },
    ],
  })
  assert.equal(shape.status, 1, shape.out)
  assert.match(shape.out, /consumers\[0\]\.jwt_secrets\[0\]\.secret: must be at least 32 bytes/)
  assert.match(shape.out, /consumers\[1\]\.basicauth_credentials\[0\]\.password: set exactly one of 'password' or 'password_hash'/)
  assert.match(shape.out, /consumers\[2\]\.basicauth_credentials\[0\]\.password_hash: is not a valid scrypt hash/)
  // ...and cross-entity ones (the second): a key shared by two consumers.
  const dup = check({
    _format_version: '3.0',
    consumers: [
      { username: 'a', keyauth_credentials: [{ key: API_KEY }] },
      { username: 'b', keyauth_credentials: [{ key: API_KEY }] },
    ],
  })
  assert.equal(dup.status, 1, dup.out)
  assert.match(dup.out, /consumers\[1\]\.keyauth_credentials\[0\]\.key: duplicate key-auth key \(also used by consumers\[0\]\.keyauth_credentials\[0\]\)/)
  for (const out of [shape.out, dup.out]) assert.ok(!out.includes('SECRET'), out)
})

test('a plain-text password is hashed at load; the normalised config holds only the hash', async () => {
  const loaded = await loadConfigObject({
    _format_version: '3.0',
    consumers: [{ username: 'a', basicauth_credentials: [{ username: 'a', password: PASSWORD }] }],
  })
  const text = JSON.stringify(loaded.config)
  assert.ok(!text.includes(PASSWORD))
  const cred = loaded.config.consumers[0].basicauth_credentials[0]
  assert.match(cred.password_hash, /^\$scrypt\$ln=14,r=8,p=1\$/)
  assert.equal('password' in cred, false)
  // Deterministic: the same file gives the same config hash (the salt comes from the credential).
  const again = await loadConfigObject({
    _format_version: '3.0',
    consumers: [{ username: 'a', basicauth_credentials: [{ username: 'a', password: PASSWORD }] }],
  })
  assert.equal(again.hash, loaded.hash)
})
