// Contracts between the balancer, the upstream pools and the forwarder.

export type BalancerAlgorithm = 'round-robin' | 'least-connections' | 'consistent-hashing'

/** Kong `upstreams.hash_on` (and `hash_fallback`): what consistent hashing keys on. */
export type HashOn = 'none' | 'ip' | 'header' | 'consumer'

export interface TargetSpec {
  readonly host: string
  readonly port: number
  /** Kong weight 0..65535; 0 means the target receives no traffic. Default 100. */
  readonly weight: number
}

/** A live target: the balancer reads `up` and `active`; the forwarder updates `active`. */
export interface Target {
  readonly spec: TargetSpec
  /** `host:port`, the key for pools and health state. */
  readonly key: string
  /** False when the target is marked down (health checks, circuit breaker): the balancer skips it. */
  up: boolean
  /** In-flight requests on this target (least-connections reads it). */
  active: number
}

export interface Balancer {
  /**
   * Hot path. Picks a target that is up, skipping those in `exclude` (already tried by a retry).
   * `hashKey` is the consistent-hashing input (client IP, header value, consumer id) or null.
   * Returns null when no target is available.
   */
  pick(hashKey: string | null, exclude: Target | null): Target | null
  readonly targets: readonly Target[]
}
