// The one schema of a Sluice configuration: Kong's declarative format (`_format_version: "3.0"`)
// plus Sluice's `settings` block. Field names, defaults and bounds follow Kong's entity schemas
// (kong/db/schema/entities/{services,routes,upstreams,targets,consumers,plugins}.lua). Every type
// the rest of the gateway uses is derived from these schemas; none is written out by hand.
//
// Two stages: this file checks the shape of each entity (types, bounds, defaults, unknown fields,
// plugin configs through the registry); src/config/normalize.ts then checks references between
// entities and produces the normalised, frozen `SluiceConfig`.

import { availableParallelism } from 'node:os'
import { z } from 'zod'
import { explainIssues, suggest } from './issues.js'
import { getPluginSchema, registeredPlugins } from './plugins.js'
import * as v from './validators.js'

// --- building blocks ---------------------------------------------------------------------------

/** A string checked by one of ./validators.ts: its sentence becomes the issue message. */
function checked(check: (s: string) => string | null) {
  return z.string().superRefine((s, ctx) => {
    const problem = check(s)
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem, input: s })
  })
}

/** A list where repeats carry no meaning (Kong's `set`): duplicates are dropped, order kept. */
function set<T extends z.ZodType>(element: T) {
  return z.array(element).transform((list) => [...new Set(list)] as z.output<T>[])
}

const MAX_TIMEOUT = 2 ** 31 - 2

const id = checked(v.checkUuid).transform((s) => s.toLowerCase())
const name = checked(v.checkName)
const tags = set(checked(v.checkTag)).default(() => [])
const timeout = z.int().min(1).max(MAX_TIMEOUT).default(60000)
// Kong allows port 0; nothing can be reached there, so Sluice starts at 1.
const port = z.int().min(1).max(65535)
const headerName = checked(v.checkHeaderName)
/** Name (or id) of another entity in the same file. */
const reference = z.string().min(1)
const httpProtocols = set(z.enum(['http', 'https']))
  .pipe(z.array(z.enum(['http', 'https'])).min(1))
  .default((): ('http' | 'https')[] => ['http', 'https'])

// --- plugins -----------------------------------------------------------------------------------

type PluginParent = 'service' | 'route' | 'consumer'

/**
 * A plugin entry. Nested under a service, route or consumer it may not name that parent kind (the
 * nesting does); it may still name the other kinds, as Kong allows (e.g. a consumer-and-route
 * plugin nested under the consumer). `config` is validated by the schema the plugin registered.
 */
function pluginSchema(parent: PluginParent | null) {
  const references = {
    service: reference.optional(),
    route: reference.optional(),
    consumer: reference.optional(),
  }
  if (parent !== null) delete (references as Partial<typeof references>)[parent]
  return z
    .strictObject({
      id: id.optional(),
      name: z.string().min(1),
      config: z.record(z.string(), z.unknown()).nullable().optional(),
      enabled: z.boolean().default(true),
      protocols: httpProtocols,
      tags,
      ...references,
    })
    .transform((plugin, ctx) => {
      const configSchema = getPluginSchema(plugin.name)
      if (configSchema === undefined) {
        const known = registeredPlugins()
        const hint = suggest(plugin.name, known)
        ctx.addIssue({
          code: 'custom',
          path: ['name'],
          input: plugin.name,
          message:
            `unknown plugin '${plugin.name}'` +
            (hint !== null
              ? ` (did you mean '${hint}'?)`
              : known.length > 0
                ? ` (available: ${known.join(', ')})`
                : ' (no plugins are available in this build)'),
        })
        return z.NEVER
      }
      const result = configSchema.safeParse(plugin.config ?? {}, { reportInput: true })
      if (!result.success) {
        for (const problem of explainIssues(result.error.issues, configSchema)) {
          ctx.addIssue({ code: 'custom', path: ['config', ...problem.path], message: problem.message })
        }
        return z.NEVER
      }
      return {
        ...plugin,
        config: result.data as Record<string, unknown>,
        service: (plugin as { service?: string }).service ?? null,
        route: (plugin as { route?: string }).route ?? null,
        consumer: (plugin as { consumer?: string }).consumer ?? null,
      }
    })
}

const globalPlugin = pluginSchema(null)
const plugins = (parent: PluginParent) => z.array(pluginSchema(parent)).default(() => [])

// --- routes ------------------------------------------------------------------------------------

/** Header name -> accepted values. Names are case-insensitive, so they are lower-cased here. */
const routeHeaders = z
  .record(
    z.string().superRefine((s, ctx) => {
      const problem = v.checkHeaderName(s) ?? (s.toLowerCase() === 'host' ? "cannot be 'host': match hosts with the 'hosts' field" : null)
      if (problem !== null) ctx.addIssue({ code: 'custom', message: problem, input: s })
    }),
    z.array(checked(v.checkHeaderValue).pipe(z.string().min(1))).min(1),
  )
  .transform((headers, ctx) => {
    const out: Record<string, string[]> = {}
    for (const [key, values] of Object.entries(headers)) {
      const lower = key.toLowerCase()
      if (lower in out) {
        ctx.addIssue({ code: 'custom', path: [key], message: `header '${key}' is listed twice (names are case-insensitive)` })
        continue
      }
      out[lower] = [...new Set(values)]
    }
    return out
  })

const routeFields = {
  id: id.optional(),
  name: name.optional(),
  protocols: httpProtocols,
  methods: set(checked(v.checkMethod)).optional(),
  hosts: set(checked(v.checkRouteHost).transform((s) => s.toLowerCase())).optional(),
  paths: z.array(checked(v.checkRoutePath)).optional(),
  headers: routeHeaders.optional(),
  strip_path: z.boolean().default(true),
  preserve_host: z.boolean().default(false),
  regex_priority: z.int().default(0),
  tags,
}

/** Kong's routes subschema for http: a route that matches on nothing would match everything. */
function matchesOnSomething(
  route: { paths?: unknown[]; hosts?: unknown[]; methods?: unknown[]; headers?: Record<string, unknown> },
  ctx: z.RefinementCtx,
): void {
  if (
    (route.paths?.length ?? 0) === 0 &&
    (route.hosts?.length ?? 0) === 0 &&
    (route.methods?.length ?? 0) === 0 &&
    Object.keys(route.headers ?? {}).length === 0
  ) {
    ctx.addIssue({ code: 'custom', message: "a route must set at least one of 'paths', 'hosts', 'methods' or 'headers'" })
  }
}

/** A route nested under a service (the nesting names the service). */
export const nestedRouteSchema = z
  .strictObject({ ...routeFields, plugins: plugins('route') })
  .superRefine(matchesOnSomething)

/** A top-level route: `service` names (or gives the id of) the service it proxies to. */
export const routeSchema = z
  .strictObject({ ...routeFields, service: reference, plugins: plugins('route') })
  .superRefine(matchesOnSomething)

// --- services ----------------------------------------------------------------------------------

const URL_PARTS = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/

/** Kong's `url` shorthand: fills protocol, host, port and path. Returns a sentence on failure. */
function parseServiceUrl(raw: string): { protocol: 'http' | 'https'; host: string; port: number; path: string | null } | string {
  const parts = URL_PARTS.exec(raw)
  if (!parts) return `'${raw}' is not a URL like http://host:port/path`
  const scheme = parts[1].toLowerCase()
  if (scheme !== 'http' && scheme !== 'https') return `unsupported scheme '${parts[1]}': use http or https`
  if (parts[4] !== undefined || parts[5] !== undefined) return `'${raw}' must not have a query string or fragment`
  if (parts[2].includes('@')) return 'must not contain user credentials'
  const { host, port } = v.splitHostPort(parts[2])
  const hostProblem = v.checkHost(host)
  if (hostProblem !== null) return hostProblem === 'must not be empty' ? `'${raw}' has no host` : hostProblem
  if (port !== null && !(port >= 1 && port <= 65535)) return `'${raw}' has an invalid port`
  const path = parts[3] === '' ? null : parts[3]
  if (path !== null) {
    const pathProblem = v.checkPath(path)
    if (pathProblem !== null) return pathProblem
  }
  return { protocol: scheme, host, port: port ?? (scheme === 'https' ? 443 : 80), path }
}

export const serviceSchema = z
  .strictObject({
    id: id.optional(),
    name,
    url: z.string().optional(),
    protocol: z.enum(['http', 'https']).optional(),
    host: checked(v.checkHost).optional(),
    port: port.optional(),
    path: checked(v.checkPath).nullable().optional(),
    retries: z.int().min(0).max(32767).default(5),
    connect_timeout: timeout,
    write_timeout: timeout,
    read_timeout: timeout,
    enabled: z.boolean().default(true),
    tags,
    routes: z.array(nestedRouteSchema).default(() => []),
    plugins: plugins('service'),
  })
  .transform((service, ctx) => {
    const { url, protocol, host, port, path, ...rest } = service
    let target: { protocol: 'http' | 'https'; host: string; port: number; path: string | null }
    if (url !== undefined) {
      if (protocol !== undefined || host !== undefined || port !== undefined || (path !== undefined && path !== null)) {
        ctx.addIssue({ code: 'custom', path: ['url'], message: "set either 'url' or 'protocol'/'host'/'port'/'path', not both" })
        return z.NEVER
      }
      const parsed = parseServiceUrl(url)
      if (typeof parsed === 'string') {
        ctx.addIssue({ code: 'custom', path: ['url'], message: parsed })
        return z.NEVER
      }
      target = parsed
    } else {
      if (host === undefined) {
        ctx.addIssue({ code: 'custom', path: ['host'], message: "is required (or give the whole address as 'url')" })
        return z.NEVER
      }
      const resolvedProtocol = protocol ?? 'http'
      target = { protocol: resolvedProtocol, host, port: port ?? (resolvedProtocol === 'https' ? 443 : 80), path: path ?? null }
    }
    // Host names are case-insensitive, and IPv6 literals are kept without brackets.
    return { ...rest, ...target, host: v.unbracket(target.host).toLowerCase() }
  })

// --- upstreams and targets ---------------------------------------------------------------------

const targetFields = {
  id: id.optional(),
  target: z.string().min(1),
  weight: z.int().min(0).max(65535).default(100),
  tags,
}

/** Kong's target: `host:port` (port defaults to 8000, as in Kong), canonicalised. */
function resolveTarget<T extends { target: string }>(entry: T, ctx: z.RefinementCtx) {
  const { host, port } = v.splitHostPort(entry.target)
  const problem = v.isIP(host) ? null : v.checkHostname(host)
  if (problem !== null || Number.isNaN(port) || (port !== null && (port < 1 || port > 65535))) {
    ctx.addIssue({
      code: 'custom',
      path: ['target'],
      message: `invalid target '${entry.target}': expected host:port with a host name or IP address and a port 1..65535`,
    })
    return z.NEVER
  }
  const resolvedHost = host.toLowerCase()
  const resolvedPort = port ?? 8000
  const canonical = resolvedHost.includes(':') ? `[${resolvedHost}]:${resolvedPort}` : `${resolvedHost}:${resolvedPort}`
  return { ...entry, target: canonical, host: resolvedHost, port: resolvedPort }
}

export const nestedTargetSchema = z.strictObject(targetFields).transform(resolveTarget)
export const targetSchema = z.strictObject({ ...targetFields, upstream: reference }).transform(resolveTarget)

const hashOn = z.enum(['none', 'ip', 'header', 'consumer'])

export const upstreamSchema = z
  .strictObject({
    id: id.optional(),
    name: checked(v.checkUpstreamName).transform((s) => s.toLowerCase()),
    algorithm: z.enum(['round-robin', 'least-connections', 'consistent-hashing']).default('round-robin'),
    hash_on: hashOn.default('none'),
    hash_fallback: hashOn.default('none'),
    hash_on_header: headerName.transform((s) => s.toLowerCase()).nullable().default(null),
    hash_fallback_header: headerName.transform((s) => s.toLowerCase()).nullable().default(null),
    slots: z.int().min(10).max(65536).default(10000),
    tags,
    targets: z.array(nestedTargetSchema).default(() => []),
    // Active/passive health checks (Kong's `healthchecks` record) go here as one more field with
    // its own schema and defaults; the entity checks below do not depend on it.
  })
  .superRefine((upstream, ctx) => {
    // Kong's upstream entity checks, plus: hashing settings are refused where they would be ignored.
    const { algorithm, hash_on: on, hash_fallback: fallback } = upstream
    if (on === 'header' && upstream.hash_on_header === null) {
      ctx.addIssue({ code: 'custom', path: ['hash_on_header'], message: "is required when hash_on is 'header'" })
    }
    if (fallback === 'header' && upstream.hash_fallback_header === null) {
      ctx.addIssue({ code: 'custom', path: ['hash_fallback_header'], message: "is required when hash_fallback is 'header'" })
    }
    if (on === 'none' && fallback !== 'none') {
      ctx.addIssue({ code: 'custom', path: ['hash_fallback'], message: "must be 'none' when hash_on is 'none'" })
    }
    if (on === fallback && on !== 'none' && on !== 'header') {
      ctx.addIssue({ code: 'custom', path: ['hash_fallback'], message: `must differ from hash_on ('${on}')` })
    }
    if (upstream.hash_on_header !== null && upstream.hash_on_header === upstream.hash_fallback_header) {
      ctx.addIssue({ code: 'custom', path: ['hash_fallback_header'], message: 'must differ from hash_on_header' })
    }
    if (algorithm === 'consistent-hashing' && on === 'none') {
      ctx.addIssue({ code: 'custom', path: ['hash_on'], message: "must be set (ip, header or consumer) when algorithm is 'consistent-hashing'" })
    }
    if (algorithm !== 'consistent-hashing' && on !== 'none') {
      ctx.addIssue({ code: 'custom', path: ['hash_on'], message: `only applies to algorithm 'consistent-hashing' (algorithm is '${algorithm}')` })
    }
  })

// --- consumers ---------------------------------------------------------------------------------

// Credentials, nested under their consumer as Kong's declarative format writes them
// (kong/plugins/{jwt,key-auth,basic-auth}/daos.lua). Messages about secrets never quote the value.

export const JWT_ALGORITHMS = [
  'HS256', 'HS384', 'HS512',
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
] as const
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number]

/** Kong's `key` typedef for credentials: printable ASCII without spaces, so it survives a header. */
const credentialKey = z.string().superRefine((s, ctx) => {
  if (s.length === 0) ctx.addIssue({ code: 'custom', message: 'must not be empty' })
  else if (s.length > 1024) ctx.addIssue({ code: 'custom', message: 'must be at most 1024 characters' })
  else if (!/^[\x21-\x7e]+$/.test(s)) ctx.addIssue({ code: 'custom', message: 'must be printable ASCII without spaces' })
})

/**
 * A consumer's username or custom_id: sent upstream in `X-Consumer-Username` / `X-Consumer-Custom-ID`,
 * so it must be a valid header value (no control characters, nothing outside Latin-1).
 */
const headerSafe = z.string().superRefine((s, ctx) => {
  if (s.length === 0) ctx.addIssue({ code: 'custom', message: 'must not be empty' })
  else if (s.length > 256) ctx.addIssue({ code: 'custom', message: 'must be at most 256 characters' })
  else if (!/^[\x20-\x7e\x80-\xff]+$/.test(s) || s.trim() !== s) {
    ctx.addIssue({ code: 'custom', message: 'must be printable Latin-1 without leading or trailing spaces (it is sent upstream in a header)' })
  }
})

/** A secret: checked for presence and length only, never echoed. */
const secret = z.string({ error: 'must be a string' })

export const jwtSecretSchema = z
  .strictObject({
    id: id.optional(),
    /** The value tokens carry in the plugin's `key_claim_name` claim (`iss` by default). */
    key: credentialKey,
    algorithm: z.enum(JWT_ALGORITHMS).default('HS256'),
    secret: secret.optional(),
    /** PEM public key for the RS, PS, ES and EdDSA algorithms (Kong's field name, whatever the key type). */
    rsa_public_key: z.string().optional(),
    tags,
  })
  .superRefine((cred, ctx) => {
    const problem = v.checkJwtKeyMaterial(cred.algorithm, cred.secret, cred.rsa_public_key)
    if (problem !== null) ctx.addIssue({ code: 'custom', path: [problem.field], message: problem.message })
  })

export const keyauthCredentialSchema = z.strictObject({
  id: id.optional(),
  key: credentialKey,
  tags,
})

export const basicauthCredentialSchema = z
  .strictObject({
    id: id.optional(),
    username: z.string().min(1).max(256).refine((s) => !s.includes(':'), { message: "must not contain ':'" }),
    /** Plain text in the file; hashed when the config is loaded and never kept. */
    password: secret.optional(),
    /** Or the hash itself (`sluice hash-password`), so the file holds no password. */
    password_hash: z.string().optional(),
    tags,
  })
  .superRefine((cred, ctx) => {
    if ((cred.password === undefined) === (cred.password_hash === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['password'], message: "set exactly one of 'password' or 'password_hash'" })
    } else if (cred.password !== undefined && cred.password.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'must not be empty' })
    } else if (cred.password_hash !== undefined) {
      const problem = v.checkPasswordHash(cred.password_hash)
      if (problem !== null) ctx.addIssue({ code: 'custom', path: ['password_hash'], message: problem })
    }
  })

export const consumerSchema = z
  .strictObject({
    id: id.optional(),
    username: headerSafe.optional(),
    custom_id: headerSafe.optional(),
    /** The name of a usage plan (`usage_plans`), as AWS API Gateway attaches plans to API keys. */
    usage_plan: reference.optional(),
    tags,
    plugins: plugins('consumer'),
    jwt_secrets: z.array(jwtSecretSchema).default(() => []),
    keyauth_credentials: z.array(keyauthCredentialSchema).default(() => []),
    basicauth_credentials: z.array(basicauthCredentialSchema).default(() => []),
  })
  .superRefine((consumer, ctx) => {
    if (consumer.username === undefined && consumer.custom_id === undefined) {
      ctx.addIssue({ code: 'custom', message: "a consumer must set at least one of 'username' or 'custom_id'" })
    }
  })

// --- usage plans -------------------------------------------------------------------------------

/**
 * A usage plan, AWS API Gateway's: a throttle (a token bucket of `burst` tokens refilled at `rate` per
 * second) and a quota (`limit` requests per UTC day, ISO week or calendar month), enforced per consumer
 * by the `usage-plans` plugin (src/plugins/usage-plans).
 */
export const usagePlanSchema = z
  .strictObject({
    name,
    throttle: z
      .strictObject({
        /** Requests per second, sustained. */
        rate: z.number().positive().max(1e6),
        /** Requests admitted at once after a quiet spell (the bucket's capacity). */
        burst: z.int().min(1).max(1e7),
      })
      .optional(),
    quota: z
      .strictObject({
        limit: z.int().min(1).max(Number.MAX_SAFE_INTEGER),
        period: z.enum(['day', 'week', 'month']),
      })
      .optional(),
    tags,
  })
  .superRefine((plan, ctx) => {
    if (plan.throttle === undefined && plan.quota === undefined) {
      ctx.addIssue({ code: 'custom', message: "a usage plan must set 'throttle', 'quota' or both" })
    }
  })

// --- settings ----------------------------------------------------------------------------------

/**
 * Sluice's node settings, one field per setting. Each is also `SLUICE_<NAME>` in the environment
 * and `--<name>` on the command line (precedence: flags > env > file > defaults; see settings.ts).
 */
export const settingsShape = {
  workers: z.int().min(1).max(1024).default(() => availableParallelism()),
  proxy_listen: checked(v.checkListenAddress).default('0.0.0.0'),
  // Port 0 asks the OS for a free port (tests listen that way).
  proxy_port: z.int().min(0).max(65535).default(8000),
  proxy_ssl_port: z.int().min(0).max(65535).default(8443),
  ssl_cert: z.string().min(1).nullable().default(null),
  ssl_key: z.string().min(1).nullable().default(null),
  admin_listen: checked(v.checkListenAddress).default('127.0.0.1'),
  admin_port: z.int().min(0).max(65535).default(8001),
  // The bundled uWS build stalls (no response) on a request with more than 48 header lines, so the
  // gateway cannot promise more (see /work/shared/reference/platform-notes.md).
  max_header_count: z
    .int()
    .min(1)
    .max(48, { error: 'must be at most 48: the bundled uWebSockets.js build stalls on requests with more header lines' })
    .default(48),
  max_header_bytes: z.int().min(1024).max(1048576).default(32768),
  max_uri_length: z.int().min(256).max(1048576).default(8192),
  /** 0 means unlimited. */
  max_body_bytes: z.int().min(0).max(Number.MAX_SAFE_INTEGER).default(10485760),
  trusted_ips: z.array(checked(v.checkCidr)).default(() => []),
  /** null disables the correlation id header. */
  correlation_id_header: headerName.nullable().default('X-Correlation-ID'),
  /** 'stdout', 'off', or a file path. */
  access_log: z.string().min(1).default('stdout'),
  drain_timeout: z.int().min(0).max(MAX_TIMEOUT).default(30000),
  upstream_connections: z.int().min(1).max(65536).default(128),
  upstream_keepalive_timeout: z.int().min(1).max(MAX_TIMEOUT).default(60000),
  /**
   * Which client carries plain-HTTP upstreams: Sluice's own HTTP/1.1 client (src/proxy/h1: 18–26 µs less
   * CPU per request than undici behind the same handler, bench/baseline/README.md), or undici. HTTPS
   * upstreams always use undici.
   */
  upstream_client: z.enum(['undici', 'sluice']).default('sluice'),
  redis_url: checked(v.checkRedisUrl).nullable().default(null),
}

export type SettingName = keyof typeof settingsShape
export const SETTING_NAMES = Object.keys(settingsShape) as SettingName[]

export const settingsSchema = z.strictObject(settingsShape).superRefine((settings, ctx) => {
  if ((settings.ssl_cert === null) !== (settings.ssl_key === null)) {
    const missing = settings.ssl_cert === null ? 'ssl_cert' : 'ssl_key'
    ctx.addIssue({ code: 'custom', path: [missing], message: 'ssl_cert and ssl_key must be set together' })
  }
})

/** Resolved node settings (frozen, like the config). */
export type Settings = DeepReadonly<z.output<typeof settingsSchema>>

/**
 * The `settings` block as written in a file: the same fields, all optional and without defaults,
 * so that env and flags can still fill what the file leaves out (defaults apply after merging).
 */
export const fileSettingsSchema = z.strictObject(
  Object.fromEntries(
    Object.entries(settingsShape).map(([key, schema]) => [key, ((schema as z.ZodDefault).def.innerType as z.ZodType).optional()]),
  ) as { [K in SettingName]: z.ZodOptional<(typeof settingsShape)[K]['def']['innerType']> },
)

// --- root --------------------------------------------------------------------------------------

const formatVersion = z.unknown().transform((value, ctx): '3.0' => {
  if (value === '3.0') return '3.0'
  const message =
    value === undefined
      ? 'is required: start the file with _format_version: "3.0"'
      : typeof value === 'number'
        ? `must be the string "3.0", got the number ${value} (quote it: YAML reads 3.0 as a number)`
        : typeof value === 'string'
          ? `unsupported format version '${value}': Sluice reads Kong's declarative format "3.0"`
          : 'must be the string "3.0"'
  ctx.addIssue({ code: 'custom', message, input: value })
  return z.NEVER
})

export const configSchema = z.strictObject({
  _format_version: formatVersion,
  /** Kong's flag for pre-hashed credentials; accepted for compatibility, no effect yet. */
  _transform: z.boolean().optional(),
  services: z.array(serviceSchema).default(() => []),
  routes: z.array(routeSchema).default(() => []),
  upstreams: z.array(upstreamSchema).default(() => []),
  targets: z.array(targetSchema).default(() => []),
  consumers: z.array(consumerSchema).default(() => []),
  usage_plans: z.array(usagePlanSchema).default(() => []),
  plugins: z.array(globalPlugin).default(() => []),
  settings: fileSettingsSchema.optional(),
})

/** The file after the shape check: defaults filled, shorthands resolved, references unresolved. */
export type ConfigDocument = z.output<typeof configSchema>

// --- the normalised configuration ----------------------------------------------------------------
// What workers receive: references resolved, every entity with an id, nothing nested twice, frozen.
// Each type is the parsed entity with its references replaced, so the field list lives only above.

export type DeepReadonly<T> = T extends (infer E)[]
  ? ReadonlyArray<DeepReadonly<E>>
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T

/** A resolved reference to another entity: its id, and its name when it has one. */
export interface EntityRef {
  readonly id: string
  readonly name: string | null
}

type Resolved<T, Drop extends keyof T, Add> = DeepReadonly<Omit<T, Drop | 'id'> & { id: string } & Add>

/** A service, with protocol/host/port/path resolved; `upstream` is set when `host` names one. */
export type Service = Resolved<z.output<typeof serviceSchema>, 'routes' | 'plugins', { upstream: EntityRef | null }>

/**
 * A route with its service. Match fields the route does not constrain are `null` (empty lists are
 * treated as absent), as the router expects (src/router/types.ts).
 */
export type Route = Resolved<
  z.output<typeof routeSchema>,
  'plugins' | 'service' | 'name' | 'paths' | 'hosts' | 'methods' | 'headers',
  {
    name: string | null
    service: EntityRef
    paths: string[] | null
    hosts: string[] | null
    methods: string[] | null
    headers: Record<string, string[]> | null
  }
>

export type Target = Resolved<z.output<typeof targetSchema>, 'upstream', { upstream: EntityRef }>

export type Upstream = Resolved<z.output<typeof upstreamSchema>, 'targets', { targets: Target[] }>

/** A consumer; its `name` in references is the username, else the custom_id. */
export type Consumer = Resolved<
  z.output<typeof consumerSchema>,
  'plugins' | 'username' | 'custom_id' | 'usage_plan' | 'jwt_secrets' | 'keyauth_credentials' | 'basicauth_credentials',
  {
    username: string | null
    custom_id: string | null
    /** The name of the consumer's usage plan (checked to exist), or null. */
    usage_plan: string | null
    jwt_secrets: JwtSecret[]
    keyauth_credentials: KeyauthCredential[]
    basicauth_credentials: BasicauthCredential[]
  }
>

/** A usage plan; absent parts are null. */
export type UsagePlan = DeepReadonly<
  Omit<z.output<typeof usagePlanSchema>, 'throttle' | 'quota'> & {
    throttle: NonNullable<z.output<typeof usagePlanSchema>['throttle']> | null
    quota: NonNullable<z.output<typeof usagePlanSchema>['quota']> | null
  }
>

export type JwtSecret = Resolved<z.output<typeof jwtSecretSchema>, never, object>
export type KeyauthCredential = Resolved<z.output<typeof keyauthCredentialSchema>, never, object>
/** A basic-auth credential as kept after load: the password only as its hash. */
export type BasicauthCredential = Resolved<z.output<typeof basicauthCredentialSchema>, 'password' | 'password_hash', { password_hash: string }>

/** A plugin instance with its scope: null references mean "any" (all null = global). */
export type Plugin = Resolved<
  z.output<typeof globalPlugin>,
  'service' | 'route' | 'consumer' | 'config',
  { service: EntityRef | null; route: EntityRef | null; consumer: EntityRef | null; config: Record<string, unknown> }
>

export interface SluiceConfig {
  readonly _format_version: '3.0'
  readonly services: readonly Service[]
  /** In file order: each service's nested routes in turn, then the top-level routes. */
  readonly routes: readonly Route[]
  readonly upstreams: readonly Upstream[]
  readonly consumers: readonly Consumer[]
  readonly usage_plans: readonly UsagePlan[]
  readonly plugins: readonly Plugin[]
}

/** The name other modules use for the normalised configuration. */
export type GatewayConfig = SluiceConfig
