// The second stage of validation: references between entities, uniqueness, and the normalised form
// workers receive (see SluiceConfig in ./schema.ts). It runs only on a document whose shape passed,
// so every field here already has its type, defaults and bounds.

import { createHash } from 'node:crypto'
import { hashPassword } from '../auth/password.js'
import { uuidV5 } from './ids.js'
import { formatPath, suggest, type ConfigIssue } from './issues.js'
import { allowsConsumerScope } from './plugins.js'
import type {
  ConfigDocument,
  Consumer,
  EntityRef,
  Plugin,
  Route,
  Service,
  SluiceConfig,
  Target,
  Upstream,
  UsagePlan,
} from './schema.js'

type Path = readonly (string | number)[]

interface Known {
  readonly ref: EntityRef
  readonly path: Path
}

/** The entities of one kind, addressable by id and by name (the way Kong's declarative files refer). */
class Registry {
  private readonly ids = new Map<string, Known>()
  private readonly names = new Map<string, Known>()

  constructor(
    private readonly kind: string,
    private readonly report: (path: Path, message: string) => void,
    /** Upstream names are host names, stored lower-case, so references to them ignore case too. */
    private readonly foldCase = false,
  ) {}

  /** Records an entity; `idGiven` says whether the id came from the file (to point at the field). */
  add(ref: EntityRef, path: Path, idGiven: boolean): boolean {
    const sameId = this.ids.get(ref.id)
    if (sameId !== undefined) {
      this.report(idGiven ? [...path, 'id'] : path, `duplicate ${this.kind} id '${ref.id}' (also used by ${formatPath(sameId.path)})`)
      return false
    }
    this.ids.set(ref.id, { ref, path })
    return true
  }

  /** Records a unique name-like field (`name`, `username`, `custom_id`). */
  addName(value: string, known: Known, field: string): boolean {
    const other = this.names.get(value)
    if (other !== undefined) {
      this.report([...known.path, field], `duplicate ${this.kind} ${field} '${value}' (also used by ${formatPath(other.path)})`)
      return false
    }
    this.names.set(value, known)
    return true
  }

  /** A reference from another entity: an id, else a name. Reports and returns null when unknown. */
  resolve(value: string, at: Path): EntityRef | null {
    const found = this.ids.get(value.toLowerCase()) ?? this.names.get(this.foldCase ? value.toLowerCase() : value)
    if (found !== undefined) return found.ref
    const hint = suggest(value, [...this.names.keys()])
    this.report(at, `no ${this.kind} named '${value}' (or with that id)${hint !== null ? `; did you mean '${hint}'?` : ''}`)
    return null
  }

  findByName(value: string): EntityRef | null {
    return this.names.get(value)?.ref ?? null
  }
}

/** Sorted-key JSON, so equal content always gives equal text (ids and the config hash use it). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort()
    return `{${keys
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/** Freezes an object graph so no worker can change a config snapshot another part still reads. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

function nonEmpty<T>(list: readonly T[] | undefined): T[] | null {
  return list !== undefined && list.length > 0 ? [...list] : null
}

type PluginEntry = ConfigDocument['plugins'][number]

interface PendingPlugin {
  readonly plugin: PluginEntry
  readonly path: Path
  readonly service: EntityRef | null
  readonly route: EntityRef | null
  readonly consumer: EntityRef | null
}

/**
 * Checks references and uniqueness and builds the normalised config. Returns every problem found;
 * `config` is only meaningful when `issues` is empty.
 */
export function normalizeConfig(doc: ConfigDocument): { config: SluiceConfig; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = []
  const report = (path: Path, message: string): void => {
    issues.push({ path: formatPath(path), message })
  }

  const serviceRegistry = new Registry('service', report)
  const routeRegistry = new Registry('route', report)
  const upstreamRegistry = new Registry('upstream', report, true)
  const targetRegistry = new Registry('target', report)
  const consumerRegistry = new Registry('consumer', report)
  const consumerCustomIds = new Registry('consumer', report)
  const pluginRegistry = new Registry('plugin', report)

  // Upstreams first: a service whose host names an upstream is balanced over its targets.
  const upstreams: { fields: Omit<Upstream, 'targets'>; targets: Target[] }[] = []
  const upstreamById = new Map<string, (typeof upstreams)[number]>()
  doc.upstreams.forEach((entry, i) => {
    const path = ['upstreams', i]
    const { targets: _targets, id: givenId, ...fields } = entry
    const ref: EntityRef = { id: givenId ?? uuidV5(`upstream:${entry.name}`), name: entry.name }
    // A repeated name is reported once, not again as the repeated id generated from it.
    if (upstreamRegistry.addName(entry.name, { ref, path }, 'name')) upstreamRegistry.add(ref, path, givenId !== undefined)
    const upstream = { fields: { id: ref.id, ...fields }, targets: [] as Target[] }
    upstreams.push(upstream)
    upstreamById.set(ref.id, upstream)
  })

  const targetsSeen = new Map<string, Path>()
  const addTarget = (entry: ConfigDocument['targets'][number] | ConfigDocument['upstreams'][number]['targets'][number], upstream: EntityRef, path: Path): void => {
    const key = `${upstream.id} ${entry.target}`
    const other = targetsSeen.get(key)
    if (other !== undefined) {
      report([...path, 'target'], `duplicate target '${entry.target}' in upstream '${upstream.name}' (also at ${formatPath(other)})`)
      return
    }
    targetsSeen.set(key, path)
    const { id: givenId, upstream: _upstream, ...fields } = entry as ConfigDocument['targets'][number]
    const id = givenId ?? uuidV5(`target:${upstream.id}:${entry.target}`)
    targetRegistry.add({ id, name: entry.target }, path, givenId !== undefined)
    upstreamById.get(upstream.id)?.targets.push({ id, ...fields, upstream })
  }
  doc.upstreams.forEach((entry, i) => {
    const upstream = upstreamRegistry.findByName(entry.name)
    if (upstream === null) return
    entry.targets.forEach((target, j) => addTarget(target, upstream, ['upstreams', i, 'targets', j]))
  })
  doc.targets.forEach((entry, i) => {
    const upstream = upstreamRegistry.resolve(entry.upstream, ['targets', i, 'upstream'])
    if (upstream !== null) addTarget(entry, upstream, ['targets', i])
  })

  const services: Service[] = []
  doc.services.forEach((entry, i) => {
    const path = ['services', i]
    const { routes: _routes, plugins: _plugins, id: givenId, ...fields } = entry
    const ref: EntityRef = { id: givenId ?? uuidV5(`service:${entry.name}`), name: entry.name }
    if (serviceRegistry.addName(entry.name, { ref, path }, 'name')) serviceRegistry.add(ref, path, givenId !== undefined)
    services.push({ id: ref.id, ...fields, upstream: upstreamRegistry.findByName(entry.host) })
  })
  // Services are resolved by name or id from here on; their refs are what routes and plugins carry.
  const serviceRefs = doc.services.map((entry, i) => ({ id: services[i].id, name: entry.name }))

  // Usage plans before consumers, which name them.
  const usagePlans: UsagePlan[] = []
  const planPaths = new Map<string, Path>()
  doc.usage_plans.forEach((entry, i) => {
    const other = planPaths.get(entry.name)
    if (other !== undefined) {
      report(['usage_plans', i, 'name'], `duplicate usage plan name '${entry.name}' (also used by ${formatPath(other)})`)
      return
    }
    planPaths.set(entry.name, ['usage_plans', i])
    usagePlans.push({ name: entry.name, throttle: entry.throttle ?? null, quota: entry.quota ?? null, tags: entry.tags })
  })

  const consumers: Consumer[] = []
  // Credential keys are unique across all consumers: a token's key or an API key names one consumer.
  const jwtKeys = new Map<string, Path>()
  const apiKeys = new Map<string, Path>()
  const basicUsernames = new Map<string, Path>()
  doc.consumers.forEach((entry, i) => {
    const path = ['consumers', i]
    const { plugins: _plugins, id: givenId, username, custom_id, usage_plan, ...fields } = entry
    if (usage_plan !== undefined && !planPaths.has(usage_plan)) {
      const hint = suggest(usage_plan, [...planPaths.keys()])
      report([...path, 'usage_plan'], `no usage plan named '${usage_plan}'${hint !== null ? `; did you mean '${hint}'?` : ''}`)
    }
    const id =
      givenId ?? uuidV5(username !== undefined ? `consumer:username:${username}` : `consumer:custom_id:${custom_id}`)
    const ref: EntityRef = { id, name: username ?? custom_id ?? null }
    const uniqueUsername = username === undefined || consumerRegistry.addName(username, { ref, path }, 'username')
    const uniqueCustomId = custom_id === undefined || consumerCustomIds.addName(custom_id, { ref, path }, 'custom_id')
    if (uniqueUsername && (uniqueCustomId || username !== undefined)) consumerRegistry.add(ref, path, givenId !== undefined)
    const { jwt_secrets, keyauth_credentials, basicauth_credentials, ...rest } = fields
    consumers.push({
      id,
      username: username ?? null,
      custom_id: custom_id ?? null,
      usage_plan: usage_plan ?? null,
      ...rest,
      jwt_secrets: jwt_secrets.map((cred, j) => {
        const { id: credId, ...credFields } = cred
        const at = [...path, 'jwt_secrets', j]
        const other = jwtKeys.get(cred.key)
        if (other !== undefined) report([...at, 'key'], `duplicate jwt_secret key '${cred.key}' (also used by ${formatPath(other)})`)
        else jwtKeys.set(cred.key, at)
        return { id: credId ?? uuidV5(`jwt_secret:${cred.key}`), ...credFields }
      }),
      keyauth_credentials: keyauth_credentials.map((cred, j) => {
        const { id: credId, ...credFields } = cred
        const at = [...path, 'keyauth_credentials', j]
        const other = apiKeys.get(cred.key)
        // The key is a secret: the message points at the other use without quoting it.
        if (other !== undefined) report([...at, 'key'], `duplicate key-auth key (also used by ${formatPath(other)})`)
        else apiKeys.set(cred.key, at)
        return { id: credId ?? uuidV5(`keyauth_credential:${id}:${j}`), ...credFields }
      }),
      basicauth_credentials: basicauth_credentials.map((cred, j) => {
        const { id: credId, password, password_hash, ...credFields } = cred
        const at = [...path, 'basicauth_credentials', j]
        const other = basicUsernames.get(cred.username)
        if (other !== undefined) report([...at, 'username'], `duplicate basic-auth username '${cred.username}' (also used by ${formatPath(other)})`)
        else basicUsernames.set(cred.username, at)
        const credentialId = credId ?? uuidV5(`basicauth_credential:${cred.username}`)
        // A plain-text password is hashed here and dropped. Its salt is derived from the credential so
        // that the same file always normalises to the same config (and config hash).
        const hash =
          password_hash ??
          hashPassword(password!, createHash('sha256').update(`sluice basic-auth salt\0${credentialId}`).digest().subarray(0, 16))
        return { id: credentialId, ...credFields, password_hash: hash }
      }),
    })
  })

  // Routes: each service's nested routes in turn, then the top-level ones (the router's file order).
  const routes: Route[] = []
  const routeRefs: (EntityRef | null)[][] = doc.services.map(() => [])
  const topRouteRefs: (EntityRef | null)[] = []
  const generatedRouteKeys = new Set<string>()
  const addRoute = (
    entry: ConfigDocument['routes'][number] | ConfigDocument['services'][number]['routes'][number],
    service: EntityRef,
    path: Path,
  ): EntityRef => {
    const { plugins: _plugins, service: _service, id: givenId, name, paths, hosts, methods, headers, ...fields } =
      entry as ConfigDocument['routes'][number]
    const normalisedHeaders = headers !== undefined && Object.keys(headers).length > 0 ? headers : null
    let id = givenId
    if (id === undefined && name !== undefined) id = uuidV5(`route:${name}`)
    if (id === undefined) {
      // An unnamed route is identified by what it matches, so reordering the file keeps its id.
      const base = `route:${service.id}:${canonicalJson({ paths, hosts, methods, headers: normalisedHeaders })}`
      let key = base
      for (let n = 2; generatedRouteKeys.has(key); n++) key = `${base}#${n}`
      generatedRouteKeys.add(key)
      id = uuidV5(key)
    }
    const ref: EntityRef = { id, name: name ?? null }
    if (name === undefined || routeRegistry.addName(name, { ref, path }, 'name')) routeRegistry.add(ref, path, givenId !== undefined)
    routes.push({
      id,
      name: name ?? null,
      service,
      ...fields,
      paths: nonEmpty(paths),
      hosts: nonEmpty(hosts),
      methods: nonEmpty(methods),
      headers: normalisedHeaders,
    })
    return ref
  }
  doc.services.forEach((entry, i) => {
    entry.routes.forEach((route, j) => {
      routeRefs[i][j] = addRoute(route, serviceRefs[i], ['services', i, 'routes', j])
    })
  })
  doc.routes.forEach((entry, i) => {
    const service = serviceRegistry.resolve(entry.service, ['routes', i, 'service'])
    topRouteRefs[i] = service === null ? null : addRoute(entry, service, ['routes', i])
  })

  // Plugins, wherever they were written, each with its scope. Nesting sets one reference; the
  // plugin may name the other kinds itself.
  const pending: PendingPlugin[] = []
  const collect = (list: readonly PluginEntry[], at: Path, implied: Partial<Pick<PendingPlugin, 'service' | 'route' | 'consumer'>>): void => {
    list.forEach((plugin, k) => {
      const path = [...at, 'plugins', k]
      const resolve = (kind: 'service' | 'route' | 'consumer', registry: Registry): EntityRef | null => {
        if (implied[kind] !== undefined) return implied[kind]
        const named = plugin[kind]
        return named === null ? null : registry.resolve(named, [...path, kind])
      }
      const before = issues.length
      const service = resolve('service', serviceRegistry)
      const route = resolve('route', routeRegistry)
      const consumer = resolve('consumer', consumerRegistry)
      if (consumer !== null && !allowsConsumerScope(plugin.name)) {
        report(path, `plugin '${plugin.name}' cannot be configured for a consumer: it is what identifies the consumer`)
      }
      if (issues.length === before) pending.push({ plugin, path, service, route, consumer })
    })
  }
  doc.services.forEach((entry, i) => {
    collect(entry.plugins, ['services', i], { service: serviceRefs[i] })
    entry.routes.forEach((route, j) => {
      const ref = routeRefs[i][j]
      if (ref !== null) collect(route.plugins, ['services', i, 'routes', j], { route: ref })
    })
  })
  doc.routes.forEach((entry, i) => {
    const ref = topRouteRefs[i]
    if (ref !== null) collect(entry.plugins, ['routes', i], { route: ref })
  })
  doc.consumers.forEach((entry, i) => {
    const id = consumers[i].id
    collect(entry.plugins, ['consumers', i], { consumer: { id, name: entry.username ?? entry.custom_id ?? null } })
  })
  collect(doc.plugins, [], {})

  const plugins: Plugin[] = []
  const scopes = new Map<string, Path>()
  for (const { plugin, path, service, route, consumer } of pending) {
    const scopeKey = `${plugin.name}|${service?.id ?? ''}|${route?.id ?? ''}|${consumer?.id ?? ''}`
    const other = scopes.get(scopeKey)
    if (other !== undefined) {
      report(path, `plugin '${plugin.name}' is configured twice for ${describeScope(service, route, consumer)} (also at ${formatPath(other)})`)
      continue
    }
    scopes.set(scopeKey, path)
    if (plugin.name === 'jwt' && (plugin.config as { secret_is_base64?: unknown }).secret_is_base64 === true) {
      checkBase64Secrets(consumers, [...path, 'config', 'secret_is_base64'], report)
    }
    // Kong's auth plugins name their `anonymous` consumer by id or username: it must exist.
    const anonymous = (plugin.config as { anonymous?: unknown }).anonymous
    if (typeof anonymous === 'string') consumerRegistry.resolve(anonymous, [...path, 'config', 'anonymous'])
    const { id: givenId, service: _s, route: _r, consumer: _c, ...fields } = plugin
    const id = givenId ?? uuidV5(`plugin:${scopeKey}`)
    pluginRegistry.add({ id, name: plugin.name }, path, givenId !== undefined)
    plugins.push({ id, ...fields, service, route, consumer })
  }

  return {
    issues,
    config: {
      _format_version: doc._format_version,
      services,
      routes,
      upstreams: upstreams.map((u) => ({ ...u.fields, targets: u.targets })),
      consumers,
      usage_plans: usagePlans,
      plugins,
    },
  }
}

const HMAC_MIN_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 }

/**
 * With `secret_is_base64` the jwt plugin uses the DECODED secrets: each HMAC secret must then be strict
 * base64 of at least the hash size (the load-time length check saw the encoded text).
 */
function checkBase64Secrets(consumers: readonly Consumer[], at: Path, report: (path: Path, message: string) => void): void {
  consumers.forEach((c, i) => {
    c.jwt_secrets.forEach((cred, j) => {
      const min = HMAC_MIN_BYTES[cred.algorithm]
      if (min === undefined || cred.secret === undefined) return
      const text = cred.secret
      const strict = /^[A-Za-z0-9+/]*={0,2}$/.test(text) && text.length % 4 === 0
      if (!strict || Buffer.from(text, 'base64').length < min) {
        report(at, `consumers[${i}].jwt_secrets[${j}] ('${cred.key}'): with secret_is_base64 its secret must be base64 of at least ${min} bytes for ${cred.algorithm}`)
      }
    })
  })
}

function describeScope(service: EntityRef | null, route: EntityRef | null, consumer: EntityRef | null): string {
  const parts: string[] = []
  const label = (ref: EntityRef) => `'${ref.name ?? ref.id}'`
  if (service !== null) parts.push(`service ${label(service)}`)
  if (route !== null) parts.push(`route ${label(route)}`)
  if (consumer !== null) parts.push(`consumer ${label(consumer)}`)
  return parts.length === 0 ? 'the global scope' : `the same scope (${parts.join(', ')})`
}
