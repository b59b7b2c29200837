import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { createBalancer, hashString } from '../../src/proxy/balancer.js'
import type { Balancer, Target, TargetSpec } from '../../src/proxy/types.js'

const spec = (host: string, weight = 100, port = 80): TargetSpec => ({ host, port, weight })

function counts(b: Balancer, picks: number, key: (i: number) => string | null = () => null): Map<string, number> {
  const m = new Map<string, number>()
  for (let i = 0; i < picks; i++) {
    const t = b.pick(key(i), null)
    const k = t === null ? 'null' : t.spec.host
    m.set(k, (m.get(k) ?? 0) + 1)
  }
  return m
}

function sequence(b: Balancer, picks: number): string {
  let s = ''
  for (let i = 0; i < picks; i++) s += b.pick(null, null)?.spec.host ?? '-'
  return s
}

const byHost = (b: Balancer, host: string): Target => b.targets.find((t) => t.spec.host === host)!

describe('createBalancer', () => {
  test('builds live targets keyed host:port, up and idle', () => {
    const b = createBalancer('round-robin', [spec('10.0.0.1', 100, 8080), spec('api.internal', 5, 443)])
    assert.deepEqual(
      b.targets.map((t) => [t.key, t.up, t.active, t.spec.weight]),
      [
        ['10.0.0.1:8080', true, 0, 100],
        ['api.internal:443', true, 0, 5],
      ],
    )
  })

  test('rejects weights outside Kong 0..65535 and bad slots', () => {
    assert.throws(() => createBalancer('round-robin', [spec('a', -1)]), /a:80: weight must be/)
    assert.throws(() => createBalancer('round-robin', [spec('a', 65536)]), /weight must be/)
    assert.throws(() => createBalancer('round-robin', [spec('a', 1.5)]), /weight must be/)
    assert.throws(() => createBalancer('consistent-hashing', [spec('a')], { slots: 9 }), /slots must be/)
    assert.throws(() => createBalancer('consistent-hashing', [spec('a')], { slots: 65537 }), /slots must be/)
    assert.doesNotThrow(() => createBalancer('consistent-hashing', [spec('a')], { slots: 10 }))
  })

  for (const algorithm of ['round-robin', 'least-connections', 'consistent-hashing'] as const) {
    test(`${algorithm}: null when there are no targets, all are down, weightless or excluded`, () => {
      assert.equal(createBalancer(algorithm, []).pick('k', null), null)
      const b = createBalancer(algorithm, [spec('a'), spec('b'), spec('z', 0)])
      const [a, bb] = b.targets
      a.up = false
      assert.equal(b.pick('k', bb), null)
      assert.equal(b.pick(null, bb), null)
      bb.up = false
      assert.equal(b.pick('k', null), null)
      assert.equal(b.pick(null, null), null)
      assert.equal(createBalancer(algorithm, [spec('z', 0)]).pick('k', null), null)
    })

    test(`${algorithm}: never picks a down, weightless or excluded target`, () => {
      const b = createBalancer(algorithm, [spec('a'), spec('b'), spec('c'), spec('z', 0)])
      byHost(b, 'b').up = false
      const c = byHost(b, 'c')
      const seen = new Set<string>()
      for (let i = 0; i < 2000; i++) {
        const t = b.pick(i % 3 === 0 ? null : `client-${i}`, c)
        assert.ok(t !== null)
        seen.add(t.spec.host)
      }
      assert.deepEqual([...seen], ['a'])
    })

    test(`${algorithm}: a target marked up again receives traffic again`, () => {
      const b = createBalancer(algorithm, [spec('a'), spec('b')])
      byHost(b, 'a').up = false
      assert.equal(counts(b, 100, (i) => `k${i}`).get('a'), undefined)
      byHost(b, 'a').up = true
      assert.ok((counts(b, 100, (i) => `k${i}`).get('a') ?? 0) > 20)
    })
  }
})

describe('round-robin (smooth weighted)', () => {
  test('equal weights rotate in order', () => {
    assert.equal(sequence(createBalancer('round-robin', [spec('a'), spec('b'), spec('c')]), 9), 'abcabcabc')
  })

  test("weights 5/1/1 interleave as nginx's smooth WRR does, not as a burst", () => {
    const b = createBalancer('round-robin', [spec('a', 5), spec('b', 1), spec('c', 1)])
    assert.equal(sequence(b, 14), 'aabacaaaabacaa')
  })

  test('weights 3:1 over 400 picks give exactly 300/100', () => {
    const b = createBalancer('round-robin', [spec('a', 3), spec('b', 1)])
    assert.deepEqual(Object.fromEntries(counts(b, 400)), { a: 300, b: 100 })
  })

  test('every window of sum(weights) picks holds each target exactly weight times', () => {
    const b = createBalancer('round-robin', [spec('a', 7), spec('b', 2), spec('c', 1), spec('d', 0)])
    for (let w = 0; w < 20; w++) assert.deepEqual(Object.fromEntries(counts(b, 10)), { a: 7, b: 2, c: 1 })
  })

  test('a down target gets nothing and the rest keep their ratio', () => {
    const b = createBalancer('round-robin', [spec('a', 2), spec('b', 1), spec('c', 1)])
    byHost(b, 'a').up = false
    assert.deepEqual(Object.fromEntries(counts(b, 400)), { b: 200, c: 200 })
  })

  test('exclude skips the already-tried target for that pick only', () => {
    const b = createBalancer('round-robin', [spec('a'), spec('b')])
    const a = byHost(b, 'a')
    for (let i = 0; i < 10; i++) assert.equal(b.pick(null, a)?.spec.host, 'b')
    assert.equal(sequence(b, 4).includes('a'), true)
  })
})

describe('least-connections', () => {
  test('picks the target with the fewest active requests', () => {
    const b = createBalancer('least-connections', [spec('a'), spec('b'), spec('c')])
    byHost(b, 'a').active = 5
    byHost(b, 'b').active = 2
    byHost(b, 'c').active = 3
    assert.equal(b.pick(null, null)?.spec.host, 'b')
    byHost(b, 'b').active = 4
    assert.equal(b.pick(null, null)?.spec.host, 'c')
  })

  test('compares active/weight: 4 active at weight 4 beats 2 active at weight 1', () => {
    const b = createBalancer('least-connections', [spec('a', 1), spec('b', 4)])
    byHost(b, 'a').active = 2
    byHost(b, 'b').active = 4
    assert.equal(b.pick(null, null)?.spec.host, 'b')
    byHost(b, 'b').active = 9
    assert.equal(b.pick(null, null)?.spec.host, 'a')
  })

  test('idle targets with equal weights rotate instead of piling on the first', () => {
    const b = createBalancer('least-connections', [spec('a'), spec('b'), spec('c')])
    assert.equal(sequence(b, 6), 'abcabc')
  })

  test('idle ties follow the weights: 3:1 over 400 picks give exactly 300/100', () => {
    const b = createBalancer('least-connections', [spec('a', 3), spec('b', 1)])
    assert.deepEqual(Object.fromEntries(counts(b, 400)), { a: 300, b: 100 })
  })

  test('requests that never finish end up in proportion to weight', () => {
    const b = createBalancer('least-connections', [spec('a', 3), spec('b', 1), spec('c', 0)])
    for (let i = 0; i < 400; i++) b.pick(null, null)!.active++
    assert.deepEqual(
      b.targets.map((t) => t.active),
      [300, 100, 0],
    )
  })

  test('a slow target with requests piling up gets less new traffic', () => {
    const b = createBalancer('least-connections', [spec('fast'), spec('slow')])
    const fast = byHost(b, 'fast')
    const slow = byHost(b, 'slow')
    let toSlow = 0
    // The fast target finishes each request before the next pick; the slow one never does.
    for (let i = 0; i < 100; i++) {
      const t = b.pick(null, null)!
      if (t === slow) {
        slow.active++
        toSlow++
      }
    }
    assert.equal(fast.active, 0)
    assert.equal(toSlow, 1)
  })

  test('exclude and down apply before the least-loaded choice', () => {
    const b = createBalancer('least-connections', [spec('a'), spec('b'), spec('c')])
    byHost(b, 'b').active = 10
    byHost(b, 'c').active = 20
    const a = byHost(b, 'a')
    assert.equal(b.pick(null, a)?.spec.host, 'b')
    a.up = false
    assert.equal(b.pick(null, byHost(b, 'b'))?.spec.host, 'c')
  })
})

describe('consistent-hashing', () => {
  const N = 10
  const KEYS = 50_000
  const specs = Array.from({ length: N }, (_, i) => spec(`10.0.0.${i + 1}`))
  const key = (i: number): string => `198.51.${(i >> 8) & 255}.${i & 255}-${i}`

  function assignment(b: Balancer, exclude: Target | null = null): string[] {
    const out: string[] = []
    for (let i = 0; i < KEYS; i++) out.push(b.pick(key(i), exclude)?.key ?? 'null')
    return out
  }

  test('the same key always maps to the same target, across separately built balancers', () => {
    const b1 = createBalancer('consistent-hashing', specs)
    const b2 = createBalancer('consistent-hashing', specs)
    for (let i = 0; i < 2000; i++) {
      const t = b1.pick(key(i), null)!.key
      assert.equal(b1.pick(key(i), null)!.key, t)
      assert.equal(b2.pick(key(i), null)!.key, t)
    }
  })

  test('the mapping does not depend on the order targets are listed in', () => {
    const forward = assignment(createBalancer('consistent-hashing', specs))
    const reversed = assignment(createBalancer('consistent-hashing', [...specs].reverse()))
    assert.deepEqual(reversed, forward)
  })

  test(`spread over ${N} equal targets: each within ±12% of the mean (slot-deal noise is ~3%), chi-square below the 0.1% critical value`, () => {
    const c = counts(createBalancer('consistent-hashing', specs), KEYS, key)
    assert.equal(c.size, N)
    const mean = KEYS / N
    let chi2 = 0
    for (const n of c.values()) {
      assert.ok(Math.abs(n - mean) / mean < 0.12, `count ${n} vs mean ${mean}`)
      chi2 += (n - mean) ** 2 / mean
    }
    // The wheel's own deal adds variance beyond a uniform draw (10000 slots), so this is a loose bound:
    // pure key noise would give chi2 ~ 9; slot noise with 10000 slots and 50000 keys scales it ~6x.
    assert.ok(chi2 < 27.88 * 6, `chi2 ${chi2}`)
  })

  test('shares follow weights: 3:1 gives 75% ± 2%', () => {
    const b = createBalancer('consistent-hashing', [spec('a', 300), spec('b', 100)])
    const share = (counts(b, KEYS, key).get('a') ?? 0) / KEYS
    assert.ok(Math.abs(share - 0.75) < 0.02, `share ${share}`)
  })

  test('marking one target down moves only its keys, spread over the others', () => {
    const b = createBalancer('consistent-hashing', specs)
    const before = assignment(b)
    const down = b.targets[3]
    down.up = false
    const after = assignment(b)
    let moved = 0
    const receivers = new Map<string, number>()
    for (let i = 0; i < KEYS; i++) {
      if (before[i] === after[i]) continue
      moved++
      assert.equal(before[i], down.key, `key ${i} moved from a healthy target`)
      receivers.set(after[i], (receivers.get(after[i]) ?? 0) + 1)
    }
    assert.equal(moved, before.filter((k) => k === down.key).length)
    assert.ok(moved / KEYS < 1 / N + 0.02, `moved ${moved}`)
    assert.equal(receivers.size, N - 1)
    const r = [...receivers.values()]
    assert.ok(Math.max(...r) / Math.min(...r) < 2, `receivers ${r}`)
    down.up = true
    assert.deepEqual(assignment(b), before)
  })

  test('excluding a target (retry) moves only its keys, and never to itself', () => {
    const b = createBalancer('consistent-hashing', specs)
    const before = assignment(b)
    const ex = b.targets[5]
    const after = assignment(b, ex)
    for (let i = 0; i < KEYS; i++) {
      assert.notEqual(after[i], ex.key)
      if (before[i] !== ex.key) assert.equal(after[i], before[i])
    }
  })

  test('removing a target from the config moves only its keys (< 1/N + 2%)', () => {
    const before = assignment(createBalancer('consistent-hashing', specs))
    const removed = specs[7]
    const after = assignment(createBalancer('consistent-hashing', specs.filter((s) => s !== removed)))
    let moved = 0
    for (let i = 0; i < KEYS; i++) {
      if (before[i] === after[i]) continue
      moved++
      assert.equal(before[i], `${removed.host}:80`)
    }
    assert.ok(moved > 0 && moved / KEYS < 1 / N + 0.02, `moved ${moved}`)
  })

  test('adding a target moves keys only onto the new target (~1/(N+1))', () => {
    const before = assignment(createBalancer('consistent-hashing', specs))
    const added = spec('10.0.1.1')
    const after = assignment(createBalancer('consistent-hashing', [...specs, added]))
    let moved = 0
    for (let i = 0; i < KEYS; i++) {
      if (before[i] === after[i]) continue
      moved++
      assert.equal(after[i], '10.0.1.1:80')
    }
    assert.ok(Math.abs(moved / KEYS - 1 / (N + 1)) < 0.02, `moved ${moved}`)
  })

  test('a null hash key falls back to weighted round-robin', () => {
    const b = createBalancer('consistent-hashing', [spec('a', 3), spec('b', 1)])
    assert.deepEqual(Object.fromEntries(counts(b, 400)), { a: 300, b: 100 })
  })

  test('works with the smallest wheel Kong allows', () => {
    const b = createBalancer('consistent-hashing', [spec('a'), spec('b')], { slots: 10 })
    const c = counts(b, 1000, key)
    assert.equal((c.get('a') ?? 0) + (c.get('b') ?? 0), 1000)
  })
})

describe('hashString', () => {
  test('is stable, 32-bit unsigned, and spreads similar keys over the low bits', () => {
    assert.equal(hashString('10.0.0.1'), hashString('10.0.0.1'))
    const buckets = new Array(16).fill(0)
    for (let i = 0; i < 16000; i++) {
      const h = hashString(`user-${i}`)
      assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 32)
      buckets[h & 15]++
    }
    for (const n of buckets) assert.ok(n > 850 && n < 1150, `bucket ${n}`)
  })
})
