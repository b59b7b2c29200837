import { statusLine } from '../errors.js'
import { isValidHeaderName, isValidHeaderValue } from '../proxy/headers.js'
import type { RequestContext } from './context.js'

/**
 * Lets an access plugin answer the request itself (an auth failure, a rate limit, a preflight, a
 * termination). The plugin then returns false from `access`. Header names and values are validated:
 * uWS writes them verbatim, so a CR or LF would split the response.
 */
export function respond(
  ctx: RequestContext,
  status: number,
  body: string | Buffer,
  contentType: string | null = 'application/json; charset=utf-8',
  headers: readonly string[] | null = null,
): void {
  ctx.status = status
  ctx.responded = true
  ctx.bytesOut += body.length
  if (ctx.aborted) return
  const res = ctx.res
  res.cork(() => {
    res.writeStatus(statusLine(status))
    if (contentType !== null) res.writeHeader('content-type', contentType)
    if (headers !== null) {
      for (let i = 0; i < headers.length; i += 2) {
        if (isValidHeaderName(headers[i]) && isValidHeaderValue(headers[i + 1])) res.writeHeader(headers[i], headers[i + 1])
      }
    }
    ctx.snapshot.writeResponseHeaders(ctx, res)
    // An unread request body leaves the connection's framing unknown: close after answering.
    res.end(body, ctx.bodyPending)
  })
}
