import { z } from 'zod'
import { realm } from '../key-auth/schema.js'

/** Kong's basic-auth fields and defaults (kong/plugins/basic-auth/schema.lua, Kong 3). */
export const basicAuthSchema = z.strictObject({
  /** Consumer (id, username or custom_id) to proceed as when authentication fails. */
  anonymous: z.string().min(1).nullable().default(null),
  /** Remove the Authorization header before forwarding (Proxy-Authorization never is forwarded). */
  hide_credentials: z.boolean().default(false),
  /** `WWW-Authenticate: Basic realm="…"` (Kong 3 default "service"). */
  realm: realm.default('service'),
  /** Authenticate CORS preflights (OPTIONS) too. */
  run_on_preflight: z.boolean().default(true),
})

export type BasicAuthConfig = z.output<typeof basicAuthSchema>
