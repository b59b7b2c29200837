import { Pool } from 'undici'
import { H1Pool } from './h1/pool.js'

/**
 * Which client carries plain `http://` upstreams: undici's Pool, or Sluice's own HTTP/1.1 client
 * (src/proxy/h1/, the same legacy dispatch handler contract at a fraction of the CPU per request, see
 * bench/baseline/README.md). `https://` upstreams always use undici.
 */
export type UpstreamClient = 'undici' | 'sluice'

export interface PoolOptions<C extends UpstreamClient = 'undici'> {
  readonly connections: number
  readonly keepAliveTimeout: number
  /** Default 'undici'. */
  readonly client?: C
}

/** The pool type `lease` returns for a client choice (both when the choice is only known at run time). */
export type UpstreamPool<C extends UpstreamClient = UpstreamClient> = C extends 'sluice' ? Pool | H1Pool : Pool

/**
 * Upstream pools (undici's, or H1Pool with `client: 'sluice'`), one per upstream origin and connect timeout, shared by every config snapshot that uses
 * them: a reload that keeps a target keeps its warm keep-alive connections. Each snapshot holds a lease;
 * a pool no snapshot leases any more is closed gracefully (in-flight requests finish first). `C` is the
 * client choice: the default keeps `lease` typed as undici's Pool for callers that never choose.
 */
export class PoolRegistry<C extends UpstreamClient = 'undici'> {
  private readonly pools = new Map<string, { pool: UpstreamPool<C>; leases: number }>()

  constructor(private readonly options: PoolOptions<C>) {}

  lease(origin: string, connectTimeout: number): UpstreamPool<C> {
    const key = `${origin}|${connectTimeout}`
    let entry = this.pools.get(key)
    if (entry === undefined) {
      const pool = (this.options.client === 'sluice' && origin.startsWith('http:')
        ? new H1Pool(origin, {
            connections: this.options.connections,
            keepAliveTimeout: this.options.keepAliveTimeout,
            connect: { timeout: connectTimeout },
          })
        : this.undiciPool(origin, connectTimeout)) as UpstreamPool<C>
      entry = { pool, leases: 0 }
      this.pools.set(key, entry)
    }
    entry.leases++
    return entry.pool
  }

  private undiciPool(origin: string, connectTimeout: number): Pool {
    return new Pool(origin, {
      connections: this.options.connections,
      pipelining: 1,
      keepAliveTimeout: this.options.keepAliveTimeout,
      keepAliveMaxTimeout: Math.max(this.options.keepAliveTimeout, 1000),
      connect: { timeout: connectTimeout },
    })
  }

  /** Gives back a lease; resolves when the pool, if no longer leased, has drained and closed. */
  async release(pool: UpstreamPool<C>): Promise<void> {
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
