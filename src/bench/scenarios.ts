// Bench scenarios: each is one declarative entry (what the gateway is configured with, what request
// the load generator sends, which upstream endpoint answers). A plugin that lands adds its entry
// here and moves it out of PENDING_SCENARIOS; `full` picks it up by itself.
import { createHmac } from 'node:crypto'
import { stringify } from 'yaml'
import type { RequestShape } from './loadgen.js'

/** The upstream endpoints of upstream.ts: `small` answers any path with ~100 bytes, `large` ~1 MiB. */
export type UpstreamEndpoint = 'small' | 'large'

export const UPSTREAM_PATHS: Readonly<Record<UpstreamEndpoint, string>> = { small: '/json', large: '/large' }

/** A fragment of a Kong declarative config; `{upstream}` in any string becomes the URL of the scenario's upstream endpoint. */
export interface ConfigFragment {
  /** Sluice settings; merged over the other scenarios' in `full` (later scenarios win). */
  readonly settings?: Readonly<Record<string, unknown>>
  readonly services?: readonly Readonly<Record<string, unknown>>[]
  readonly plugins?: readonly Readonly<Record<string, unknown>>[]
  readonly consumers?: readonly Readonly<Record<string, unknown>>[]
}

export interface Scenario {
  readonly name: string
  readonly description: string
  readonly config: ConfigFragment
  /** What the load generator sends through the gateway (the direct run sends the same to the endpoint). */
  readonly request: RequestShape & { readonly path: string }
  readonly upstream: UpstreamEndpoint
  /**
   * The config talks to Redis: the suite starts a redis-server before the first such scenario and
   * fills `{redisPort}` (a string that is only the placeholder becomes the port number) and `{redis}`
   * (`127.0.0.1:PORT`) in it.
   */
  readonly needsRedis?: boolean
}

export interface PendingScenario {
  readonly name: string
  readonly description: string
  /** The issue whose plugin the scenario needs. */
  readonly pendingOn: string
}

const ROUTE_COUNT = 1000
/** The route the routing scenario's requests hit: in the middle of the table, not the first match. */
const HIT_ROUTE = 613

/**
 * 1,000 routes shaped like a real API surface: versioned prefixes per resource, a share of them with
 * methods or hosts, a few regex routes, so the router works at the size users run, not on one route.
 */
const RESOURCES = ['users', 'orders', 'invoices', 'carts', 'products', 'payments', 'shipments', 'reviews']

function routePrefix(i: number): string {
  return `/api/v${1 + (i % 3)}/${RESOURCES[i % RESOURCES.length]}-${i}`
}

function routeTable(): Record<string, unknown>[] {
  const routes: Record<string, unknown>[] = []
  for (let i = 0; i < ROUTE_COUNT; i++) {
    const route: Record<string, unknown> = {
      name: `r${i}`,
      paths: [routePrefix(i)],
      strip_path: true,
    }
    if (i % 5 === 1) route.methods = ['GET', 'POST']
    if (i % 7 === 2) route.hosts = [`tenant-${i}.example.com`]
    if (i % 50 === 3) route.paths = [`~${routePrefix(i)}/(?<id>\\d+)$`]
    routes.push(route)
  }
  return routes
}

const ROUTING_PATH = `${routePrefix(HIT_ROUTE)}/items/42`
const ROUTING_SETTINGS = { correlation_id_header: null }
/** One array shared by routing and jwt, so `full` (which keeps each service entry once) holds it once. */
const ROUTING_SERVICES = [{ name: 'routing', url: '{upstream}', routes: routeTable() }]

/**
 * The jwt scenario's credential. A fixed secret (bench configs are throwaway, and the same token then
 * works across processes); 48 bytes, above HS256's 32-byte minimum.
 */
const JWT_KEY = 'bench-issuer'
const JWT_SECRET = 'sluice-bench-hs256-secret-not-for-production-use'

/** An HS256 token for JWT_KEY, valid for a year from module load: long runs never see it expire. */
function benchToken(): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iss: JWT_KEY, sub: 'bench-user', iat: now, exp: now + 365 * 86400 })}`
  return `${input}.${createHmac('sha256', JWT_SECRET).update(input).digest('base64url')}`
}
/** `Authorization` value of the jwt scenario's requests (exported for the scenario's tests). */
export const JWT_AUTHORIZATION = `Bearer ${benchToken()}`

/** The rate-limit scenario's limit per second: far above what one host can send. */
export const RATE_LIMIT_SECOND = 1_000_000

/** Headers a browser or API client typically sends; about 1 KB in all. */
const CLIENT_HEADERS: Readonly<Record<string, string>> = {
  'user-agent':
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  accept: 'application/json, text/plain, */*',
  'accept-language': 'en-GB,en;q=0.9,de;q=0.8',
  'accept-encoding': 'gzip, deflate, br',
  authorization:
    'Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjdXN0b21lci00MiIsIm5hbWUiOiJCZW5jaCBVc2VyIiwiaWF0IjoxNzAwMDAwMDAwfQ.c2lnbmF0dXJlLW5vdC1jaGVja2VkLWJ5LXRoaXMtc2NlbmFyaW8',
  cookie:
    'session=3f2a9c0e7b1d4e5f8a6b2c3d4e5f6a7b; _ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; ' +
    'theme=dark; locale=en_GB; cart=7c1e2f3a-4b5c-6d7e-8f9a-0b1c2d3e4f5a; consent=analytics%3Dtrue%26ads%3Dfalse',
  referer: 'https://shop.example.com/account/orders?page=2&sort=created_at',
  origin: 'https://shop.example.com',
  'sec-fetch-site': 'same-site',
  'sec-fetch-mode': 'cors',
  'x-request-id': '5b7e2d1c-9a4f-4c3e-8b2a-1d0e9f8c7b6a',
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'routing',
    description: `route + forward only: ${ROUTE_COUNT} routes in the config, requests hit one in the middle (correlation id off)`,
    config: { settings: ROUTING_SETTINGS, services: ROUTING_SERVICES },
    request: { method: 'GET', path: ROUTING_PATH, headers: { accept: '*/*' } },
    upstream: 'small',
  },
  {
    name: 'headers',
    description:
      'correlation id + X-Forwarded-* headers on a request carrying ~1 KB of typical client headers ' +
      '(cookie, user-agent, accept, authorization); header transforms join when the request-transformer lands (issue 6)',
    config: {
      settings: { correlation_id_header: 'X-Correlation-ID' },
      services: [{ name: 'headers', url: '{upstream}', routes: [{ name: 'headers', paths: ['/headers'] }] }],
    },
    request: { method: 'GET', path: '/headers/profile', headers: CLIENT_HEADERS },
    upstream: 'small',
  },
  // After headers on purpose: `full` merges request headers in this order, so this real token replaces
  // the headers scenario's unsigned one (which the global jwt plugin would refuse).
  {
    name: 'jwt',
    description:
      'routing + jwt: the routing table and request, the jwt plugin global, an HS256 Bearer token of one ' +
      'consumer (warm verified-token cache after the first request); compare with routing for the plugin cost',
    config: {
      settings: ROUTING_SETTINGS,
      services: ROUTING_SERVICES,
      plugins: [{ name: 'jwt', config: {} }],
      consumers: [{ username: 'bench-consumer', jwt_secrets: [{ key: JWT_KEY, algorithm: 'HS256', secret: JWT_SECRET }] }],
    },
    request: { method: 'GET', path: ROUTING_PATH, headers: { accept: '*/*', authorization: JWT_AUTHORIZATION } },
    upstream: 'small',
  },
  {
    name: 'rate-limit',
    description:
      'routing + rate-limiting with policy redis, limit never hit: the routing table and request, a global ' +
      'rate-limiting plugin (limit_by ip, one client so one key, sync_rate 1) on a redis-server the suite starts; ' +
      'compare with routing for the plugin cost',
    config: {
      settings: ROUTING_SETTINGS,
      services: ROUTING_SERVICES,
      plugins: [
        {
          name: 'rate-limiting',
          // A million a second is never reached on one host: every request is admitted from the
          // worker's lease, which is the path the scenario is meant to price.
          config: {
            second: RATE_LIMIT_SECOND,
            limit_by: 'ip',
            policy: 'redis',
            redis: { host: '127.0.0.1', port: '{redisPort}' },
            sync_rate: 1,
          },
        },
      ],
    },
    request: { method: 'GET', path: ROUTING_PATH, headers: { accept: '*/*' } },
    upstream: 'small',
    needsRedis: true,
  },
]

export const PENDING_SCENARIOS: readonly PendingScenario[] = [
  {
    name: 'transform-large',
    description: 'camelCase of a ~1 MiB JSON body on the thread pool',
    pendingOn: 'issue 6 (transformations)',
  },
]

/**
 * `full`: every existing scenario in one config (their services, routes, plugins and consumers side by
 * side, settings merged with later scenarios winning; a service entry or settings object two scenarios
 * share is taken once, where it first appears),
 * and one request that carries every scenario's headers (later scenarios winning) to the first
 * scenario's path, so each feature is on the request's road at once.
 */
export function fullScenario(parts: readonly Scenario[] = SCENARIOS): Scenario {
  const settings: Record<string, unknown> = {}
  const services: Readonly<Record<string, unknown>>[] = []
  const plugins: Readonly<Record<string, unknown>>[] = []
  const consumers: Readonly<Record<string, unknown>>[] = []
  const headers: Record<string, string> = {}
  let method = 'GET'
  let body: string | null = null
  const seenSettings = new Set<object>()
  for (const s of parts) {
    // jwt shares routing's settings object: merging it again would turn off what headers turned on.
    const own = s.config.settings ?? {}
    if (!seenSettings.has(own)) Object.assign(settings, own)
    seenSettings.add(own)
    for (const service of s.config.services ?? []) if (!services.includes(service)) services.push(service)
    plugins.push(...(s.config.plugins ?? []))
    consumers.push(...(s.config.consumers ?? []))
    Object.assign(headers, s.request.headers ?? {})
    if (s.request.method !== undefined && s.request.method !== 'GET') method = s.request.method
    if (s.request.body !== undefined && s.request.body !== null) body = s.request.body
  }
  const first = parts[0]
  return {
    name: 'full',
    description: `all existing scenarios in one config (${parts.map((s) => s.name).join(' + ')})`,
    config: { settings, services, plugins, consumers },
    request: { method, path: first.request.path, headers, body },
    upstream: parts.some((s) => s.upstream === 'large') ? 'large' : first.upstream,
    needsRedis: parts.some((s) => s.needsRedis === true),
  }
}

/** Every runnable scenario name, `full` last. */
export function scenarioNames(): string[] {
  return [...SCENARIOS.map((s) => s.name), 'full']
}

export class UnknownScenarioError extends Error {
  readonly code = 'SLUICE_BENCH_UNKNOWN_SCENARIO'
}

/** Resolves `--scenario a,b` (default: every existing scenario and `full`). */
export function selectScenarios(names: readonly string[] | undefined): Scenario[] {
  if (names === undefined || names.length === 0) return [...SCENARIOS, fullScenario()]
  return names.map((name) => {
    if (name === 'full') return fullScenario()
    const s = SCENARIOS.find((x) => x.name === name)
    if (s !== undefined) return s
    const pending = PENDING_SCENARIOS.find((x) => x.name === name)
    if (pending !== undefined) {
      throw new UnknownScenarioError(
        `SLUICE_BENCH_SCENARIO_PENDING: scenario '${name}' lands with ${pending.pendingOn}; runnable now: ${scenarioNames().join(', ')}`,
      )
    }
    throw new UnknownScenarioError(
      `SLUICE_BENCH_UNKNOWN_SCENARIO: no scenario '${name}'; runnable: ${scenarioNames().join(', ')}`,
    )
  })
}

/** Fills `{redisPort}` when the caller started no redis-server: a valid config, for checks that run none. */
const DEFAULT_REDIS_PORT = 6379

/**
 * The gateway config for a scenario whose upstream endpoint is `upstreamUrl` (e.g.
 * http://127.0.0.1:P/json), as YAML; `redisPort` is the port of the redis-server started for a
 * scenario that needs one.
 */
export function scenarioConfigYaml(
  scenario: Scenario,
  upstreamUrl: string,
  extraSettings: Readonly<Record<string, unknown>> = {},
  redisPort: number = DEFAULT_REDIS_PORT,
): string {
  const fill = (value: unknown): unknown => {
    // The port field is a number: a string that is only the placeholder becomes one.
    if (value === '{redisPort}') return redisPort
    if (typeof value === 'string') {
      return value
        .replaceAll('{upstream}', upstreamUrl)
        .replaceAll('{redisPort}', String(redisPort))
        .replaceAll('{redis}', `127.0.0.1:${redisPort}`)
    }
    if (Array.isArray(value)) return value.map(fill)
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v)]))
    }
    return value
  }
  const doc: Record<string, unknown> = {
    _format_version: '3.0',
    settings: { access_log: 'off', ...(scenario.config.settings ?? {}), ...extraSettings },
    services: fill(scenario.config.services ?? []),
  }
  if ((scenario.config.plugins ?? []).length > 0) doc.plugins = fill(scenario.config.plugins)
  if ((scenario.config.consumers ?? []).length > 0) doc.consumers = fill(scenario.config.consumers)
  return stringify(doc)
}

/** `sluice bench --list`. */
export function listScenarios(): string {
  const lines = ['Scenarios:']
  for (const s of [...SCENARIOS, fullScenario()]) lines.push(`  ${s.name.padEnd(16)} ${s.description}`)
  lines.push('Pending (land with their plugins):')
  for (const p of PENDING_SCENARIOS) lines.push(`  ${p.name.padEnd(16)} ${p.description}: pending on ${p.pendingOn}`)
  return lines.join('\n')
}
