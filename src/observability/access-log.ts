import { pino } from 'pino'
import type { RequestContext } from '../pipeline/context.js'
import type { AccessLogSink } from '../worker/http.js'

type Destination = ReturnType<typeof pino.destination>

/**
 * One JSON line per request, written off the request path: lines go into sonic-boom's (pino.destination)
 * in-memory buffer and are flushed asynchronously once 8 KiB have gathered, and at least every second.
 * A line is formatted by hand (one template string) rather than by a logger: it is the only per-request
 * logging work.
 */
export class AccessLog implements AccessLogSink {
  private readonly dest: Destination
  private readonly timer: NodeJS.Timeout

  constructor(target: string) {
    this.dest = pino.destination({
      dest: target === 'stdout' ? 1 : target,
      sync: false,
      minLength: 8 * 1024,
      mkdir: target !== 'stdout',
    })
    this.timer = setInterval(() => this.flush(), 1000)
    this.timer.unref()
  }

  write(ctx: RequestContext): void {
    const route = ctx.route
    this.dest.write(
      `{"time":${Date.now()},"method":"${ctx.method}","path":${JSON.stringify(ctx.path)},` +
        `"route":${route === null ? 'null' : JSON.stringify(route.name)},` +
        `"service":${route === null ? 'null' : JSON.stringify(route.service.name)},` +
        `"status":${ctx.status},"upstream_latency_ms":${ctx.upstreamLatency < 0 ? 'null' : ctx.upstreamLatency.toFixed(3)},` +
        `"latency_ms":${ctx.latency.toFixed(3)},"bytes_in":${ctx.bytesIn},"bytes_out":${ctx.bytesOut},` +
        `"client_ip":"${ctx.clientIp}","request_id":${JSON.stringify(ctx.requestId)},` +
        `"target":${ctx.target === null ? 'null' : `"${ctx.target.key}"`},` +
        `"consumer":${ctx.consumer === null ? 'null' : `"${ctx.consumer.id}"`},` +
        `"aborted":${ctx.aborted},"error":${ctx.errorCode === null ? 'null' : `"${ctx.errorCode}"`}}\n`,
    )
  }

  private flush(): void {
    try {
      this.dest.flush()
    } catch {
      // sonic-boom throws when a write is already in progress; the next tick flushes.
    }
  }

  /** Synchronously writes what is buffered (on exit). */
  close(): void {
    clearInterval(this.timer)
    try {
      this.dest.flushSync()
    } catch {
      // nothing buffered, or the destination is gone
    }
  }
}
