import { Agent, request } from 'undici'

export interface LoadResult {
  sent: number
  ok: number
  /** status -> count for non-2xx answers */
  statuses: Record<number, number>
  /** error code/message -> count for requests that got no answer */
  errors: Record<string, number>
}

/**
 * Keeps `concurrency` requests in flight against `url` until `stop()` is called or `ms` elapses
 * (bounded: loopback only, a fixed time). Each loop uses keep-alive connections of its own agent.
 */
export function runLoad(url: string | (() => string), opts: { concurrency?: number; ms?: number } = {}) {
  const concurrency = opts.concurrency ?? 8
  const until = Date.now() + (opts.ms ?? 10_000)
  const result: LoadResult = { sent: 0, ok: 0, statuses: {}, errors: {} }
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 })
  let stopped = false
  const target = typeof url === 'string' ? () => url : url
  async function loop(): Promise<void> {
    while (!stopped && Date.now() < until) {
      result.sent++
      try {
        const res = await request(target(), { dispatcher: agent, headersTimeout: 10_000, bodyTimeout: 10_000 })
        await res.body.dump()
        if (res.statusCode >= 200 && res.statusCode < 300) result.ok++
        else result.statuses[res.statusCode] = (result.statuses[res.statusCode] ?? 0) + 1
      } catch (err) {
        const key = (err as { code?: string }).code ?? (err as Error).message
        result.errors[key] = (result.errors[key] ?? 0) + 1
      }
    }
  }
  const done = Promise.all(Array.from({ length: concurrency }, loop)).then(async () => {
    await agent.close()
    return result
  })
  return {
    result,
    stop: (): Promise<LoadResult> => {
      stopped = true
      return done
    },
    done,
  }
}
