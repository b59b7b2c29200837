import type { HttpResponse } from 'uWebSockets.js'
import type { GatewayConfig, Settings } from '../config/schema.js'
import { compileRouter } from '../router/router.js'
import type { Router, RouteSpec } from '../router/types.js'
import { createBalancer } from '../proxy/balancer.js'
import type { PoolRegistry, UpstreamClient, UpstreamPool } from '../proxy/pools.js'
import type { Balancer, HashOn, TargetSpec } from '../proxy/types.js'
import type { RequestContext } from '../pipeline/context.js'
import { compilePipelines, EMPTY_PIPELINE, type RoutePipeline } from '../pipeline/compile.js'
import { ConsumerIndex } from '../auth/consumers.js'
import { JwksKeys } from '../auth/jwks/keys.js'

/**
 * A config snapshot compiled for the hot path: the router, each service's balancer and pools, and the
 * per-route values the request path would otherwise recompute. Built once per config version, off the
 * request path; a request keeps the snapshot it started on until it ends, so a reload never changes a
 * request midway.
 */

export interface CompiledService {
  readonly id: string
  readonly name: string
  /** Service path without a trailing slash ('' for '/'), prepended to the forwarded path. */
  readonly basePath: string
  /** Host header sent upstream when the route does not preserve the client's Host. */
  readonly hostHeader: string
  readonly retries: number
  readonly readTimeout: number
  readonly writeTimeout: number
  readonly balancer: Balancer
  /** Target key (`host:port`) -> undici pool. */
  readonly pools: Map<string, UpstreamPool>
  /** Consistent-hashing input for this request, or null (round-robin fallback). */
  hashKey(ctx: RequestContext): string | null
}

export interface CompiledRoute {
  readonly id: string
  readonly name: string
  readonly service: CompiledService
  readonly stripPath: boolean
  readonly preserveHost: boolean
  /** The route's plugins by phase (null phases cost nothing). */
  readonly pipeline: RoutePipeline
}

export class Snapshot {
  /** Requests currently running on this snapshot; a retired snapshot closes its pools at zero. */
  inflight = 0
  retired = false

  constructor(
    readonly version: number,
    readonly hash: string,
    readonly router: Router<CompiledRoute>,
    readonly routes: readonly CompiledRoute[],
    readonly services: readonly CompiledService[],
    /** Lower-case correlation header name, or null when disabled. */
    readonly correlationHeader: string | null,
    /** The same name as configured, for the response. */
    readonly correlationHeaderOut: string | null,
    private readonly leased: readonly UpstreamPool[],
    private readonly registry: PoolRegistry<UpstreamClient>,
  ) {}

  /** Headers Sluice adds to every response it sends (proxied or its own). */
  writeResponseHeaders(ctx: RequestContext, res: HttpResponse): void {
    if (this.correlationHeaderOut !== null) res.writeHeader(this.correlationHeaderOut, ctx.requestId)
    const extra = ctx.responseHeaders
    if (extra !== null) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i], extra[i + 1])
  }

  /** Called when a newer snapshot has replaced this one. */
  retire(): Promise<void> {
    this.retired = true
    return this.inflight === 0 ? this.close() : Promise.resolve()
  }

  /** Called by the worker when a request on a retired snapshot ends. */
  requestEnded(): void {
    if (--this.inflight === 0 && this.retired) void this.close()
  }

  private closing: Promise<void> | null = null
  close(): Promise<void> {
    this.closing ??= Promise.all(this.leased.map((p) => this.registry.release(p))).then(() => undefined)
    return this.closing
  }
}

function hashKeyFn(on: HashOn, header: string | null): (ctx: RequestContext) => string | null {
  switch (on) {
    case 'ip':
      return (ctx) => ctx.clientIp
    case 'header': {
      const name = (header ?? '').toLowerCase()
      return (ctx) => ctx.header(name) ?? null
    }
    case 'consumer':
      // Set by an authentication plugin in the access phase, which runs before balancing.
      return (ctx) => ctx.consumer?.id ?? null
    default:
      return () => null
  }
}

export function compileSnapshot(
  config: GatewayConfig,
  settings: Settings,
  version: number,
  hash: string,
  registry: PoolRegistry<UpstreamClient>,
  /** The worker's JWKS key store (it outlives snapshots); a private one by default, for tests. */
  jwks: JwksKeys = new JwksKeys(),
): Snapshot {
  const upstreams = new Map(config.upstreams.map((u) => [u.id, u]))
  const leased: UpstreamPool[] = []
  const services = new Map<string, CompiledService>()

  for (const svc of config.services) {
    const upstream = svc.upstream === null ? undefined : upstreams.get(svc.upstream.id)
    const protocol = svc.protocol
    const specs: TargetSpec[] = upstream
      ? upstream.targets.map((t) => ({ host: t.host, port: t.port, weight: t.weight }))
      : [{ host: svc.host, port: svc.port, weight: 100 }]
    const balancer = createBalancer(upstream?.algorithm ?? 'round-robin', specs, { slots: upstream?.slots })
    const pools = new Map<string, UpstreamPool>()
    for (const target of balancer.targets) {
      if (pools.has(target.key)) continue
      const { host, port } = target.spec
      const pool = registry.lease(`${protocol}://${host.includes(':') ? `[${host}]` : host}:${port}`, svc.connect_timeout)
      leased.push(pool)
      pools.set(target.key, pool)
    }
    const defaultPort = protocol === 'https' ? 443 : 80
    const primary = hashKeyFn(upstream?.hash_on ?? 'none', upstream?.hash_on_header ?? null)
    const fallback = hashKeyFn(upstream?.hash_fallback ?? 'none', upstream?.hash_fallback_header ?? null)
    const basePath = svc.path === null || svc.path === undefined || svc.path === '/' ? '' : svc.path.replace(/\/$/, '')
    const host = svc.host.includes(':') ? `[${svc.host}]` : svc.host
    services.set(svc.id, {
      id: svc.id,
      name: svc.name ?? svc.id,
      basePath,
      hostHeader: svc.port === defaultPort ? host : `${host}:${svc.port}`,
      retries: svc.retries,
      readTimeout: svc.read_timeout,
      writeTimeout: svc.write_timeout,
      balancer,
      pools,
      hashKey: (ctx) => primary(ctx) ?? fallback(ctx),
    })
  }

  const pipelines = compilePipelines(config, { consumers: new ConsumerIndex(config.consumers, config.usage_plans), jwks, workers: settings.workers })
  const routes: CompiledRoute[] = []
  const specs: RouteSpec<CompiledRoute>[] = []
  config.routes.forEach((r, order) => {
    const service = services.get(r.service.id)
    if (service === undefined) throw new Error(`route '${r.name ?? r.id}' names unknown service '${r.service.id}'`)
    const compiled: CompiledRoute = {
      id: r.id,
      name: r.name ?? r.id,
      service,
      stripPath: r.strip_path,
      preserveHost: r.preserve_host,
      pipeline: pipelines.get(r.id) ?? EMPTY_PIPELINE,
    }
    routes.push(compiled)
    specs.push({
      id: r.name ?? r.id,
      paths: r.paths ?? null,
      methods: r.methods ?? null,
      hosts: r.hosts ? r.hosts.map((h) => h.toLowerCase()) : null,
      headers: r.headers ? Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k.toLowerCase(), v as readonly string[]])) : null,
      regexPriority: r.regex_priority,
      order,
      target: compiled,
    })
  })

  const correlation = settings.correlation_id_header
  return new Snapshot(
    version,
    hash,
    compileRouter(specs),
    routes,
    [...services.values()],
    correlation ? correlation.toLowerCase() : null,
    correlation ?? null,
    leased,
    registry,
  )
}
