import { verifyPassword, type PasswordHash } from '../../auth/password.js'

/**
 * Password checks waiting for a turn on libuv's thread pool. Each scrypt check holds a pool thread for
 * ~50 ms (measured: 54 ms serial on the 2-CPU dev box), and the pool (4 threads by default) also serves
 * dns.lookup for upstream connections, fs and zlib: a burst of wrong passwords must not starve those.
 * So at most `max` checks run at once per worker; the others queue in arrival order. The queue is
 * bounded only by the requests the worker holds open (each waiting check is one request).
 */
export class VerifierGate {
  private running = 0
  private readonly waiting: Array<() => void> = []
  /** Checks started (tests and metrics read it). */
  checks = 0

  constructor(private readonly max: number) {}

  async verify(password: string, stored: PasswordHash): Promise<boolean> {
    if (this.running < this.max) this.running++
    else await new Promise<void>((resolve) => this.waiting.push(resolve))
    this.checks++
    try {
      return await verifyPassword(password, stored)
    } finally {
      // The slot passes straight to the next waiter, so `running` never drops below the queue's need.
      const next = this.waiting.shift()
      if (next !== undefined) next()
      else this.running--
    }
  }
}
