import { verifyPassword, type PasswordHash } from '../../auth/password.js'

/**
 * How a password check ended: the password matched, did not, or was never checked because the request
 * it was for had gone away (client closed the connection) by the time its turn came.
 */
export type CheckOutcome = 'match' | 'mismatch' | 'abandoned'

/** What the gate needs of a request: whether its client is still there (RequestContext has it). */
export interface Waiting {
  readonly aborted: boolean
}

interface Waiter {
  readonly password: string
  readonly stored: PasswordHash
  readonly request: Waiting
  readonly resolve: (outcome: CheckOutcome | Promise<CheckOutcome>) => void
}

/**
 * Password checks waiting for a turn on libuv's thread pool. Each scrypt check holds a pool thread for
 * ~50 ms (measured: 54 ms serial on the 2-CPU dev box), and the pool (4 threads by default) also serves
 * dns.lookup for upstream connections, fs and zlib: a burst of wrong passwords must not starve those.
 * So at most `maxRunning` checks run at once per worker; the others queue in arrival order.
 *
 * The queue is bounded: a flood of new headers (each one a scrypt run) would otherwise make every new
 * login wait behind all of it (the review measured 4.9 s behind 200 requests). Past `maxWaiting` the
 * gate refuses at once and the plugin answers 503, so a genuine client retries instead of hanging. A
 * waiter whose client went away is skipped when its turn comes (its answer would go nowhere), and
 * dropped first when the queue is full, so closed connections never cost a scrypt run nor a place.
 */
export class VerifierGate {
  private running = 0
  private readonly waiting: Waiter[] = []
  /** Checks started (tests and metrics read it). */
  checks = 0
  /** Waiters dropped because their request was aborted before their turn. */
  abandoned = 0
  /** Checks refused because the queue was full. */
  refused = 0

  constructor(
    readonly maxRunning: number,
    readonly maxWaiting: number,
  ) {}

  /** Checks running now (tests read it). */
  get inFlight(): number {
    return this.running
  }

  /** Checks waiting for a turn (tests read it). */
  get queued(): number {
    return this.waiting.length
  }

  /**
   * The check's outcome, or null at once when the queue is full (nothing was started; the caller
   * answers "busy"). `request.aborted` is read when the check's turn comes.
   */
  verify(password: string, stored: PasswordHash, request: Waiting): Promise<CheckOutcome> | null {
    if (this.running < this.maxRunning) {
      this.running++
      return this.run(password, stored)
    }
    if (this.waiting.length >= this.maxWaiting && this.dropAbandoned() === 0) {
      this.refused++
      return null
    }
    return new Promise((resolve) => this.waiting.push({ password, stored, request, resolve }))
  }

  private async run(password: string, stored: PasswordHash): Promise<CheckOutcome> {
    this.checks++
    try {
      return (await verifyPassword(password, stored)) ? 'match' : 'mismatch'
    } finally {
      this.release()
    }
  }

  /** The slot passes straight to the next waiter still wanted, so `running` never drops below the queue's need. */
  private release(): void {
    for (let next = this.waiting.shift(); next !== undefined; next = this.waiting.shift()) {
      if (next.request.aborted) {
        this.abandoned++
        next.resolve('abandoned')
        continue
      }
      next.resolve(this.run(next.password, next.stored))
      return
    }
    this.running--
  }

  /** Removes the waiters whose request is gone, keeping the others' order; how many went. */
  private dropAbandoned(): number {
    const queue = this.waiting
    let kept = 0
    for (let i = 0; i < queue.length; i++) {
      const waiter = queue[i]
      if (waiter.request.aborted) {
        this.abandoned++
        waiter.resolve('abandoned')
      } else {
        queue[kept++] = waiter
      }
    }
    const dropped = queue.length - kept
    queue.length = kept
    return dropped
  }
}
