import type { BucketStore, LeaseGrant, LeaseRequest } from '../redis/lease.js'

/**
 * `policy: local` in a cluster worker: leases from the primary's MemoryBucketStore over IPC, so the
 * node's workers share one bucket per key. The primary answers within one tick; a primary that does not
 * answer within `timeoutMs` (it is exiting) fails the lease like an unreachable Redis would.
 */
export class IpcBucketStore implements BucketStore {
  private seq = 0
  private readonly waiting = new Map<number, { resolve: (g: LeaseGrant[]) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>()

  constructor(
    private readonly send: (msg: { type: 'rl-lease'; id: number; batch: readonly LeaseRequest[] }) => void,
    private readonly timeoutMs = 1000,
  ) {}

  lease(batch: readonly LeaseRequest[]): Promise<LeaseGrant[]> {
    const id = ++this.seq
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        reject(new Error('the primary did not answer a rate-limit lease'))
      }, this.timeoutMs)
      timer.unref()
      this.waiting.set(id, { resolve, reject, timer })
      this.send({ type: 'rl-lease', id, batch })
    })
  }

  /** The primary's answer to lease `id`. */
  answer(id: number, grants: LeaseGrant[] | null, error?: string): void {
    const w = this.waiting.get(id)
    if (w === undefined) return
    this.waiting.delete(id)
    clearTimeout(w.timer)
    if (grants === null) w.reject(new Error(error ?? 'lease refused'))
    else w.resolve(grants)
  }

  async close(): Promise<void> {
    for (const [id, w] of this.waiting) {
      clearTimeout(w.timer)
      w.reject(new Error('closed'))
      this.waiting.delete(id)
    }
  }
}
