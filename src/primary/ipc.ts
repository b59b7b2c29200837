// Messages between the cluster primary and its workers (node:cluster IPC). The primary loads and
// validates configuration; workers only compile what they are sent.
import type { GatewayConfig, Settings } from '../config/schema.js'

export type ToWorker =
  | { type: 'config'; version: number; hash: string; config: GatewayConfig; settings: Settings }
  | { type: 'drain'; deadline: number }
  | { type: 'stats'; id: number }

export type FromWorker =
  | { type: 'listening'; version: number; native: boolean }
  | { type: 'config-applied'; version: number }
  | { type: 'config-failed'; version: number; error: string }
  | { type: 'listen-failed'; error: string }
  | { type: 'stats'; id: number; stats: WorkerStats }

export interface WorkerStats {
  pid: number
  version: number
  inflight: number
  requests: number
  draining: boolean
  rss: number
}
