import { test } from 'node:test'
import assert from 'node:assert/strict'
import { JwksManager } from '../../src/auth/jwks/manager.js'
import { redactUri } from '../../src/auth/jwks/keys.js'
import { JwksServer, issuerKey, until } from './jwks-server.js'

// Regression: logs show a JWKS URI without its query string or userinfo (they can carry credentials),
// but the snapshots workers receive must name the URI exactly as configured, or a worker would file the
// keys under another URI than the one its jwt plugin looks them up by.

test('snapshots carry the configured URI (query included); only logs are redacted', async () => {
  const server = new JwksServer()
  server.keys.push((await issuerKey('k1')).jwk)
  await server.start()
  const uri = `${server.uri}?tenant=acme&token=SECRET`
  const manager = new JwksManager()
  const seen: string[] = []
  manager.onSnapshot((s) => seen.push(s.uri))
  try {
    manager.configure([{ uri, cacheTtlMs: 60_000, cooldownMs: 60_000, staleGraceMs: 60_000, timeoutMs: 2000 }])
    await until(() => seen.length === 1, 3000, 'first snapshot')
    assert.deepEqual(seen, [uri])
    assert.deepEqual(manager.snapshots().map((s) => s.uri), [uri])
    manager.need(uri) // within the cooldown: an "unchanged" answer, also under the exact URI
    await until(() => seen.length === 2, 3000, 'unchanged answer')
    assert.equal(seen[1], uri)
  } finally {
    await manager.close()
    await server.stop()
  }
  assert.equal(redactUri('https://user:pw@idp.example/jwks?token=SECRET'), 'https://idp.example/jwks?…')
})
