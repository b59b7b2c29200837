import type { HttpResponse } from 'uWebSockets.js'
import type { CompiledRoute, Snapshot } from '../worker/compile.js'
import type { Target } from '../proxy/types.js'
import type { CompiledConsumer, Credential } from '../auth/consumers.js'
import { EMPTY_PIPELINE, type RoutePipeline } from './compile.js'

/**
 * One request's state from accept to log. Every field is set in the constructor so the object keeps one
 * hidden class (fixed shape) across all requests: V8 then keeps property access monomorphic on the hot path.
 */
export class RequestContext {
  /** The config snapshot the request started on: a reload never changes it mid-request. */
  readonly snapshot: Snapshot
  readonly res: HttpResponse
  readonly method: string
  /** Normalised path (the same one routed and forwarded), without the query string. */
  readonly path: string
  /** Raw query string without `?`, '' when absent. */
  readonly query: string
  /** Lower-case host without port, '' when absent. */
  readonly host: string
  /** The Host header as received (with port), forwarded when the route preserves the host. */
  readonly rawHost: string
  readonly clientIp: string
  readonly requestId: string
  readonly startedAt: number
  /** Inbound headers as a flat [name, value, ...] list, names lower-case. */
  readonly headers: string[]
  route: CompiledRoute | null
  params: Readonly<Record<string, string>> | null
  matchedLength: number
  target: Target | null
  status: number
  bytesIn: number
  bytesOut: number
  upstreamStartedAt: number
  upstreamLatency: number
  /** The client went away (uWS onAborted): `res` must not be touched any more. */
  aborted: boolean
  /** A response (or its head) has been written to the client. */
  responded: boolean
  /** Set by the log phase: total time in the gateway, ms. */
  latency: number
  errorCode: string | null
  /** The upstream request head as it will be sent: access plugins may edit both. */
  upstreamPath: string
  upstreamHeaders: string[] | null
  /** The client's body has not been (fully) read: an answer from Sluice must close the connection. */
  bodyPending: boolean
  /**
   * The whole request body when Sluice buffered it before the access phase (declared bodies up to
   * 64 KiB), else null (no body, or one streamed to the upstream). A plugin may replace it; the
   * forwarder then sends the new one with its length.
   */
  body: Buffer | null
  /** Set by an authentication plugin (src/auth/identity.ts); the anonymous consumer has no credential. */
  consumer: CompiledConsumer | null
  credential: Credential | null
  /** The plugins this request runs: the route's, or its consumer's variant once one is identified. */
  pipeline: RoutePipeline
  /**
   * Headers access plugins want on the client's response, whoever writes it (the upstream's answer or
   * Sluice's own): rate-limit counters, for instance. Flat [name, value, ...]; values must be valid.
   */
  responseHeaders: string[] | null

  constructor(
    snapshot: Snapshot,
    res: HttpResponse,
    method: string,
    path: string,
    query: string,
    host: string,
    rawHost: string,
    clientIp: string,
    requestId: string,
    headers: string[],
    startedAt: number,
  ) {
    this.snapshot = snapshot
    this.res = res
    this.method = method
    this.path = path
    this.query = query
    this.host = host
    this.rawHost = rawHost
    this.clientIp = clientIp
    this.requestId = requestId
    this.headers = headers
    this.startedAt = startedAt
    this.route = null
    this.params = null
    this.matchedLength = 0
    this.target = null
    this.status = 0
    this.bytesIn = 0
    this.bytesOut = 0
    this.upstreamStartedAt = 0
    this.upstreamLatency = -1
    this.aborted = false
    this.responded = false
    this.latency = 0
    this.errorCode = null
    this.upstreamPath = ''
    this.upstreamHeaders = null
    this.bodyPending = false
    this.body = null
    this.consumer = null
    this.credential = null
    this.pipeline = EMPTY_PIPELINE
    this.responseHeaders = null
  }

  /** First inbound header with this lower-case name. */
  header(lowerName: string): string | undefined {
    return findHeader(this.headers, lowerName)
  }
}

/** First value of a lower-case name in a flat [name, value, ...] list. Linear: lists are short (≤ 48). */
export function findHeader(list: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) if (list[i] === lowerName) return list[i + 1]
  return undefined
}
