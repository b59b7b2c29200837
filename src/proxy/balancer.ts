import type { Balancer, BalancerAlgorithm, Target, TargetSpec } from './types.js'

// Load balancing over an upstream's targets, Kong's three algorithms. A balancer is built once per config
// snapshot from the target specs; `up` (health checks, circuit breaker) and `active` (the forwarder) change
// under it, and every pick skips targets that are down, weightless or the one a retry excludes.

/** Kong `upstreams.slots` default and range. */
export const DEFAULT_SLOTS = 10000
const MIN_SLOTS = 10
const MAX_SLOTS = 65536

class LiveTarget implements Target {
  readonly spec: TargetSpec
  readonly key: string
  up: boolean
  active: number

  constructor(spec: TargetSpec) {
    this.spec = spec
    this.key = `${spec.host}:${spec.port}`
    this.up = true
    this.active = 0
  }
}

/**
 * Builds the balancer for one upstream. `slots` (consistent-hashing only) is the size of the hash wheel,
 * as in Kong: 10..65536, default 10000.
 */
export function createBalancer(
  algorithm: BalancerAlgorithm,
  specs: readonly TargetSpec[],
  opts?: { slots?: number },
): Balancer {
  const targets: Target[] = []
  for (const spec of specs) {
    if (!Number.isInteger(spec.weight) || spec.weight < 0 || spec.weight > 65535) {
      throw new RangeError(`target ${spec.host}:${spec.port}: weight must be an integer in 0..65535, got ${spec.weight}`)
    }
    targets.push(new LiveTarget(spec))
  }
  switch (algorithm) {
    case 'round-robin':
      return new RoundRobinBalancer(targets)
    case 'least-connections':
      return new LeastConnectionsBalancer(targets)
    case 'consistent-hashing': {
      const slots = opts?.slots ?? DEFAULT_SLOTS
      if (!Number.isInteger(slots) || slots < MIN_SLOTS || slots > MAX_SLOTS) {
        throw new RangeError(`slots must be an integer in ${MIN_SLOTS}..${MAX_SLOTS}, got ${slots}`)
      }
      return new ConsistentHashingBalancer(targets, slots)
    }
    default:
      throw new RangeError(`unknown balancer algorithm: ${String(algorithm)}`)
  }
}

/**
 * nginx's smooth weighted round-robin (ngx_http_upstream_get_peer): each pick adds every eligible target's
 * weight to its running score, takes the highest score, and takes the total back off the winner. Weights
 * 5/1/1 give a a b a c a a rather than a burst of five; over any window of sum(weights) picks each target
 * gets exactly its weight.
 */
class SmoothWeighted {
  private readonly weights: Float64Array
  private readonly current: Float64Array

  constructor(private readonly targets: readonly Target[]) {
    this.weights = new Float64Array(targets.length)
    this.current = new Float64Array(targets.length)
    for (let i = 0; i < targets.length; i++) this.weights[i] = targets[i].spec.weight
  }

  /**
   * Hot path: typed arrays indexed by target position, no allocation. With `activeNum/activeDen` >= 0 only
   * targets whose active/weight equals activeNum/activeDen compete (least-connections' tie-break).
   */
  pick(exclude: Target | null, activeNum: number, activeDen: number): Target | null {
    const targets = this.targets
    const weights = this.weights
    const current = this.current
    let best = -1
    let bestScore = 0
    let total = 0
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]
      const w = weights[i]
      if (!t.up || w === 0 || t === exclude) continue
      if (activeNum >= 0 && t.active * activeDen !== activeNum * w) continue
      const score = current[i] + w
      current[i] = score
      total += w
      if (best < 0 || score > bestScore) {
        best = i
        bestScore = score
      }
    }
    if (best < 0) return null
    current[best] = bestScore - total
    return targets[best]
  }
}

class RoundRobinBalancer implements Balancer {
  private readonly wrr: SmoothWeighted

  constructor(readonly targets: readonly Target[]) {
    this.wrr = new SmoothWeighted(targets)
  }

  pick(_hashKey: string | null, exclude: Target | null): Target | null {
    return this.wrr.pick(exclude, -1, 1)
  }
}

/**
 * Lowest active/weight wins. Ties (all idle is the common one) go to smooth weighted round-robin among the
 * tied targets, so idle load still spreads in proportion to weight instead of piling on the first target.
 */
class LeastConnectionsBalancer implements Balancer {
  private readonly wrr: SmoothWeighted

  constructor(readonly targets: readonly Target[]) {
    this.wrr = new SmoothWeighted(targets)
  }

  // Hot path: two passes over a handful of targets; ratios compared by cross-multiplication (integers,
  // exact) so ties are exact and no division happens.
  pick(_hashKey: string | null, exclude: Target | null): Target | null {
    const targets = this.targets
    let bestActive = -1
    let bestWeight = 1
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]
      const w = t.spec.weight
      if (!t.up || w === 0 || t === exclude) continue
      if (bestActive < 0 || t.active * bestWeight < bestActive * w) {
        bestActive = t.active
        bestWeight = w
      }
    }
    if (bestActive < 0) return null
    return this.wrr.pick(exclude, bestActive, bestWeight)
  }
}

/**
 * Kong's hash wheel: `slots` entries, each owned by one target; a key hashes to a slot. Slots are dealt by
 * weighted rendezvous hashing (each slot goes to the target with the highest weight / -ln(hash(target,
 * slot))), which gives each target a share of slots proportional to its weight, and makes a target's slots
 * depend only on itself: removing a target re-deals exactly its slots, adding one takes slots only for
 * itself. (A ketama ring whose point counts are scaled by weight/total moves keys between the surviving
 * targets too, because every survivor's point count changes.) A down or excluded target's key walks to the
 * next slots until it finds an eligible owner, so only that target's keys move, and they spread evenly.
 */
class ConsistentHashingBalancer implements Balancer {
  private readonly wheel: Int32Array
  private readonly fallback: SmoothWeighted

  constructor(
    readonly targets: readonly Target[],
    slots: number,
  ) {
    this.fallback = new SmoothWeighted(targets)
    this.wheel = dealSlots(targets, slots)
  }

  // Hot path: one string hash, one modulo, one array read; the walk past down targets is rare.
  pick(hashKey: string | null, exclude: Target | null): Target | null {
    if (hashKey === null) return this.fallback.pick(exclude, -1, 1)
    const wheel = this.wheel
    const slots = wheel.length
    let slot = hashString(hashKey) % slots
    const first = wheel[slot]
    if (first < 0) return null
    let t = this.targets[first]
    if (t.up && t !== exclude) return t
    if (!this.anyEligible(exclude)) return null
    for (let step = 1; step < slots; step++) {
      slot = slot + 1 === slots ? 0 : slot + 1
      t = this.targets[wheel[slot]]
      if (t.up && t !== exclude) return t
    }
    return null
  }

  /** Bounds the walk: without an eligible owner it would cross the whole wheel for nothing. */
  private anyEligible(exclude: Target | null): boolean {
    const targets = this.targets
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]
      if (t.up && t.spec.weight > 0 && t !== exclude) return true
    }
    return false
  }
}

/** The wheel: slot -> index of its owner in `targets`, or -1 everywhere when no target has weight. */
function dealSlots(targets: readonly Target[], slots: number): Int32Array {
  const wheel = new Int32Array(slots).fill(-1)
  const seeds = new Uint32Array(targets.length)
  for (let i = 0; i < targets.length; i++) seeds[i] = hashString(targets[i].key)
  for (let s = 0; s < slots; s++) {
    let owner = -1
    let ownerScore = 0
    const slotMix = Math.imul(s + 1, 0x9e3779b1)
    for (let i = 0; i < targets.length; i++) {
      const w = targets[i].spec.weight
      if (w === 0) continue
      // u in (0, 1); -ln(u) / w is an exponential with rate w, so the minimum falls on target i with
      // probability w / sum(weights).
      const u = (fmix32((seeds[i] ^ slotMix) >>> 0) + 0.5) / 4294967296
      const score = -Math.log(u) / w
      if (owner < 0 || score < ownerScore) {
        owner = i
        ownerScore = score
      }
    }
    wheel[s] = owner
  }
  return wheel
}

/**
 * FNV-1a 32 over UTF-16 code units, finished with murmur3's fmix32 so the low bits (used by the modulo) are
 * as well mixed as the high ones. Hot path: integer arithmetic on charCodeAt, no allocation (unlike
 * crypto.createHash or TextEncoder).
 */
export function hashString(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return fmix32(h >>> 0)
}

function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
