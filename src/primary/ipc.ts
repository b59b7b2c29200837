// Messages between the cluster primary and its workers (node:cluster IPC). The primary loads and
// validates configuration; workers only compile what they are sent.
import type { GatewayConfig, Settings } from '../config/schema.js'
import type { JwksSnapshot } from '../auth/jwks/keys.js'
import type { LeaseGrant, LeaseRequest } from '../redis/lease.js'

export type ToWorker =
  | { type: 'config'; version: number; hash: string; config: GatewayConfig; settings: Settings }
  | { type: 'drain'; deadline: number }
  | { type: 'stats'; id: number }
  /** A JWKS key set (new, refreshed, or unchanged in answer to `jwks-need`), for every worker. */
  | { type: 'jwks'; snapshot: JwksSnapshot }
  /** The node's answer to a `policy: local` rate-limit lease (grants null: refused, with why). */
  | { type: 'rl-grant'; id: number; grants: LeaseGrant[] | null; error?: string }

export type FromWorker =
  /** The worker has its message handler installed: send it the config now (not on 'online', which
   * fires before the worker's modules have loaded, and a message sent then would be lost). */
  | { type: 'hello' }
  | { type: 'listening'; version: number; native: boolean }
  | { type: 'config-applied'; version: number }
  | { type: 'config-failed'; version: number; error: string }
  | { type: 'listen-failed'; error: string }
  | { type: 'stats'; id: number; stats: WorkerStats }
  /** A token named a `kid` this worker does not have: refetch `uri` if the cooldown allows. */
  | { type: 'jwks-need'; uri: string }
  /** Lease tokens from the node's buckets (`policy: local`, shared by the node's workers). */
  | { type: 'rl-lease'; id: number; batch: LeaseRequest[] }

export interface WorkerStats {
  pid: number
  version: number
  inflight: number
  requests: number
  draining: boolean
  rss: number
  /** Rate-limit stores of this worker: whether each is reachable (an outage shows here). */
  ratelimit: ReturnType<typeof import('../ratelimit/registry.js').limiterReport>
}
