import { ConsumerIndex } from '../../../src/auth/consumers.js'
import type { Consumer } from '../../../src/config/schema.js'
import { RequestContext } from '../../../src/pipeline/context.js'
import type { CompileEnv } from '../../../src/pipeline/plugin.js'

// In-process access-phase tests: a RequestContext as the worker builds it (inbound headers, upstream
// head, buffered body), whose `res` records what a plugin answered instead of writing to a socket.

export interface Answer {
  status: string
  headers: string[]
  body: string
}

export interface TestRequest {
  method?: string
  /** Flat [name, value, ...], names lower-case as uWS gives them. */
  headers?: string[]
  query?: string
  body?: string
}

export function makeContext(req: TestRequest = {}): { ctx: RequestContext; answer: Answer } {
  const answer: Answer = { status: '', headers: [], body: '' }
  const res = {
    cork(f: () => void) {
      f()
    },
    writeStatus(s: string) {
      answer.status = s
    },
    writeHeader(name: string, value: string) {
      answer.headers.push(name, value)
    },
    end(body: string | Buffer) {
      answer.body = String(body)
    },
  }
  const snapshot = { writeResponseHeaders() {} }
  const headers = req.headers ?? []
  const query = req.query ?? ''
  const ctx = new RequestContext(snapshot as never, res as never, req.method ?? 'GET', '/p', query, 'h', 'h', '127.0.0.1', 'req-1', headers, 0)
  ctx.upstreamHeaders = [...headers, 'host', 'upstream']
  ctx.upstreamPath = query.length > 0 ? `/p?${query}` : '/p'
  ctx.body = req.body === undefined ? null : Buffer.from(req.body)
  return { ctx, answer }
}

/** Consumers as the config loader leaves them (ids given, passwords already hashed). */
export function compileEnv(consumers: Array<Partial<Consumer> & { id: string }>): CompileEnv {
  const full = consumers.map((c) => ({
    username: null,
    custom_id: null,
    jwt_secrets: [],
    keyauth_credentials: [],
    basicauth_credentials: [],
    ...c,
  })) as unknown as Consumer[]
  return { consumers: new ConsumerIndex(full), jwks: null as never, workers: 1, pluginId: 'test-plugin' }
}
