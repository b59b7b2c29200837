import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { SignJWT, exportJWK, generateKeyPair, jwtVerify, type JWK } from 'jose'
import { JwksKeys, bindAlgorithm, importKeySet, type JwksSnapshot } from '../../src/auth/jwks/keys.js'
import { issuerKey, sleep } from './jwks-server.js'

const URI = 'https://issuer.example/jwks'

async function publicJwk(alg: string, options: Record<string, unknown> = {}): Promise<JWK> {
  const { publicKey } = await generateKeyPair(alg, { extractable: true, ...options })
  return exportJWK(publicKey)
}

function snapshot(keys: unknown[] | null, fetchedAt: number, staleUntil = Date.now() + 60_000): JwksSnapshot {
  return { uri: URI, jwks: keys === null ? null : { keys }, fetchedAt, staleUntil }
}

describe('importKeySet and bindAlgorithm', () => {
  test('binds each key to one algorithm: RSA without alg -> RS256, EC by curve, OKP -> EdDSA, a given alg wins', async () => {
    const rsa = await publicJwk('RS256')
    const p256 = await publicJwk('ES256')
    const p384 = await publicJwk('ES384')
    const ed = await publicJwk('EdDSA', { crv: 'Ed25519' })
    const ps = await publicJwk('PS256')
    const keys = await importKeySet(URI, {
      keys: [
        { ...rsa, kid: 'rsa' },
        { ...p256, kid: 'p256' },
        { ...p384, kid: 'p384' },
        { ...ed, kid: 'ed' },
        { ...ps, kid: 'ps', alg: 'PS256' },
        { ...rsa, kid: 'rsa512', alg: 'RS512', use: 'sig' },
      ],
    })
    assert.deepEqual(
      Object.fromEntries([...keys.values()].map((k) => [k.kid, k.alg])),
      { rsa: 'RS256', p256: 'ES256', p384: 'ES384', ed: 'EdDSA', ps: 'PS256', rsa512: 'RS512' },
    )
    assert.equal(bindAlgorithm({ kty: 'EC', crv: 'P-521' }), 'ES512')
    assert.equal(bindAlgorithm({ kty: 'EC', crv: 'secp256k1' }), null)
    assert.equal(bindAlgorithm({ kty: 'oct', k: 'c2VjcmV0' }), null)
  })

  test('skips symmetric keys, private keys, encryption keys, unknown or HMAC algs, duplicate kids and junk', async () => {
    const rsa = await publicJwk('RS256')
    const { privateKey } = await generateKeyPair('RS256', { extractable: true })
    const priv = await exportJWK(privateKey)
    const other = await publicJwk('RS256')
    const keys = await importKeySet(URI, {
      keys: [
        { kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ', kid: 'oct' },
        { kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ', kid: 'oct-hs', alg: 'HS256' },
        { ...priv, kid: 'private' },
        { ...rsa, kid: 'enc', use: 'enc' },
        { ...rsa, kid: 'rs1', alg: 'RS1' },
        { ...rsa, kid: 'none', alg: 'none' },
        { ...rsa, kid: 'hs', alg: 'HS256' },
        { ...rsa, kid: 'mismatch', alg: 'ES256' },
        { ...rsa, kid: 'dup' },
        { ...other, kid: 'dup', alg: 'RS384' },
        { ...rsa },
        { ...rsa, kid: '' },
        { ...rsa, kid: 42 },
        null,
        'a string',
        [rsa],
        { ...rsa, kid: 'good' },
      ],
    })
    assert.deepEqual([...keys.keys()].sort(), ['dup', 'good'])
    // The first key with a kid wins; the duplicate never replaces it.
    assert.equal(keys.get('dup')?.alg, 'RS256')
  })

  test('an imported key verifies a token signed by its private key, and only with its bound algorithm', async () => {
    const issuer = await issuerKey('k1')
    const keys = await importKeySet(URI, { keys: [issuer.jwk] })
    const key = keys.get('k1')!
    const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(issuer.privateKey)
    assert.equal((await jwtVerify(token, key.key, { algorithms: [key.alg] })).payload.sub, 'alice')
    await assert.rejects(jwtVerify(token, key.key, { algorithms: ['RS512'] }))
  })
})

describe('JwksKeys', () => {
  test('get() serves a key until staleUntil, then no longer', async () => {
    const issuer = await issuerKey('k1')
    const store = new JwksKeys()
    await store.update(snapshot([issuer.jwk], 1000, Date.now() + 150))
    assert.equal(store.get(URI, 'k1')?.kid, 'k1')
    assert.equal(store.get(URI, 'nope'), undefined)
    assert.equal(store.get('https://other.example/jwks', 'k1'), undefined)
    await sleep(200)
    assert.equal(store.get(URI, 'k1'), undefined)

    const expired = new JwksKeys()
    await expired.update(snapshot([issuer.jwk], 1000, Date.now() - 1))
    assert.equal(expired.get(URI, 'k1'), undefined)
  })

  test('an unchanged snapshot for the current fetch extends staleUntil; one for another fetch does not', async () => {
    const issuer = await issuerKey('k1')
    const store = new JwksKeys()
    await store.update(snapshot([issuer.jwk], 1000, Date.now() + 100))
    await store.update(snapshot(null, 999, Date.now() + 60_000))
    await sleep(150)
    assert.equal(store.get(URI, 'k1'), undefined, 'a null snapshot of another fetch must not extend the set')

    await store.update(snapshot([issuer.jwk], 2000, Date.now() + 100))
    await store.update(snapshot(null, 2000, Date.now() + 60_000))
    await sleep(150)
    assert.equal(store.get(URI, 'k1')?.kid, 'k1')
  })

  test('an older snapshot never replaces a newer one, in order or racing', async () => {
    const a = await issuerKey('a')
    const b = await issuerKey('b')
    const store = new JwksKeys()
    await store.update(snapshot([b.jwk], 2000))
    await store.update(snapshot([a.jwk], 1000))
    assert.ok(store.get(URI, 'b') !== undefined)
    assert.equal(store.get(URI, 'a'), undefined)

    // Both imports in flight at once; the older one finishing last must not win.
    const racing = new JwksKeys()
    await Promise.all([racing.update(snapshot([b.jwk], 2000)), racing.update(snapshot([a.jwk], 1000))])
    assert.ok(racing.get(URI, 'b') !== undefined)
    assert.equal(racing.get(URI, 'a'), undefined)
    const racing2 = new JwksKeys()
    await Promise.all([racing2.update(snapshot([a.jwk], 1000)), racing2.update(snapshot([b.jwk], 2000))])
    assert.ok(racing2.get(URI, 'b') !== undefined)
    assert.equal(racing2.get(URI, 'a'), undefined)
  })

  test('refresh(): waiters share one ask and all resolve on the answer', async () => {
    const store = new JwksKeys()
    const asks: string[] = []
    store.connect((uri) => asks.push(uri))
    let resolved = 0
    const waits = Array.from({ length: 5 }, () => store.refresh(URI, 10_000).then(() => resolved++))
    assert.deepEqual(asks, [URI])
    await sleep(20)
    assert.equal(resolved, 0, 'nobody resolves before the answer')
    await store.update(snapshot(null, 0, 0))
    await Promise.all(waits)
    assert.equal(resolved, 5)
    // The next unknown kid asks again.
    const again = store.refresh(URI, 10_000)
    assert.equal(asks.length, 2)
    await store.update(snapshot(null, 0, 0))
    await again
  })

  test('refresh(): without an answer, waiters resolve after their wait and the next refresh asks again', async () => {
    const store = new JwksKeys()
    let asks = 0
    store.connect(() => asks++)
    const started = Date.now()
    // The waiters' timers are unref'd (a worker's server keeps its loop alive); hold the loop here.
    const hold = setTimeout(() => {}, 5000)
    await Promise.all([store.refresh(URI, 80), store.refresh(URI, 80)])
    clearTimeout(hold)
    assert.ok(Date.now() - started >= 70, 'resolved by the wait, not at once')
    assert.equal(asks, 1)
    await Promise.race([store.refresh(URI, 50), sleep(1000)])
    assert.equal(asks, 2)
  })

  test('refresh() then update() with a new set makes the new kid available to the waiters', async () => {
    const issuer = await issuerKey('new')
    const store = new JwksKeys()
    let pending: JwksSnapshot | null = null
    store.connect(() => {
      pending = snapshot([issuer.jwk], 3000)
    })
    const waiting = store.refresh(URI, 10_000)
    assert.ok(pending !== null)
    await store.update(pending)
    await waiting
    assert.equal(store.get(URI, 'new')?.alg, 'RS256')
  })
})
