import type { RequestContext } from '../pipeline/context.js'
import type { CompiledConsumer, ConsumerIndex, Credential } from './consumers.js'

// Who the caller is, as the authentication plugins record it: on the request context (for the plugins
// after them, consumer-scoped plugin configs, balancing and logs) and in the upstream request head as
// Kong sends it. Inbound copies of these headers never reach the upstream: src/proxy/headers.ts
// (isOwnedOnForward) drops them before any plugin runs, so a client cannot forge an identity.

/**
 * Records the authenticated consumer and credential. `credential` null means the `anonymous` consumer
 * of a plugin whose authentication failed (Kong's logical OR between auth plugins).
 */
export function authenticate(ctx: RequestContext, consumer: CompiledConsumer | null, credential: Credential | null): void {
  const h = ctx.upstreamHeaders!
  if (ctx.consumer === null && ctx.credential === null) {
    // Hot path: the request's first authentication. Inbound copies were dropped on forward, so the
    // headers are appended without scanning the list for earlier values.
    ctx.consumer = consumer
    ctx.credential = credential
    if (consumer !== null) {
      h.push('x-consumer-id', consumer.id)
      if (consumer.customId !== null) h.push('x-consumer-custom-id', consumer.customId)
      if (consumer.username !== null) h.push('x-consumer-username', consumer.username)
    }
    if (credential !== null) h.push('x-credential-identifier', credential.identifier)
    else h.push('x-anonymous-consumer', 'true')
    return
  }
  ctx.consumer = consumer
  ctx.credential = credential
  setHeader(h, 'x-consumer-id', consumer?.id ?? null)
  setHeader(h, 'x-consumer-custom-id', consumer?.customId ?? null)
  setHeader(h, 'x-consumer-username', consumer?.username ?? null)
  setHeader(h, 'x-credential-identifier', credential?.identifier ?? null)
  setHeader(h, 'x-anonymous-consumer', credential === null ? 'true' : null)
}

/** Whether an earlier plugin already authenticated the request with a real credential. */
export function isAuthenticated(ctx: RequestContext): boolean {
  return ctx.credential !== null
}

/** Sets (replacing) or, with null, removes a lower-case header in a flat [name, value, ...] list. */
export function setHeader(list: string[], lowerName: string, value: string | null): void {
  for (let i = 0; i < list.length; i += 2) {
    if (list[i] !== lowerName) continue
    if (value === null) list.splice(i, 2)
    else list[i + 1] = value
    return
  }
  if (value !== null) list.push(lowerName, value)
}

/** Removes every occurrence of a lower-case header from a flat list (hide_credentials). */
export function removeHeader(list: string[], lowerName: string): void {
  for (let i = list.length - 2; i >= 0; i -= 2) if (list[i] === lowerName) list.splice(i, 2)
}

/**
 * The consumer an auth plugin's `anonymous` names (id, username or custom_id), resolved once per config
 * snapshot. The loader has already checked that it exists; a miss here means a broken snapshot.
 */
export function anonymousConsumer(plugin: string, ref: string | null, consumers: ConsumerIndex): CompiledConsumer | null {
  if (ref === null) return null
  const consumer = consumers.find(ref)
  if (consumer === undefined) throw new Error(`${plugin}: anonymous consumer '${ref}' does not exist`)
  return consumer
}
