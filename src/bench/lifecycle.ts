// What a bench run has started (upstream, gateway, nginx) and not stopped yet, shared by `sluice bench`
// (suite.ts) and the single-path overhead run (e2e.ts): an interrupted run stops all of it on its way out.

export interface Stoppable {
  stop(): Promise<void>
}

const live = new Set<Stoppable>()
/** Aborted by stopAll(): kills a load generator that is running. */
let interrupt = new AbortController()

export function track<T extends Stoppable>(r: T): T {
  live.add(r)
  return r
}

export function untrack(r: Stoppable): void {
  live.delete(r)
}

/** The signal a run hands its load generators; aborted by stopAll(). */
export function interruptSignal(): AbortSignal {
  return interrupt.signal
}

/** Stops whatever a run left behind, newest first (for SIGINT/SIGTERM handlers). */
export async function stopAll(): Promise<void> {
  interrupt.abort()
  interrupt = new AbortController()
  for (const r of [...live].reverse()) {
    live.delete(r)
    await r.stop().catch(() => undefined)
  }
}
