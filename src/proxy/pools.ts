import { Pool } from 'undici'

export interface PoolOptions {
  readonly connections: number
  readonly keepAliveTimeout: number
}

/**
 * undici pools, one per upstream origin and connect timeout, shared by every config snapshot that uses
 * them: a reload that keeps a target keeps its warm keep-alive connections. Each snapshot holds a lease;
 * a pool no snapshot leases any more is closed gracefully (undici finishes its in-flight requests first).
 */
export class PoolRegistry {
  private readonly pools = new Map<string, { pool: Pool; leases: number }>()

  constructor(private readonly options: PoolOptions) {}

  lease(origin: string, connectTimeout: number): Pool {
    const key = `${origin}|${connectTimeout}`
    let entry = this.pools.get(key)
    if (entry === undefined) {
      const pool = new Pool(origin, {
        connections: this.options.connections,
        pipelining: 1,
        keepAliveTimeout: this.options.keepAliveTimeout,
        keepAliveMaxTimeout: Math.max(this.options.keepAliveTimeout, 1000),
        connect: { timeout: connectTimeout },
      })
      entry = { pool, leases: 0 }
      this.pools.set(key, entry)
    }
    entry.leases++
    return entry.pool
  }

  /** Gives back a lease; resolves when the pool, if no longer leased, has drained and closed. */
  async release(pool: Pool): Promise<void> {
    for (const [key, entry] of this.pools) {
      if (entry.pool !== pool) continue
      if (--entry.leases > 0) return
      this.pools.delete(key)
      await pool.close()
      return
    }
  }

  get size(): number {
    return this.pools.size
  }

  async closeAll(): Promise<void> {
    const all = [...this.pools.values()].map((e) => e.pool.close())
    this.pools.clear()
    await Promise.allSettled(all)
  }
}
